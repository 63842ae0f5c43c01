"""The one model file: a trained model's weights with the JSON-like config that builds it.

A model file is a torch file of tensors and plain values only (read with ``weights_only=True``):
``{"format", "config", "state_dict", "snapshots", "extra"}``. ``format`` names what the config
builds (e.g. ``"ebm-vision/image-energy/v1"``); ``snapshots`` are further state dicts of the same
network (e.g. a historical ensemble), possibly none; ``extra`` is free plain data (how it was
trained). Each domain package writes its models through :func:`save_model_file` and reads them
through :func:`read_model_file` with its own config check and network builder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .checkpoint import atomic_torch_save, load_torch_file, plain_settings

Config = TypeVar("Config")
_REAL = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _is_integer(t: torch.Tensor) -> bool:  # counters such as batch norm's num_batches_tracked
    return not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def save_model_file(
    path: str | Path, format: str, config: dict[str, Any], module: nn.Module,
    snapshots: list[dict[str, torch.Tensor]] | None = None, extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``module``'s weights (on the CPU), the ``config`` that builds it, optional ``snapshots``
    and ``extra`` to ``path`` atomically (never half-written); returns the path."""
    path = Path(path)
    atomic_torch_save({
        "format": format, "config": plain_settings(config),
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "snapshots": [{k: v.detach().cpu() for k, v in sd.items()} for sd in (snapshots or [])],
        "extra": extra or {},
    }, path)
    return path


def read_model_file(
    path: str | Path, format: str, build: Callable[[dict[str, Any]], nn.Module],
    map_location: str | torch.device = "cpu", hint: str = "", meta: bool = True,
) -> dict[str, Any]:
    """The checked contents of a model file of ``format``. Every part is checked before anything is
    built: ``build(config)`` (which raises ``ValueError`` for a config it refuses, one that is not a
    dict included) runs on torch's
    meta device, so a config declaring a huge network allocates nothing (``meta=False`` builds on
    the CPU, for networks whose size no config field sets: torch's meta kernels import triton,
    whose LLVM crashes a process that already rendered through Mesa's EGL); the weights and every
    snapshot must be finite, dense, real tensors of exactly that network's shapes. Any fault is one
    ``ValueError`` naming the file (``hint`` is added where the file is of another format)."""
    path = Path(path)
    payload = load_torch_file(path, "model file", map_location=map_location)
    if not isinstance(payload, dict) or payload.get("format") != format:
        found = payload.get("format") if isinstance(payload, dict) else None
        what = (f" (its format is {found!r})" if isinstance(found, str) else
                " (a training checkpoint: give the model file written beside it)"
                if isinstance(payload, dict) and "optimizer" in payload else "")
        raise ValueError(f"{path} is not a model file of format {format!r}{what}{hint}")
    try:
        config = payload.get("config")
        try:
            with torch.device("meta" if meta else "cpu"):
                shapes = {k: tuple(v.shape) for k, v in build(config).state_dict().items()}
        except (RuntimeError, TypeError, OverflowError, MemoryError) as e:  # e.g. a width of 2**70
            raise ValueError(f"its config declares a network torch cannot even describe ({str(e)[:80]})") from None
        snapshots = payload.setdefault("snapshots", [])
        if not isinstance(snapshots, list) or not isinstance(payload.setdefault("extra", {}), dict):
            raise ValueError("its snapshots must be a list and its extra a dict")
        for name, weights in (("state_dict", payload.get("state_dict")),
                              *((f"snapshot {i}", sd) for i, sd in enumerate(snapshots))):
            check_weights(weights, shapes, name)
    except ValueError as e:
        raise ValueError(f"model file {path} cannot be used: {e}") from None
    return payload


def config_from(cls: type[Config], raw: Any) -> Config:
    """``cls(**raw)`` for a model file's config (``cls`` a dataclass): a dict of ``cls``'s fields only,
    values ``cls`` accepts; anything else is a ``ValueError`` saying what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError(f"its config must be a dict of {cls.__name__} fields, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
    if unknown:
        raise ValueError(f"its config has fields {cls.__name__} does not: {unknown[:5]}")
    try:
        return cls(**raw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"its config is refused ({e})") from None


def check_weights(weights: Any, shapes: dict[str, tuple[int, ...]], name: str) -> None:
    """``weights`` must hold exactly the entries of ``shapes``: finite real (or integer) tensors of
    those shapes."""
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ValueError(f"its {name} must be a dict of tensors")
    missing, extra = sorted(set(shapes) - set(weights)), sorted(set(weights) - set(shapes))
    if missing or extra:
        raise ValueError(f"its {name} does not fit its config's network (missing {missing[:3]}, unexpected "
                         f"{extra[:3]})")
    for key, want in shapes.items():
        t = weights[key]
        if tuple(t.shape) != want:
            raise ValueError(f"its {name} entry {key} has shape {tuple(t.shape)}, the network's is {want}")
        if t.layout != torch.strided or not (t.dtype in _REAL or _is_integer(t)):
            raise ValueError(f"its {name} entry {key} is {t.dtype} ({t.layout}), not a dense real floating-point "
                             "or integer tensor")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"its {name} entry {key} holds NaN or infinite values")


def module_from_model_file(payload: dict[str, Any], build: Callable[[dict[str, Any]], nn.Module],
                           weights: str | int = "state_dict") -> nn.Module:
    """A network built by ``build(config)`` with the file's weights (``"state_dict"``, or snapshot
    ``i``) loaded, in eval mode, from contents :func:`read_model_file` checked."""
    module = build(payload["config"])
    module.load_state_dict(payload["state_dict"] if weights == "state_dict" else payload["snapshots"][weights])
    return module.eval()


WEIGHTS_WITH_SETTINGS = "ebm-core/weights-with-settings/v1"


def save_with_settings(module: nn.Module, settings: dict[str, Any], path: str | Path) -> None:
    """Save ``module``'s weights as a model file whose config is the ``settings`` that made them
    (atomically), for :func:`load_if_same_settings` on a later ``--resume``."""
    save_model_file(path, WEIGHTS_WITH_SETTINGS, settings, module)


def load_if_same_settings(module: nn.Module, settings: dict[str, Any], path: str | Path,
                          what: str = "weights") -> bool:
    """Load into ``module`` the weights that :func:`save_with_settings` wrote to ``path``, only if
    they were made with equal ``settings``; returns whether it loaded. A missing file, or one of
    other settings (or of an older format without them), returns False: train anew and save over it.
    A damaged file, or one of equal settings whose weights do not fit ``module``, raises
    ``ValueError`` naming it."""
    path = Path(path)
    if not path.exists():
        return False
    saved = load_torch_file(path, what)
    if (not isinstance(saved, dict) or saved.get("format") != WEIGHTS_WITH_SETTINGS
            or saved.get("config") != plain_settings(settings)):
        return False
    try:
        check_weights(saved.get("state_dict"), {k: tuple(v.shape) for k, v in module.state_dict().items()},
                      "state_dict")
    except ValueError as e:
        raise ValueError(f"{what} {path} cannot be used: {e}") from None
    module.load_state_dict(saved["state_dict"])
    return True
