"""Likelihood bounds of image EBMs on continuous MNIST (A.3, A.4; Figures 23 and 25).

Continuous MNIST: pixels rescaled to [0, 1] plus U(0, 1/256) noise (``ebm_vision.dequantize``).
The log density of an unconditional energy is ``log p(x) = -E(x) - log Z``; ebm-core's AIS gives a
stochastic lower bound on log Z (forward chains from uniform noise) and reverse AIS an upper
bound, hence upper and lower bounds on the mean test log likelihood in nats. As in the paper,
the energy may be evaluated at a temperature ``T`` (``E / T``), and the temperature whose lower
bound is highest is reported, among the temperatures whose estimates are trusted (:func:`distrust`):
not from an AIS setting that failed the known-Z validation (:func:`validate_ais`: the same setting
run on energies of the images' shape whose log Z is known exactly must bracket it within the same
tolerance), not inverted beyond Monte Carlo noise, not above the data's entropy ceiling (``D log
256`` nats for 8-bit images dequantized with uniform noise: no density can do better on average),
not wider than ``max_relative_gap`` of the bound, and converged over the numbers of temperatures
run (:func:`not_converged`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from ebm_core import AISConfig, AISResult, HMCSampler, SumEnergy, ais_log_partition, check_finite
from ebm_core.checks import check_count, check_positive, check_unit_range
from ebm_core.known_z import gaussian_in_box
from ebm_run import MAX_TRAINING_STEPS, check_memory, save_figure
from torch import nn

# Figure 23 (lower, upper bound in nats, 10,000 AIS chains) and Figure 25 (sensitivity).
PAPER_LIKELIHOOD: dict[str, tuple[float, float]] = {"replay_buffer": (1925.0, 2218.3), "pcd": (380.9, 482.0)}
PAPER_SENSITIVITY: dict[str, dict[float, tuple[float, float]]] = {
    "l2_coeff": {0.01: (1519.0, 2370.0), 0.1: (1925.0, 2218.0), 1.0: (1498.0, 2044.0)},
    "step_size": {10.0: (1498.0, 2044.0), 100.0: (1765.0, 2309.0), 1000.0: (1740.0, 2009.0)},
}


MIN_MODEL_TEMPERATURE = 1e-6
MAX_AIS_EVALUATIONS = 10**10  # energy evaluations of one AIS run: a day at 100,000 a second
AIS_COPIES = 8  # the chains' arrays held at once (states, momenta, gradients, proposals ...)


def check_ais_cost(ais: AISConfig, shape: Sequence[int], what: str = "AIS") -> None:
    """Refuse (``ValueError`` with the figures) an AIS run that would not fit in a day or in memory."""
    per_chain = (ais.num_temperatures + ais.final_transitions) * ais.hmc.steps * (ais.hmc.leapfrog_steps + 1)
    evaluations = 2 * ais.num_chains * per_chain  # forward and reverse chains
    if 2 * per_chain > MAX_TRAINING_STEPS:  # steps in sequence, each at least a millisecond
        raise ValueError(f"{what}: {ais.num_temperatures:,} temperatures take {2 * per_chain:,} HMC steps in "
                         f"sequence, more than a day even at 1 ms a step (at most {MAX_TRAINING_STEPS:,})")
    if evaluations > MAX_AIS_EVALUATIONS:
        raise ValueError(f"{what}: {ais.num_chains:,} chains x {ais.num_temperatures:,} temperatures need "
                         f"{evaluations:.2e} energy evaluations, more than a day at 100,000 a second "
                         f"(at most {MAX_AIS_EVALUATIONS:.0e})")
    check_memory(f"{what}: {ais.num_chains:,} chains of {tuple(shape)}",
                 AIS_COPIES * ais.num_chains * math.prod(shape) * 4)


def jittered_ais(num_chains: int = 100, num_temperatures: int = 400) -> AISConfig:
    """The AIS setting that brackets the 784-D energies of known log Z (:func:`validate_ais`) within 7%
    at 400 temperatures (``benchmarks/ais.py``, 64 chains; 16-23% at 200, 49-57% at 100): a geometric
    schedule from b = 1e-4, one HMC move of 5 leapfrog steps per temperature, its step adapted toward
    0.8 acceptance and jittered by +-50% per chain and move. The reference code's kind (a linear
    schedule, a fixed step of 0.01) needs 800 temperatures of 10 leapfrog steps for 9-12%."""
    return AISConfig(num_chains=num_chains, num_temperatures=num_temperatures, schedule="geometric",
                     beta_min=1e-4, target_accept=0.8,
                     hmc=HMCSampler(steps=1, leapfrog_steps=5, step_size=0.05, step_jitter=0.5))


@dataclass(frozen=True)
class LikelihoodConfig:
    """AIS settings and the temperatures tried. The reference code uses 10 temperatures with one
    HMC move (10 leapfrog steps) each, which cannot bracket log Z of a 784-D energy; the default is
    :func:`jittered_ais`; more temperatures tighten the bracket. ``levels``: the
    quantization levels of the data before dequantization (256; None: no entropy ceiling);
    ``max_relative_gap``: the widest trusted bracket, as a share of the bound (the paper's best
    MNIST bracket, 1925 / 2218 nats, is 15%). ``validate``: run the AIS setting on energies with a
    known log Z first (:func:`validate_ais`, with at most ``validation_chains`` chains);
    ``curve``: other numbers of temperatures at which every model temperature is bounded again (the
    bracket against ``num_temperatures``; the two largest below it are the evidence of convergence
    that :func:`not_converged` asks for: without them no bound is trusted);
    ``num_validation``: training images held out of training on which the model temperature is
    chosen (0: chosen on the test images themselves, as the paper did)."""

    ais: AISConfig = field(default_factory=jittered_ais)
    temperatures: tuple[float, ...] = (1.0,)
    num_test: int = 1000
    levels: int | None = 256
    max_relative_gap: float = 0.2
    validate: bool = True
    num_validation: int = 500
    validation_chains: int = 256
    curve: tuple[int, ...] = (100, 200)

    def __post_init__(self) -> None:
        if not self.temperatures:
            raise ValueError("LikelihoodConfig.temperatures must hold at least one temperature")
        for t in self.temperatures:
            check_positive(t, "each of LikelihoodConfig.temperatures")
            if t < MIN_MODEL_TEMPERATURE:  # E / T overflows float32 for any energy above ~1e-6 * 3e38
                raise ValueError(f"LikelihoodConfig.temperatures: {t!r} is below {MIN_MODEL_TEMPERATURE:g}")
        check_count(self.num_test, "LikelihoodConfig.num_test")
        if self.levels is not None:
            check_count(self.levels, "LikelihoodConfig.levels", minimum=2)
        check_positive(self.max_relative_gap, "LikelihoodConfig.max_relative_gap")
        check_count(self.validation_chains, "LikelihoodConfig.validation_chains")
        if self.ais.num_chains < 2:  # the bounds' Monte Carlo error, which the trust rules read, needs two
            raise ValueError(f"LikelihoodConfig.ais.num_chains must be at least 2 (a standard error over the chains), "
                             f"got {self.ais.num_chains}")
        check_count(self.num_validation, "LikelihoodConfig.num_validation", minimum=0)
        for k in self.curve:
            check_count(k, "each of LikelihoodConfig.curve")


def entropy_ceiling(shape: Sequence[int], levels: int = 256) -> float:
    """``D log(levels)`` nats: the highest mean log density any model can give data quantized to
    ``levels`` values per dimension and dequantized by uniform noise on [0, 1] (the dequantized
    data's differential entropy is its discrete entropy, >= 0, minus this)."""
    return math.prod(shape) * math.log(levels)


KNOWN_Z_ENERGIES = (("gaussian", 1), ("mixture_of_4", 4))  # name, components (ebm_core.known_z.gaussian_in_box)
KNOWN_Z_SLACK = (0.5, 0.01)  # nats, share of |log Z|: the larger is the Monte Carlo noise a bound may show


def validate_ais(ais: AISConfig, shape: Sequence[int], max_relative_gap: float,
                 device: torch.device | str = "cpu", max_chains: int = 256, quiet: bool = True) -> list[dict[str, Any]]:
    """The AIS setting ``ais`` (its schedule, temperatures and HMC moves; at most ``max_chains``
    chains, which sets the estimate's spread, not its bias) run on energies of ``shape`` whose log
    Z is known: a Gaussian with a random non-diagonal covariance and an equal mixture of 4 such
    Gaussians far apart, inside the box with negligible mass outside
    (:func:`ebm_core.known_z.gaussian_in_box`). One row each, {"name", "true_log_z", "lower",
    "upper", "passed"}: passed when the bounds are finite, hold the true value (up to
    :data:`KNOWN_Z_SLACK`: both bounds are stochastic, bounds in expectation over the chains) and are at
    most ``max_relative_gap`` of it apart (the rule the image bounds meet)."""
    rows = []
    ais = dataclasses.replace(ais, num_chains=min(ais.num_chains, max_chains))
    for name, components in KNOWN_Z_ENERGIES:
        energy = gaussian_in_box(math.prod(shape), components=components, seed=components).to(device)
        res = ais_log_partition(energy, tuple(shape), ais, device=device,
                                desc=None if quiet else f"AIS validation: {name}")
        lower, upper, truth = res.log_z_lower, res.log_z_upper, energy.log_z
        slack = max(KNOWN_Z_SLACK[0], KNOWN_Z_SLACK[1] * abs(truth))
        passed = (math.isfinite(lower) and math.isfinite(upper) and lower <= truth + slack and upper >= truth - slack
                  and upper - lower <= max_relative_gap * max(abs(truth), 1.0))
        rows.append({"name": name, "true_log_z": truth, "lower": lower, "upper": upper, "passed": passed,
                     "accept_rate": res.accept_rate})
    return rows


def not_converged(curve: Sequence[dict[str, Any]]) -> str | None:
    """Why AIS has not settled over the numbers of temperatures it ran, or None when it has. ``curve``:
    rows {"num_temperatures", "log_z_lower", "log_z_upper", "log_z_lower_se", "log_z_upper_se"}. Only
    the forward bound is a bound whatever the chains' state, and once the chains follow the schedule its
    shortfall shrinks as 1/K; so over the three largest K_a < K_b < K of the curve the forward bound's
    gain from K_b to K must not exceed the gain from K_a to K_b scaled by that law (plus two standard
    errors), and the bound extrapolated in 1/K (its remaining gain, about the last gain / (K / K_b - 1))
    must not pass the upper bound at K. Fewer than three numbers of temperatures: no evidence, so no trust."""
    pts = sorted({r["num_temperatures"]: r for r in curve}.values(), key=lambda r: r["num_temperatures"])
    if len(pts) < 3:
        return ("no convergence check: bounded at fewer than three numbers of temperatures "
                "(LikelihoodConfig.curve needs two below num_temperatures)")
    a, b, c = pts[-3:]
    ses = [p[key] for p in (a, b, c) for key in ("log_z_lower_se", "log_z_upper_se")]
    if not all(math.isfinite(v) for v in ses):
        return "no convergence check: a standard error over the chains is not finite (fewer than two chains?)"
    ka, kb, kc = (p["num_temperatures"] for p in (a, b, c))
    gain_1, gain_2 = b["log_z_lower"] - a["log_z_lower"], c["log_z_lower"] - b["log_z_lower"]
    ratio = (1 / kb - 1 / kc) / (1 / ka - 1 / kb)
    expected = max(gain_1, 0.0) * ratio
    # two standard errors of gain_2 - ratio * gain_1 = l_c - (1 + ratio) l_b + ratio l_a
    noise = 2 * math.sqrt(c["log_z_lower_se"] ** 2 + ((1 + ratio) * b["log_z_lower_se"]) ** 2
                          + (ratio * a["log_z_lower_se"]) ** 2)
    if gain_2 > expected + noise:
        return (f"AIS has not converged: the lower bound on log Z rose {gain_1:+.1f} from {ka} to {kb} "
                f"temperatures and {gain_2:+.1f} from {kb} to {kc} (a converging AIS: about {expected:+.1f})")
    extrapolated = c["log_z_lower"] + max(gain_2, 0.0) / (kc / kb - 1)
    slack = 2 * math.hypot(c["log_z_lower_se"], c["log_z_upper_se"])
    if extrapolated > c["log_z_upper"] + slack:
        return (f"AIS has not converged: the lower bound on log Z extrapolated in 1/K ({extrapolated:.1f}) "
                f"passes the upper bound {c['log_z_upper']:.1f} at {kc} temperatures")
    return None


def distrust(row: dict[str, Any], ceiling: float | None, max_relative_gap: float,
             validation: Sequence[dict[str, Any]] = ()) -> str | None:
    """Why a temperature's AIS bounds are not trusted, or None when they are: an AIS setting that
    failed the known-Z ``validation`` (:func:`validate_ais`), an inverted bracket (upper below lower
    by more than two standard errors of the pair, ``log_z_lower_se`` / ``log_z_upper_se`` when the row
    has them: the reverse chains were far from model samples; a smaller inversion is the Monte Carlo
    noise of a converged estimate), a lower bound above the entropy ceiling, a bracket wider than
    ``max_relative_gap`` of the lower bound, or, when the row carries its ``curve`` over numbers of
    temperatures, an AIS that has not converged (:func:`not_converged`). The gap rule is relative, so
    it tolerates more nats where the bound is large. Only finite bounds are ever trusted (non-finite
    ones stop :func:`likelihood_bounds`)."""
    lower, upper = row["lower_nats"], row["upper_nats"]
    failed = [v for v in validation if not v["passed"]]
    if failed:
        v = failed[0]
        return (f"the AIS setting failed the known-Z validation ({v['name']}: true log Z {v['true_log_z']:.0f}, "
                f"bounds {v['lower']:.0f} .. {v['upper']:.0f})")
    ses = (row.get("log_z_lower_se", 0.0), row.get("log_z_upper_se", 0.0))
    if not all(math.isfinite(v) for v in ses):
        return "a standard error over the chains is not finite (fewer than two chains?): no Monte Carlo error known"
    noise = 2 * math.hypot(*ses)
    if upper < lower - noise:
        return f"inverted bracket {lower:.1f} .. {upper:.1f}: the reverse chains were far from model samples"
    if ceiling is not None and lower > ceiling:
        return f"lower bound {lower:.0f} above the entropy ceiling {ceiling:.0f}: AIS has not converged"
    if abs(upper - lower) > max_relative_gap * max(abs(lower), 1.0):
        return f"bracket {lower:.0f} .. {upper:.0f} wider than {max_relative_gap:.0%} of the bound"
    if "curve" not in row:
        return None
    return not_converged([p for p in row["curve"] if p["num_temperatures"] <= row["num_temperatures"]])


def tempered(energy: nn.Module, temperature: float) -> nn.Module:
    """The energy ``E(x) / T`` (itself an energy: a one-term ``SumEnergy``)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return energy if temperature == 1.0 else SumEnergy([(energy, None)], weights=[1.0 / temperature], pass_y=True)


def bits_per_dim(nats: float, dim: int, levels: int | None = 256) -> float:
    """A mean log density of dequantized data in nats as bits per dimension of the quantized data:
    ``log2(levels) - nats / (D ln 2)`` (the density of ``(q + U(0, 1)) / levels`` bounds the discrete
    likelihood from below, so the lower nats give the upper bits); without ``levels``, ``-nats / (D ln 2)``."""
    return (math.log2(levels) if levels else 0.0) - nats / (dim * math.log(2))


def _bounds_on_one_path(
    energy: nn.Module, temperatures: Sequence[float], ais: AISConfig, mean_energy: float, shape: Sequence[int],
    device: torch.device | str, name: str, quiet: bool,
) -> tuple[list[dict[str, Any]], AISResult]:
    """Bounds on the mean log density (``-mean_energy / T - log Z(T)``, ``mean_energy`` the images'
    mean E at T = 1) at every temperature T, from one AIS path on ``E / T_min`` (T is its inverse
    temperature ``T_min / T``), and the AIS result."""
    t_min = min(temperatures)
    res = ais_log_partition(tempered(energy, t_min), tuple(shape), ais, device=device,
                            report_betas=[t_min / t for t in temperatures],
                            desc=None if quiet else f"AIS {name} to T={t_min:g} ({ais.num_temperatures} temperatures)")
    rows = []
    for t in temperatures:
        pb = res.at_betas[t_min / t]
        lower, upper = -mean_energy / t - pb.log_z_upper, -mean_energy / t - pb.log_z_lower
        check_finite([lower, upper, pb.log_z_lower, pb.log_z_upper],
                     f"{name}: AIS likelihood bounds at temperature {t}")
        rows.append({"temperature": t, "num_temperatures": ais.num_temperatures,
                     "lower_nats": lower, "upper_nats": upper, "log_z_lower": pb.log_z_lower,
                     "log_z_upper": pb.log_z_upper, "log_z_lower_se": pb.lower_se, "log_z_upper_se": pb.upper_se,
                     "mean_energy": mean_energy / t, "accept_rate": res.accept_rate,
                     "accept_rate_min": min(res.accept_rates), "accept_rate_last": res.accept_rates[-1]})
    return rows, res


CURVE_KEYS = ("num_temperatures", "lower_nats", "upper_nats", "log_z_lower", "log_z_upper", "log_z_lower_se",
              "log_z_upper_se", "accept_rate")


def likelihood_bounds(
    energy: nn.Module, x_test: torch.Tensor, config: LikelihoodConfig = LikelihoodConfig(),
    device: torch.device | str = "cpu", name: str = "the model", validation: Sequence[dict[str, Any]] = (),
    x_val: torch.Tensor | None = None, quiet: bool = True,
) -> dict[str, Any]:
    """Mean log likelihood bounds in nats for each temperature on the validation images ``x_val``, the
    best trusted temperature there (:func:`distrust`, given the setting's known-Z ``validation`` rows;
    if none is trusted, the best of all, with ``trusted`` False and the reason), and the test images'
    bounds at that temperature alone, from the same log Z estimates (the test images read once), in
    nats and bits per dimension. Every temperature is bounded on one AIS path (on ``E / T_min``), run
    again at each of ``config.curve``'s numbers of temperatures: each row's ``curve``, from which
    :func:`not_converged` judges convergence. Without ``x_val`` the temperature is chosen on the test
    images, as the paper did (``temperature_chosen_on`` says which).

    ``x_test``, ``x_val``: continuous images ``(N, C, H, W)`` in [0, 1] (an unconditional energy)."""
    for x_in, what in ((x_test, "x_test"), (x_val, "x_val")):
        if x_in is None:
            continue
        if x_in.dim() != 4:
            raise ValueError(f"{what} must be images (N, C, H, W) in [0, 1], got shape {tuple(x_in.shape)}")
        check_unit_range(x_in, what)
    x = x_test[: config.num_test].to(device)
    choose_on = x if x_val is None else x_val.to(device)
    energy = energy.to(device).eval()
    dim = math.prod(x.shape[1:])
    with torch.no_grad():
        e_choose = energy(choose_on).double().mean().item()
    check_finite([e_choose], f"{name}: energies of the images")
    k_main = config.ais.num_temperatures
    runs = {k: _bounds_on_one_path(energy, config.temperatures, dataclasses.replace(config.ais, num_temperatures=k),
                                   e_choose, x.shape[1:], device, name, quiet)
            for k in sorted({*config.curve, k_main})}
    rows, res = runs[k_main]
    with torch.no_grad():  # a constant energy is no model of the images: AIS is exact for it, and meaningless
        e_spread = torch.cat([energy(choose_on), energy(res.samples)]).float()
    constant = bool((e_spread.max() - e_spread.min()) <= 1e-6 * (1.0 + e_spread.abs().max()))
    ceiling = entropy_ceiling(x.shape[1:], config.levels) if config.levels else None
    for i, r in enumerate(rows):
        r["curve"] = [{key: runs[k][0][i][key] for key in CURVE_KEYS} for k in sorted(runs)]
        r["distrust"] = ("the model's energy is constant on the images and the AIS samples: no density to bound"
                         if constant else distrust(r, ceiling, config.max_relative_gap, validation))
    trusted = [r for r in rows if r["distrust"] is None]
    best = max(trusted or rows, key=lambda r: r["lower_nats"])
    t_best = best["temperature"]
    with torch.no_grad():  # the test images, at that T only, from the same log Z estimates
        e_test = energy(x).double().mean().item() / t_best
    lower, upper = -e_test - best["log_z_upper"], -e_test - best["log_z_lower"]
    check_finite([lower, upper], f"{name}: test likelihood bounds at temperature {t_best}")
    test_row = {**best, "lower_nats": lower, "upper_nats": upper}
    why = best["distrust"] if constant else distrust(test_row, ceiling, config.max_relative_gap, validation)
    return {"lower_nats": lower, "upper_nats": upper, "temperature": t_best,
            "bits_per_dim": [bits_per_dim(upper, dim, config.levels), bits_per_dim(lower, dim, config.levels)],
            "dequantization": (f"(q + U(0, 1)) / {config.levels}; bits/dim = log2({config.levels}) - nats / (D ln 2)"
                               if config.levels else "none; bits/dim = -nats / (D ln 2)"),
            "temperature_chosen_on": "test images" if x_val is None else f"{choose_on.shape[0]} validation images",
            "trusted": bool(trusted) and why is None, "distrust": best["distrust"] or why,
            "entropy_ceiling_nats": ceiling, "per_temperature": rows, "num_test": int(x.shape[0]),
            "bracket_width_nats": upper - lower, "accept_rate": best["accept_rate"],
            "accept_rate_min": best["accept_rate_min"],
            "bracket_vs_num_temperatures": best["curve"],
            "ais": {"num_chains": config.ais.num_chains, "num_temperatures": k_main, "curve": sorted(runs),
                    "schedule": config.ais.schedule, "target_accept": config.ais.target_accept,
                    "leapfrog_steps": config.ais.hmc.leapfrog_steps, "step_size": config.ais.hmc.step_size,
                    "step_jitter": config.ais.hmc.step_jitter, "beta_min": config.ais.beta_min,
                    "path": f"one AIS path on E / {min(config.temperatures):g} bounds every temperature"}}


def plot_likelihood(rows: Sequence[dict[str, Any]], path: str, title: str = "") -> None:
    """Bounds (lower to upper) per model variant, as error bars; grey where no temperature was
    trusted, with the entropy ceiling as a dashed line when the rows carry one."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(rows) + 2), 3.8))
    for i, r in enumerate(rows):
        lo, hi = r["lower_nats"], r["upper_nats"]
        color = "C0" if r.get("trusted", True) else "0.6"
        ax.plot([i, i], [lo, hi], "-", lw=6, alpha=0.6, color=color)
        ax.plot([i, i], [lo, hi], "_", ms=18, color=color)
    ceiling = next((r["entropy_ceiling_nats"] for r in rows if r.get("entropy_ceiling_nats")), None)
    if ceiling is not None:
        ax.axhline(ceiling, ls="--", color="C3", lw=1, label=f"entropy ceiling {ceiling:.0f}")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=20, fontsize=8)
    ax.set_ylabel("test log likelihood (nats), AIS lower..upper")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


__all__ = ["jittered_ais", "PAPER_LIKELIHOOD", "PAPER_SENSITIVITY", "LikelihoodConfig", "tempered", "entropy_ceiling",
           "distrust", "likelihood_bounds", "plot_likelihood", "validate_ais", "not_converged", "KNOWN_Z_ENERGIES",
           "bits_per_dim"]
