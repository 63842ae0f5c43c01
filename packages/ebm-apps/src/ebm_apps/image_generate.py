"""Image EBMs: training, sampling, IS/FID, restoration and mode evaluation (Du & Mordatch 2019, 4.1-4.2).

    uv run apps/image_generate                              # MNIST on a CPU in minutes
    uv run apps/image_generate --eval-split validation      # where settings are chosen (held-out train images)
    uv run apps/image_generate --preset cifar10_cond --data-dir DATA --device cuda   # = --preset paper
    torchrun --nproc-per-node 8 apps/image_generate --preset imagenet32_cond --device cuda --data-dir DATA --out R
    uv run apps/image_generate --set training.lr=3e-4 --set evaluation.test_time.rounds=6 --print-config
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ebm_run import (
    add_run_args,
    app_parser,
    chain_steps,
    console_entry,
    finish_config,
    positive_int,
    preset_config,
    replace_given,
    resolve_out_dir,
    training_steps,
)
from ebm_vision.experiment import DATA_DIR_DEFAULT, PRESETS, default_data_dir, run_image_generate, summary
from ebm_vision.training import with_overrides


def main(argv: list[str] | None = None) -> int:
    p = app_parser("image_generate", __doc__)
    add_run_args(p, PRESETS, "mnist", device_help="cpu, cuda (torchrun: one GPU per process)",
                 data_dir_help=f"dataset folder ({DATA_DIR_DEFAULT})",
                 resume_help="continue training from the checkpoint in --out", torchrun=True)
    p.add_argument("--checkpoint", type=Path, default=None, help="evaluate this model.pt instead of training")
    p.add_argument("--inception-weights", type=Path, default=None,
                   help="torch-fidelity Inception file (pt_inception-2015-12-05-6726825d.pth) for IS/FID")
    p.add_argument("--steps", type=training_steps, default=None, help="override the training steps")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--langevin-steps", type=chain_steps, default=None, help="override the Langevin steps per chain")
    p.add_argument("--samples", type=positive_int, default=None, help="number of generated images to score")
    p.add_argument("--train-limit", type=positive_int, default=None, help="use only the first N training images")
    p.add_argument("--eval-split", choices=("validation", "test"), default=None,
                   help="measure on held-out training images (validation: where settings are chosen) or on the "
                        "test images (the reported figures); default: the preset's (test)")
    args = p.parse_args(argv)

    config = with_overrides(preset_config(p, args, PRESETS), steps=args.steps, batch_size=args.batch_size,
                            device=args.device, langevin_steps=args.langevin_steps)
    config = dataclasses.replace(config, seed=args.seed)
    config = dataclasses.replace(config, evaluation=replace_given(config.evaluation, num_samples=args.samples,
                                                                  split=args.eval_split))
    if args.train_limit is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, train_limit=args.train_limit))
    out = resolve_out_dir(p, args)
    config = finish_config(p, args, config)
    data_dir = args.data_dir or default_data_dir(config.data.dataset)
    results = run_image_generate(config, out, data_dir, checkpoint=args.checkpoint, resume=args.resume,
                                 inception_weights=args.inception_weights, quiet=args.quiet)
    if not results:  # a non-zero torchrun rank: rank 0 evaluates and writes
        return 0
    print(summary(results))
    print(f"wall={results['wall_seconds']:.0f}s  figures: {', '.join(results['figures'])}")
    print(f"results: {out / 'results.json'}")
    return 0


cli = console_entry(main, "image_generate")  # the console script; apps/image_generate calls it too
