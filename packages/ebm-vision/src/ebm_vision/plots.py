"""PNG figures: sample grids, chain strips (Figure 22), restoration and cross-class panels
(Figures 5, 6, 19), nearest neighbours (Figure 20), energy histograms (Figure 11); each written
through ebm-core's ``atomic_path`` (never half-written)."""

from __future__ import annotations

from pathlib import Path

import torch
from ebm_core.atomic import atomic_path
from ebm_run import save_figure


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 10, pad: int = 2) -> Path:
    """Images (N, C, H, W) in [0, 1] as one PNG grid of ``nrow`` per row, written atomically."""
    from torchvision.utils import save_image

    path = Path(path)
    with atomic_path(path) as tmp:
        save_image(images.detach().float().clamp(0, 1).cpu(), tmp, nrow=nrow, padding=pad, pad_value=1.0)
    return path


def save_chain_strip(chain: torch.Tensor, path: str | Path) -> Path:
    """A chain ``(frames, n, C, H, W)`` as n rows of frames, noise on the left (Figure 22)."""
    return save_grid(chain.transpose(0, 1).flatten(0, 1), path, nrow=chain.shape[0])


def save_rows(rows: list[torch.Tensor], path: str | Path) -> Path:
    """Equal-length image rows (each (N, C, H, W)) stacked: e.g. clean / corrupted / restored."""
    n = rows[0].shape[0]
    return save_grid(torch.cat(rows), path, nrow=n)


def save_cross_class(sources: torch.Tensor, panel: torch.Tensor, path: str | Path) -> Path:
    """Cross-class panel: source image, then its conversion to every class, one row per source."""
    rows = torch.cat([sources.unsqueeze(1), panel], 1)
    return save_grid(rows.flatten(0, 1), path, nrow=rows.shape[1])


def save_neighbours(samples: torch.Tensor, neighbours: torch.Tensor, path: str | Path) -> Path:
    """Each sample followed by its k nearest training images ``neighbours`` (S, k, C, H, W)."""
    rows = torch.cat([samples.unsqueeze(1), neighbours], 1)
    return save_grid(rows.flatten(0, 1), path, nrow=rows.shape[1])


def save_energy_histogram(train_e: torch.Tensor, test_e: torch.Tensor, path: str | Path,
                          extra: dict[str, torch.Tensor] | None = None) -> Path:
    """Histograms of (negative) energies of train and test images, and any ``extra`` sets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    sets = {"train": train_e, "test": test_e, **(extra or {})}
    lo = min(float(-v.max()) for v in sets.values())
    hi = max(float(-v.min()) for v in sets.values())
    for name, v in sets.items():
        ax.hist((-v).numpy(), bins=60, range=(lo, hi), density=True, histtype="step", label=name)
    ax.set_xlabel("-E(x)  (higher = more likely)")
    ax.set_ylabel("density")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path
