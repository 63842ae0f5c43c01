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


@dataclass(frozen=True)
class AISConfig:
    """Linear schedule of ``num_temperatures`` intermediate distributions from uniform on the box
    to exp(-E), one HMC transition (10 leapfrog steps) per temperature, as the reference code.

    The reverse (upper-bound) chain starts from the forward chains' end points, which are only
    approximate samples of exp(-E); ``final_transitions`` HMC moves at the target first bring
    them closer (the reference code uses 0, which can make its upper bound fall below log Z)."""

    num_chains: int = 100
    num_temperatures: int = 10
    hmc: HMCSampler = field(default_factory=lambda: HMCSampler(steps=1, leapfrog_steps=10, step_size=0.01))
    box: tuple[float, float] = (0.0, 1.0)
    final_transitions: int = 10  # extra HMC moves at the target before the reverse chain starts

    def __post_init__(self) -> None:
        check_count(self.num_chains, "AISConfig.num_chains")
        check_count(self.num_temperatures, "AISConfig.num_temperatures")
        check_count(self.final_transitions, "AISConfig.final_transitions", minimum=0)
        if self.box is None:
            raise ValueError("AISConfig.box must be (low, high): AIS starts from the uniform distribution on it")
        check_box(self.box, "AISConfig.box")


@dataclass
class AISResult:
    log_z_lower: float  # forward AIS: a stochastic lower bound on log Z
    log_z_upper: float  # reverse AIS from the forward chains' end points: an upper bound
    log_w_forward: torch.Tensor
    log_w_reverse: torch.Tensor
    samples: torch.Tensor  # end points of the forward chains (approximate samples of exp(-E))
    accept_rate: float

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
    y: torch.Tensor | None = None, device: torch.device | str = "cpu",
) -> AISResult:
    """Bounds on log Z = log of the integral of exp(-E(x, y)) over the box.

    ``y`` (if given) is a condition of batch ``num_chains``.
    """
    low, high = config.box
    hmc = HMCSampler(
        steps=config.hmc.steps, leapfrog_steps=config.hmc.leapfrog_steps,
        step_size=config.hmc.step_size, clamp=config.box, temperature=1.0,
    )
    n, k = config.num_chains, config.num_temperatures
    betas = torch.linspace(0.0, 1.0, k + 1).tolist()
    dim = math.prod(sample_shape)
    log_z0 = dim * math.log(high - low)

    def e(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = energy(x, y)
        check_energy_output(out, x)
        return out.double()

    x = low + (high - low) * torch.rand((n, *sample_shape), device=device)
    log_w = torch.zeros(n, dtype=torch.float64, device=device)
    rates = []
    for b_prev, b in zip(betas[:-1], betas[1:]):
        log_w -= (b - b_prev) * e(x)
        out = hmc.run(energy, x, y, beta=b)
        x, _ = out.x, rates.append(out.accept_rate)
    if config.final_transitions:
        out = dataclasses.replace(hmc, steps=config.final_transitions).run(energy, x, y, beta=1.0)
        x, _ = out.x, rates.append(out.accept_rate)
    samples = x.clone()

    log_w_rev = torch.zeros(n, dtype=torch.float64, device=device)
    for b_prev, b in zip(reversed(betas[:-1]), reversed(betas[1:])):
        log_w_rev += (b - b_prev) * e(x)
        if b_prev > 0:
            out = hmc.run(energy, x, y, beta=b_prev)
            x, _ = out.x, rates.append(out.accept_rate)
    return AISResult(
        log_z_lower=log_z0 + _logmeanexp(log_w),
        log_z_upper=log_z0 - _logmeanexp(log_w_rev),
        log_w_forward=log_w, log_w_reverse=log_w_rev, samples=samples,
        accept_rate=sum(rates) / len(rates),
    )
