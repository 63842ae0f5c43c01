"""Adversarial robustness of conditional EBMs (section 4.3, Figure 8).

Logits are ``-E(x, c)`` for every class ``c``. The attack is PGD (Madry et al. 2017) under
L-inf or L2 with a random start; every iterate is projected onto the eps-ball around the CLEAN
image and onto ``[0, 1]`` (the reference code projects L2 relative to the previous iterate and
never clips to the image range). The EBM then classifies the attacked image by running 10
Langevin steps per class, kept inside a small box around it, and taking the lowest-energy class.
Because that refinement is stochastic and hides gradients, :func:`bpda_logits` also attacks
through it: a straight-through (BPDA) gradient at the refined states, averaged over Langevin
noise draws (EOT).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from ebm_core import (
    LangevinSampler,
    SupervisedConfig,
    class_energies,
    lowest_energy_class,
    repeat_per_class,
    train_supervised,
)
from ebm_core.checks import check_count, check_nonnegative, check_unit_range
from ebm_core.progress import progress
from ebm_run import save_figure
from torch import nn

from .scores import check_class_labels

LogitsFn = Callable[[torch.Tensor], torch.Tensor]
Norm = Literal["linf", "l2"]


# --------------------------------------------------------------------------- logits
def energy_logits(energy: nn.Module, num_classes: int) -> LogitsFn:
    """Logits ``-E(x, c)`` of a conditional energy (section 4.3): a classifier without sampling."""
    return lambda x: -class_energies(energy, x, num_classes)


# ----------------------------------------------------------------------- projections
def project_linf(x_adv: torch.Tensor, x_clean: torch.Tensor, eps: float) -> torch.Tensor:
    """Nearest point of the L-inf ball of radius ``eps`` around ``x_clean``, intersected with [0, 1]."""
    return torch.min(torch.max(x_adv, x_clean - eps), x_clean + eps).clamp(0.0, 1.0)


def project_l2(x_adv: torch.Tensor, x_clean: torch.Tensor, eps: float) -> torch.Tensor:
    """Scale ``x_adv - x_clean`` into the L2 ball of radius ``eps`` around the CLEAN image, then clip
    to [0, 1]. Clipping moves every pixel towards ``x_clean`` (which lies in [0, 1]), so the result
    stays inside the ball."""
    delta = x_adv - x_clean
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = (eps / norms).clamp(max=1.0).view(-1, *([1] * (x_adv.dim() - 1)))
    return (x_clean + delta * factor).clamp(0.0, 1.0)


def project(x_adv: torch.Tensor, x_clean: torch.Tensor, eps: float, norm: Norm) -> torch.Tensor:
    """Projection onto ``{x : ||x - x_clean||_norm <= eps} ∩ [0, 1]^D``."""
    if norm == "linf":
        return project_linf(x_adv, x_clean, eps)
    if norm == "l2":
        return project_l2(x_adv, x_clean, eps)
    raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")


# ----------------------------------------------------------------------------- PGD
@dataclass(frozen=True)
class PGDConfig:
    """PGD as in the paper (20 steps, random start). ``step_size=None`` uses Madry's 2.5 eps / steps,
    so that every budget can be reached in 20 steps (the reference code fixes 2/255 under L-inf)."""

    norm: Norm = "linf"
    eps: float = 8 / 255
    steps: int = 20
    step_size: float | None = None
    random_start: bool = True

    def __post_init__(self) -> None:
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {self.norm!r}")
        if self.eps < 0 or self.steps < 0:
            raise ValueError(f"eps and steps must be >= 0, got {self.eps}, {self.steps}")

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.eps / max(self.steps, 1)


def _random_start(x: torch.Tensor, eps: float, norm: Norm) -> torch.Tensor:
    if norm == "linf":
        return x + (2 * torch.rand_like(x) - 1) * eps
    direction = torch.randn_like(x)
    direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
    radius = eps * torch.rand(x.shape[0], device=x.device).view(-1, *([1] * (x.dim() - 1)))
    return x + direction * radius


def pgd_attack(logits_fn: LogitsFn, x: torch.Tensor, y: torch.Tensor, config: PGDConfig = PGDConfig()) -> torch.Tensor:
    """Untargeted PGD maximizing the cross-entropy of ``logits_fn`` at the true labels ``y``.

    Returns adversarial images inside the eps-ball around ``x`` and inside [0, 1]."""
    if x.dim() < 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (B, ...) and y (B,) class indices; got {tuple(x.shape)}, {tuple(y.shape)}")
    check_unit_range(x)
    x = x.detach()
    if config.eps == 0 or config.steps == 0:
        return x.clone()
    adv = project(_random_start(x, config.eps, config.norm), x, config.eps, config.norm) if config.random_start \
        else x.clone()
    shape = (-1, *([1] * (x.dim() - 1)))
    for _ in range(config.steps):
        adv.requires_grad_(True)
        with torch.enable_grad():
            loss = nn.functional.cross_entropy(logits_fn(adv), y, reduction="sum")
            (g,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            if config.norm == "linf":
                step = g.sign()
            else:
                step = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
            adv = project(adv + config.alpha * step, x, config.eps, config.norm)
    return adv.detach()


# ------------------------------------------------------------------ EBM refinement
@dataclass(frozen=True)
class RefineConfig:
    """Langevin refinement before classifying (4.3): ``sampler.steps`` steps (10 in the paper) under
    each class, started at the input and kept within ``radius`` of it (0.03 in the paper) and in
    [0, 1]. ``sampler.steps = 0`` classifies the input directly."""

    sampler: LangevinSampler = field(default_factory=lambda: LangevinSampler(steps=10))
    radius: float = 0.03

    def __post_init__(self) -> None:
        check_nonnegative(self.radius, "RefineConfig.radius")


def refine(energy: nn.Module, x: torch.Tensor, num_classes: int, config: RefineConfig = RefineConfig()
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Run each class's chain from ``x``: refined states ``(B, K, ...)`` and their energies ``(B, K)``.

    One chain of ebm-core's ``LangevinSampler`` per class, with per-element bounds: after every
    step each pixel is kept in the box of ``radius`` around its attacked input, intersected with
    [0, 1] (the same as projecting with :func:`project_linf` after every step)."""
    x = x.detach()
    b, k = x.shape[0], num_classes
    xs, ys = repeat_per_class(x, k)
    low, high = (xs - config.radius).clamp(0.0, 1.0), (xs + config.radius).clamp(0.0, 1.0)
    xs = config.sampler(energy, xs, ys, low=low, high=high)
    with torch.no_grad():
        e = energy(xs, ys).view(b, k)
    return xs.view(b, k, *x.shape[1:]), e


