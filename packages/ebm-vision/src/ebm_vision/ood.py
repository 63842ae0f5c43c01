"""Out-of-distribution detection with EBMs (section 4.4, Figures 9-11).

The score of an image is its relative log likelihood ``-E(x)`` (no sampling); a conditional
model scores ``-min_c E(x, c)``. AUROC (ebm-core's ``auroc``) measures how well the score ranks
in-distribution test images above each OOD set. OOD sets: the paper's synthetic ones
(constant-colour images, uniform noise, interpolations of two in-distribution images) and real
image sets (SVHN, Textures/DTD, CIFAR-100, and for MNIST models other digit or letter sets),
converted to the model's image shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ebm_core import auroc, check_finite, class_energies
from ebm_core.checks import check_unit_range
from ebm_run import find_mnist_files, read_mnist_idx, save_figure, shared_idx_dir
from torch import nn

from .data import dequantize, load_images

# Figure 10: AUROC on CIFAR-10 test images vs each OOD set.
PAPER_OOD_CIFAR10: dict[str, dict[str, float]] = {
    "ebm": {"svhn": 0.63, "textures": 0.48, "constant": 0.30, "uniform": 1.0, "interpolation": 0.70, "average": 0.62},
    "pixelcnn++": {"svhn": 0.32, "textures": 0.33, "constant": 0.0, "uniform": 1.0, "interpolation": 0.71,
                   "average": 0.47},
    "glow": {"svhn": 0.24, "textures": 0.27, "constant": 0.0, "uniform": 1.0, "interpolation": 0.59, "average": 0.42},
}
SYNTHETIC_SETS = ("constant", "uniform", "interpolation")
# real OOD sets that load_ood_images reads (ebm_vision.data loaders or torchvision classes)
REAL_SETS = ("svhn", "textures", "cifar100", "cifar10", "mnist", "fashion_mnist", "kmnist", "emnist_letters")


# ------------------------------------------------------------------------- scores
def ood_scores(energy: nn.Module, x: torch.Tensor, num_classes: int = 0, batch_size: int = 500) -> torch.Tensor:
    """``-E(x)`` per image (``(N,)``, float64); conditional models: ``-min_c E(x, c)``."""
    check_unit_range(x)
    device = next(iter(energy.parameters()), torch.empty(0)).device
    out = []
    energy.eval()
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size].to(device)
            e = class_energies(energy, xb, num_classes).min(dim=1).values if num_classes else energy(xb)
            out.append(-e.double().cpu())
    return torch.cat(out)


# ------------------------------------------------------------------- synthetic sets
def constant_images(n: int, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Images of one uniformly random colour each (the paper's "constant uniform")."""
    colour = torch.rand((n, shape[0], 1, 1), generator=generator)
    return colour.expand(n, *shape).contiguous()


