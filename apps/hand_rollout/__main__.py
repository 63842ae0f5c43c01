"""Shadow-hand cube dynamics: EBM vs FC rollouts (Du & Mordatch 2019, section 5, Figs. 12-13).

    uv run apps/hand_rollout                 # CPU default, a few minutes
    uv run apps/hand_rollout --preset paper  # 200,000 trajectories, full training
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ebm_core import add_run_args, positive_int, resolve_out_dir, run_cli
from ebm_robotics.experiment import PRESETS, run_hand_rollout, summary_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hand_rollout", description=__doc__.splitlines()[0])
    add_run_args(p, PRESETS, "default", device_default="cpu",
                 data_dir_help="reuse (or create) the trajectory dataset here (default: inside --out)",
                 device_help="where the four models train, e.g. cuda (generation and rollouts run on the CPU)")
    p.add_argument("--data", dest="data_dir", type=Path, help=argparse.SUPPRESS)  # the earlier name of --data-dir
    p.add_argument("--trajectories", type=positive_int, default=None, help="override the number of trajectories")
    p.add_argument("--steps", type=positive_int, default=None, help="override the training steps per model")
    p.add_argument("--workers", type=positive_int, default=None, help="generation worker processes")
    p.add_argument("--no-render", action="store_true", help="skip the MuJoCo frames")
    args = p.parse_args(argv)
    out = resolve_out_dir(p, args)

    config = dataclasses.replace(PRESETS[args.preset], seed=args.seed, render=not args.no_render)
    if args.trajectories is not None:
        config = dataclasses.replace(config, num_trajectories=args.trajectories)
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    if args.steps is not None:
        config = dataclasses.replace(config, training=dataclasses.replace(config.training, steps=args.steps))
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, device=args.device))
    results = run_hand_rollout(config, out, data_dir=args.data_dir, resume=args.resume, quiet=args.quiet)
    print(summary_table(results))
    print(f"n_train={results['n_train']} n_test={results['n_test']} wall={results['wall_seconds']:.0f}s")
    print(results["frames"])
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "hand_rollout"))
