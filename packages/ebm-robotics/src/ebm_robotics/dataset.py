"""Loading generated trajectories (split by trajectory, with their branches) and one-step transitions.

The on-disk format (shards + manifest) is described in :mod:`ebm_robotics.shards`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .shards import (
    ACTION_DIM,
    SPLITS,
    STATE_DIM,
    load_shard,
    read_manifest,
    sha256_file,
    shard_name,
)


@dataclass(frozen=True)
class Branches:
    """True continuations from recorded states (see :mod:`ebm_robotics.generate`): for each of m
    start states, K futures of H steps. ``states[:, :, 0]`` is the trajectory's state at ``time``."""

    trajectory_index: np.ndarray  # (m,) which trajectory (generation index)
    time: np.ndarray  # (m,) the step of that trajectory the branches start from
    states: np.ndarray  # (m, K, H+1, 61) float32
    actions: np.ndarray  # (m, K, H, 20) float32

    def __len__(self) -> int:
        return int(self.states.shape[0])


@dataclass(frozen=True)
class TrajectorySplit:
    """The trajectories of one split: states (N, T+1, 61), actions (N, T, 20) float32, their
    generation ``indices`` (N,), and the branches of its first trajectories (empty for train)."""

    states: np.ndarray
    actions: np.ndarray
    indices: np.ndarray
    branches: Branches

    def __len__(self) -> int:
        return int(self.states.shape[0])


@dataclass(frozen=True)
class TrajectoryData:
    """Trajectories split BY TRAJECTORY into train, validation and test (disjoint index ranges)."""

    train: TrajectorySplit
    validation: TrajectorySplit
    test: TrajectorySplit
    manifest: dict[str, Any]

    @property
    def horizon(self) -> int:
        """Number of actions per trajectory (T)."""
        return int(self.train.actions.shape[1])

    def split(self, name: str) -> TrajectorySplit:
        """The split called ``name`` ("train", "validation" or "test")."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}: expected one of {SPLITS}")
        return getattr(self, name)


def load_trajectories(directory: str | Path, verify_checksums: bool = True) -> TrajectoryData:
    """Load all shards of a generated dataset, split by trajectory as recorded at generation.

    Raises ``FileNotFoundError`` for a missing directory/manifest/shard and ``ValueError`` naming
    the shard file when a shard is corrupt, truncated, not finite or fails its sha256, or when the
    dataset is incomplete.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    config = manifest["config"]
    counts = {name: int(config[f"num_{name}"]) for name in SPLITS}
    n_total, horizon = sum(counts.values()), int(config["horizon"])
    k, h = int(config["branch_samples"]), int(config["branch_horizon"])
    shards = manifest["shards"]
    covered = sorted(i for s in shards for i in range(s["start"], s["stop"]))
    if not manifest["complete"] or covered != list(range(n_total)):
        have = {s["index"] for s in shards}
        missing = [shard_name(i) for i in range(int(manifest["num_shards"])) if i not in have]
        raise ValueError(
            f"dataset in {str(directory)!r} is incomplete: expected "
            f"{manifest['num_shards']} shards, "
            f"missing {missing[:10]}{' ...' if len(missing) > 10 else ''}; re-run the generation "
            "with the same config to finish it"
        )
    states = np.empty((n_total, horizon + 1, STATE_DIM), dtype=np.float32)
    actions = np.empty((n_total, horizon, ACTION_DIM), dtype=np.float32)
    branch_parts: list[dict[str, np.ndarray]] = []
    for s in shards:
        path = directory / s["file"]
        if verify_checksums and path.is_file() and sha256_file(path) != s["sha256"]:
            raise ValueError(
                f"shard {str(path)!r}: sha256 does not match the manifest (file changed or corrupt)"
            )
        arrays = load_shard(path, s["start"], s["stop"], horizon, (k, h))
        states[s["start"] : s["stop"]] = arrays["states"]
        actions[s["start"] : s["stop"]] = arrays["actions"]
        branch_parts.append(arrays)
    b_index = np.concatenate([a["branch_index"] for a in branch_parts])
    b_time = np.concatenate([a["branch_time"] for a in branch_parts])
    b_states = np.concatenate([a["branch_states"] for a in branch_parts])
    b_actions = np.concatenate([a["branch_actions"] for a in branch_parts])
    splits = {}
    start = {"test": 0, "validation": counts["test"], "train": counts["test"] + counts["validation"]}
    for name in SPLITS:
        idx = np.arange(start[name], start[name] + counts[name])
        mine = (b_index >= idx[0]) & (b_index <= idx[-1]) if len(idx) else np.zeros(len(b_index), bool)
        order = np.argsort(b_index[mine])
        branches = Branches(b_index[mine][order], b_time[mine][order], b_states[mine][order], b_actions[mine][order])
        splits[name] = TrajectorySplit(states[idx], actions[idx], idx, branches)
    return TrajectoryData(**splits, manifest=manifest)


@dataclass(frozen=True)
class Transitions:
    """Flattened one-step transitions: states (M, 61), actions (M, 20), next_states (M, 61)."""

    states: np.ndarray
    actions: np.ndarray
    next_states: np.ndarray

    def __len__(self) -> int:
        return int(self.states.shape[0])


def make_transitions(states: np.ndarray, actions: np.ndarray) -> Transitions:
    """All (s_t, a_t, s_{t+1}) of trajectories ``states`` (N, T+1, 61), ``actions`` (N, T, 20)."""
    states, actions = np.asarray(states), np.asarray(actions)
    if (
        states.ndim != 3
        or actions.ndim != 3
        or states.shape[:2] != (actions.shape[0], actions.shape[1] + 1)
    ):
        raise ValueError(
            f"expected states (N, T+1, {STATE_DIM}) and actions (N, T, {ACTION_DIM}), "
            f"got {states.shape} and {actions.shape}"
        )
    n, t = actions.shape[:2]
    return Transitions(
        states=states[:, :-1].reshape(n * t, -1),
        actions=actions.reshape(n * t, -1),
        next_states=states[:, 1:].reshape(n * t, -1),
    )


def two_mode_trajectories(joint: bool, n: int = 200, t: int = 10, seed: int = 0) -> np.ndarray:
    """Synthetic 61-D trajectories (n, t+1, 61) from s_0 = 0 whose every step is +1 or -1 with equal
    odds, plus N(0, 0.05^2) noise: in every coordinate together (``joint``: s -> s + 1 or s - 1) or in
    coordinate 0 alone (the other 60 take the small noise only). The check that a dynamics model
    samples both modes (section 5's multimodality) where a regression predicts their mean."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=0.05, size=(n, t, STATE_DIM)).astype(np.float32)
    sign = rng.choice([-1.0, 1.0], size=(n, t)).astype(np.float32)
    if joint:
        steps += sign[..., None]
    else:
        steps[..., 0] = sign
    return np.concatenate([np.zeros((n, 1, STATE_DIM), np.float32), np.cumsum(steps, axis=1)], axis=1)
