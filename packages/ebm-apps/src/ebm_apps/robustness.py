"""Adversarial robustness of conditional image EBMs vs a cross-entropy classifier (Du & Mordatch 2019, 4.3).

    uv run apps/robustness                                          # MNIST on a CPU in minutes
    uv run apps/robustness --checkpoint runs/image_generate/RUN/model.pt
    uv run apps/robustness --preset cifar10 --data-dir DATA --device cuda     # Figure 8 (= --preset paper)
    uv run apps/robustness --set training.classifier.lr=3e-4 --set evaluation.pgd_steps=40 --print-config
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ebm_run import (
    add_run_args,
    app_parser,
    console_entry,
    finish_config,
    nonnegative_float,
    positive_int,
    preset_config,
    replace_given,
    resolve_out_dir,
    training_steps,
)
from ebm_vision.evaluation import ROBUSTNESS_PRESETS, run_robustness
from ebm_vision.experiment import DATA_DIR_DEFAULT, default_data_dir


def main(argv: list[str] | None = None) -> int:
    p = app_parser("robustness", __doc__)
    add_run_args(p, ROBUSTNESS_PRESETS, "mnist", resume_help="reuse / continue the models in --out",
                 data_dir_help=f"dataset folder ({DATA_DIR_DEFAULT})", device_field="training.ebm.device")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="attack this conditional model.pt (from apps/image_generate) instead of training one")
    p.add_argument("--images", type=positive_int, default=None, help="number of held-out test images attacked")
    p.add_argument("--linf-eps", type=nonnegative_float, nargs="+", default=None,
                   help="L-inf budgets (pixels in [0, 1])")
    p.add_argument("--l2-eps", type=nonnegative_float, nargs="+", default=None, help="L2 budgets (pixels in [0, 1])")
    p.add_argument("--no-bpda", action="store_true", help="skip the attack through the Langevin refinement")
    p.add_argument("--eot", type=positive_int, default=None, help="EOT draws per BPDA gradient")
    p.add_argument("--steps", type=training_steps, default=None,
                   help="override the EBM training steps (no --checkpoint)")
    p.add_argument("--classifier-steps", type=training_steps, default=None,
                   help="cross-entropy baseline training steps")
    args = p.parse_args(argv)

    c = preset_config(p, args, ROBUSTNESS_PRESETS)
    curves = replace_given(c.evaluation, num_images=args.images, linf_eps=args.linf_eps, l2_eps=args.l2_eps,
                           eot_samples=args.eot, bpda=False if args.no_bpda else None)
    ebm = replace_given(c.training.ebm, steps=args.steps, device=args.device)
    clf = replace_given(c.training.classifier, steps=args.classifier_steps)
    config = dataclasses.replace(c, seed=args.seed, evaluation=curves,
                                 training=dataclasses.replace(c.training, ebm=ebm, classifier=clf))
    out = resolve_out_dir(p, args)
    config = finish_config(p, args, config)
    r = run_robustness(config, out, args.data_dir or default_data_dir(config.data.dataset), checkpoint=args.checkpoint,
                       resume=args.resume, quiet=args.quiet)
    print(r["data"])
    print(f"clean accuracy: {', '.join(f'{k} {v:.3f}' for k, v in r['clean_accuracy'].items() if v is not None)}")
    for norm in ("linf", "l2"):
        print(f"{norm:<5} eps      " + " ".join(f"{e:>7.3f}" for e in r["eps"][norm]))
        for name, acc in r["accuracy"].items():
            print(f"  {name:<13}" + " ".join(f"{a:>7.3f}" for a in acc[norm]))
    print(f"wall={r['wall_seconds']:.0f}s  results: {out / 'results.json'}  figure: {out / 'robustness.png'}")
    return 0


cli = console_entry(main, "robustness")  # the console script; apps/robustness calls it too
