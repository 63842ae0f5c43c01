"""Shadow-hand cube dynamics: EBM vs FC rollouts (Du & Mordatch 2019, section 5, Figs. 12-13).

    uv run apps/hand_rollout                 # CPU default, a few minutes
    uv run apps/hand_rollout --preset paper  # 200,000 trajectories, full training
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from ebm_robotics.experiment import PRESETS, run_hand_rollout, summary_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hand_rollout", description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--out", type=Path, default=None, help="output directory (default runs/hand_rollout/<time>)")
    p.add_argument("--data", type=Path, default=None, help="reuse (or create) the trajectory dataset here")
    p.add_argument("--trajectories", type=int, default=None, help="override the number of trajectories")
    p.add_argument("--steps", type=int, default=None, help="override the training steps per model")
    p.add_argument("--workers", type=int, default=None, help="generation worker processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--no-render", action="store_true", help="skip the MuJoCo frames")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    config = dataclasses.replace(PRESETS[args.preset], seed=args.seed, render=not args.no_render)
    if args.trajectories is not None:
        config = dataclasses.replace(config, num_trajectories=args.trajectories)
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    if args.steps is not None:
        config = dataclasses.replace(config, training=dataclasses.replace(config.training, steps=args.steps))
    if args.resume and args.out is None:
        p.error("--resume needs --out DIR (the run to continue)")
    out = args.out or Path("runs/hand_rollout") / time.strftime("%Y%m%d-%H%M%S")
    results = run_hand_rollout(config, out, data_dir=args.data, resume=args.resume, quiet=args.quiet)
    print(summary_table(results))
    print(f"n_train={results['n_train']} n_test={results['n_test']} wall={results['wall_seconds']:.0f}s")
    print(results["frames"])
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
