"""Parallel, resumable, sharded generation of Shadow-hand cube trajectories.

Trajectory ``i`` is fully determined by ``(seed, i)``: the env reset seed and the policy /
random-action generators come from ``np.random.SeedSequence(seed, spawn_key=(0, i))``. So the
data do not depend on the number of workers, the shard size or the machine split.
"""

from __future__ import annotations

import importlib.metadata
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .env import ACTION_DIM, ACTUATOR_NAMES, ENV_ID, HAND_JOINT_NAMES, STATE_DIM, HandCubeSim
from .policy import (
    DEFAULT_POLICY,
    RANDOM_ACTION_PERIOD,
    RANDOM_ACTION_PHASE,
    Policy,
    RandomEveryKth,
    load_policy,
)
from .shards import (
    MANIFEST_FORMAT,
    load_shard,
    part_manifest_name,
    read_manifest_file,
    sha256_file,
    shard_name,
    split_trajectories,
)

VERSIONED_PACKAGES = ("mujoco", "gymnasium", "gymnasium-robotics", "numpy")


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate (paper: T=100, every 4th action random, 90/10 split by trajectory).

    ``workers`` only changes speed, never the data; it is not compared on resume.
    """

    num_trajectories: int
    horizon: int = 100
    seed: int = 0
    policy: str = DEFAULT_POLICY
    test_fraction: float = 0.1
    shard_size: int = 500
    workers: int = 1

    def __post_init__(self) -> None:
        if self.num_trajectories < 1 or self.horizon < 1 or self.shard_size < 1 or self.workers < 1:
            raise ValueError(
                "expected num_trajectories, horizon, shard_size and workers >= 1, got "
                f"{self.num_trajectories}, {self.horizon}, {self.shard_size}, {self.workers}"
            )
        split_trajectories(self.num_trajectories, self.test_fraction, self.seed)  # validates

    @property
    def num_shards(self) -> int:
        """Number of shard files."""
        return -(-self.num_trajectories // self.shard_size)

    def shard_range(self, index: int) -> tuple[int, int]:
        """Trajectory indices ``[start, stop)`` of shard ``index``."""
        start = index * self.shard_size
        return start, min(start + self.shard_size, self.num_trajectories)

    def data_fields(self) -> dict[str, Any]:
        """The fields that define the data (everything but ``workers``)."""
        d = asdict(self)
        del d["workers"]
        return d


def trajectory_seeds(seed: int, index: int) -> tuple[int, np.random.Generator]:
    """(env reset seed, policy generator) of trajectory ``index``."""
    env_ss, policy_ss = np.random.SeedSequence(seed, spawn_key=(0, index)).spawn(2)
    return int(env_ss.generate_state(1, np.uint32)[0]), np.random.default_rng(policy_ss)


def rollout(
    sim: HandCubeSim, policy: Policy, horizon: int, env_seed: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One trajectory with the fast path: states (T+1, 31) float64, actions (T, 20) float32.

    Actions are rounded to float32 BEFORE they are applied, so replaying the stored actions
    from the stored initial state reproduces the stored states.
    """
    states = np.empty((horizon + 1, STATE_DIM), dtype=np.float64)
    actions = np.empty((horizon, ACTION_DIM), dtype=np.float32)
    states[0] = sim.reset(seed=env_seed)
    policy.reset(rng)
    for t in range(horizon):
        np.clip(policy(states[t]), -1.0, 1.0, out=actions[t], casting="same_kind")
        sim.step(actions[t], out=states[t + 1])
    return states, actions


def generate_shard(config: GenerationConfig, index: int, out_dir: str | Path) -> dict[str, Any]:
    """Generate shard ``index`` and write it atomically; returns its manifest entry."""
    start, stop = config.shard_range(index)
    sim = HandCubeSim()
    policy = RandomEveryKth(load_policy(config.policy), RANDOM_ACTION_PERIOD, RANDOM_ACTION_PHASE)
    n = stop - start
    states = np.empty((n, config.horizon + 1, STATE_DIM), dtype=np.float32)
    actions = np.empty((n, config.horizon, ACTION_DIM), dtype=np.float32)
    try:
        for k, i in enumerate(range(start, stop)):
            env_seed, rng = trajectory_seeds(config.seed, i)
            s, a = rollout(sim, policy, config.horizon, env_seed, rng)
            states[k], actions[k] = s, a
    finally:
        sim.close()
    if not np.all(np.isfinite(states)):
        raise RuntimeError(
            f"simulation produced non-finite states in shard {index} "
            f"(trajectories {start}..{stop - 1})"
        )
    path = Path(out_dir) / shard_name(index)
    # written beside and renamed (never half a shard); a plain open keeps the umask's permissions.
    # Not ebm_core.atomic_path: importing ebm_core would load torch in every generation worker.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, states=states, actions=actions, trajectory_index=np.arange(start, stop, dtype=np.int64))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {
        "index": index,
        "file": path.name,
        "start": start,
        "stop": stop,
        "sha256": sha256_file(path),
    }


