"""Class-incremental Split MNIST: the continual EBM beside fine-tuning, EWC, SI, LwF, a VAE and joint training
(Du & Mordatch 2019, section 6, Table 1), and beyond the paper the EBM and the VAE with generative replay of
their own samples (ebm_replay, vae_replay).

    uv run apps/split_mnist                  # CPU default: full MNIST (55,000 train, 10,000 test), 3 seeds, minutes
    uv run apps/split_mnist --seeds 10       # the 10-seed test figure
    uv run apps/split_mnist --eval-split validation      # where every choice is made (5,000 held-out train images)
    uv run apps/split_mnist --task-order 0,2/1,3/4,6/5,7/8,9 --methods ebm,vae
    uv run apps/split_mnist --methods ebm,ebm_replay,vae,vae_replay --set training.generative_replay.per_class=1000
    uv run apps/split_mnist --preset paper --data torchvision --data-dir DIR [--download]   # 10 seeds
    uv run apps/split_mnist --methods ebm --set sampler.steps=40 --set training.ebm.buffer_size=20000
    uv run apps/split_mnist --preset tiny --print-config   # the whole config: data / model / sampler / training /
                                                          # evaluation sections, every field settable by --set
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from ebm_continual import (
    DATA_SOURCES,
    METHODS,
    PRESETS,
    load_split_mnist,
    parse_tasks,
    run_split_mnist,
    summary_table,
    with_device,
)
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


def task_order(text: str) -> tuple[tuple[int, ...], ...]:
    """``--task-order``: the tasks' digits (checked whole by the config)."""
    try:
        return parse_tasks(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    p = app_parser("split_mnist", __doc__)
    add_run_args(p, PRESETS, "default", seed_help="first seed",
                 data_dir_help="MNIST location (mnist, demo: the idx files, default $EBM_MNIST_DIR, else "
                               "shared/data/mnist beside the checkout; torchvision: its root, default data)",
                 resume_help="reuse the finished runs and EBM checkpoints in --out (only those of unchanged settings)")
    p.add_argument("--data", choices=DATA_SOURCES, default=None,
                   help="data.source; mnist: the four idx files (plain or .gz) in --data-dir; torchvision: "
                        "torchvision's MNIST under --data-dir (extracted files in MNIST/raw); demo: the MNIST test "
                        "set alone split 8,000/2,000, for quick looks (default: the preset's, mnist)")
    p.add_argument("--eval-split", choices=("validation", "test"), default=None,
                   help="evaluation.split: score on the 5,000 validation images held out of the training images (to "
                        "choose settings) or on the 10,000 test images (the reported figure; default)")
    p.add_argument("--task-order", type=task_order, default=None,
                   help="data.tasks: the digits of each task in order, a partition of 0-9 "
                        "(default: 0,1/2,3/4,5/6,7/8,9)")
    p.add_argument("--eval-per-class", type=positive_int, default=None,
                   help="data.eval_per_class: evaluate on the first N images of each digit (default: all; demo: 200)")
    p.add_argument("--train-per-class", type=positive_int, default=None,
                   help="data.train_per_class: train on the first N images of each digit (default: all)")
    p.add_argument("--download", action="store_true", help="let torchvision download MNIST (needs internet)")
    p.add_argument("--methods", default=None, help=f"evaluation.methods: comma-separated subset of {','.join(METHODS)} "
                                                   f"(default: all but ebm_joint and vae_replay)")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="evaluation.seeds: number of seeds (default: the preset's)")
    p.add_argument("--ebm-steps", type=training_steps, default=None,
                   help="training.ebm.steps_per_task: the EBM's training steps per task")
    args = p.parse_args(argv)

    preset = preset_config(p, args, PRESETS)
    data = replace_given(preset.data, source=args.data, eval_per_class=args.eval_per_class,
                         train_per_class=args.train_per_class, tasks=args.task_order)
    evaluation = replace_given(preset.evaluation, seeds=args.seeds, split=args.eval_split)
    if args.methods is not None:
        try:
            evaluation = replace(evaluation, methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()))
        except ValueError as e:
            p.error(f"--methods {args.methods}: {e}")
    training = replace(preset.training, ebm=replace_given(preset.training.ebm, steps_per_task=args.ebm_steps))
    config = replace(preset, data=data, training=training, evaluation=evaluation, seed=args.seed)
    if args.device is not None:  # None: the device the --config file set
        config = with_device(config, args.device)
    config = finish_config(p, args, config)  # --set, --print-config: before any work
    out = resolve_out_dir(p, args)

    d = config.data
    data = load_split_mnist(d.source, args.data_dir, d.eval_per_class, d.train_per_class, args.download,
                            d.validation, config.evaluation.split)
    log = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    results = run_split_mnist(config, data, out, resume=args.resume, quiet=args.quiet, log=log)
    print(summary_table(results))
    print(f"data: {results['data']['description']}")
    print(f"wall {results['wall_seconds']:.0f} s; results: {out / 'results.json'}")
    return 0


cli = console_entry(main, "split_mnist")  # the console script; apps/split_mnist calls it too
