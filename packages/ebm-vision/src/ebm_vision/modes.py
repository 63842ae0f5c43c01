"""Mode evaluation (section 4.2, A.1): cross-class conversion (Figures 6, 19), energies of train
vs test images (Figure 11), nearest training neighbours of samples in pixel space (Figure 20)."""

from __future__ import annotations

import torch
from ebm_core import LangevinSampler
from ebm_core.checks import check_count
from torch import nn

from .restoration import restore


def cross_class(
    energy: nn.Module, sources: torch.Tensor, num_classes: int, sampler: LangevinSampler, rounds: int = 1,
    targets: torch.Tensor | None = None, batch_size: int = 100,
) -> torch.Tensor:
    """Start from each source image and sample under each target class (default: all
    ``num_classes``): ``(S, T, C, H, W)`` (row = source image, column = target class). The chains
    run ``batch_size`` at a time, so 1000 ImageNet classes do not become one Langevin batch."""
    if targets is None:
        targets = torch.arange(num_classes)
    targets = targets.to(sources.device)
    if targets.numel() and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(f"target classes must lie in [0, {num_classes}), got {targets.tolist()}")
    s, t = sources.shape[0], targets.numel()
    x = sources.repeat_interleave(t, 0)
    y = targets.repeat(s)
    out = torch.cat([restore(energy, x[i : i + batch_size], y[i : i + batch_size], sampler, rounds=rounds)
                     for i in range(0, x.shape[0], batch_size)])
    return out.view(s, t, *sources.shape[1:])


@torch.no_grad()
def energies(energy: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 500) -> torch.Tensor:
    """Energies of ``x`` (under labels ``y`` if given), batch-wise without gradients."""
    out = []
    for i in range(0, x.shape[0], batch_size):
        yi = None if y is None else y[i : i + batch_size]
        out.append(energy(x[i : i + batch_size], yi).cpu())
    return torch.cat(out)


def energy_gap(train_e: torch.Tensor, test_e: torch.Tensor) -> dict[str, float]:
    """Summary of Figure 11's over-fitting check: means, stds, and the mean gap in units of the
    train std (near 0 when train and test energies coincide)."""
    std = float(train_e.std())
    return {"train_mean": float(train_e.mean()), "test_mean": float(test_e.mean()), "train_std": std,
            "test_std": float(test_e.std()), "gap_in_train_std": float((test_e.mean() - train_e.mean()) / std)}


def nearest_neighbours(
    samples: torch.Tensor, train: torch.Tensor, k: int = 5, batch_size: int = 2000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distances (S, k), indices (S, k))`` of the ``k`` training images nearest to each sample
    in pixel L2 distance (Figure 20)."""
    check_count(k, "k")
    if k > train.shape[0]:
        raise ValueError(f"k = {k} neighbours asked of only {train.shape[0]} training images")
    s = samples.flatten(1)
    best_d = torch.full((s.shape[0], k), float("inf"))
    best_i = torch.zeros((s.shape[0], k), dtype=torch.long)
    for i in range(0, train.shape[0], batch_size):
        t = train[i : i + batch_size].flatten(1).to(s)
        d = torch.cdist(s, t).cpu()
        d_all = torch.cat([best_d, d], 1)
        i_all = torch.cat([best_i, torch.arange(i, i + t.shape[0]).expand(s.shape[0], -1)], 1)
        best_d, pos = d_all.topk(k, dim=1, largest=False)
        best_i = i_all.gather(1, pos)
    return best_d, best_i
