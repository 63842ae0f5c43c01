"""dSprites concept EBMs composed by summed energies (Du & Mordatch 2019, section 7, Figures 15-16).

    uv run apps/dsprites_compose                  # CPU default (32x32, small models, 3 seeds), minutes
    uv run apps/dsprites_compose --preset paper   # 64x64, reference network and settings (GPU)
    uv run apps/dsprites_compose --seeds 5 --set 'evaluation.weight_candidates=(1.0,)'
                                                  # 5 seeds, equal weights (no choice on validation)
"""

from __future__ import annotations

import dataclasses

from ebm_compose.dsprites_experiment import PRESETS, run_dsprites_compose, summary_table
from ebm_run import (
    add_run_args,
    app_parser,
    console_entry,
    finish_config,
    positive_int,
    preset_config,
    replace_given,
    resolve_out_dir,
    training_steps,
)


def main(argv: list[str] | None = None) -> int:
    p = app_parser("dsprites_compose", __doc__)
    add_run_args(p, PRESETS, "default", device_help="torch device, e.g. cuda",
                 data_dir_help="folder holding dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz "
                               "(default: built-in renderer)")
    p.add_argument("--steps", type=training_steps, default=None,
                   help="override the training steps of every model (the preset's per-concept joint_steps too)")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="evaluation.seeds: number of seeds, from --seed on (default: the preset's)")
    args = p.parse_args(argv)
    out = resolve_out_dir(p, args)

    config = dataclasses.replace(preset_config(p, args, PRESETS), seed=args.seed)
    config = dataclasses.replace(config, evaluation=replace_given(config.evaluation, seeds=args.seeds))
    training = replace_given(config.training, device=args.device)
    if args.steps is not None:
        training = dataclasses.replace(training, steps=args.steps,
                                       joint_steps=tuple((c, args.steps) for c, _ in training.joint_steps))
    config = dataclasses.replace(config, training=training)
    config = finish_config(p, args, config)
    results = run_dsprites_compose(config, out, data_dir=args.data_dir, resume=args.resume, quiet=args.quiet)
    print(summary_table(results))
    print(f"{results['note']}; wall {results['wall_seconds']:.0f}s")
    print(f"results: {out / 'results.json'}")
    return 0


cli = console_entry(main, "dsprites_compose")  # the console script; apps/dsprites_compose calls it too
