"""Loading generated trajectories (split by trajectory) and their one-step transitions.

The on-disk format (shards + manifest) is described in :mod:`ebm_robotics.shards`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .shards import (
    ACTION_DIM,
    STATE_DIM,
    load_shard,
    read_manifest,
    sha256_file,
    shard_name,
    split_trajectories,
)


@dataclass(frozen=True)
class TrajectoryData:
    """Trajectories split by trajectory into train and test sets.

    states_*: (N, T+1, 31) float32, actions_*: (N, T, 20) float32; ``*_indices`` are the
    trajectory indices (generation order) of each row.
    """

    states_train: np.ndarray
    actions_train: np.ndarray
    states_test: np.ndarray
    actions_test: np.ndarray
    train_indices: np.ndarray
    test_indices: np.ndarray
    manifest: dict[str, Any]

    @property
    def horizon(self) -> int:
        """Number of actions per trajectory (T)."""
        return int(self.actions_train.shape[1])


def load_trajectories(
    directory: str | Path, test_fraction: float | None = None, verify_checksums: bool = True
) -> TrajectoryData:
    """Load all shards of a generated dataset and split them by trajectory.

    ``test_fraction`` defaults to the one recorded at generation. Raises ``FileNotFoundError``
    for a missing directory/manifest/shard and ``ValueError`` naming the shard file when a shard
    is corrupt, truncated, not finite or fails its sha256, or when the dataset is incomplete.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    config = manifest["config"]
    n_total, horizon = int(config["num_trajectories"]), int(config["horizon"])
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
    for s in shards:
        path = directory / s["file"]
        if verify_checksums and path.is_file() and sha256_file(path) != s["sha256"]:
            raise ValueError(
                f"shard {str(path)!r}: sha256 does not match the manifest (file changed or corrupt)"
            )
        st, ac = load_shard(path, s["start"], s["stop"], horizon)
        states[s["start"] : s["stop"]] = st
        actions[s["start"] : s["stop"]] = ac
    frac = float(config["test_fraction"]) if test_fraction is None else test_fraction
    train, test = split_trajectories(n_total, frac, int(config["seed"]))
    return TrajectoryData(
        states_train=states[train],
        actions_train=actions[train],
        states_test=states[test],
        actions_test=actions[test],
        train_indices=train,
        test_indices=test,
        manifest=manifest,
    )


@dataclass(frozen=True)
class Transitions:
    """Flattened one-step transitions: states (M, 31), actions (M, 20), next_states (M, 31)."""

    states: np.ndarray
    actions: np.ndarray
    next_states: np.ndarray

    def __len__(self) -> int:
        return int(self.states.shape[0])


def make_transitions(states: np.ndarray, actions: np.ndarray) -> Transitions:
    """All (s_t, a_t, s_{t+1}) of trajectories ``states`` (N, T+1, 31), ``actions`` (N, T, 20)."""
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
