"""Files written whole: a temporary file beside the target, renamed over it when complete."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _new_file_beside(path: Path) -> str:
    """Create a new empty hidden file next to ``path`` and return its name. Opened like a plain
    ``open(path, "w")`` (mode 0o666, which the kernel narrows by the umask), unlike ``mkstemp``'s
    owner-only 0o600."""
    while True:
        tmp = str(path.with_name(f".{path.stem}.{secrets.token_hex(4)}{path.suffix}"))
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` (same suffix) to write to; renamed over ``path`` when the
    block succeeds and removed when it fails, so ``path`` is never half-written. The file gets the
    permissions of a plain ``open(path, "w")`` (the umask's), not ``mkstemp``'s owner-only ones::

        with atomic_path(out / "curve.png") as tmp:
            fig.savefig(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file_beside(path)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
