"""Command-line values an app takes: argparse types for counts, seeds, steps and numbers, with the limits
that protect the machine (refused with the figure they would need), and the ``--device`` check."""

from __future__ import annotations

import argparse
import math
import os
from typing import TypeVar

import torch

_Number = TypeVar("_Number", int, float)


# Limits that protect the machine, checked when the command line is read (issue 23, part 4).
MAX_SEED = 2**31 - 1  # numpy's and CUDA's generators take 32 bits; runs add small offsets to the seed
MAX_TRAINING_STEPS = 86_400_000  # a day at 1 ms a step, faster than any model here trains
MAX_CHAIN_STEPS = 10_000  # Langevin steps per chain; the paper uses 60 (CIFAR-10), 10 for refinement
MAX_COUNT = 10_000_000  # images, samples, trajectories, chains: checked against memory where they are used


def positive_int(text: str) -> int:
    """argparse type: a whole number from 1 to :data:`MAX_COUNT` (a count of images, seeds, workers)."""
    return _at_most(_bounded(_whole_number(text), 1, "must be at least 1"), MAX_COUNT, "a count")


def nonnegative_int(text: str) -> int:
    """argparse type: a whole number from 0 to :data:`MAX_COUNT` (a count that may be zero)."""
    return _at_most(_bounded(_whole_number(text), 0, "must be 0 or more"), MAX_COUNT, "a count")


def seed_number(text: str) -> int:
    """argparse type: a seed, 0 to :data:`MAX_SEED` (a larger one would alias a small one)."""
    return _at_most(_bounded(_whole_number(text), 0, "must be 0 or more"), MAX_SEED,
                    "a seed (numpy and CUDA take 32 bits, and runs add offsets)")


def training_steps(text: str) -> int:
    """argparse type: training steps, 1 to :data:`MAX_TRAINING_STEPS` (a day at 1 ms a step)."""
    steps = _bounded(_whole_number(text), 1, "must be at least 1")
    if steps > MAX_TRAINING_STEPS:
        raise argparse.ArgumentTypeError(
            f"{steps:,} steps would take {steps / 1000 / 86400:,.1f} days even at 1 ms a step; "
            f"at most {MAX_TRAINING_STEPS:,}")
    return steps


def chain_steps(text: str) -> int:
    """argparse type: Langevin steps per chain, 1 to :data:`MAX_CHAIN_STEPS`."""
    return _at_most(_bounded(_whole_number(text), 1, "must be at least 1"), MAX_CHAIN_STEPS,
                    "Langevin steps per chain (the paper uses 60 on CIFAR-10)")


def _at_most(value: int, high: int, what: str) -> int:
    if value > high:
        raise argparse.ArgumentTypeError(f"{value:,} is over the limit of {high:,} for {what}")
    return value


def check_memory(what: str, nbytes: float, available: float | None = None) -> None:
    """Refuse (``ValueError`` naming ``what`` and both figures) a run whose arrays of ``nbytes`` bytes
    would not fit this machine's memory (``available``: default its physical memory)."""
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not POSIX: no figure to compare with
            return
    if nbytes > available:
        raise ValueError(f"{what} would need {nbytes / 2**30:,.1f} GiB of memory; this machine has "
                         f"{available / 2**30:,.1f} GiB")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a temperature, a step size)."""
    return _bounded(_finite_number(text), 0.0, "must be > 0", strict=True)


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (an attack budget)."""
    return _bounded(_finite_number(text), 0.0, "must be 0 or more")


def _bounded(value: _Number, low: float, rule: str, strict: bool = False) -> _Number:
    if value < low or (strict and value == low):
        raise argparse.ArgumentTypeError(f"{rule}, got {value}")
    return value


def _finite_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def device_name(text: str) -> str:
    """argparse type: a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``), checked
    before any work starts; ``auto`` is the best one present: CUDA, else MPS, else the CPU."""
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r} (e.g. cpu, cuda, cuda:1)") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text}: the apps run on cpu, cuda or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text}: CUDA is not available on this machine "
                                             "(torch.cuda.is_available() is False); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available on this machine; use --device cpu")
    return text
