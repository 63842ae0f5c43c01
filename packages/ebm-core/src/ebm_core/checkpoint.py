"""Atomic checkpoint files and weights saved with the settings that made them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """Write ``obj`` to ``path`` through a temporary file and a rename: never half-written."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def load_torch_file(path: str | Path, what: str = "checkpoint", map_location: Any = "cpu") -> Any:
    """``torch.load(..., weights_only=True)``: tensors and plain containers only, so a file from
    anyone runs no code. Errors name the file: ``FileNotFoundError`` when it is missing,
    ``ValueError`` (one line) when it is a folder, truncated, not a torch file, or holds objects."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{what}: expected a path (str or Path), got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give the file")
    if not path.is_file():  # a pipe or a device would block or never end
        raise ValueError(f"{what} {path} is not a regular file")
    try:
        with warnings.catch_warnings():  # torch's warnings about a file's contents: the error says enough
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as e:  # the weights-only unpickler's refusals, and whatever a damaged file provokes
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{what} {path} cannot be loaded (cut off, not a torch file, or holding objects other than "
            f"tensors and plain values, which are never unpickled): {first[:200]}"
        ) from None


def plain_settings(settings: dict[str, Any]) -> Any:
    """``settings`` as plain JSON values (tuples as lists, paths as text), so that the settings
    read back from a file (JSON or torch) compare equal to freshly built ones."""
    return json.loads(json.dumps(settings, default=str))


# Run settings a resumed run may change: how long it runs, where (device, worker processes) and how
# it reports (every other setting must equal the checkpoint's). The one rule of every --resume: the
# training loops' checkpoints here, and the apps' run folders (ebm-run's settings_changes).
RESUMABLE_CHANGES = frozenset({"steps", "quiet", "label", "device", "workers", "log_every", "checkpoint_every",
                               "max_recoveries", "energy_bound"})


def refuse_other_settings(saved: dict[str, Any], now: dict[str, Any], path: str | Path,
                          extra: list[str] | None = None) -> None:
    """Raise ``ValueError`` naming every difference when a checkpoint's ``saved`` settings differ
    from ``now``'s (flat dicts; keys ``config.<field>`` are the run's settings, of which the
    :data:`RESUMABLE_CHANGES` may differ; other keys, e.g. ``sampler.steps``, must all match);
    ``extra`` lists further differences found by the caller."""
    def kept(name: str) -> bool:
        return not (name.startswith("config.") and name[len("config."):] in RESUMABLE_CHANGES)

    saved, now = plain_settings(saved), plain_settings(now)
    diff = [f"{k}: {saved[k]!r} -> {now[k]!r}" for k in saved if kept(k) and k in now and saved[k] != now[k]]
    diff += extra or []
    if diff:
        raise ValueError(
            f"checkpoint {str(path)!r} was written with other settings ({'; '.join(diff)}); "
            "use a new output folder, or the same settings to resume"
        )
