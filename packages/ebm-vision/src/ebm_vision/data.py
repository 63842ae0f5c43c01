"""Image datasets of the paper (section 4, A.1) as uint8 tensors, dequantized into [0, 1].

Every dataset is returned in one of two forms:

- ``load_images(name, split, data_dir) -> (images uint8 (N, C, H, W), labels long (N,))`` for the
  datasets that fit in memory (MNIST, CIFAR-10/100, SVHN, DTD, ImageNet 32x32);
- ``load_dataset(name, split, data_dir) -> torch Dataset`` of dequantized ``(x, y)`` items for all
  of them (ImageNet 128x128 streams from an ImageFolder).

Dequantization (reference code and A.1): ``x = (q + u) / 256`` with ``q`` the 8-bit pixel value
and ``u ~ U(0, 1)``, redrawn every time an image is read. No dataset is downloaded: missing files
raise a ``FileNotFoundError`` that names them and the ``--data-dir`` they are looked for in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ebm_core import dequantize as dequantize  # re-exported: the paper's (q + U(0, 1)) / 256
from ebm_core import quantize as quantize  # re-exported
from ebm_core.checks import check_count
from ebm_run import find_mnist_files, read_mnist_idx
from ebm_run import read_idx as read_idx  # re-exported: ebm_vision.data.read_idx keeps working
from ebm_run import shared_mnist_dir as shared_mnist_dir  # re-exported
from torch.utils.data import Dataset, Subset

from .pickled_arrays import load_pickled_arrays

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "dtd", "imagenet32", "imagenet128")
_SHAPES = {
    "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32),
    "svhn": (3, 32, 32), "dtd": (3, 32, 32), "imagenet32": (3, 32, 32), "imagenet128": (3, 128, 128),
}
_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "svhn": 10, "dtd": 47, "imagenet32": 1000,
            "imagenet128": 1000}
_SPLITS = ("train", "test")


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def image_shape(name: str) -> tuple[int, int, int]:
    """(channels, height, width) of the images ``name`` yields."""
    _check_name(name)
    return _SHAPES[name]


def num_classes(name: str) -> int:
    """Number of classes of dataset ``name``."""
    _check_name(name)
    return _CLASSES[name]


def _missing(name: str, data_dir: Path, files: Sequence[str], hint: str = "") -> FileNotFoundError:
    listed = "\n  ".join(str(data_dir / f) for f in files)
    return FileNotFoundError(
        f"{name} files not found; expected:\n  {listed}\n"
        f"Put them there or pass --data-dir DIR (now {data_dir}). No download is attempted.{hint}"
    )


# --------------------------------------------------------------------------------------- MNIST
# The idx reader, the file locations and the shared demo folder are ebm-run's (``ebm_run.mnist_files``);
# ``read_idx`` and ``shared_mnist_dir`` stay importable from here.
def load_mnist(data_dir: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from its idx files (``train-*`` / ``t10k-*``, plain or .gz) in ``data_dir``,
    ``data_dir/mnist`` or ``data_dir/MNIST/raw``: uint8 images (N, 1, 28, 28) and labels (N,)."""
    _check_split(split)
    try:
        images, labels = read_mnist_idx(data_dir, split)
    except FileNotFoundError as err:
        if split == "train" and _has_mnist_test(Path(data_dir)):
            raise FileNotFoundError(
                f"{err} (only the test split is there: holdout_split() can carve a training part out of it)"
            ) from None
        raise
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def load_fashion_mnist(data_dir: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST from its idx files (flat, plain or .gz, as shipped; or torchvision's
    ``FashionMNIST/raw``): uint8 images (N, 1, 28, 28) and labels (N,)."""
    _check_split(split)
    images, labels = read_mnist_idx(data_dir, split, "fashion_mnist")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def _has_mnist_test(data_dir: Path) -> bool:
    try:
        find_mnist_files(data_dir, "test")
    except FileNotFoundError:
        return False
    return True


# ------------------------------------------------------------------- torchvision-backed sets
CIFAR_FILES = {
    10: ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "labels"),
    100: ("cifar-100-python", ("train",), ("test",), "fine_labels"),
}


def load_cifar(data_dir: str | Path, split: str = "train", classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 / CIFAR-100 from the "python version" archive, extracted in ``data_dir``
    (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``; ``cifar-100-python/train``, ``test``):
    the batches are pickles, read by :func:`ebm_vision.pickled_arrays.load_pickled_arrays`, which
    admits numpy arrays and plain values only (torchvision's CIFAR classes would unpickle anything)."""
    _check_split(split)
    data_dir = Path(data_dir)
    if classes not in CIFAR_FILES:
        raise ValueError(f"CIFAR has 10 or 100 classes, got {classes}")
    folder, train_files, test_files, label_key = CIFAR_FILES[classes]
    names = train_files if split == "train" else test_files
    paths = [data_dir / folder / n for n in names]
    if not all(p.is_file() for p in paths):
        raise _missing(f"CIFAR-{classes}", data_dir, [f"{folder}/{n}" for n in names],
                       " (the 'python version' archive, extracted)")
    images, labels = [], []
    for p in paths:
        batch = load_pickled_arrays(p, f"CIFAR-{classes}")
        x, y = batch.get("data"), batch.get(label_key)
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 \
                or y is None or len(y) != x.shape[0]:
            raise ValueError(f"{p} is not a CIFAR-{classes} batch: expected 'data' uint8 (N, 3072) and "
                             f"'{label_key}' of N labels")
        y = np.asarray(y, dtype=np.int64)
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"{p}: labels must lie in [0, {classes}), got values in [{y.min()}, {y.max()}]")
        images.append(torch.from_numpy(x.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.from_numpy(y))
    return torch.cat(images), torch.cat(labels)


def load_svhn(data_dir: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """SVHN cropped digits through torchvision (``train_32x32.mat`` / ``test_32x32.mat``)."""
    from torchvision.datasets import SVHN

    _check_split(split)
    data_dir = Path(data_dir)
    for folder in (data_dir, data_dir / "svhn"):
        if (folder / f"{split}_32x32.mat").exists():
            ds = SVHN(str(folder), split=split, download=False)
            return torch.from_numpy(np.ascontiguousarray(ds.data)), torch.as_tensor(ds.labels, dtype=torch.long)
    raise _missing("SVHN", data_dir, [f"{split}_32x32.mat"])


def load_dtd(data_dir: str | Path, split: str = "train", size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """DTD textures through torchvision (``dtd/dtd/images``, ``dtd/dtd/labels``), resized and
    centre-cropped to ``size`` x ``size`` (the OOD set of Table 2 at CIFAR resolution)."""
    from torchvision import transforms
    from torchvision.datasets import DTD

    _check_split(split)
    data_dir = Path(data_dir)
    if not (data_dir / "dtd" / "dtd" / "images").is_dir():
        raise _missing("DTD", data_dir, ["dtd/dtd/images/", "dtd/dtd/labels/"])
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    ds = DTD(str(data_dir), split="train" if split == "train" else "test", transform=tf, download=False)
    images = torch.stack([ds[i][0] for i in range(len(ds))])
    labels = torch.as_tensor([ds[i][1] for i in range(len(ds))], dtype=torch.long)
    return images, labels


def load_imagenet32(data_dir: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Downsampled ImageNet 32x32 (Chrabaszcz et al. 2017) pickle batches: ``train_data_batch_1..10``
    and ``val_data`` (each a dict with ``data`` (N, 3072) uint8 and 1-based ``labels``), looked for in
    ``data_dir``, ``data_dir/Imagenet32_train`` and ``data_dir/Imagenet32_val``."""
    _check_split(split)
    data_dir = Path(data_dir)
    names = [f"train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["val_data"]
    folders = (data_dir, data_dir / "Imagenet32_train", data_dir / "Imagenet32_val", data_dir / "imagenet32")
    paths = []
    for n in names:
        found = [f / n for f in folders if (f / n).exists()]
        if not found:
            raise _missing("ImageNet32", data_dir, names)
        paths.append(found[0])
    images, labels = [], []
    for p in paths:
        d = load_pickled_arrays(p, "downsampled-ImageNet")
        if "data" not in d or "labels" not in d:
            raise ValueError(f"{p} is not a downsampled-ImageNet batch: expected the keys 'data' and 'labels'")
        images.append(torch.from_numpy(np.asarray(d["data"], dtype=np.uint8)).view(-1, 3, 32, 32))
        labels.append(torch.as_tensor(np.asarray(d["labels"]), dtype=torch.long) - 1)
    return torch.cat(images), torch.cat(labels)


_LOADERS = {
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": lambda d, s: load_cifar(d, s, 10),
    "cifar100": lambda d, s: load_cifar(d, s, 100),
    "svhn": load_svhn,
    "dtd": load_dtd,
    "imagenet32": load_imagenet32,
}


def load_images(
    name: str, split: str = "train", data_dir: str | Path = "data", limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """In-memory dataset ``name``: uint8 images (N, C, H, W) and long labels (N,), the first
    ``limit`` of them if given. ImageNet 128x128 is too large: use ``load_dataset``."""
    _check_name(name)
    if name == "imagenet128":
        raise ValueError("imagenet128 does not fit in memory; use load_dataset('imagenet128', ...)")
    if limit is not None:
        check_count(limit, "limit")
    images, labels = _LOADERS[name](Path(data_dir), split)
    if limit is not None:
        if limit > images.shape[0]:  # never a silently smaller run than asked for
            raise ValueError(f"{name} {split}: {limit:,} images asked for, the files in {data_dir} hold "
                             f"{images.shape[0]:,}")
        images, labels = images[:limit], labels[:limit]
    return images, labels


def holdout_split(
    images: torch.Tensor, labels: torch.Tensor, holdout: int, seed: int = 0,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Seeded random split into ``(train, held_out)`` with ``holdout`` examples held out (for
    example training on part of the MNIST test set when the train files are absent)."""
    n = images.shape[0]
    if not 0 < holdout < n:
        raise ValueError(f"holdout must be in (0, {n}), got {holdout}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    tr, ho = perm[holdout:], perm[:holdout]
    return (images[tr], labels[tr]), (images[ho], labels[ho])


# ----------------------------------------------------------------------------- torch Datasets
class DequantizedImages(Dataset):
    """uint8 images (and labels) served as dequantized float images in [0, 1]; items are
    ``(x, y)``, or ``x`` alone when ``labels`` is None (unconditional training). Fresh noise is
    drawn from torch's global generator at each read (so seeded runs reproduce)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels is not None and labels.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int):
        x = dequantize(self.images[i])
        return x if self.labels is None else (x, self.labels[i])


class _ImageFolder128(Dataset):
    """ImageNet 128x128 from an ImageFolder tree (``train/<wnid>/*.JPEG``, ``val/<wnid>/*``)."""

    def __init__(self, root: Path, size: int, conditional: bool):
        from torchvision import transforms
        from torchvision.datasets import ImageFolder

        tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
        self.folder, self.conditional = ImageFolder(str(root), transform=tf), conditional

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int):
        q, y = self.folder[i]
        x = dequantize(q)
        return (x, torch.tensor(y)) if self.conditional else x


def load_dataset(
    name: str, split: str = "train", data_dir: str | Path = "data", conditional: bool = True,
    limit: int | None = None,
) -> Dataset:
    """Dataset ``name`` as a torch Dataset of dequantized images (items ``(x, y)``, or ``x`` when
    ``conditional`` is False), the first ``limit`` images if given. ImageNet 128x128 reads
    ``data_dir/{train,val}`` ImageFolder trees; as those are sorted by class, its ``limit`` images
    are spread evenly over the tree (so over the classes) instead of taken from the front."""
    _check_name(name)
    _check_split(split)
    if limit is not None:
        check_count(limit, "limit")
    if name == "imagenet128":
        data_dir = Path(data_dir)
        sub = "train" if split == "train" else "val"
        roots = [r for r in (data_dir / sub, data_dir / "imagenet" / sub) if r.is_dir()]
        if not roots:
            raise _missing("ImageNet 128x128", data_dir, [f"{sub}/<wnid>/<image>.JPEG"],
                           " (the ILSVRC-2012 ImageFolder layout)")
        folder = _ImageFolder128(roots[0], 128, conditional)
        if limit is None or limit >= len(folder):
            return folder
        return Subset(folder, torch.linspace(0, len(folder) - 1, limit).round().long().tolist())
    images, labels = load_images(name, split, data_dir, limit)
    return DequantizedImages(images, labels if conditional else None)
