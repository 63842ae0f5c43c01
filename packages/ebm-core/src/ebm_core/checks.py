"""Input checks shared by samplers, buffer and trainer: say what was expected."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from numbers import Integral, Real

import torch


# ------------------------------------------------------------------ settings (config fields)
def check_count(value: object, name: str, minimum: int = 1) -> None:
    """An integer setting (steps, batch size, ...) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_seed_range(seed: object, seeds: object, name: str) -> None:
    """Seeds ``seed`` to ``seed + seeds - 1`` (``name``: where they are set) all below 2^32: torch and numpy
    take 32-bit seeds, and 2^32 aliases 0."""
    check_count(seed, f"{name}.seed", 0)
    check_count(seeds, f"{name}.seeds")
    last = seed + seeds - 1  # type: ignore[operator]
    if last >= 2**32:
        raise ValueError(f"seeds {seed:,} to {last:,} go past the generators' range: the last must be below {2**32:,}")


def _check_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_positive(value: object, name: str) -> None:
    """A finite number > 0 (step sizes, learning rates, temperatures)."""
    if _check_real(value, name) <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_nonnegative(value: object, name: str) -> None:
    """A finite number >= 0 (noise levels, loss coefficients)."""
    if _check_real(value, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_probability(value: object, name: str) -> None:
    """A number in [0, 1] (replay probability, shares of pixels)."""
    if not 0.0 <= _check_real(value, name) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def check_widths(widths: Sequence[int], name: str) -> None:
    """Layer widths: at least one, each an integer >= 1."""
    if not widths:
        raise ValueError(f"{name} must list at least one width, got {widths!r}")
    for w in widths:
        check_count(w, f"each of {name}")


def check_box(box: tuple[float, float] | None, name: str) -> None:
    """None (unbounded) or (low, high) with low < high."""
    if box is not None and (not isinstance(box, (tuple, list)) or len(box) != 2
                            or not all(isinstance(b, Real) and math.isfinite(b) for b in box) or not box[0] < box[1]):
        raise ValueError(f"{name} must be (low, high) with low < high, got {box}")


# ------------------------------------------------------------------ tensors
def check_state(x: torch.Tensor, name: str = "x") -> None:
    """A batch of states: a floating tensor with a batch dimension and finite values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor (e.g. float32), got dtype {x.dtype}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (B, ...) with B >= 1 and at least 2 dims, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")


def check_unit_range(x: torch.Tensor, name: str = "images") -> None:
    """Images must lie in [0, 1], the samplers' box (the paper's input range): data in [0, 255] or
    normalized to [-1, 1] would sit where no negative can follow, so it is refused, not clamped."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        return
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: NaN or inf values found (images must lie in [0, 1])")
    low, high = (float(v) for v in torch.aminmax(x.detach()))
    if low < 0 or high > 1:
        if low >= 0 and high <= 255:
            hint = " (uint8 images: divide by 255)"
        elif low >= -1 and high <= 1:
            hint = " (images in [-1, 1]: map them with (x + 1) / 2)"
        else:
            hint = ""
        raise ValueError(f"{name} must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]{hint}")


class NonFiniteError(ValueError):
    """A computed figure (energies, samples, scores, bounds) came out NaN or infinite: never reported,
    the run stops with a one-line message naming what and where (exit status 2 in the apps)."""


def check_finite(values: object, what: str) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` when ``values`` (a tensor, array or number)
    holds NaN or infinite entries."""
    t = torch.as_tensor(values)
    if t.is_floating_point() or t.is_complex():
        bad = int((~torch.isfinite(t)).sum())
        if bad:
            raise NonFiniteError(f"{what}: {bad} of {t.numel()} values are NaN or infinite (the model's energies "
                                 "or the sampler diverged); nothing is reported")


@contextmanager
def finite_stage(what: str) -> Iterator[None]:
    """Name the stage in any :class:`NonFiniteError` raised inside the block (``"model.pt, restoration:
    Langevin samples ..."``), so that the one-line error says which model and which stage broke."""
    try:
        yield
    except NonFiniteError as e:
        raise NonFiniteError(f"{what}: {e}") from None


def check_energy_output(e: torch.Tensor, x: torch.Tensor, who: str = "an energy") -> None:
    """An energy returns one value per sample: shape (B,), not (B, 1) (which would broadcast)."""
    if not isinstance(e, torch.Tensor) or e.shape != (x.shape[0],):
        got = tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
        raise ValueError(f"{who} must return shape ({x.shape[0]},), got {got}")


def check_condition(y: torch.Tensor | None, x: torch.Tensor, name: str = "y") -> None:
    """A condition must share the batch size and device of the states."""
    if y is None:
        return
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(y).__name__}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{name} has batch size {y.shape[0]} but x has {x.shape[0]}")
    if y.device != x.device:
        raise ValueError(f"{name} is on {y.device} but x is on {x.device}")
    if y.is_floating_point() and not torch.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or inf values")


def check_mask(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """A mask marks the entries that may move; it must broadcast to x. Returned as bool."""
    if mask is None:
        return None
    if mask.device != x.device:
        raise ValueError(f"mask is on {mask.device} but x is on {x.device}")
    try:
        torch.broadcast_shapes(mask.shape, x.shape)
    except RuntimeError as err:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to x {tuple(x.shape)}") from err
    return mask.bool()


def check_bounds(
    low: torch.Tensor | None, high: torch.Tensor | None, x: torch.Tensor,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Per-element bounds ``low <= x <= high``: tensors on x's device that broadcast to x (infinite
    values leave a side open), with ``low <= high`` everywhere. Returned detached, in x's dtype."""
    out = []
    for name, bound in (("low", low), ("high", high)):
        if bound is None:
            out.append(None)
            continue
        if not isinstance(bound, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor or None, got {type(bound).__name__}")
        if bound.device != x.device:
            raise ValueError(f"{name} is on {bound.device} but x is on {x.device}")
        try:
            fits = torch.broadcast_shapes(bound.shape, x.shape) == x.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"{name} of shape {tuple(bound.shape)} does not broadcast to x {tuple(x.shape)}")
        bound = bound.detach().to(x.dtype)
        if torch.isnan(bound).any():
            raise ValueError(f"{name} contains NaN values")
        out.append(bound)
    if out[0] is not None and out[1] is not None and (out[0] > out[1]).any():
        raise ValueError("low must be <= high everywhere")
    return out[0], out[1]
