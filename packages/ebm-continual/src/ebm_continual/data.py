"""MNIST for the Split-MNIST protocol: torchvision's loader for users, the real test set for the demo.

Images are flat float32 vectors in [0, 1] (784 values), labels int64 digits. The idx files are
read by ebm-core (``ebm_run.read_mnist_idx``, ``read_idx``), which also says where the demo data
lives (``shared_mnist_dir``); ``read_idx`` and ``shared_mnist_dir`` are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ebm_core.checks import check_count
from ebm_run import read_idx, read_mnist_idx, shared_mnist_dir

__all__ = [
    "MNISTSplit", "Task", "SPLIT_MNIST_TASKS", "demo_split", "load_mnist_test_idx", "read_idx", "shared_mnist_dir",
    "split_tasks", "torchvision_mnist", "load_split_mnist",
]


NUM_CLASSES = 10


@dataclass(frozen=True)
class MNISTSplit:
    """Train and evaluation tensors plus a sentence saying where they came from (for results.json)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    description: str
    train_index: torch.Tensor | None = None  # rows of the source set (demo split), for provenance
    eval_index: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for name, x, y in (("training", self.x_train, self.y_train), ("eval", self.x_eval, self.y_eval)):
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"MNISTSplit: {x.shape[0]} {name} images but {y.shape[0]} labels")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= NUM_CLASSES):  # never dropped silently
                stray = sorted({int(v) for v in y[(y < 0) | (y >= NUM_CLASSES)][:1000]})
                raise ValueError(f"MNISTSplit: the {name} labels hold {stray[:5]}, outside the digits 0-9")


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def load_mnist_test_idx(data_dir: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test images (``t10k-*-idx*-ubyte[.gz]`` in ``data_dir``, ``data_dir/mnist`` or
    ``data_dir/MNIST/raw``), flattened; a FileNotFoundError names the missing files and ``--data-dir``."""
    return _to_tensors(*read_mnist_idx(data_dir, "test"))


def demo_split(
    data_dir: str | Path, eval_per_class: int = 200, seed: int = 0, train_per_class: int | None = None,
) -> MNISTSplit:
    """The real MNIST test set split into train / eval, stratified and seeded (fixed by ``seed``).

    For each digit, a seeded permutation of its test images gives ``eval_per_class`` for
    evaluation and the rest (or the next ``train_per_class``) for training (default: 8,000 train /
    2,000 eval). No image is in both.
    """
    check_count(eval_per_class, "eval_per_class")
    if train_per_class is not None:
        check_count(train_per_class, "train_per_class")
    x, y = load_mnist_test_idx(data_dir)
    gen = torch.Generator().manual_seed(seed)
    train_idx, eval_idx = [], []
    for c in range(10):
        idx = torch.nonzero(y == c).squeeze(1)
        if len(idx) <= eval_per_class:
            raise ValueError(f"digit {c} has {len(idx)} images, cannot hold out {eval_per_class}")
        if train_per_class is not None and len(idx) < eval_per_class + train_per_class:  # never fewer than asked
            raise ValueError(f"digit {c} has {len(idx)} images: not {eval_per_class} to hold out and "
                             f"{train_per_class} to train on")
        idx = idx[torch.randperm(len(idx), generator=gen)]
        eval_idx.append(idx[:eval_per_class])
        end = None if train_per_class is None else eval_per_class + train_per_class
        train_idx.append(idx[eval_per_class:end])
    tr, ev = torch.cat(train_idx).sort().values, torch.cat(eval_idx).sort().values
    desc = (
        f"MNIST test set (10,000 images, {Path(data_dir)}) split per digit by a permutation seeded "
        f"with {seed}: {eval_per_class} images per digit held out for evaluation ({len(ev)}), "
        f"{'the other' if train_per_class is None else 'the next'} {len(tr)} for training"
    )
    return MNISTSplit(x[tr], y[tr], x[ev], y[ev], desc, tr, ev)


def torchvision_mnist(data_dir: str | Path, download: bool = False) -> MNISTSplit:
    """Full MNIST through torchvision: 60,000 train images, the 10,000 test images for evaluation."""
    from torchvision.datasets import MNIST

    data_dir = Path(data_dir)
    try:
        train = MNIST(str(data_dir), train=True, download=download)
        test = MNIST(str(data_dir), train=False, download=download)
    except RuntimeError as err:  # torchvision's "Dataset not found. You can use download=True"
        raise FileNotFoundError(
            f"MNIST not found under {data_dir / 'MNIST' / 'raw'}: expected train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz there; "
            "pass --download where there is internet, or put the files there and pass --data-dir"
        ) from err
    x_tr, y_tr = _to_tensors(train.data.numpy(), train.targets.numpy())
    x_te, y_te = _to_tensors(test.data.numpy(), test.targets.numpy())
    desc = f"full MNIST via torchvision ({data_dir}): 60,000 train images, the 10,000 test images for evaluation"
    return MNISTSplit(x_tr, y_tr, x_te, y_te, desc)


def load_split_mnist(
    source: str, data_dir: str | Path | None = None, eval_per_class: int = 200,
    train_per_class: int | None = None, download: bool = False,
) -> MNISTSplit:
    """The data of ``SplitMNISTConfig.data`` (its ``source`` and per-class counts): ``"demo"`` is
    :func:`demo_split` of the MNIST test set (``data_dir`` default: :func:`shared_mnist_dir`),
    ``"torchvision"`` is :func:`torchvision_mnist` (``data_dir`` default ``data``; the per-class
    counts apply to the demo split only)."""
    if source == "demo":
        return demo_split(data_dir if data_dir is not None else shared_mnist_dir(), eval_per_class,
                          train_per_class=train_per_class)
    if source == "torchvision":
        return torchvision_mnist(data_dir if data_dir is not None else "data", download=download)
    raise ValueError(f"unknown MNIST source {source!r}: choose 'demo' or 'torchvision'")


@dataclass(frozen=True)
class Task:
    """One task of the sequence: its classes and their train / eval examples."""

    classes: tuple[int, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor


SPLIT_MNIST_TASKS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


def split_tasks(data: MNISTSplit, tasks: tuple[tuple[int, ...], ...] = SPLIT_MNIST_TASKS) -> list[Task]:
    """Class-incremental tasks (Farquhar & Gal 2018): each task holds only its own digits."""
    seen: set[int] = set()
    out = []
    for classes in tasks:
        if seen & set(classes):
            raise ValueError(f"tasks must have disjoint classes; {sorted(seen & set(classes))} repeat")
        seen |= set(classes)
        cls = torch.tensor(classes)
        tr, ev = torch.isin(data.y_train, cls), torch.isin(data.y_eval, cls)
        missing = [c for c in classes if not (data.y_train == c).any() or not (data.y_eval == c).any()]
        if missing:
            raise ValueError(f"classes {missing} have no training or no eval examples in the data")
        out.append(Task(tuple(classes), data.x_train[tr], data.y_train[tr], data.x_eval[ev], data.y_eval[ev]))
    return out
