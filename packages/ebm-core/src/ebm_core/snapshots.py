"""Models made from snapshots of one training run's weights: the historical ensemble (A.2) and
the weight average (Polyak averaging; over evenly spaced snapshots, Izmailov et al. 2018's SWA)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from .composition import SumEnergy

StateDict = dict[str, torch.Tensor]


def _member(energy: nn.Module, state: StateDict) -> nn.Module:
    member = copy.deepcopy(energy)
    member.load_state_dict(state)
    return member


def snapshot_ensemble(energy: nn.Module, snapshots: Sequence[StateDict]) -> nn.Module:
    """The historical ensemble of A.2: the mean of the energies of ``energy``'s architecture under
    each snapshot (one forward per snapshot per step); ``energy`` itself when there are none."""
    if not snapshots:
        return energy
    n = len(snapshots)
    return SumEnergy([(_member(energy, sd), None) for sd in snapshots], weights=[1.0 / n] * n, pass_y=True)


def refresh_power_iterations(module: nn.Module, iterations: int = 50) -> None:
    """Run ``iterations`` power iterations of every parametrization that estimates a spectral norm
    in train mode (torch's ``spectral_norm``, :class:`~ebm_core.layers.ShrinkOnlySpectralNorm`), so
    that its stored singular vectors belong to the current weights. Leaves ``module`` in eval mode."""
    if iterations < 1:
        raise ValueError(f"refresh_power_iterations: iterations must be >= 1, got {iterations}")
    parametrized = [m for m in module.modules() if parametrize.is_parametrized(m)]
    module.train()
    with torch.no_grad():
        for _ in range(iterations):
            for m in parametrized:
                for name in m.parametrizations:
                    getattr(m, name)
    module.eval()


def weight_average(energy: nn.Module, snapshots: Sequence[StateDict], iterations: int = 50) -> nn.Module:
    """One model whose floating-point weights and buffers are the mean over ``snapshots``
    (integer entries: the last snapshot's), one forward per step like a single model. The stored
    singular vectors of spectral norms are then re-estimated for the averaged weights
    (:func:`refresh_power_iterations`): their mean is not a unit vector, and an eval-mode spectral
    norm reads them as they are. Running statistics (e.g. BatchNorm's) are averaged too, not
    recomputed as SWA would; the image energies have none. Snapshots may lie on other devices (a
    resumed run's come back on the CPU): the mean is taken on the last one's device, in at least
    float32. A copy of ``energy`` when there are no snapshots; eval mode."""
    if not snapshots:
        model = copy.deepcopy(energy)
        model.eval()
        return model
    mean: StateDict = {}
    for key, last in snapshots[-1].items():
        if last.is_floating_point():
            dtype = torch.promote_types(last.dtype, torch.float32)
            mean[key] = torch.stack([sd[key].to(last.device, dtype) for sd in snapshots]).mean(0).to(last.dtype)
        else:
            mean[key] = last.clone()
    model = _member(energy, mean)
    refresh_power_iterations(model, iterations)
    return model
