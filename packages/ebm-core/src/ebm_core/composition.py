"""Composition of energies: a product of experts is a sum of energies (section 7)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .checks import check_energy_output
from .langevin import LangevinSampler
from .sampler import SampleOutput


class SumEnergy(nn.Module):
    """E(x) = sum_i w_i * E_i(x, y_i): itself an energy, so every sampler can sample it.

    ``terms`` is a list of ``(energy, condition)`` pairs; a condition is fixed per term (it is
    repeated or must match the batch). A ``y`` passed at call time is ignored unless a term's
    condition is None and ``pass_y`` is True.
    """

    def __init__(
        self, terms: Sequence[tuple[nn.Module, torch.Tensor | None]],
        weights: Sequence[float] | None = None, pass_y: bool = False,
    ):
        super().__init__()
        if not terms:
            raise ValueError("SumEnergy needs at least one (energy, condition) term")
        if weights is not None and len(weights) != len(terms):
            raise ValueError(f"got {len(weights)} weights for {len(terms)} terms")
        self.energies = nn.ModuleList(e for e, _ in terms)
        self.conditions = [c for _, c in terms]
        self.weights = list(weights) if weights is not None else [1.0] * len(terms)
        self.pass_y = pass_y

    @staticmethod
    def _expand(cond: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if cond is None or cond.dim() == 0:
            return None if cond is None else cond.expand(batch)
        if cond.shape[0] == batch:
            return cond
        if cond.shape[0] == 1:
            return cond.expand(batch, *cond.shape[1:])
        raise ValueError(f"a term's condition has batch {cond.shape[0]}, expected 1 or {batch}")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for energy, cond, w in zip(self.energies, self.conditions, self.weights):
            c = self._expand(cond, x.shape[0])
            if c is None and self.pass_y:
                c = y
            e = energy(x, c)
            check_energy_output(e, x, "each energy of a SumEnergy")
            total = total + w * e
        return total


def sample_in_turn(
    sampler: LangevinSampler, energies: Sequence[nn.Module], x0: torch.Tensor,
    y: torch.Tensor | None | Sequence[torch.Tensor | None] = None, mask: torch.Tensor | None = None,
    low: torch.Tensor | None = None, high: torch.Tensor | None = None,
) -> SampleOutput:
    """Sample a composition by one Langevin step per energy in turn, ``sampler.steps`` rounds.

    This is how the reference code composes concepts (its ``ebm_combine``): each round takes a
    step on the first energy, then on the second from where the first left the chain, and so on,
    instead of one step on the summed gradient (sampling :class:`SumEnergy`). Every step is the
    sampler's own (noise, clipped gradient step, clamp, ``low`` / ``high`` bounds, ``mask``), so
    with one energy this is ``sampler.run``. ``y`` is one condition for every energy or a sequence
    of one per energy. With ``record_energies`` the energies has one row per step, in turn
    (``steps * len(energies)`` rows); ``record_every`` counts rounds.
    """
    if not isinstance(sampler, LangevinSampler):
        raise TypeError(f"sample_in_turn needs a LangevinSampler, got {type(sampler).__name__}")
    energies = list(energies)
    if not energies:
        raise ValueError("sample_in_turn needs at least one energy")
    if y is None or isinstance(y, torch.Tensor):
        ys = [y] * len(energies)
    else:
        ys = list(y)
        if len(ys) != len(energies):
            raise ValueError(f"got {len(ys)} conditions for {len(energies)} energies")
    return sampler.run_in_turn(list(zip(energies, ys)), x0, mask, low, high)
