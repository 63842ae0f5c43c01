"""MNIST for the Split-MNIST protocol: full MNIST from its idx files (the default) or through
torchvision, with a fixed validation set carved from the training images; the test set alone for
the demo.

Images are flat float32 vectors in [0, 1] (784 values), labels int64 digits. The idx files are
read by ebm-core (``ebm_run.read_mnist_idx``, ``read_idx``), which also says where the demo data
lives (``shared_mnist_dir``); ``read_idx`` and ``shared_mnist_dir`` are re-exported here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ebm_core.checks import check_count
from ebm_core.seeding import torch_generator
from ebm_run import read_idx, read_mnist_idx, shared_mnist_dir

__all__ = [
    "MNISTSplit", "Task", "SPLIT_MNIST_TASKS", "demo_split", "load_mnist_test_idx", "read_idx", "shared_mnist_dir",
    "split_tasks", "torchvision_mnist", "load_split_mnist", "idx_mnist", "full_mnist", "validation_rows",
    "VALIDATION_IMAGES",
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
    eval_split: str = "test"  # what x_eval is: "validation" (carved from the training images) or "test"
    n_validation: int = 0  # training images held out as the validation set (not trained on)

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


VALIDATION_IMAGES = 5000  # carved from the 60,000 training images, 500 per digit, the same in every run


def validation_rows(labels: torch.Tensor, count: int) -> torch.Tensor:
    """The training rows held out for validation: ``count // 10`` per digit, drawn by a permutation
    from a fixed named seed (the same set whatever the run's seed, so every choice is made on it)."""
    gen = torch_generator(0, "split_mnist", "validation")
    per_digit = count // NUM_CLASSES
    rows = []
    for c in range(NUM_CLASSES):
        idx = torch.nonzero(labels == c).squeeze(1)
        if len(idx) <= per_digit:
            raise ValueError(f"digit {c} has {len(idx)} training images, cannot hold out {per_digit} for validation")
        rows.append(idx[torch.randperm(len(idx), generator=gen)[:per_digit]])
    return torch.cat(rows).sort().values


def _per_class(labels: torch.Tensor, limit: int | None, what: str) -> torch.Tensor:
    """Rows of the first ``limit`` images of each digit (all without a limit)."""
    if limit is None:
        return torch.arange(len(labels))
    rows = []
    for c in range(NUM_CLASSES):
        idx = torch.nonzero(labels == c).squeeze(1)
        if len(idx) < limit:
            use = "train" if what == "training" else "evaluate"
            raise ValueError(f"digit {c} has {len(idx):,} {what} images: not {limit:,} to {use} on")
        rows.append(idx[:limit])
    return torch.cat(rows).sort().values


def full_mnist(
    train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], where: str,
    validation: int = VALIDATION_IMAGES, eval_split: str = "test", train_per_class: int | None = None,
    eval_per_class: int | None = None,
) -> MNISTSplit:
    """Full MNIST as a split: the training images minus ``validation`` held out (see
    :func:`validation_rows`) to train on, and the validation images (``eval_split="validation"``:
    where every choice is made) or the 10,000 test images (``"test"``: the reported figure) to
    evaluate on; optionally only the first ``train_per_class`` / ``eval_per_class`` of each digit."""
    if eval_split not in ("validation", "test"):
        raise ValueError(f"eval_split must be 'validation' or 'test', got {eval_split!r}")
    (x, y), (x_test, y_test) = train, test
    held = validation_rows(y, validation) if validation else torch.zeros(0, dtype=torch.long)
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[held] = False
    x_tr, y_tr = x[keep], y[keep]
    x_ev, y_ev = (x[held], y[held]) if eval_split == "validation" else (x_test, y_test)
    if eval_split == "validation" and not validation:
        raise ValueError("eval_split 'validation' needs validation images (data.validation > 0)")
    tr, ev = _per_class(y_tr, train_per_class, "training"), _per_class(y_ev, eval_per_class, eval_split)
    desc = (f"full MNIST ({where}): {len(tr):,} training images (the 60,000 minus {len(held):,} held out for "
            f"validation{'' if train_per_class is None else f', first {train_per_class} per digit'}), evaluated on "
            f"{len(ev):,} {'validation' if eval_split == 'validation' else 'test'} images")
    return MNISTSplit(x_tr[tr], y_tr[tr], x_ev[ev], y_ev[ev], desc, eval_split=eval_split, n_validation=len(held))


