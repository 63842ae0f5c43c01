"""Run folders and what goes in them: the record ``run.json`` and the folder's lock, results and figures
written atomically, and the versions that produced them."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ebm_core import __version__
from ebm_core.atomic import atomic_path
from ebm_core.checkpoint import RESUMABLE_CHANGES

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


def read_run_record(folder: str | Path) -> dict[str, Any] | None:
    """A run folder's record ``run.json`` ({"app", "settings", ...}); None without a readable one."""
    try:
        record = json.loads((Path(folder) / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("app"), str) else None


def recorded_app(folder: str | Path) -> str | None:
    """The app named by a run folder's record ``run.json`` (None without a readable one)."""
    record = read_run_record(folder)
    return None if record is None else record["app"]




def start_run_folder(
    out: str | Path, app: str, resume: bool = False, announce: bool = True, settings: dict[str, Any] | None = None,
    outputs: tuple[str, ...] = (),
) -> Path:
    """Create (or reopen) the run folder ``out`` of ``app``, in this order: refuse a folder recorded
    for another app (``ValueError``: its results would be overwritten) or, with ``resume``, recorded
    with other ``settings`` (the ones that decide what the folder holds; any field named in
    ebm-core's ``RESUMABLE_CHANGES`` may change, e.g. more steps); take its lock (:func:`lock_run_folder`);
    remove the temporary files a killed run left (:func:`stale_temporaries`); unless ``resume``, delete
    its ``metrics.jsonl`` logs (a run started over does not append to the old one's); write the record
    ``run.json`` (app, settings, ebm-core version); with ``announce``, print ``<app>: run folder <out>``
    (from rank 0), the first line of an app's output. Only the holder of the lock cleans, so a second
    job never deletes what a running one writes. Call it after every input has been checked: no folder
    is made for a run that cannot start. ``outputs``: names of files the run will write in ``out``
    (e.g. ``samples.npz``); one that is there but not a file is refused first (``ValueError``), not
    after the training. Returns ``out``."""
    if not isinstance(app, str) or not app.strip():
        raise ValueError(f"start_run_folder: app must name the app, got {app!r}")
    if settings is not None and not isinstance(settings, dict):
        raise ValueError(f"start_run_folder: settings must be a dict (or None), got {type(settings).__name__}")
    out = Path(out)
    blocked = [name for name in outputs if (out / name).exists() and not (out / name).is_file()]
    if blocked:
        raise ValueError(f"{out / blocked[0]} is not a file, and the run writes its {blocked[0]} there; "
                         "move it or give another --out")
    fresh = not out.is_dir() or not any(out.iterdir())
    record = read_run_record(out)
    owner = record.get("app") if record else None
    if record is None and (out / RUN_RECORD).exists():
        raise ValueError(f"{out / RUN_RECORD} is not a run record (JSON with the app's name); give another --out")
    if owner is not None and owner != app:
        raise ValueError(f"{out} holds a run of {owner}, not of {app}; give {app} its own --out")
    try:  # plain JSON; NaN or infinity is no setting a run can be resumed by
        settings = None if settings is None else json.loads(json.dumps(_as_dicts(settings), default=str,
                                                                       allow_nan=False))
    except ValueError as e:
        raise ValueError(f"start_run_folder: settings that JSON cannot hold ({e})") from None
    if resume and record and settings is not None and record.get("settings") is not None:
        changed = settings_changes(record["settings"], settings)
        if changed:
            raise ValueError(f"--resume: {out} was run with other settings ({'; '.join(changed[:4])}"
                             f"{'; ...' if len(changed) > 4 else ''}); resume with the same settings, "
                             "or give --overwrite or another --out")
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 owns, cleans and records the folder
        return out
    lock_run_folder(out)  # checked first, locked now: no folder is made or changed for a run that cannot start
    for tmp in stale_temporaries(out):
        tmp.unlink(missing_ok=True)
    if not resume:
        for log in out.rglob("metrics.jsonl"):
            log.unlink(missing_ok=True)
        for events in [p for p in out.rglob("tensorboard") if p.is_dir()]:
            shutil.rmtree(events, ignore_errors=True)
    write_json_atomic(out / RUN_RECORD, {"app": app, "ebm_core_version": __version__, "settings": settings})
    if announce:
        print(f"{app}: run folder {out}" + (" (--resume: no earlier run there; starting a new one)"
                                              if resume and fresh else ""), flush=True)
        print(f"{app}: watch it with: uv run tensorboard --logdir {out}", flush=True)
    return out


def _as_dicts(value: Any) -> Any:
    """Settings with every dataclass as a dict of its fields (then JSON: tuples as lists, paths as text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return {k: _as_dicts(v) for k, v in value.items()} if isinstance(value, dict) else value


def settings_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """``"path: old -> new"`` for each setting that differs between two plain (JSON) settings trees,
    except those whose name is in ebm-core's ``RESUMABLE_CHANGES`` (the one resume rule)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [change for key in sorted(set(old) | set(new)) if key not in RESUMABLE_CHANGES
                for change in settings_changes(old.get(key), new.get(key), f"{path}.{key}" if path else key)]
    return [] if old == new else [f"{path or 'settings'}: {_short(old)} -> {_short(new)}"]


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def held_run_folders() -> list[Path]:
    """The run folders this process holds the lock of, oldest first (what Ctrl-C asks to resume)."""
    return list(_HELD_LOCKS)


_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}(\.[^.]+)?")


def stale_temporaries(folder: str | Path) -> list[Path]:
    """The temporary files :func:`atomic_path` left under ``folder`` when a process was killed while
    writing (``.<stem>.<8 hex digits><suffix>``; a checkpoint's can be hundreds of MB)."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob(".*") if p.is_file() and _TEMPORARY.fullmatch(p.name)) \
        if folder.is_dir() else []


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


def recorded_config(config: Any) -> dict[str, Any]:
    """An app's config as results.json records it: whole, with every section's own ``seed`` shown
    as the run's top-level ``seed`` (the run replaces them by it; ``--set`` of them is refused)."""
    run_seed = config.seed

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (run_seed if k == "seed" else walk(v)) for k, v in value.items()}
        return type(value)(walk(v) for v in value) if isinstance(value, (list, tuple)) else value

    record = dataclasses.asdict(config)
    return {k: (v if k == "seed" else walk(v)) for k, v in record.items()}


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


def save_samples(path: str | Path, images: Any, labels: Any = None, **arrays: Any) -> Path:
    """Generated images as data anyone can score: ``path`` (``.npz``, written whole) holds ``images``
    (uint8, N x C x H x W, ``floor(256 x)`` of images in [0, 1]) and ``labels`` (int64, the class each
    was generated for; -1 where there is none), and any other named ``arrays`` (e.g. which experiment
    each image comes from, as strings). Read with ``np.load(path)``: no pickle is needed."""
    import numpy as np
    import torch
    from ebm_core import quantize

    q = quantize(images.detach().float().clamp(0, 1).cpu()).numpy()
    y = (labels.detach().cpu().long().numpy() if labels is not None
         else np.full(q.shape[0], -1, dtype=np.int64))
    extra = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in arrays.items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, images=q, labels=y, **extra)
    return Path(path)
