"""Output helpers of the compose apps: image grids, the settings a run folder records, and the
closing entries of results.json."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from ebm_run import package_versions, save_figure, save_samples

from .concepts import ConceptOptimization

RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "ebm-core", "ebm-compose")  # versions in results.json


def run_settings(config: Any, *keep: str) -> dict[str, Any]:
    """What a ``--resume`` of a compose run must keep, in the shape of its ``config``: the data, the
    model, the training chains (not ``sampler.sample_steps``), every ``ConceptOptimization`` field of
    ``training`` and the ``training`` fields named in ``keep`` (not the per-model step counts or the
    fine-tuning, which a resume may change), and the seed."""
    sampler = {k: v for k, v in dataclasses.asdict(config.sampler).items() if k != "sample_steps"}
    names = [f.name for f in dataclasses.fields(ConceptOptimization)] + list(keep)
    return {"data": config.data, "model": config.model, "sampler": sampler,
            "training": {k: getattr(config.training, k) for k in names}, "seed": config.seed}


def closing_entries(config: Any, models: dict[str, str], t0: float) -> dict[str, Any]:
    """What every compose ``results.json`` ends with: the saved model files, the config whole, the
    seed, package versions and the wall time since ``t0`` (``time.perf_counter``)."""
    return {
        "models": models,
        "models_meaning": "each trained concept EBM: ebm_compose.load_concept_energy(PATH) -> (energy, spec)",
        "config": dataclasses.asdict(config), "seed": config.seed,
        "versions": package_versions(*RECORDED_PACKAGES), "wall_seconds": time.perf_counter() - t0,
    }


def save_image_rows(rows: dict[str, torch.Tensor], path: str | Path, title: str = "") -> None:
    """One labelled row of images per entry (B, C, H, W) in [0, 1]; written as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = max(v.shape[0] for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n + 1.5, 1.15 * len(rows) + 0.4), squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < imgs.shape[0]:
                img = imgs[c].detach().float().clamp(0, 1)
                if img.shape[0] == 1:
                    ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
                else:
                    ax.imshow(img.permute(1, 2, 0).numpy())
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, Path(path), dpi=90)


def save_generated(sets: dict[str, torch.Tensor], path: str | Path) -> dict[str, Any]:
    """Every generated image of the run as data (``ebm_run.save_samples``): ``path`` (``samples.npz``)
    holds ``images`` (uint8, N x C x H x W), ``labels`` (-1: generated for latents or attributes, not a
    class) and ``set`` (the experiment and method each image comes from, e.g. "joint: sum_in_turn").
    Returns results.json's entry: the file, the count and the images per set."""
    names = [name for name, x in sets.items() for _ in range(x.shape[0])]
    save_samples(path, torch.cat(list(sets.values())), None, set=names)
    return {"file": Path(path).name, "n": len(names), "per_set": {k: int(v.shape[0]) for k, v in sets.items()}}
