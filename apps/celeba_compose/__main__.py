"""CelebA attribute EBMs combined by summed energies (Du & Mordatch 2019, A.9, Figure 27).

    uv run apps/celeba_compose --data-dir DATA_DIR         # real CelebA (files in DATA_DIR/celeba/)
    uv run apps/celeba_compose --synthetic                 # generated face-like images, NOT CelebA
    uv run apps/celeba_compose --data-dir DATA_DIR --preset paper
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from ebm_compose.celeba_experiment import PRESETS, run_celeba_compose, summary_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="celeba_compose", description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--out", type=Path, default=None, help="output directory (default runs/celeba_compose/<time>)")
    p.add_argument("--data-dir", type=Path, default=None, help="folder whose celeba/ subfolder holds the CelebA files")
    p.add_argument("--synthetic", action="store_true",
                   help="use generated face-like images (clearly NOT CelebA) to see the pipeline without the files")
    p.add_argument("--steps", type=int, default=None, help="override the training steps per attribute model")
    p.add_argument("--device", default=None, help="torch device, e.g. cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.resume and args.out is None:
        p.error("--resume needs --out DIR (the run to continue)")
    if args.data_dir is None and not args.synthetic:
        p.error("give --data-dir DATA_DIR (CelebA files in DATA_DIR/celeba/) or --synthetic")

    config = dataclasses.replace(PRESETS[args.preset], seed=args.seed)
    training = config.training
    if args.steps is not None:
        training = dataclasses.replace(training, steps=args.steps)
    if args.device is not None:
        training = dataclasses.replace(training, device=args.device)
    config = dataclasses.replace(config, training=training)
    out = args.out or Path("runs/celeba_compose") / time.strftime("%Y%m%d-%H%M%S")
    try:
        results = run_celeba_compose(config, out, data_dir=args.data_dir, synthetic=args.synthetic,
                                     resume=args.resume, quiet=args.quiet)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_table(results))
    print(f"wall {results['wall_seconds']:.0f}s")
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
