"""MNIST's idx files: the format reader, where the files are looked for, and the shared demo copy.

The paper's MNIST experiments (sections 4, 6) use the MNIST distribution's idx files
(``train-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, ...; plain or gzip-compressed). This
module reads them with the standard library and numpy only, so every domain package shares one
reader; torchvision's ``MNIST`` stays the users' loader where a package offers it. Nothing is
downloaded: missing files raise a ``FileNotFoundError`` naming them and ``--data-dir``.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Images and labels file names (without ``.gz``) of each split."""


def read_idx(path: str | Path) -> np.ndarray:
    """One idx file (unsigned-byte data, ``.gz`` or plain) as a writable uint8 array of its header's shape."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"idx file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = bytearray(f.read())
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:  # not gzip; cut off; corrupted inside
        raise ValueError(f"{path} cannot be read (a damaged or cut-off download?): {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated idx header ({len(raw)} bytes, {ndim} dimensions need {header})")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says shape {tuple(dims)} but the file holds {data.size} values")
    return data.reshape(dims)


# Where each idx data set's files are looked for under a folder DIR: DIR itself, the flat folder
# shipped beside the checkout (DIR/<shared name>) and torchvision's layout (DIR/<Name>/raw).
# Fashion-MNIST's files are named exactly like MNIST's, so DIR itself counts for Fashion-MNIST only
# when its name says so (e.g. "fashion-mnist"), and for MNIST only when it does not: a folder of MNIST
# files is never read as clothing, nor the clothing as digits.
IDX_SETS = {"mnist": ("MNIST", "mnist", "MNIST"), "fashion_mnist": ("Fashion-MNIST", "fashion-mnist", "FashionMNIST")}


def _mnist_folders(data_dir: Path, dataset: str = "mnist") -> tuple[Path, ...]:
    _, flat, torchvision_name = IDX_SETS[dataset]
    root = (data_dir,) if (dataset == "fashion_mnist") == ("fashion" in data_dir.resolve().name.lower()) else ()
    return (*root, data_dir / flat, data_dir / torchvision_name / "raw")


def _find(data_dir: Path, stem: str, dataset: str = "mnist") -> Path | None:
    for folder in _mnist_folders(data_dir, dataset):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def find_mnist_files(data_dir: str | Path, split: str = "train", dataset: str = "mnist") -> tuple[Path, Path]:
    """Paths of ``split``'s images and labels idx files (plain or ``.gz``) of ``dataset`` (``mnist``
    or ``fashion_mnist``, which share the file names) in ``data_dir`` (for Fashion-MNIST only when
    its name says so, for MNIST only when it does not), its flat folder (``data_dir/mnist``,
    ``data_dir/fashion-mnist``) or torchvision's layout (``data_dir/MNIST/raw``,
    ``data_dir/FashionMNIST/raw``), first match in that order."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if dataset not in IDX_SETS:
        raise ValueError(f"dataset must be one of {', '.join(IDX_SETS)}, got {dataset!r}")
    data_dir = Path(data_dir)
    stems = MNIST_FILES[split]
    found = [_find(data_dir, s, dataset) for s in stems]
    missing = [s + ".gz" for s, p in zip(stems, found) if p is None]
    if missing:
        where = ", ".join(str(f) for f in _mnist_folders(data_dir, dataset))
        name = IDX_SETS[dataset][0]
        raise FileNotFoundError(
            f"{name} {split} files not found: missing {' and '.join(missing)} (plain or .gz) in {where}. "
            f"Put them there (from the {name} distribution) or pass --data-dir DIR. No download is attempted."
        )
    return found[0], found[1]


def read_mnist_idx(
    data_dir: str | Path, split: str = "train", dataset: str = "mnist",
) -> tuple[np.ndarray, np.ndarray]:
    """``dataset``'s ``split`` (MNIST, or Fashion-MNIST) from its idx files (located by
    :func:`find_mnist_files`): uint8 images ``(N, 28, 28)`` and int64 labels ``(N,)``, as stored."""
    image_path, label_path = find_mnist_files(data_dir, split, dataset)
    what = f"{IDX_SETS[dataset][0]} {split}"
    images, labels = read_idx(image_path), read_idx(label_path).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"{what}: expected images (N, H, W) and labels (N,), got {images.shape} and {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{what}: {image_path} holds images of {images.shape[1]}x{images.shape[2]}, not 28x28")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{what}: {label_path} holds labels outside 0-9 ({labels.min()} to {labels.max()})")
    return images, labels


def _beside_checkout(folder: str = "mnist") -> Path:
    """``shared/data/<folder>`` next to the repository checkout this file lives in
    (``<checkout>/packages/ebm-run/src/ebm_run/mnist_files.py``)."""
    here = Path(__file__).resolve()
    checkout = here.parents[4] if len(here.parents) > 4 else here.parent
    return checkout.parent / "shared" / "data" / folder


def shared_fashion_mnist_dir() -> Path:
    """The Fashion-MNIST idx .gz files shipped beside the project: ``$EBM_FASHION_MNIST_DIR`` when set,
    else ``shared/data/fashion-mnist`` beside the repository checkout."""
    env = os.environ.get("EBM_FASHION_MNIST_DIR")
    return Path(env) if env else _beside_checkout("fashion-mnist")


def shared_idx_dir(dataset: str) -> Path:
    """The shipped folder of ``dataset`` (``mnist``: :func:`shared_mnist_dir`; ``fashion_mnist``:
    :func:`shared_fashion_mnist_dir`)."""
    if dataset not in IDX_SETS:
        raise ValueError(f"dataset must be one of {', '.join(IDX_SETS)}, got {dataset!r}")
    return shared_fashion_mnist_dir() if dataset == "fashion_mnist" else shared_mnist_dir()


def shared_mnist_dir() -> Path:
    """The real MNIST idx .gz files used by the CPU demos and tests: the folder ``$EBM_MNIST_DIR``
    when it is set, else ``shared/data/mnist`` beside the repository checkout."""
    env = os.environ.get("EBM_MNIST_DIR")
    if env:  # where the user said: a wrong one is named when its files are looked for, never skipped
        return Path(env)
    return _beside_checkout()
