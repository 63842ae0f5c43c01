"""Out-of-distribution detection with image EBMs: AUROC of -E(x) per OOD set (Du & Mordatch 2019, 4.4).

    uv run apps/ood_eval                                           # MNIST on a CPU in minutes
    uv run apps/ood_eval --checkpoint runs/image_generate/RUN/model.pt
    uv run apps/ood_eval --ood-sets fashion_mnist kmnist --ood-data-dir DATA
    uv run apps/ood_eval --preset cifar10 --data-dir DATA --device cuda   # Figure 10 (= --preset paper)
    uv run apps/ood_eval --set data.eval_images=500 --set training.lr=1e-3 --print-config
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ebm_run import (
    add_run_args,
    app_parser,
    console_entry,
    finish_config,
    positive_int,
    preset_config,
    resolve_out_dir,
    training_steps,
)
from ebm_vision.evaluation import OOD_PRESETS, run_ood_eval
from ebm_vision.experiment import DATA_DIR_DEFAULT, default_data_dir
from ebm_vision.ood import REAL_SETS
from ebm_vision.training import with_overrides


def main(argv: list[str] | None = None) -> int:
    p = app_parser("ood_eval", __doc__)
    add_run_args(p, OOD_PRESETS, "mnist", resume_help="continue training from the checkpoint in --out",
                 data_dir_help=f"in-distribution dataset ({DATA_DIR_DEFAULT})")
    p.add_argument("--checkpoint", type=Path, default=None, help="evaluate this model.pt (from apps/image_generate)")
    p.add_argument("--ood-sets", nargs="*", choices=REAL_SETS, default=None,
                   help="real OOD sets to add to the synthetic ones (default: the preset's)")
    p.add_argument("--ood-data-dir", type=Path, default=None, help="folder of the real OOD sets (default --data-dir)")
    p.add_argument("--images", type=positive_int, default=None, help="images per OOD set")
    p.add_argument("--steps", type=training_steps, default=None, help="override the training steps (no --checkpoint)")
    args = p.parse_args(argv)

    config = with_overrides(preset_config(p, args, OOD_PRESETS), steps=args.steps, device=args.device)
    evaluation = config.evaluation
    if args.ood_sets is not None:
        evaluation = dataclasses.replace(evaluation, real_sets=tuple(args.ood_sets))
    if args.images is not None:
        evaluation = dataclasses.replace(evaluation, ood_images=args.images)
    config = dataclasses.replace(config, evaluation=evaluation, seed=args.seed)
    out = resolve_out_dir(p, args)
    config = finish_config(p, args, config)
    data_dir = args.data_dir or default_data_dir(config.data.dataset)
    r = run_ood_eval(config, out, data_dir, checkpoint=args.checkpoint, ood_data_dir=args.ood_data_dir,
                     resume=args.resume, quiet=args.quiet)
    paper = r["paper_cifar10"]["ebm"]
    print(f"{r['data']}\nscore {r['score']}; AUROC (in-distribution = positive):")
    print(f"{'set':<16}{'ours':>8}{'paper EBM (CIFAR-10)':>24}")
    for name, v in r["auroc"].items():
        ref = paper.get(name)
        print(f"{name:<16}{v:>8.3f}{'' if ref is None else f'{ref:.2f}':>24}")
    print(f"{'mean':<16}{r['mean_auroc']:>8.3f}{paper['average']:>24.2f}   (PixelCNN++ 0.47, Glow 0.42)")
    print(f"wall={r['wall_seconds']:.0f}s  results: {out / 'results.json'}")
    return 0


cli = console_entry(main, "ood_eval")  # the console script; apps/ood_eval calls it too
