"""What every sampler is: the call shape of DESIGN.md, ``sampler(energy, x0, y=None, mask=None) -> x``,
and ``run(...)``, which returns the samples with what the chain recorded (one type for all samplers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn


@dataclass
class SampleOutput:
    """Result of a chain: final states, and what the sampler was asked to record."""

    x: torch.Tensor
    energies: torch.Tensor | None = None  # (steps, B): energy before each step (Langevin, record_energies)
    chain: torch.Tensor | None = None  # (n_records, B, ...): x0 then every record_every steps (Langevin)
    grad_abs_mean: float = float("nan")  # mean |dE/dx| at the last step, before clipping (Langevin)
    accept_rate: float = float("nan")  # share of proposals accepted (HMC)


@runtime_checkable
class Sampler(Protocol):
    """Any sampler the Trainer, AIS and the apps take: :class:`ebm_core.LangevinSampler`,
    :class:`ebm_core.HMCSampler`, or a user's own with the same two methods."""

    def __call__(self, energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None) -> torch.Tensor: ...

    def run(self, energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None = None,
            mask: torch.Tensor | None = None) -> SampleOutput: ...
