"""Any field of an app's nested frozen-dataclass config set from outside: ``--set path.to.field=value``
on the command line, or a TOML file (``--config run.toml``) whose tables are the config's sections."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from .flags import MAX_CHAIN_STEPS, MAX_COUNT, MAX_SEED, MAX_TRAINING_STEPS, device_name


def replace_given(section: Any, **flags: Any) -> Any:
    """``section`` (a frozen dataclass) with the app's flags that were given set: those that are not
    None; a list (an ``nargs`` flag) becomes the tuple the config holds."""
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in flags.items() if v is not None}
    return dataclasses.replace(section, **given) if given else section


def apply_overrides(config: Any, assignments: Iterable[str]) -> Any:
    """A copy of the nested frozen dataclass ``config`` with ``path.to.field=value`` assignments
    applied (``--set training.l2_coeff=0.01``). A value is read as a Python literal (numbers,
    tuples, None, True/False) or else as text, and must fit the type the field holds now (an
    int is accepted for a float); the changed dataclasses re-run their own checks. Raises
    ``ValueError`` naming the assignment and what was expected."""
    for text in assignments:
        path, sep, raw = text.partition("=")
        if not sep or not path:
            raise ValueError(f"--set {text!r}: expected path.to.field=value")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        config = _assign(config, path.split("."), value, f"--set {text!r}")
    return config


MAX_CONFIG_BYTES = 1 << 20  # a config file is a page of settings, not data


def read_config_file(path: Path) -> dict[str, Any]:
    """The tables of the TOML file ``path`` (``--config``), as nested dicts. A missing, oversized or
    malformed file is a ``ValueError`` naming it (TOML holds only values: nothing in it is run)."""
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"--config {path}: {path.stat().st_size:,} bytes; a config file holds at most "
                         f"{MAX_CONFIG_BYTES:,}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"--config {path}: not a TOML file ({e})") from None


def config_file_fields(tables: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(path.to.field, value)`` for every value in the TOML ``tables``, depth first."""
    for key, value in tables.items():
        if isinstance(value, dict):
            yield from config_file_fields(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def apply_config_file(config: Any, path: Path, tables: dict[str, Any] | None = None) -> Any:
    """A copy of ``config`` with every field the TOML file ``path`` sets (``[training]`` then
    ``steps = 500``, or ``training.steps = 500``), each held to the same rules as ``--set`` (the
    type the field holds, the machine's limits, the dataclass's own checks; arrays become tuples).
    TOML has no None: a field that is off is switched on or off with ``--set``. ``tables``: the file
    already read (:func:`read_config_file`)."""
    for name, value in config_file_fields(read_config_file(path) if tables is None else tables):
        config = _assign(config, name.split("."), value, f"--config {path}: {name} = {value!r}")
    return config


def _assign(obj: Any, path: list[str], value: Any, text: str) -> Any:
    if not dataclasses.is_dataclass(obj):
        raise ValueError(f"{text}: {type(obj).__name__} has no fields to set")
    names = [f.name for f in dataclasses.fields(obj)]
    if path[0] not in names:
        raise ValueError(f"{text}: {type(obj).__name__} has no field {path[0]!r} (fields: {', '.join(names)})")
    current = getattr(obj, path[0])
    value = _assign(current, path[1:], value, text) if len(path) > 1 else _within_limits(
        _coerce(current, value, text), path[0], type(obj).__name__, text)
    try:
        return dataclasses.replace(obj, **{path[0]: value})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{text}: {e}") from None


def _tuples(value: Any) -> Any:
    """Lists (TOML arrays, Python list literals) as the tuples a frozen config holds, at every depth."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _coerce(current: Any, value: Any, text: str) -> Any:
    if dataclasses.is_dataclass(current):
        raise ValueError(f"{text}: that is a group of settings; set one of its fields")
    if value is None or current is None:  # "off" (e.g. grad_clip=None), or a field now off: its own checks decide
        ok = True
    elif isinstance(current, bool) or isinstance(value, bool):
        ok = isinstance(current, bool) and isinstance(value, bool)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        value = float(value) if ok else value
    elif isinstance(current, tuple) and isinstance(value, (list, tuple)):
        value, ok = _tuples(value), True
    else:
        ok = isinstance(value, type(current))
    if not ok:
        raise ValueError(f"{text}: expected a value like {current!r}, got {value!r}")
    return value


FLOAT32_MAX = 3.4e38


def _within_limits(value: Any, name: str, owner: str, text: str) -> Any:
    """The machine's limits (:mod:`.flags`) on a value set by name: a device this machine has, a seed,
    training or Langevin steps, any other count, a float that float32 holds."""
    try:
        if name == "device" and isinstance(value, str):
            value = device_name(value)  # auto: the best device present
        elif isinstance(value, int) and not isinstance(value, bool):
            limit = (MAX_SEED if name == "seed" else MAX_CHAIN_STEPS if name == "steps" and "Sampler" in owner
                     else MAX_TRAINING_STEPS if name == "steps" else MAX_COUNT)
            if value > limit:
                raise ValueError(f"{value:,} is over the limit of {limit:,}")
        elif isinstance(value, float) and abs(value) > FLOAT32_MAX:
            raise ValueError(f"{value!r} is beyond float32's range")
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise ValueError(f"{text}: {e}") from None
    return value