def idx_mnist(data_dir: str | Path, **split: Any) -> MNISTSplit:
    """:func:`full_mnist` from the four idx files (plain or ``.gz``) in ``data_dir``, ``data_dir/mnist``
    or ``data_dir/MNIST/raw``."""
    return full_mnist(_to_tensors(*read_mnist_idx(data_dir, "train")), _to_tensors(*read_mnist_idx(data_dir, "test")),
                      f"idx files in {data_dir}", **split)


def torchvision_mnist(data_dir: str | Path, download: bool = False, **split: Any) -> MNISTSplit:
    """:func:`full_mnist` through torchvision's ``MNIST`` (its ``root``: ``data_dir``)."""
    from torchvision.datasets import MNIST

    data_dir = Path(data_dir)
    try:
        train = MNIST(str(data_dir), train=True, download=download)
        test = MNIST(str(data_dir), train=False, download=download)
    except RuntimeError as err:  # torchvision's "Dataset not found. You can use download=True"
        raise FileNotFoundError(
            f"MNIST not found for torchvision under {data_dir / 'MNIST' / 'raw'}: it needs the four extracted idx "
            "files there (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            "t10k-labels-idx1-ubyte; the .gz files alone are not enough); pass --download where there is "
            "internet, or use --data mnist, which reads the .gz files too"
        ) from err
    return full_mnist(_to_tensors(train.data.numpy(), train.targets.numpy()),
                      _to_tensors(test.data.numpy(), test.targets.numpy()), f"torchvision, {data_dir}", **split)


def load_split_mnist(
    source: str, data_dir: str | Path | None = None, eval_per_class: int | None = None,
    train_per_class: int | None = None, download: bool = False, validation: int = VALIDATION_IMAGES,
    eval_split: str = "test",
) -> MNISTSplit:
    """The data of ``SplitMNISTConfig.data``: ``"mnist"`` is :func:`idx_mnist` (``data_dir`` default
    :func:`shared_mnist_dir`), ``"torchvision"`` is :func:`torchvision_mnist` (``data_dir`` default
    ``data``), both full MNIST with ``validation`` training images held out and evaluated on
    ``eval_split``; ``"demo"`` is :func:`demo_split` of the MNIST test set alone (200 eval images per
    digit unless ``eval_per_class``; it has no validation set)."""
    split = dict(validation=validation, eval_split=eval_split, train_per_class=train_per_class,
                 eval_per_class=eval_per_class)
    if source == "mnist":
        return idx_mnist(data_dir if data_dir is not None else shared_mnist_dir(), **split)
    if source == "torchvision":
        return torchvision_mnist(data_dir if data_dir is not None else "data", download=download, **split)
    if source == "demo":
        if eval_split != "test":
            raise ValueError("the demo data (the MNIST test set split in two) has no validation set: use "
                             "--data mnist to evaluate on validation")
        return demo_split(data_dir if data_dir is not None else shared_mnist_dir(),
                          200 if eval_per_class is None else eval_per_class, train_per_class=train_per_class)
    raise ValueError(f"unknown MNIST source {source!r}: choose 'mnist', 'torchvision' or 'demo'")


@dataclass(frozen=True)
class Task:
    """One task of the sequence: its classes and their train / eval examples."""

    classes: tuple[int, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor

    def with_generated(self, generated: list[tuple[torch.Tensor, torch.Tensor]]) -> Task:
        """This task with generated ``(images, labels)`` added to its training examples, and their
        labels to its classes (generative replay); the task itself when there are none."""
        if not generated:
            return self
        x = torch.cat([self.x_train, *(g.to(self.x_train.device) for g, _ in generated)])
        y = torch.cat([self.y_train, *(label.to(self.y_train.device) for _, label in generated)])
        extra = sorted({int(c) for _, label in generated for c in label.unique()} - set(self.classes))
        return dataclasses.replace(self, classes=(*self.classes, *extra), x_train=x, y_train=y)


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