def ebm_predict(energy: nn.Module, x: torch.Tensor, num_classes: int, config: RefineConfig = RefineConfig()
                ) -> torch.Tensor:
    """The lowest-energy class after refinement, ``(B,)``."""
    check_unit_range(x)
    return refine(energy, x, num_classes, config)[1].argmin(dim=1)


def bpda_logits(energy: nn.Module, num_classes: int, config: RefineConfig = RefineConfig(),
                eot_samples: int = 1) -> LogitsFn:
    """Logits of the refined classifier for attacking THROUGH the refinement.

    Forward: ``-E(refine_c(x), c)``, the quantity the defended classifier compares. Backward: the
    refinement is treated as the identity (BPDA, Athalye et al. 2018), so the gradient is dE/dx at
    the refined states; logits are averaged over ``eot_samples`` draws of the Langevin noise (EOT)."""
    if eot_samples < 1:
        raise ValueError(f"eot_samples must be >= 1, got {eot_samples}")

    def logits(x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        total = 0.0
        for _ in range(eot_samples):
            xr, _ = refine(energy, x, num_classes, config)
            straight = xr + (x - x.detach()).unsqueeze(1)  # value of xr, gradient of x
            ys = torch.arange(num_classes, device=x.device).repeat(b)
            total = total - energy(straight.flatten(0, 1), ys).view(b, num_classes)
        return total / eot_samples

    return logits


# --------------------------------------------------------- the cross-entropy baseline
BASELINE_TRAINING = SupervisedConfig(steps=500, batch_size=64, lr=1e-3, label="cross-entropy baseline")


def train_energy_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                            config: SupervisedConfig = BASELINE_TRAINING) -> list[dict[str, float]]:
    """The plain classifier of the same backbone: train ``model`` (an energy ``(x, c) -> (B,)``) on
    the logits ``-E(x, c)`` with cross-entropy, no sampling, through ebm-core's one supervised loop
    (on ``config.device``); returns its logged ``{"step", "loss"}`` rows."""
    check_class_labels(x, y)
    logits = energy_logits(model, num_classes)
    history = train_supervised(model, lambda m, xb, yb: nn.functional.cross_entropy(logits(xb), yb), (x, y), config)
    model.eval()
    return history


# ------------------------------------------------------------------------- curves
@dataclass(frozen=True)
class RobustnessConfig:
    """Accuracy-vs-eps curves (Figure 8). Budgets are in [0, 1] pixel units (8/255 = 0.031)."""

    linf_eps: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
    l2_eps: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    pgd_steps: int = 20
    refine: RefineConfig = field(default_factory=RefineConfig)
    bpda: bool = True  # also attack through the refinement
    eot_samples: int = 1
    num_images: int = 200
    bpda_images: int | None = None  # the BPDA curve on the first N images only (it costs ~10x a plain attack)
    batch_size: int = 100

    def __post_init__(self) -> None:
        for name in ("linf_eps", "l2_eps"):
            for eps in getattr(self, name):
                check_nonnegative(eps, f"RobustnessConfig.{name}")
        if any(eps > 1.0 for eps in self.linf_eps):
            raise ValueError(f"RobustnessConfig.linf_eps: pixels lie in [0, 1], so a budget above 1 "
                             f"({max(self.linf_eps)}) allows no more than 1 does")
        for name in ("pgd_steps", "eot_samples", "num_images", "batch_size"):
            check_count(getattr(self, name), f"RobustnessConfig.{name}")
        if self.bpda_images is not None:
            check_count(self.bpda_images, "RobustnessConfig.bpda_images")


