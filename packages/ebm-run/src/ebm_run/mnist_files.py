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


def _mnist_folders(data_dir: Path) -> tuple[Path, Path, Path]:
    return data_dir, data_dir / "mnist", data_dir / "MNIST" / "raw"


def _find(data_dir: Path, stem: str) -> Path | None:
    for folder in _mnist_folders(data_dir):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def find_mnist_files(data_dir: str | Path, split: str = "train") -> tuple[Path, Path]:
    """Paths of ``split``'s images and labels idx files (plain or ``.gz``) in ``data_dir``,
    ``data_dir/mnist`` or ``data_dir/MNIST/raw`` (first match in that order)."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data_dir = Path(data_dir)
    stems = MNIST_FILES[split]
    found = [_find(data_dir, s) for s in stems]
    missing = [s + ".gz" for s, p in zip(stems, found) if p is None]
    if missing:
        where = ", ".join(str(f) for f in _mnist_folders(data_dir))
        raise FileNotFoundError(
            f"MNIST {split} files not found: missing {' and '.join(missing)} (plain or .gz) in {where}. "
            f"Put them there (from the MNIST distribution) or pass --data-dir DIR. No download is attempted."
        )
    return found[0], found[1]


def read_mnist_idx(data_dir: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` from its idx files (located by :func:`find_mnist_files`): uint8 images
    ``(N, 28, 28)`` and int64 labels ``(N,)``, as stored (no scaling)."""
    image_path, label_path = find_mnist_files(data_dir, split)
    images, labels = read_idx(image_path), read_idx(label_path).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"MNIST {split}: expected images (N, H, W) and labels (N,), got {images.shape} and {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    if images.shape[1:] != (28, 28):
        raise ValueError(f"MNIST {split}: {image_path} holds images of {images.shape[1]}x{images.shape[2]}, not 28x28")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"MNIST {split}: {label_path} holds labels outside 0-9 ({labels.min()} to {labels.max()})")
    return images, labels


def _beside_checkout() -> Path:
    """``shared/data/mnist`` next to the repository checkout this file lives in
    (``<checkout>/packages/ebm-core/src/ebm_core/mnist_files.py``)."""
    here = Path(__file__).resolve()
    checkout = here.parents[4] if len(here.parents) > 4 else here.parent
    return checkout.parent / "shared" / "data" / "mnist"


def shared_mnist_dir() -> Path:
    """The real MNIST idx .gz files used by the CPU demos and tests: the folder ``$EBM_MNIST_DIR``
    when it is set, else ``shared/data/mnist`` beside the repository checkout."""
    env = os.environ.get("EBM_MNIST_DIR")
    if env:  # where the user said: a wrong one is named when its files are looked for, never skipped
        return Path(env)
    return _beside_checkout()
