"""Run records: results written atomically as JSON, and the versions that produced them."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON to a temporary file beside ``path``, then rename it over ``path``:
    a reader never sees a half-written file. Values JSON cannot hold (paths, dtypes) are written
    as ``str(value)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=indent, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def package_versions(*packages: str) -> dict[str, str]:
    """Python's version, the platform, and each named distribution's ("not installed" if absent)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
