"""Shadow-hand cube dynamics: the EBM against three baselines (Du & Mordatch 2019, section 5, Figs. 12-13).

    uv run apps/hand_rollout                            # CPU default (one seed), about 10-15 minutes
    uv run apps/hand_rollout --eval-split validation    # where every choice of the recipe is made
    uv run apps/hand_rollout --set training.l2_coeff=0.01 --set sampler.rollout.steps=20
    uv run apps/hand_rollout --preset paper --device cuda   # 200,000 trajectories, full training
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ebm_robotics.experiment import PRESETS, run_hand_rollout, summary_table
from ebm_run import (
    add_run_args,
    app_parser,
    console_entry,
    finish_config,
    nonnegative_int,
    positive_int,
    preset_config,
    replace_given,
    resolve_out_dir,
    training_steps,
)


def main(argv: list[str] | None = None) -> int:
    p = app_parser("hand_rollout", __doc__)
    add_run_args(p, PRESETS, "default",
                 data_dir_help="reuse (or create) the trajectory dataset here (default: inside --out)",
                 device_help="where the models train, e.g. cuda (generation and rollouts run on the CPU)",
                 torchrun=True)
    p.add_argument("--data", dest="data_dir", type=Path, help=argparse.SUPPRESS)  # the earlier name of --data-dir
    p.add_argument("--eval-split", choices=("validation", "test"), default=None,
                   help="score the models on the validation trajectories (to choose settings) or the test ones "
                        "(the reported figure; default)")
    p.add_argument("--train", type=positive_int, default=None, help="override the number of training trajectories")
    p.add_argument("--validation", type=nonnegative_int, default=None, help="override the validation trajectories")
    p.add_argument("--test", type=nonnegative_int, default=None, help="override the test trajectories")
    p.add_argument("--steps", type=training_steps, default=None, help="override the training steps per model")
    p.add_argument("--workers", type=positive_int, default=None, help="generation worker processes")
    p.add_argument("--models", type=lambda t: tuple(t.split(",")), default=None,
                   help="comma-separated models to train and score (default: all eight), e.g. ebm_uncond,ebm_cond")
    p.add_argument("--no-render", action="store_true", help="skip the MuJoCo frames")
    args = p.parse_args(argv)
    out = resolve_out_dir(p, args)

    config = preset_config(p, args, PRESETS)
    try:
        config = dataclasses.replace(
            config, seed=args.seed,
            data=replace_given(config.data, num_train=args.train, num_validation=args.validation,
                               num_test=args.test, workers=args.workers),
            training=replace_given(config.training, device=args.device, steps=args.steps),
            evaluation=replace_given(config.evaluation, split=args.eval_split, render=False if args.no_render else None,
                                     models=args.models),
        )
    except ValueError as e:
        p.error(str(e))
    config = finish_config(p, args, config)
    results = run_hand_rollout(config, out, data_dir=args.data_dir, resume=args.resume, quiet=args.quiet)
    if not results:  # a non-zero torchrun rank: rank 0 scores and writes
        return 0
    print(summary_table(results))
    print(f"n_train={results['n_train']} n_{results['eval_split']}={results['n_eval']} "
          f"wall={results['wall_seconds']:.0f}s")
    print(results["frames"])
    print(f"results: {out / 'results.json'}")
    return 0


cli = console_entry(main, "hand_rollout")  # the console script; apps/hand_rollout calls it too
