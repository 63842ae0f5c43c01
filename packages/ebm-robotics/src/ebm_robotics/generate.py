"""Parallel, resumable, sharded generation of Shadow-hand cube trajectories, with branches.

Trajectory ``i`` is fully determined by ``(seed, i)``: the env reset seed, the policy's
generator and its branches' generators are children of the run seed's named stream
``(TRAJECTORY_STREAM, i)``: ebm-core's seeding scheme, written out here with numpy's
``SeedSequence`` because generation workers do not import ebm-core (nor torch). So the data do
not depend on the number of workers, the shard size or the machine split.

*Branches*: for the first ``branch_starts`` trajectories of the validation and of the test split,
the whole simulator state at a step ``t_b`` (drawn per trajectory) is saved (``mj_getState``) and
``branch_samples`` continuations of ``branch_horizon`` steps are run from it, each restored
exactly (``mj_setState``) and driven by the policy with fresh randomness: samples of the true
distribution of futures given the recorded state ``s_{t_b}``. The trajectory itself then goes
on from the restored state as if no branch had been taken.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ebm_run.workers import run_in_processes

from .env import ACTION_DIM, ACTUATOR_NAMES, ENV_ID, HAND_JOINT_NAMES, STATE_DIM, HandCubeSim
from .policy import DEFAULT_POLICY, RANDOM_ACTION_PROB, Policy, WithRandomActions, load_policy
from .shards import (
    MANIFEST_FORMAT,
    load_shard,
    part_manifest_name,
    read_manifest_file,
    sha256_file,
    shard_name,
    split_ranges,
)

VERSIONED_PACKAGES = ("mujoco", "gymnasium", "gymnasium-robotics", "numpy")


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate. Paper: T=100, every 4th action random, 200,000 trajectories split 90/10 by
    trajectory. Here: separate counts for train / validation / test (disjoint by trajectory, see
    :func:`ebm_robotics.shards.split_ranges`), a random action with probability 1/4 at each step,
    and branches (module docstring) from the first ``branch_starts`` validation and test trajectories.

    ``workers`` only changes speed, never the data; it is not compared on resume.
    """

    num_train: int
    num_validation: int = 0
    num_test: int = 0
    horizon: int = 100
    seed: int = 0
    policy: str = DEFAULT_POLICY
    random_action_prob: float = RANDOM_ACTION_PROB
    branch_starts: int = 0
    branch_samples: int = 32
    branch_horizon: int = 20
    shard_size: int = 500
    workers: int = 1

    def __post_init__(self) -> None:
        for name, minimum in (("num_train", 1), ("num_validation", 0), ("num_test", 0), ("horizon", 1),
                              ("seed", 0), ("branch_starts", 0), ("branch_samples", 1), ("branch_horizon", 1),
                              ("shard_size", 1), ("workers", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"GenerationConfig.{name} must be an integer >= {minimum}, got {value!r}")
        if self.seed >= 2**32:
            raise ValueError(f"GenerationConfig.seed must be below 2**32, got {self.seed}")
        if self.branch_starts and self.branch_horizon > self.horizon:
            raise ValueError(f"GenerationConfig.branch_horizon ({self.branch_horizon}) exceeds the horizon "
                             f"({self.horizon})")
        if not 0.0 <= self.random_action_prob <= 1.0:
            raise ValueError(f"GenerationConfig.random_action_prob must be in [0, 1], got {self.random_action_prob}")

    @property
    def num_trajectories(self) -> int:
        """All trajectories, every split."""
        return self.num_train + self.num_validation + self.num_test

    @property
    def num_shards(self) -> int:
        """Number of shard files."""
        return -(-self.num_trajectories // self.shard_size)

    def splits(self) -> dict[str, range]:
        """Trajectory indices of each split."""
        return split_ranges(self.num_train, self.num_validation, self.num_test)

    def branched(self, index: int) -> bool:
        """Whether trajectory ``index`` is one of the first ``branch_starts`` of validation or test."""
        splits = self.splits()
        return any(index in splits[name][: self.branch_starts] for name in ("validation", "test"))

    def shard_range(self, index: int) -> tuple[int, int]:
        """Trajectory indices ``[start, stop)`` of shard ``index``."""
        start = index * self.shard_size
        return start, min(start + self.shard_size, self.num_trajectories)

    def data_fields(self) -> dict[str, Any]:
        """The fields that define the data (everything but ``workers``)."""
        d = asdict(self)
        del d["workers"]
        return d


@dataclass(frozen=True)
class BranchPlan:
    """Where one trajectory branches: at step ``time``, one continuation of ``horizon`` steps per
    generator in ``rngs``, driven by ``policy`` (an instance apart from the trajectory's own)."""

    time: int
    horizon: int
    rngs: tuple[np.random.Generator, ...]
    policy: Policy


# The name of the trajectories' stream in the run's seed scheme: a number, as the datasets were
# first drawn with (a text name would draw other data).
TRAJECTORY_STREAM = 0


def trajectory_seeds(seed: int, index: int) -> tuple[int, np.random.Generator, np.random.SeedSequence]:
    """(env reset seed, policy generator, branch seed sequence) of trajectory ``index``."""
    env_ss, policy_ss, branch_ss = np.random.SeedSequence(seed, spawn_key=(TRAJECTORY_STREAM, index)).spawn(3)
    return int(env_ss.generate_state(1, np.uint32)[0]), np.random.default_rng(policy_ss), branch_ss


def branch_plan(config: GenerationConfig, branch_ss: np.random.SeedSequence, policy: Policy) -> BranchPlan:
    """The branch of a branched trajectory: its start step (uniform in 0..T-H) and generators."""
    time_ss, *continuation_ss = branch_ss.spawn(1 + config.branch_samples)  # only for branched trajectories
    time = int(np.random.default_rng(time_ss).integers(0, config.horizon - config.branch_horizon + 1))
    return BranchPlan(time, config.branch_horizon, tuple(np.random.default_rng(s) for s in continuation_ss), policy)


def rollout(
    sim: HandCubeSim, policy: Policy, horizon: int, env_seed: int, rng: np.random.Generator,
    branch: BranchPlan | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """One trajectory with the fast path: states (T+1, 61) float64, actions (T, 20) float32, and
    with a ``branch`` its continuations (states (K, H+1, 61), actions (K, H, 20)) else None.

    Actions are rounded to float32 BEFORE they are applied, so replaying the stored actions
    from the stored initial state reproduces the stored states.
    """
    states = np.empty((horizon + 1, STATE_DIM), dtype=np.float64)
    actions = np.empty((horizon, ACTION_DIM), dtype=np.float32)
    states[0] = sim.reset(seed=env_seed)
    policy.reset(rng)
    fan = None
    for t in range(horizon):
        if branch is not None and t == branch.time:
            fan = continuations(sim, branch)
        np.clip(policy(states[t]), -1.0, 1.0, out=actions[t], casting="same_kind")
        sim.step(actions[t], out=states[t + 1])
    return states, actions, fan


def continuations(sim: HandCubeSim, plan: BranchPlan) -> tuple[np.ndarray, np.ndarray]:
    """``len(plan.rngs)`` futures of the current simulator state, each from the exactly restored
    state; the simulator is left in that state. Returns states (K, H+1, 61), actions (K, H, 20)."""
    saved = sim.save_physics()
    k, h = len(plan.rngs), plan.horizon
    states = np.empty((k, h + 1, STATE_DIM), dtype=np.float64)
    actions = np.empty((k, h, ACTION_DIM), dtype=np.float32)
    for j, rng in enumerate(plan.rngs):
        sim.restore_physics(saved)
        sim.get_state(out=states[j, 0])
        plan.policy.reset(rng)
        for t in range(h):
            np.clip(plan.policy(states[j, t]), -1.0, 1.0, out=actions[j, t], casting="same_kind")
            sim.step(actions[j, t], out=states[j, t + 1])
    sim.restore_physics(saved)
    return states, actions


def make_policy(config: GenerationConfig, sim: HandCubeSim) -> Policy:
    """The data's policy: ``config.policy`` with a random action at each step with probability
    ``config.random_action_prob``."""
    return WithRandomActions(load_policy(config.policy, sim.actuators), config.random_action_prob)


def generate_shard(config: GenerationConfig, index: int, out_dir: str | Path) -> dict[str, Any]:
    """Generate shard ``index`` and write it atomically; returns its manifest entry."""
    start, stop = config.shard_range(index)
    sim = HandCubeSim()
    policy, branch_policy = make_policy(config, sim), make_policy(config, sim)
    n, k, h = stop - start, config.branch_samples, config.branch_horizon
    states = np.empty((n, config.horizon + 1, STATE_DIM), dtype=np.float32)
    actions = np.empty((n, config.horizon, ACTION_DIM), dtype=np.float32)
    branched = [i for i in range(start, stop) if config.branched(i)]
    branch_time = np.empty(len(branched), dtype=np.int64)
    branch_states = np.empty((len(branched), k, h + 1, STATE_DIM), dtype=np.float32)
    branch_actions = np.empty((len(branched), k, h, ACTION_DIM), dtype=np.float32)
    try:
        for j, i in enumerate(range(start, stop)):
            env_seed, rng, branch_ss = trajectory_seeds(config.seed, i)
            plan = branch_plan(config, branch_ss, branch_policy) if config.branched(i) else None
            states[j], actions[j], fan = rollout(sim, policy, config.horizon, env_seed, rng, plan)
            if plan is not None:
                b = branched.index(i)
                branch_time[b] = plan.time
                branch_states[b], branch_actions[b] = fan
    finally:
        sim.close()
    if not (np.all(np.isfinite(states)) and np.all(np.isfinite(branch_states))):
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
            np.savez(
                f, states=states, actions=actions, trajectory_index=np.arange(start, stop, dtype=np.int64),
                branch_index=np.asarray(branched, dtype=np.int64), branch_time=branch_time,
                branch_states=branch_states, branch_actions=branch_actions,
            )
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


def check_policy(spec: str) -> None:
    """Build the policy of ``spec`` once, so that a bad spec fails here rather than in a worker."""
    sim = HandCubeSim()
    try:
        load_policy(spec, sim.actuators)
    finally:
        sim.close()


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
            "hand_joint_angles": [0, 24],
            "cube_pos": [24, 27],
            "cube_quat_wxyz": [27, 31],
            "hand_joint_velocities": [31, 55],
            "cube_linear_velocity_world": [55, 58],
            "cube_angular_velocity_body": [58, 61],
        },
        "actuators": list(ACTUATOR_NAMES),
        "random_action_rule": f"at each step, with probability {config.random_action_prob}: uniform in [-1, 1]",
        "splits": {name: [r.start, r.stop] for name, r in config.splits().items()},
        "num_trajectories": config.num_trajectories,
        "num_shards": config.num_shards,
        "machine_index": machine_index,
        "num_machines": num_machines,
        "shards": [],
        "complete": False,
    }


def _valid_existing(out_dir: Path, entry: dict[str, Any], config: GenerationConfig) -> bool:
    path = out_dir / entry["file"]
    if not path.is_file() or sha256_file(path) != entry["sha256"]:
        return False
    try:
        load_shard(path, entry["start"], entry["stop"], config.horizon, (config.branch_samples, config.branch_horizon))
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
    from ebm_run import write_json_atomic  # here, not at the top: generation workers skip torch

    if not 0 <= machine_index < num_machines:
        raise ValueError(
            f"expected 0 <= machine_index < num_machines, got {machine_index}, {num_machines}"
        )
    check_policy(config.policy)  # fail early, in this process, on a bad policy spec
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
        manifest["shards"] = [s for s in old["shards"] if _valid_existing(out, s, config)]

    mine = list(range(machine_index, config.num_shards, num_machines))
    for i in mine:  # temporary files left by a killed run of this machine
        for tmp in out.glob(f".{shard_name(i)}.*.tmp"):
            tmp.unlink(missing_ok=True)
    done = {s["index"] for s in manifest["shards"]}
    todo = [i for i in mine if i not in done]
    total = sum(config.shard_range(i)[1] - config.shard_range(i)[0] for i in mine)
    from ebm_core.progress import progress  # here, not at the top: the workers import this module

    with progress(total, desc="hand trajectories", disable=quiet) as bar:
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
            run_in_processes(workers, generate_shard, [(config, i, out) for i in todo], lambda _, e: record(e))
    manifest["complete"] = {s["index"] for s in manifest["shards"]} == set(mine)
    write_json_atomic(manifest_path, manifest)
    return manifest
