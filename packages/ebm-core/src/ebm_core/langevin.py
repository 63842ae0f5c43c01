"""Langevin dynamics sampler (paper eq. 1, with the reference code's step order)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_condition, check_mask, check_state
from .sampling_context import chain_context


@dataclass
class SampleOutput:
    """Result of a chain: final states, and what was asked to be recorded."""

    x: torch.Tensor
    energies: torch.Tensor | None = None  # (steps, B): energy before each step
    chain: torch.Tensor | None = None  # (n_records, B, ...): x0 then every record_every steps
    grad_abs_mean: float = float("nan")  # mean |dE/dx| at the last step (before clipping)


@dataclass(frozen=True)
class LangevinSampler:
    """x += N(0, noise_std^2); g = clip(dE/dx / T); x -= step_size * g; x = clamp(x, box).

    Defaults are the paper's CIFAR-10 settings (A.11): 60 steps, step size 10, noise 0.005,
    element-wise gradient clip 0.01, states in [0, 1]. ``clamp=None`` leaves states unbounded;
    ``grad_clip=None`` disables the clip. With a ``mask`` only entries where the mask is true
    move; the others stay bit-identical (inpainting). ``create_graph=True`` keeps the graph
    through the chain, with respect to the parameters too (the KL term, A.8).
    """

    steps: int = 60
    step_size: float = 10.0
    noise_std: float = 0.005
    grad_clip: float | None = 0.01
    clamp: tuple[float, float] | None = (0.0, 1.0)
    temperature: float = 1.0
    create_graph: bool = False
    record_every: int = 0
    record_energies: bool = False

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.clamp is not None and not self.clamp[0] < self.clamp[1]:
            raise ValueError(f"clamp must be (low, high) with low < high, got {self.clamp}")

    def __call__(
        self, energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final states of the chain started at ``x0`` (detached unless ``create_graph``)."""
        return self.run(energy, x0, y, mask).x

    def run(
        self, energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> SampleOutput:
        """Run the chain and return the final states with the recorded diagnostics."""
        check_state(x0, "x0")
        check_condition(y, x0)
        mask = check_mask(mask, x0)
        anchor = x0.detach()
        x = anchor.clone()
        energies, chain = [], [anchor.clone()] if self.record_every else []
        grad_abs = float("nan")
        scale: torch.Tensor | None = None
        with torch.enable_grad(), chain_context(energy, keep_parameter_graph=self.create_graph):
            for k in range(self.steps):
                if self.noise_std > 0:
                    noise = self.noise_std * torch.randn_like(x)
                    x = x + (noise if mask is None else noise * mask)
                if not self.create_graph:
                    x = x.detach()
                if not x.requires_grad:
                    x.requires_grad_(True)
                e = energy(x, y)
                if e.shape != (x.shape[0],):
                    raise ValueError(f"an energy must return shape ({x.shape[0]},), got {tuple(e.shape)}")
                if scale is None:
                    scale = torch.full_like(e, 1.0 / self.temperature)  # d(sum E / T)/dx, no sum op
                (g,) = torch.autograd.grad(e, x, grad_outputs=scale, create_graph=self.create_graph)
                if self.record_energies:
                    energies.append(e.detach())
                if k == self.steps - 1:
                    grad_abs = g.detach().abs().mean().item()
                if self.grad_clip is not None:
                    g = g.clamp(-self.grad_clip, self.grad_clip)
                x = x - self.step_size * g
                if self.clamp is not None:
                    x = x.clamp(self.clamp[0], self.clamp[1])
                if mask is not None:
                    x = torch.where(mask, x, anchor)
                if self.record_every and (k + 1) % self.record_every == 0:
                    chain.append(x.detach().clone())
        if not self.create_graph:
            x = x.detach()
        return SampleOutput(
            x=x,
            energies=torch.stack(energies) if energies else None,
            chain=torch.stack(chain) if chain else None,
            grad_abs_mean=grad_abs,
        )