Predict = Callable[[torch.Tensor], torch.Tensor]


def _accuracy(predict: Predict, attack: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
              x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        correct += (predict(attack(xb, yb)) == yb).sum().item()
    return correct / x.shape[0]


def robustness_curves(
    energy: nn.Module, classifier: nn.Module | None, x: torch.Tensor, y: torch.Tensor, num_classes: int,
    config: RobustnessConfig = RobustnessConfig(), quiet: bool = False,
) -> dict[str, dict[str, list[float]]]:
    """Accuracy under attack for each norm and budget:

    * ``ebm``: PGD on ``-E(x, c)``, then refinement and the lowest-energy class (the paper's protocol);
    * ``ebm_bpda``: PGD through the refinement (BPDA + EOT), same classifier;
    * ``classifier``: the cross-entropy model attacked and evaluated directly.
    """
    x, y = x[: config.num_images], y[: config.num_images]
    energy.eval()
    plain = energy_logits(energy, num_classes)
    through = bpda_logits(energy, num_classes, config.refine, config.eot_samples)

    def ebm_pred(a: torch.Tensor) -> torch.Tensor:
        return ebm_predict(energy, a, num_classes, config.refine)

    models: dict[str, tuple[LogitsFn, Callable[[torch.Tensor], torch.Tensor]]] = {"ebm": (plain, ebm_pred)}
    if config.bpda:
        models["ebm_bpda"] = (through, ebm_pred)
    if classifier is not None:
        classifier.eval()
        cls_logits = energy_logits(classifier, num_classes)
        models["classifier"] = (cls_logits, lambda a: lowest_energy_class(classifier, a, num_classes))
    budgets: dict[str, Sequence[float]] = {"linf": config.linf_eps, "l2": config.l2_eps}
    total = len(models) * sum(len(v) for v in budgets.values())
    bar = progress(total, desc="attacks", disable=quiet)
    out: dict[str, dict[str, list[float]]] = {name: {"linf": [], "l2": []} for name in models}
    for name, (logits_fn, predict) in models.items():
        for norm, eps_list in budgets.items():
            for eps in eps_list:
                if name == "ebm_bpda" and eps == 0 and not config.bpda_images:  # no attack: same as "ebm"
                    out[name][norm].append(out["ebm"][norm][len(out[name][norm])])
                    bar.update(1)
                    continue
                cfg = PGDConfig(norm=norm, eps=eps, steps=config.pgd_steps)  # type: ignore[arg-type]
                n = config.bpda_images if name == "ebm_bpda" and config.bpda_images else x.shape[0]
                acc = _accuracy(predict, lambda xb, yb, c=cfg, f=logits_fn: pgd_attack(f, xb, yb, c),
                                x[:n], y[:n], config.batch_size)
                out[name][norm].append(acc)
                bar.update(1)
    bar.close()
    return out


def plot_robustness(curves: dict[str, dict[str, list[float]]], config: RobustnessConfig, path: str) -> None:
    """Figure 8 analogue: accuracy vs eps, one panel per norm."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = {"ebm": "EBM (PGD on -E, then Langevin)", "ebm_bpda": "EBM (BPDA/EOT through Langevin)",
              "classifier": "cross-entropy classifier, same backbone"}
    if config.bpda_images:
        labels["ebm_bpda"] += f", first {config.bpda_images} images"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, norm, eps in zip(axes, ("linf", "l2"), (config.linf_eps, config.l2_eps)):
        for name, curve in curves.items():
            ax.plot(eps, curve[norm], "o-", label=labels.get(name, name))
        ax.set_xlabel(f"eps ({'L-inf' if norm == 'linf' else 'L2'}, pixels in [0, 1])")
        top = ax.secondary_xaxis("top", functions=(lambda e: e * 255, lambda e: e / 255))
        top.set_xlabel("eps x 255 (the paper's and reference code's units)", fontsize=8)
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1)
        ax.set_title(f"{'L-inf' if norm == 'linf' else 'L2'} robustness")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


__all__ = [
    "class_energies", "energy_logits", "project_linf", "project_l2", "project", "PGDConfig", "pgd_attack",
    "RefineConfig", "refine", "ebm_predict", "bpda_logits", "BASELINE_TRAINING", "train_energy_classifier",
    "RobustnessConfig", "robustness_curves", "plot_robustness",
]
