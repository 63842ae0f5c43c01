"""Shadow-hand data generation speed: gym loop vs fast path vs the physics bound.

Prints env steps/second on one core for
  (a) the gym loop  -- ``env.step(action)`` then reading the 61-D state,
  (b) the fast path -- :meth:`ebm_robotics.HandCubeSim.step`,
  (c) the physics bound -- ``mujoco.mj_step(model, data)`` (nstep=1) called n_substeps times per
      env step with the same controls (rate / n_substeps),
and their ratios to the bound; then the generator's throughput with 1 and 2 worker processes.
All three single-core paths replay the same actions from the same saved physics state, in
interleaved rounds; the best round of each is reported (robust to other load on the machine).

    uv run python benchmarks/hand_generation.py [--steps 200] [--rounds 5] [--trajectories 32] [--gen-rounds 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import mujoco
import numpy as np
from ebm_robotics.env import HandCubeSim
from ebm_robotics.generate import GenerationConfig, generate_trajectories, make_policy, rollout


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def single_core(steps: int, rounds: int) -> dict[str, float]:
    sim = HandCubeSim()
    # Actions of a real trajectory (the data's policy), repeated to `steps`.
    _, actions, _ = rollout(sim, make_policy(GenerationConfig(num_train=1), sim), 100, 0, np.random.default_rng(0))
    actions = np.resize(actions, (steps, 20))
    sim.reset(seed=1)
    saved = sim.save_physics()
    ctrls = np.empty((steps, sim.model.nu))
    for t in range(steps):  # the controls the env would set, for the bound
        sim.set_ctrl(actions[t])
        ctrls[t] = sim.data.ctrl
    model, data, n_sub = sim.model, sim.data, sim.n_substeps
    out = np.empty(61)

    def gym_loop() -> None:
        for a in actions:
            sim.step_gym(a)

    def fast_path() -> None:
        for a in actions:
            sim.step(a, out)

    def bound() -> None:
        for c in ctrls:
            data.ctrl[:] = c
            for _ in range(n_sub):
                mujoco.mj_step(model, data)

    def bound_nstep() -> None:
        for c in ctrls:
            data.ctrl[:] = c
            mujoco.mj_step(model, data, nstep=n_sub)

    paths = {"gym": gym_loop, "fast": fast_path, "bound": bound, "bound_nstep": bound_nstep}
    best = dict.fromkeys(paths, 0.0)
    for _ in range(rounds):
        for name, fn in paths.items():
            sim.restore_physics(saved)
            mujoco.mj_forward(model, data)
            best[name] = max(best[name], steps / timed(fn))
    sim.close()
    return best


def _worker_ready() -> int:
    import ebm_robotics.generate  # noqa: F401  (what a generation worker imports)

    return os.getpid()


def worker_start_seconds() -> float:
    """Wall time to spawn one worker process that imports the generator."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return timed(lambda: pool.submit(_worker_ready).result())


def _cpu_seconds() -> float:
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def generator(n: int, workers: int, shard_size: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its workers) to generate n trajectories."""
    out = tempfile.mkdtemp(prefix="hand_bench_")
    try:
        cfg = GenerationConfig(num_train=n, shard_size=shard_size, workers=workers, seed=0)
        cpu0 = _cpu_seconds()
        wall = timed(lambda: generate_trajectories(cfg, out, quiet=True))
        return wall, _cpu_seconds() - cpu0
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="env steps per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--trajectories", type=int, default=32, help="for the generator (T=100)")
    p.add_argument("--gen-rounds", type=int, default=2, help="interleaved generator rounds per worker count")
    args = p.parse_args()

    load_before = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, load average before: {load_before:.2f}")
    r = single_core(args.steps, args.rounds)
    print("env steps/s on one core (best of rounds, same actions and start state):")
    print(f"  (a) gym loop   {r['gym']:8.0f}   gym/bound  = {r['gym'] / r['bound']:.3f}")
    print(f"  (b) fast path  {r['fast']:8.0f}   fast/bound = {r['fast'] / r['bound']:.3f}")
    print(f"  (c) bound      {r['bound']:8.0f}   (mj_step nstep=1 rate / 20 substeps)")
    print(f"      mj_step(nstep=20) {r['bound_nstep']:8.0f}")
    print(f"  fast/gym = {r['fast'] / r['gym']:.2f}x")

    n, shard = args.trajectories, max(1, args.trajectories // 4)
    print(f"generator, {n} trajectories of T=100, shard size {shard} (includes process start),")
    print(f"best of {args.gen_rounds} interleaved rounds:")
    best: dict[int, tuple[float, float]] = {}
    for _ in range(args.gen_rounds):
        for workers in (1, 2):
            secs, cpu = generator(n, workers, shard)
            if workers not in best or secs < best[workers][0]:
                best[workers] = (secs, cpu)
    for workers, (secs, cpu) in best.items():
        print(
            f"  workers={workers}: {secs:6.2f} s  {n / secs:6.2f} traj/s  "
            f"{n * 100 / secs:7.0f} env steps/s  speedup {best[1][0] / secs:.2f}x  "
            f"(CPU {cpu:.2f} s, {cpu / n * 1000:.0f} ms/traj incl. worker start)"
        )
    print(f"  spawning one worker (imports included): {worker_start_seconds():.2f} s")
    if load_before > 0.5:
        print(f"  note: load average {load_before:.2f} before the run: other processes share the cores, "
              "so the worker scaling may be understated")


if __name__ == "__main__":
    main()
