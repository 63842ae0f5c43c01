"""Class-incremental Split MNIST: the continual EBM beside fine-tuning, EWC, SI, LwF, a VAE and joint training
(Du & Mordatch 2019, section 6, Table 1).

    uv run apps/split_mnist                  # CPU default: the MNIST test set split 8,000 / 2,000, 3 seeds
    uv run apps/split_mnist --preset paper --data-dir DIR [--download]   # full MNIST, 10 seeds
"""

from __future__ import annotations

import dataclasses
import sys

from ebm_continual import (
    METHODS,
    PRESETS,
    load_split_mnist,
    run_split_mnist,
    summary_table,
    with_device,
)
from ebm_run import (
    add_run_args,
    app_parser,
    finish_config,
    positive_int,
    resolve_out_dir,
    run_cli,
    training_steps,
)


def main(argv: list[str] | None = None) -> int:
    p = app_parser("split_mnist", __doc__)
    add_run_args(p, PRESETS, "default", seed_help="first seed",
                 data_dir_help="MNIST location (demo: the t10k idx .gz files, default $EBM_MNIST_DIR, else "
                               "shared/data/mnist beside the checkout; torchvision: its root)",
                 resume_help="reuse the finished runs and EBM checkpoints in --out (only those of unchanged settings)")
    p.add_argument("--data", choices=("demo", "torchvision"), default=None,
                   help="demo: MNIST test-set idx files split 8,000/2,000; torchvision: full MNIST (preset decides)")
    p.add_argument("--eval-per-class", type=positive_int, default=200, help="demo data: eval images per digit")
    p.add_argument("--train-per-class", type=positive_int, default=None,
                   help="demo data: train images per digit (default all)")
    p.add_argument("--download", action="store_true", help="let torchvision download MNIST (needs internet)")
    p.add_argument("--methods", default=None, help=f"comma-separated subset of {','.join(METHODS)} "
                                                   f"(default: all but ebm_joint)")
    p.add_argument("--seeds", type=positive_int, default=None, help="number of seeds (default: the preset's)")
    p.add_argument("--ebm-steps", type=training_steps, default=None, help="override the EBM's training steps per task")
    args = p.parse_args(argv)

    config = dataclasses.replace(PRESETS[args.preset], seed=args.seed)
    if args.seeds is not None:
        config = dataclasses.replace(config, seeds=args.seeds)
    if args.data is not None:
        config = dataclasses.replace(config, data=args.data)
    if args.methods is not None:
        try:
            config = dataclasses.replace(config, methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()))
        except ValueError as e:
            p.error(f"--methods {args.methods}: {e}")
    if args.ebm_steps is not None:
        config = dataclasses.replace(config, ebm=dataclasses.replace(config.ebm, steps_per_task=args.ebm_steps))
    config = finish_config(p, args, with_device(config, args.device))  # --set, --print-config: before any work
    out = resolve_out_dir(p, args)

    data = load_split_mnist(config.data, args.data_dir, args.eval_per_class, args.train_per_class, args.download)
    log = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    results = run_split_mnist(config, data, out, resume=args.resume, quiet=args.quiet, log=log)
    print(summary_table(results))
    print(f"data: {results['data']['description']}")
    print(f"wall {results['wall_seconds']:.0f} s; results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "split_mnist"))
