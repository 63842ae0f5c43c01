"""The one seeding scheme: a run has one seed; every random stream in it is a named child of that
seed (numpy's ``SeedSequence`` with the names as its spawn key), never ``seed + offset``."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

SeedName = str | int


def _key(name: SeedName) -> int:
    if isinstance(name, bool) or not isinstance(name, (str, int, np.integer)):
        raise TypeError(f"a seed name is a str or a whole number, got {type(name).__name__}")
    if isinstance(name, str):  # text as its UTF-8 bytes read as one number; a name ending in NUL bytes,
        # or a number equal to a text name's, would share its key: the project's names are plain words
        return int.from_bytes(b"\x01" + name.encode(), "little")
    if name < 0:
        raise ValueError(f"a numeric seed name must be >= 0, got {name}")
    return int(name)


def seed_sequence(seed: int, *names: SeedName) -> np.random.SeedSequence:
    """The ``SeedSequence`` of the stream ``names`` (e.g. ``"task", 3``) of the run seeded ``seed``:
    streams of different names are independent, and each is the same in every run of that seed."""
    return np.random.SeedSequence(int(seed), spawn_key=tuple(_key(n) for n in names))


def child_seed(seed: int, *names: SeedName) -> int:
    """A seed in [0, 2**32) for the stream ``names`` of the run seeded ``seed`` (for
    ``torch.Generator().manual_seed``, :func:`seed_everything`, a model's own seed); with no
    names, ``seed`` itself."""
    return int(seed) if not names else int(seed_sequence(seed, *names).generate_state(1, np.uint32)[0])


def torch_generator(seed: int, *names: SeedName) -> torch.Generator:
    """A CPU ``torch.Generator`` for the stream ``names`` of the run seeded ``seed``."""
    return torch.Generator().manual_seed(child_seed(seed, *names))


def numpy_generator(seed: int, *names: SeedName) -> np.random.Generator:
    """A numpy ``Generator`` for the stream ``names`` of the run seeded ``seed``."""
    return np.random.default_rng(seed_sequence(seed, *names))


def seed_everything(seed: int, *names: SeedName) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random`` from the stream ``names`` of
    ``seed`` (no names: ``seed`` itself). ``seed`` is a whole number in [0, 2**32) (numpy's range;
    a larger one would alias a smaller one), else ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be a whole number from 0 to {2**32 - 1}, got {seed!r}")
    seed = child_seed(seed, *names)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def rng_state() -> dict[str, Any]:
    """torch's, numpy's and Python's global RNG states as tensors and plain values (a checkpoint
    loads with ``weights_only=True``)."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"] = {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                            "pos": int(numpy_state["state"]["pos"])}
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {"key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32),
                            "pos": numpy_state["state"]["pos"]}
    np.random.set_state(numpy_state)
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


