"""CelebA attribute EBMs combined by summed energies (Du & Mordatch 2019, A.9, Figure 27).

    uv run apps/celeba_compose --data-dir DATA_DIR         # real CelebA (files in DATA_DIR/celeba/)
    uv run apps/celeba_compose --synthetic                 # generated face-like images, NOT CelebA
    uv run apps/celeba_compose --data-dir DATA_DIR --preset paper
    uv run apps/celeba_compose --synthetic --set sampler.sample_steps=60 --set 'model.channels=(32,64,64)'
"""

from __future__ import annotations

import dataclasses

from ebm_compose.celeba_experiment import PRESETS, run_celeba_compose, summary_table
from ebm_run import (
    add_run_args,
    app_parser,
    console_entry,
    finish_config,
    preset_config,
    replace_given,
    resolve_out_dir,
    training_steps,
)


def main(argv: list[str] | None = None) -> int:
    p = app_parser("celeba_compose", __doc__)
    add_run_args(p, PRESETS, "default", data_dir_help="folder whose celeba/ subfolder holds the CelebA files",
                 device_help="torch device, e.g. cuda")
    p.add_argument("--synthetic", action="store_true",
                   help="use generated face-like images (clearly NOT CelebA) to see the pipeline without the files")
    p.add_argument("--steps", type=training_steps, default=None, help="override the training steps per attribute model")
    args = p.parse_args(argv)
    out = resolve_out_dir(p, args)
    if args.data_dir is None and not args.synthetic:
        p.error("give --data-dir DATA_DIR (CelebA files in DATA_DIR/celeba/) or --synthetic")
    if args.data_dir is not None and args.synthetic:
        p.error("give either --data-dir (real CelebA) or --synthetic (generated images), not both")

    config = dataclasses.replace(preset_config(p, args, PRESETS), seed=args.seed)
    training = replace_given(config.training, device=args.device)
    if args.steps is not None:
        training = dataclasses.replace(training, steps=args.steps)
    config = dataclasses.replace(config, training=training)
    config = finish_config(p, args, config)
    results = run_celeba_compose(config, out, data_dir=args.data_dir, synthetic=args.synthetic,
                                 resume=args.resume, quiet=args.quiet)
    print(summary_table(results))
    print(f"wall {results['wall_seconds']:.0f}s")
    print(f"results: {out / 'results.json'}")
    return 0


cli = console_entry(main, "celeba_compose")  # the console script; apps/celeba_compose calls it too
