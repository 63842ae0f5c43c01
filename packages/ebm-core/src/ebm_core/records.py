"""Run records: results and figures written atomically, and the versions that produced them."""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any


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


RUN_RECORD = "run.json"
RUN_LOCK = "run.lock"
_HELD_LOCKS: dict[Path, int] = {}  # the run folders this process has locked (released when it exits)


def lock_run_folder(out: Path) -> None:
    """Take the OS lock (``flock``) of run folder ``out`` for this process, so that a second job on the
    same folder stops at once with ``ValueError`` naming the first (its pid, host and start time).
    Held until the process exits (a kill releases it too); taken once per process and folder; under
    ``torchrun`` only rank 0 takes it (one lock per job); a no-op where ``fcntl`` is missing."""
    if os.environ.get("RANK", "0") != "0" or out.resolve() in _HELD_LOCKS:
        return
    try:
        import fcntl
    except ImportError:  # not POSIX
        return
    fd = os.open(out / RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 300).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ValueError(f"{out} is in use by another job ({holder}); wait for it to end or give another --out"
                         ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {platform.node()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
    _HELD_LOCKS[out.resolve()] = fd


def recorded_app(folder: str | Path) -> str | None:
    """The app named by a run folder's record ``run.json`` (None without a readable one)."""
    try:
        owner = json.loads((Path(folder) / RUN_RECORD).read_text()).get("app")
    except (OSError, ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) else None


def start_run_folder(out: str | Path, app: str, resume: bool = False) -> Path:
    """Create (or reopen) the run folder ``out`` of ``app``, in this order: take its lock
    (:func:`lock_run_folder`); refuse a folder recorded for another app (``ValueError``: its results
    would be overwritten); remove the temporary files a killed run left (:func:`stale_temporaries`);
    unless ``resume``, delete its ``metrics.jsonl`` logs (a run started over does not append to the
    old one's); write the record ``run.json`` ({"app": ...}). Only the holder of the lock cleans, so
    a second job never deletes what a running one writes. Returns ``out`` as a Path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock_run_folder(out)
    owner = recorded_app(out)
    if owner is None and (out / RUN_RECORD).exists():
        raise ValueError(f"{out / RUN_RECORD} is not a run record (JSON with the app's name); give another --out")
    if owner is not None and owner != app:
        raise ValueError(f"{out} holds a run of {owner}, not of {app}; give {app} its own --out")
    for tmp in stale_temporaries(out):
        tmp.unlink(missing_ok=True)
    if not resume:
        for log in out.rglob("metrics.jsonl"):
            log.unlink(missing_ok=True)
    if owner is None:
        write_json_atomic(out / RUN_RECORD, {"app": app})
    return out


_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}(\.[^.]+)?")


def stale_temporaries(folder: str | Path) -> list[Path]:
    """The temporary files :func:`atomic_path` left under ``folder`` when a process was killed while
    writing (``.<stem>.<8 hex digits><suffix>``; a checkpoint's can be hundreds of MB)."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob(".*") if p.is_file() and _TEMPORARY.fullmatch(p.name)) \
        if folder.is_dir() else []


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


def save_figure(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """Write a matplotlib figure to ``path`` through :func:`atomic_path` (never half a PNG) and
    close it, also when saving fails (pyplot keeps every figure alive until it is closed).
    ``savefig_kwargs`` go to ``fig.savefig`` (e.g. ``dpi=110``)."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, **savefig_kwargs)
    finally:
        import matplotlib.pyplot as plt  # a figure was passed, so matplotlib is installed

        plt.close(fig)
    return path


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON to a temporary file beside ``path``, then rename it over ``path``:
    a reader never sees a half-written file. Values JSON cannot hold (paths, dtypes) are written
    as ``str(value)``."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, default=str)


def package_versions(*packages: str) -> dict[str, str]:
    """Python's version, the platform, and each named distribution's ("not installed" if absent)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
