"""AIS likelihood bounds of image EBMs on continuous MNIST, PCD ablation, sensitivity (Du & Mordatch 2019, A.3-A.4).

    uv run apps/likelihood                                          # CPU: small models, small AIS
    uv run apps/likelihood --no-sweep                               # replay buffer vs PCD only
    uv run apps/likelihood --checkpoint runs/image_generate/RUN/model.pt   # an unconditional model
    uv run apps/likelihood --preset paper --device cuda             # Figures 23 and 25 scale
    uv run apps/likelihood --set evaluation.l2_sweep="(0.1, 1.0)" --set training.steps=300 --print-config
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ebm_run import (
    add_run_args,
    app_parser,
    console_entry,
    finish_config,
    positive_float,
    positive_int,
    preset_config,
    resolve_out_dir,
    training_steps,
)
from ebm_vision.evaluation import LIKELIHOOD_PRESETS, run_likelihood
from ebm_vision.experiment import DATA_DIR_DEFAULT, default_data_dir
from ebm_vision.training import with_overrides


def main(argv: list[str] | None = None) -> int:
    p = app_parser("likelihood", __doc__)
    add_run_args(p, LIKELIHOOD_PRESETS, "mnist", resume_help="reuse / continue the models in --out",
                 data_dir_help=f"MNIST idx files ({DATA_DIR_DEFAULT})")
    p.add_argument("--checkpoint", type=Path, default=None, help="bound this unconditional model.pt only")
    p.add_argument("--no-sweep", action="store_true", help="skip the L2-coefficient / step-size sweep")
    p.add_argument("--no-pcd", action="store_true", help="skip the PCD ablation")
    p.add_argument("--chains", type=positive_int, default=None, help="AIS chains")
    p.add_argument("--temperatures", type=positive_int, default=None,
                   help="AIS intermediate distributions K (the convergence curve runs K/4 and K/2 too)")
    p.add_argument("--model-temperatures", type=positive_float, nargs="+", default=None,
                   help="evaluate E/T at these T and report the best trusted one (the paper picks the best T); "
                        "the sweep's models use the replay-buffer model's T when it is trusted, else every T")
    p.add_argument("--test-images", type=positive_int, default=None,
                   help="held-out images whose log likelihood is bounded")
    p.add_argument("--steps", type=training_steps, default=None, help="override the training steps per model")
    args = p.parse_args(argv)

    c = preset_config(p, args, LIKELIHOOD_PRESETS)
    ev = c.evaluation
    ais = ev.likelihood.ais
    if args.chains is not None:
        ais = dataclasses.replace(ais, num_chains=args.chains)
    lk = ev.likelihood
    if args.temperatures is not None:
        ais = dataclasses.replace(ais, num_temperatures=args.temperatures)
        lk = dataclasses.replace(lk, curve=tuple(sorted({args.temperatures // 4, args.temperatures // 2} - {0})))
    lk = dataclasses.replace(lk, ais=ais)
    if args.model_temperatures is not None:
        lk = dataclasses.replace(lk, temperatures=tuple(args.model_temperatures))
    if args.test_images is not None:
        lk = dataclasses.replace(lk, num_test=args.test_images)
    ev = dataclasses.replace(ev, likelihood=lk, sweep=ev.sweep and not args.no_sweep, pcd=ev.pcd and not args.no_pcd)
    config = dataclasses.replace(with_overrides(c, steps=args.steps, device=args.device), seed=args.seed,
                                 evaluation=ev)
    out = resolve_out_dir(p, args)
    config = finish_config(p, args, config)
    r = run_likelihood(config, out, args.data_dir or default_data_dir(config.data.dataset), checkpoint=args.checkpoint,
                       resume=args.resume, quiet=args.quiet)
    print(r["data"])
    print(f"{'model':<16}{'lower':>10}{'upper':>10}{'T':>8}   paper (lower / upper)")
    for m in r["models"]:
        ref = m["paper"]
        ref_s = f"{ref[0]:.0f} / {ref[1]:.0f}" if ref else ""
        warn = "" if m["trusted"] else "   (not trusted, below)"
        print(f"{m['name']:<16}{m['lower_nats']:>10.1f}{m['upper_nats']:>10.1f}{m['temperature']:>8g}   {ref_s}{warn}")
    for m in r["models"]:
        if not m["trusted"]:
            print(f"  {m['name']} not trusted: {m['distrust']}")
    print(f"nats per test image ({r['num_test']} images); wall={r['wall_seconds']:.0f}s")
    print(f"results: {out / 'results.json'}")
    return 0


cli = console_entry(main, "likelihood")  # the console script; apps/likelihood calls it too