def uniform_noise_images(n: int, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Every pixel independently U(0, 1)."""
    return torch.rand((n, *shape), generator=generator)


def interpolated_images(x: torch.Tensor, n: int, generator: torch.Generator | None = None,
                        weight: float = 0.5) -> torch.Tensor:
    """``weight * a + (1 - weight) * b`` for random pairs of different images of ``x`` (Figure 9)."""
    if x.shape[0] < 2:
        raise ValueError("interpolations need at least two in-distribution images")
    i = torch.randint(0, x.shape[0], (n,), generator=generator)
    j = (i + torch.randint(1, x.shape[0], (n,), generator=generator)) % x.shape[0]  # j != i
    return weight * x[i] + (1 - weight) * x[j]


def synthetic_ood_sets(x_in: torch.Tensor, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The three synthetic OOD sets of Figure 10 for in-distribution images ``x_in``."""
    g = torch.Generator().manual_seed(seed)
    shape = tuple(x_in.shape[1:])
    return {
        "constant": constant_images(n, shape, g),
        "uniform": uniform_noise_images(n, shape, g),
        "interpolation": interpolated_images(x_in, n, g),
    }


# ------------------------------------------------------------------------ real sets
def to_shape(q: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> uint8 images of ``shape``: grey <-> RGB, bilinear resize."""
    c, h, w = shape
    x = q.float()
    if x.shape[1] != c:
        if c == 1:
            weights = torch.tensor([0.299, 0.587, 0.114])[: x.shape[1]]
            x = (x * (weights / weights.sum()).view(1, -1, 1, 1)).sum(1, keepdim=True)
        else:
            x = x.mean(1, keepdim=True).expand(-1, c, -1, -1)
    if tuple(x.shape[2:]) != (h, w):
        x = nn.functional.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def _torchvision_set(name: str, data_dir: Path) -> torch.Tensor:
    from torchvision import datasets

    cls, kwargs, folder = {
        "kmnist": (datasets.KMNIST, {}, "KMNIST/raw/t10k-images-idx3-ubyte"),
        "emnist_letters": (datasets.EMNIST, {"split": "letters"}, "EMNIST/raw/emnist-letters-test-images-idx3-ubyte"),
    }[name]
    try:
        ds = cls(str(data_dir), train=False, download=False, **kwargs)
    except RuntimeError as err:  # torchvision's "Dataset not found. You can use download=True ...": not offered here
        if (data_dir / folder).exists():
            raise ValueError(f"{name} test files under {data_dir} are there but damaged or incomplete "
                             f"({data_dir / folder}: {err})") from err
        raise FileNotFoundError(
            f"{name} test files not found under {data_dir} (torchvision layout, e.g. {data_dir / folder}); "
            f"put them there or pass --ood-data-dir DIR (else --data-dir is searched). No download is attempted."
        ) from None
    q = ds.data.unsqueeze(1)
    return q.transpose(2, 3).contiguous() if name == "emnist_letters" else q  # EMNIST is stored transposed


def default_real_sets(dataset: str, data_dir: str | Path) -> dict[str, Path]:
    """The real OOD sets a model of ``dataset`` is scored against when none are named, with the
    folder each is read from: for MNIST, Fashion-MNIST's test images, and for Fashion-MNIST, MNIST's,
    where their files are found (in ``data_dir``, else beside the checkout); none otherwise."""
    other = {"mnist": "fashion_mnist", "fashion_mnist": "mnist"}.get(dataset)
    if other is None:
        return {}
    for folder in (Path(data_dir), shared_idx_dir(other)):
        try:
            find_mnist_files(folder, "test", other)
        except FileNotFoundError:
            continue
        return {other: folder}
    return {}


def load_ood_images(name: str, data_dir: str | Path, shape: tuple[int, int, int], limit: int | None = None,
                    seed: int = 0) -> torch.Tensor:
    """Test images of a real OOD set as dequantized floats of the model's ``shape``.

    ``textures`` is DTD. Sets with many images are subsampled at random to ``limit``."""
    if name not in REAL_SETS:
        raise ValueError(f"unknown OOD set {name!r}; expected one of {', '.join(REAL_SETS)} or a synthetic set")
    data_dir = Path(data_dir)
    if name == "fashion_mnist":  # the flat idx files as shipped, or torchvision's FashionMNIST/raw
        try:
            q = torch.from_numpy(read_mnist_idx(data_dir, "test", "fashion_mnist")[0]).unsqueeze(1)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"OOD set {name}: {err} (for the OOD sets that folder is --ood-data-dir, "
                                    "else --data-dir)") from None
    elif name in ("kmnist", "emnist_letters"):
        q = _torchvision_set(name, data_dir)
    else:
        try:
            q, _ = load_images("dtd" if name == "textures" else name, "test", data_dir)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"OOD set {name}: {err} (for the OOD sets that folder is --ood-data-dir, "
                                    "else --data-dir)") from None
    g = torch.Generator().manual_seed(seed)
    if limit is not None and q.shape[0] > limit:
        q = q[torch.randperm(q.shape[0], generator=g)[:limit]]
    return dequantize(to_shape(q, shape), generator=g)


# ----------------------------------------------------------------------- evaluation
def evaluate_ood(
    energy: nn.Module, x_in: torch.Tensor, ood_sets: Mapping[str, torch.Tensor], num_classes: int = 0,
    batch_size: int = 500, model: str = "the model",
) -> dict[str, Any]:
    """AUROC of the score (in-distribution = positive) for each OOD set, and their mean. Non-finite
    scores raise ``NonFiniteError`` naming ``model`` and the set.

    Returns ``{"auroc": {set: value}, "mean_auroc": float, "scores": {"in": ..., set: ...}}`` with
    scores as numpy arrays (for histograms)."""
    if not ood_sets:
        raise ValueError("give at least one OOD set")
    s_in = ood_scores(energy, x_in, num_classes, batch_size).numpy()
    check_finite(s_in, f"OOD scores of {model} on the in-distribution images")
    scores: dict[str, np.ndarray] = {"in": s_in}
    table = {}
    for name, x in ood_sets.items():
        if tuple(x.shape[1:]) != tuple(x_in.shape[1:]):
            got, want = tuple(x.shape[1:]), tuple(x_in.shape[1:])
            raise ValueError(f"OOD set {name!r} has images {got}, the model takes {want}")
        scores[name] = ood_scores(energy, x, num_classes, batch_size).numpy()
        check_finite(scores[name], f"OOD scores of {model} on {name}")
        table[name] = auroc(s_in, scores[name])
    return {"auroc": table, "mean_auroc": float(np.mean(list(table.values()))), "scores": scores}


def plot_relative_energy_histograms(scores: Mapping[str, np.ndarray], path: str | Path, title: str = "",
                                    score_name: str = "-E(x)") -> None:
    """Figure 11 analogue: histograms of the score (``-E(x)``; a conditional model's is
    ``-min_c E(x, c)``, name it with ``score_name``) relative to the in-distribution median."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ref = float(np.median(scores["in"]))
    names = [k for k in scores if k != "in"]
    cols = min(len(names), 3)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        both = np.concatenate([scores["in"], scores[name]]) - ref
        lo, hi = np.percentile(both, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
        ax.hist(np.clip(scores["in"] - ref, lo, hi), bins=bins, alpha=0.6, density=True, label="in-distribution")
        ax.hist(np.clip(scores[name] - ref, lo, hi), bins=bins, alpha=0.6, density=True, label=name)
        ax.set_xlabel(f"{score_name} - median in-distribution")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


__all__ = [
    "PAPER_OOD_CIFAR10", "SYNTHETIC_SETS", "REAL_SETS", "ood_scores", "constant_images", "uniform_noise_images",
    "interpolated_images", "synthetic_ood_sets", "to_shape", "load_ood_images", "evaluate_ood",
    "plot_relative_energy_histograms",
]