def simulator_versions() -> dict[str, str]:
    """Installed versions of the packages that determine the simulated data (the manifest's
    ``versions``: no Python or platform, unlike ebm-core's ``package_versions``, so that data made
    on different machines compare equal; and no torch import in the generation workers)."""
    return {name: importlib.metadata.version(name) for name in VERSIONED_PACKAGES}


def _new_manifest(
    config: GenerationConfig, machine_index: int, num_machines: int
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "env_id": ENV_ID,
        "config": config.data_fields(),
        "versions": simulator_versions(),
        "state_layout": {
            "hand_joints": list(HAND_JOINT_NAMES),
            "cube_pos": [24, 27],
            "cube_quat_wxyz": [27, 31],
        },
        "actuators": list(ACTUATOR_NAMES),
        "random_action_rule": (
            f"t % {RANDOM_ACTION_PERIOD} == {RANDOM_ACTION_PHASE} (t = 0..T-1): uniform in [-1, 1]"
        ),
        "num_trajectories": config.num_trajectories,
        "num_shards": config.num_shards,
        "machine_index": machine_index,
        "num_machines": num_machines,
        "shards": [],
        "complete": False,
    }


def _valid_existing(out_dir: Path, entry: dict[str, Any], horizon: int) -> bool:
    path = out_dir / entry["file"]
    if not path.is_file() or sha256_file(path) != entry["sha256"]:
        return False
    try:
        load_shard(path, entry["start"], entry["stop"], horizon)
    except (ValueError, FileNotFoundError):
        return False
    return True


def generate_trajectories(
    config: GenerationConfig,
    out_dir: str | Path,
    *,
    machine_index: int = 0,
    num_machines: int = 1,
    quiet: bool = False,
) -> dict[str, Any]:
    """Generate (or finish) the dataset in ``out_dir``; returns this machine's manifest.

    Machine ``machine_index`` of ``num_machines`` generates shards ``machine_index``,
    ``machine_index + num_machines``, ... and keeps its own manifest
    (``manifest.json`` for one machine, else ``manifest.part-KKK-of-NNN.json``; copy all parts
    into one directory to load them). Shards already listed in the manifest whose file still
    matches its sha256 are kept; the rest are (re)generated by ``config.workers`` spawned
    processes, and the manifest is rewritten atomically after every finished shard, so a crash
    loses at most the shards in flight. Raises ``ValueError`` if ``out_dir`` holds data of a
    different config or package versions. Workers are started with "spawn": a script calling
    this with ``workers > 1`` needs the ``if __name__ == "__main__":`` guard.
    """
    from ebm_core import write_json_atomic  # here, not at the top: generation workers skip torch

    if not 0 <= machine_index < num_machines:
        raise ValueError(
            f"expected 0 <= machine_index < num_machines, got {machine_index}, {num_machines}"
        )
    load_policy(config.policy)  # fail early, in this process, on a bad policy spec
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / part_manifest_name(machine_index, num_machines)
    manifest = _new_manifest(config, machine_index, num_machines)
    if manifest_path.is_file():
        old = read_manifest_file(manifest_path)
        for key in ("config", "versions", "env_id"):
            if old[key] != manifest[key]:
                raise ValueError(
                    f"{str(manifest_path)!r} was written with a different {key} "
                    f"({old[key]}); expected "
                    f"{manifest[key]}. Use a new directory or the same settings to resume."
                )
        manifest["shards"] = [s for s in old["shards"] if _valid_existing(out, s, config.horizon)]

    mine = list(range(machine_index, config.num_shards, num_machines))
    for i in mine:  # temporary files left by a killed run of this machine
        for tmp in out.glob(f".{shard_name(i)}.*.tmp"):
            tmp.unlink(missing_ok=True)
    done = {s["index"] for s in manifest["shards"]}
    todo = [i for i in mine if i not in done]
    total = sum(config.shard_range(i)[1] - config.shard_range(i)[0] for i in mine)
    with tqdm(total=total, unit="traj", disable=quiet, desc="hand trajectories") as bar:
        bar.update(total - sum(config.shard_range(i)[1] - config.shard_range(i)[0] for i in todo))

        def record(entry: dict[str, Any]) -> None:
            manifest["shards"] = sorted([*manifest["shards"], entry], key=lambda s: s["index"])
            write_json_atomic(manifest_path, manifest)
            bar.update(entry["stop"] - entry["start"])

        write_json_atomic(manifest_path, manifest)
        workers = min(config.workers, len(todo))
        if workers <= 1:
            for i in todo:
                record(generate_shard(config, i, out))
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(generate_shard, config, i, out) for i in todo]
                try:
                    for fut in as_completed(futures):
                        record(fut.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # don't start queued shards
                    raise
    manifest["complete"] = {s["index"] for s in manifest["shards"]} == set(mine)
    write_json_atomic(manifest_path, manifest)
    return manifest
