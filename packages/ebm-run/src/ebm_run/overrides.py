"""``--set path.to.field=value``: any field of an app's nested frozen-dataclass config, from the command line."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import math
from collections.abc import Iterable
from typing import Any

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
        config = _assign(config, path.split("."), raw, text)
    return config


def _assign(obj: Any, path: list[str], raw: str, text: str) -> Any:
    if not dataclasses.is_dataclass(obj):
        raise ValueError(f"--set {text!r}: {type(obj).__name__} has no fields to set")
    names = [f.name for f in dataclasses.fields(obj)]
    if path[0] not in names:
        raise ValueError(f"--set {text!r}: {type(obj).__name__} has no field {path[0]!r} (fields: {', '.join(names)})")
    current = getattr(obj, path[0])
    value = _assign(current, path[1:], raw, text) if len(path) > 1 else _within_limits(
        _coerce(current, raw, text), path[0], type(obj).__name__, text)
    try:
        return dataclasses.replace(obj, **{path[0]: value})
    except (TypeError, ValueError) as e:
        raise ValueError(f"--set {text!r}: {e}") from None


def _coerce(current: Any, raw: str, text: str) -> Any:
    if dataclasses.is_dataclass(current):
        raise ValueError(f"--set {text!r}: that is a group of settings; set one of its fields")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    if value is None or current is None:  # "off" (e.g. grad_clip=None), or a field now off: its own checks decide
        ok = True
    elif isinstance(current, bool) or isinstance(value, bool):
        ok = isinstance(current, bool) and isinstance(value, bool)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        value = float(value) if ok else value
    elif isinstance(current, tuple) and isinstance(value, list):
        value, ok = tuple(value), True
    else:
        ok = isinstance(value, type(current))
    if not ok:
        raise ValueError(f"--set {text!r}: expected a value like {current!r}, got {value!r}")
    return value


FLOAT32_MAX = 3.4e38


def _within_limits(value: Any, name: str, owner: str, text: str) -> Any:
    """The machine's limits (:mod:`.flags`) on a value set by name: a device this machine has, a seed,
    training or Langevin steps, any other count, a float that float32 holds."""
    try:
        if name == "device" and isinstance(value, str):
            device_name(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            limit = (MAX_SEED if name == "seed" else MAX_CHAIN_STEPS if name == "steps" and "Sampler" in owner
                     else MAX_TRAINING_STEPS if name == "steps" else MAX_COUNT)
            if value > limit:
                raise ValueError(f"{value:,} is over the limit of {limit:,}")
        elif isinstance(value, float) and abs(value) > FLOAT32_MAX:
            raise ValueError(f"{value!r} is beyond float32's range")
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise ValueError(f"--set {text!r}: {e}") from None
    return value
