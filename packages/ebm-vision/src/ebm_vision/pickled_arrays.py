"""Reading data sets that their authors distribute as Python pickles (CIFAR's "python version"
batches, downsampled ImageNet's batches) without running code from the file.

A pickle names the functions that rebuild its objects; :class:`ArrayUnpickler` admits only those that
rebuild numpy arrays (plus Python's own dicts, lists, strings, bytes and numbers, which need no
function), so a crafted file stops with ``pickle.UnpicklingError`` before anything of it runs.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

# (module, name) of every global an array batch may reference: numpy's array rebuilders, whose only
# effect is to allocate an array from the bytes that follow
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "bytearray"),
})


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler for data files: numpy arrays, dicts, lists, strings, bytes and numbers only."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a data file never needs (refused, not run)")


def load_pickled_arrays(path: str | Path, what: str) -> dict[str, Any]:
    """The dict a data-set batch file holds (keys as text: Python 2 pickles are read as latin-1).
    ``ValueError`` naming ``path`` and ``what`` when the file is cut off, damaged, not a dict, or
    asks for anything but numpy arrays and plain values."""
    path = Path(path)
    try:
        data = ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            ImportError, OverflowError, MemoryError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} cannot be read as a {what} batch (cut off, damaged, or not data: {first[:200]})"
                         ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} cannot be read as a {what} batch: it holds a {type(data).__name__}, not a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in data.items()}
