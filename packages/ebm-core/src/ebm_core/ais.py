"""Annealed importance sampling bounds on log Z for an energy on a box (A.3, reference ais.py)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .checks import check_box, check_count, check_energy_output
from .hmc import HMCSampler
from .progress import progress

SCHEDULES = ("linear", "geometric")


@dataclass(frozen=True)
class AISConfig:
    """``num_temperatures`` intermediate distributions p_b ~ exp(-b E) on the box, from b = 0
    (uniform) to 1, one HMC transition (10 leapfrog steps) per temperature. The defaults are the
    reference code's: a ``linear`` schedule of b and a fixed HMC step size.

    For high dimensions: ``schedule="geometric"`` spaces b geometrically from ``beta_min`` to 1
    (after b = 0: the log-weight increments then stay small where the density sharpens, e.g. a
    D-dimensional Gaussian's energy varies by about sqrt(D/2) / b at b), and ``target_accept``
    adapts the HMC step size at every temperature: rescaled by sqrt(b_prev / b) before the move (the
    curvature of b E grows as b) and multiplied by exp(rate - target) after it (the reverse chain
    reuses the forward chain's step sizes). Out of equilibrium (a state wider than p_b, as when the
    chains lag behind the schedule) a too-large step is still accepted often, so a target well above
    HMC's optimal 0.65 (0.8) and a jittered step (``HMCSampler.step_jitter``) keep the chains near
    p_b (``benchmarks/ais.py`` measures settings on 784-D energies of known log Z).

    The reverse (upper-bound) chain starts from the forward chains' end points, which are only
    approximate samples of exp(-E); ``final_transitions`` HMC moves at the target first bring
    them closer (the reference code uses 0, which can make its upper bound fall below log Z)."""

    num_chains: int = 100
    num_temperatures: int = 10
    hmc: HMCSampler = field(default_factory=lambda: HMCSampler(steps=1, leapfrog_steps=10, step_size=0.01))
    box: tuple[float, float] = (0.0, 1.0)
    final_transitions: int = 10  # extra HMC moves at the target before the reverse chain starts
    schedule: str = "linear"
    beta_min: float = 1e-4
    target_accept: float | None = None

    def __post_init__(self) -> None:
        check_count(self.num_chains, "AISConfig.num_chains")
        check_count(self.num_temperatures, "AISConfig.num_temperatures")
        check_count(self.final_transitions, "AISConfig.final_transitions", minimum=0)
        if self.box is None:
            raise ValueError("AISConfig.box must be (low, high): AIS starts from the uniform distribution on it")
        check_box(self.box, "AISConfig.box")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"AISConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0.0 < self.beta_min < 1.0:
            raise ValueError(f"AISConfig.beta_min must be in (0, 1), got {self.beta_min!r}")
        if self.target_accept is not None and not 0.0 < self.target_accept < 1.0:
            raise ValueError(f"AISConfig.target_accept must be in (0, 1) or None, got {self.target_accept!r}")

    def betas(self) -> list[float]:
        """The inverse temperatures b_0 = 0 < b_1 < ... < b_K = 1 of the schedule."""
        k = self.num_temperatures
        if self.schedule == "linear" or k == 1:
            return torch.linspace(0.0, 1.0, k + 1, dtype=torch.float64).tolist()
        return [0.0, *torch.logspace(math.log10(self.beta_min), 0.0, k, dtype=torch.float64).tolist()]


def log_mean_exp_se(log_w: torch.Tensor) -> float:
    """The standard error of ``log mean exp(log_w)`` over chains (delta method: sd(w) / (mean(w)
    sqrt(n))); near 1 when one chain carries almost all the weight, i.e. the estimate rests on one chain."""
    w = torch.exp(log_w.double() - log_w.max())
    n = w.numel()
    return (w.std() / (w.mean() * math.sqrt(n))).item() if n > 1 else float("inf")


@dataclass(frozen=True)
class PathBounds:
    """Bounds on log Z(b) = log of the integral of exp(-b E) at an inverse temperature b of the path:
    the forward chains' log-weights up to b, and the reverse chain's from b back to 0 (from its state
    at b, itself only approximately a sample of p_b), with their standard errors over chains."""

    beta: float
    log_z_lower: float
    log_z_upper: float
    lower_se: float
    upper_se: float


@dataclass
class AISResult:
    log_z_lower: float  # forward AIS: a stochastic lower bound on log Z
    log_z_upper: float  # reverse AIS from the forward chains' end points: an upper bound
    log_w_forward: torch.Tensor
    log_w_reverse: torch.Tensor
    samples: torch.Tensor  # end points of the forward chains (approximate samples of exp(-E))
    accept_rate: float  # mean over every HMC transition, forward and reverse
    # forward chain, one per temperature b_1 .. b_K of the schedule (with the ``report_betas`` merged in)
    accept_rates: list[float] = field(default_factory=list)
    step_sizes: list[float] = field(default_factory=list)  # the HMC step size used at each of them
    at_betas: dict[float, PathBounds] = field(default_factory=dict)  # the ``report_betas`` asked for, and 1

    @property
    def lower_se(self) -> float:
        return log_mean_exp_se(self.log_w_forward)

    @property
    def upper_se(self) -> float:
        return log_mean_exp_se(self.log_w_reverse)

    def log_likelihood_bounds(
        self, energy: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[float, float]:
        """Mean log p(x) = -E(x) - log Z, as (lower, upper) bounds, in nats."""
        with torch.no_grad():
            e = energy(x, y).mean().item()
        return -e - self.log_z_upper, -e - self.log_z_lower


def _logmeanexp(a: torch.Tensor) -> float:
    return (torch.logsumexp(a.double(), 0) - math.log(a.numel())).item()


def ais_log_partition(
    energy: nn.Module, sample_shape: Sequence[int], config: AISConfig = AISConfig(),
    y: torch.Tensor | None = None, device: torch.device | str = "cpu", desc: str | None = None,
    report_betas: Sequence[float] = (),
) -> AISResult:
    """Bounds on log Z = log of the integral of exp(-E(x, y)) over the box.

    ``y`` (if given) is a condition of batch ``num_chains``; ``desc`` (if given) names a progress
    bar over the forward and reverse temperatures. ``report_betas`` (each in (0, 1]) are added to
    the schedule, and ``at_betas`` holds the bounds on log Z(b) of exp(-b E) at each of them, from
    the same chains: one path bounds the energy at several temperatures (``E / T`` for T >= T_min is
    b = T_min / T on the path of ``E / T_min``).
    """
    for b in report_betas:
        if not 0.0 < b <= 1.0:
            raise ValueError(f"report_betas must lie in (0, 1], got {b!r}")
    low, high = config.box
    hmc = HMCSampler(
        steps=config.hmc.steps, leapfrog_steps=config.hmc.leapfrog_steps,
        step_size=config.hmc.step_size, clamp=config.box, temperature=1.0,
        step_jitter=config.hmc.step_jitter,
    )
    n = config.num_chains
    asked = {*(float(b) for b in report_betas), 1.0}
    betas = sorted({*config.betas(), *asked})
    report = {i for i, b in enumerate(betas) if b in asked}
    dim = math.prod(sample_shape)
    log_z0 = dim * math.log(high - low)

    def e(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = energy(x, y)
        check_energy_output(out, x)
        return out.double()

    x = low + (high - low) * torch.rand((n, *sample_shape), device=device)
    log_w = torch.zeros(n, dtype=torch.float64, device=device)
    rates, forward_rates, steps = [], [], []
    forward_at: dict[int, torch.Tensor] = {}
    step = hmc.step_size
    bar = progress(2 * (len(betas) - 1), desc=desc or "", disable=desc is None)
    for i, (b_prev, b) in enumerate(zip(betas[:-1], betas[1:]), start=1):
        log_w -= (b - b_prev) * e(x)
        if i in report:
            forward_at[i] = log_w.clone()
        if config.target_accept is not None and b_prev > 0:
            step *= math.sqrt(b_prev / b)
        out = dataclasses.replace(hmc, step_size=step).run(energy, x, y, beta=b)
        x = out.x
        rates.append(out.accept_rate)
        forward_rates.append(out.accept_rate)
        steps.append(step)
        if config.target_accept is not None:  # the next temperature's step, from this one's acceptance
            step *= math.exp(out.accept_rate - config.target_accept)
        bar.update()
    if config.final_transitions:
        out = dataclasses.replace(hmc, steps=config.final_transitions, step_size=steps[-1]).run(energy, x, y, beta=1.0)
        x, _ = out.x, rates.append(out.accept_rate)
    samples = x.clone()

    log_w_rev = torch.zeros(n, dtype=torch.float64, device=device)
    reverse_before: dict[int, torch.Tensor] = {}  # the reverse log-weight gathered before reaching b_i
    for i in range(len(betas) - 1, 0, -1):  # from b_K = 1 down to b_1, then the increment to b_0 = 0
        b_prev, b = betas[i - 1], betas[i]
        if i in report:
            reverse_before[i] = log_w_rev.clone()
        log_w_rev += (b - b_prev) * e(x)
        if b_prev > 0:
            out = dataclasses.replace(hmc, step_size=steps[i - 2]).run(energy, x, y, beta=b_prev)
            x, _ = out.x, rates.append(out.accept_rate)
        bar.update()
    bar.close()
    at_betas = {}
    for i in sorted(report):
        tail = log_w_rev - reverse_before[i]  # the reverse chain's weight from b_i down to 0
        at_betas[betas[i]] = PathBounds(betas[i], log_z0 + _logmeanexp(forward_at[i]), log_z0 - _logmeanexp(tail),
                                        log_mean_exp_se(forward_at[i]), log_mean_exp_se(tail))
    return AISResult(
        log_z_lower=log_z0 + _logmeanexp(log_w),
        log_z_upper=log_z0 - _logmeanexp(log_w_rev),
        log_w_forward=log_w, log_w_reverse=log_w_rev, samples=samples,
        accept_rate=sum(rates) / len(rates), accept_rates=forward_rates, step_sizes=steps, at_betas=at_betas,
    )
