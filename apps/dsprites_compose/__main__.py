"""dSprites concept EBMs composed by summed energies (Du & Mordatch 2019, section 7, Figures 15-16).

    uv run apps/dsprites_compose                  # CPU default (32x32, small models), minutes
    uv run apps/dsprites_compose --preset paper   # 64x64, reference network and settings (GPU)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from ebm_compose.dsprites_experiment import PRESETS, run_dsprites_compose, summary_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dsprites_compose", description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--out", type=Path, default=None, help="output directory (default runs/dsprites_compose/<time>)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz (default: built-in renderer)")
    p.add_argument("--steps", type=int, default=None, help="override the training steps per model")
    p.add_argument("--device", default=None, help="torch device, e.g. cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.resume and args.out is None:
        p.error("--resume needs --out DIR (the run to continue)")

    config = dataclasses.replace(PRESETS[args.preset], seed=args.seed)
    training = config.training
    if args.steps is not None:
        training = dataclasses.replace(training, steps=args.steps)
    if args.device is not None:
        training = dataclasses.replace(training, device=args.device)
    config = dataclasses.replace(config, training=training)
    out = args.out or Path("runs/dsprites_compose") / time.strftime("%Y%m%d-%H%M%S")
    results = run_dsprites_compose(config, out, data_dir=args.data_dir, resume=args.resume, quiet=args.quiet)
    print(summary_table(results))
    print(f"{results['note']}; wall {results['wall_seconds']:.0f}s")
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
