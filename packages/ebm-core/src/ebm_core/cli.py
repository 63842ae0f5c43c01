"""The command-line flags every app shares: ``--preset``, ``--out``, ``--seed``, ``--resume``, ``--quiet``,
and where an app has them ``--data-dir`` and ``--device`` (the repository's app conventions)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable
from pathlib import Path


def default_out_dir(app: str) -> Path:
    """``runs/<app>/<YYYYmmdd-HHMMSS>``: a fresh output folder named by the local time now."""
    return Path("runs") / app / time.strftime("%Y%m%d-%H%M%S")


def add_run_args(
    parser: argparse.ArgumentParser, presets: Iterable[str], default_preset: str, *,
    data_dir_help: str | None = None, device: bool = True, device_default: str | None = None,
    device_help: str | None = "cpu or cuda", seed_help: str | None = None,
    resume_help: str = "continue from the checkpoints in --out",
) -> argparse.ArgumentParser:
    """Add the shared flags to an app's parser (its ``prog`` is the app name, used in ``--out``'s help).

    ``--preset`` (choices ``presets``), ``--out`` (default None: see :func:`resolve_out_dir`), ``--data-dir``
    (only with ``data_dir_help``), ``--device`` (unless ``device=False``), ``--seed`` (default 0),
    ``--resume`` and ``--quiet``. Returns the parser."""
    presets = sorted(presets)
    if default_preset not in presets:
        raise ValueError(f"default preset {default_preset!r} is not one of {presets}")
    parser.add_argument("--preset", choices=presets, default=default_preset)
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default runs/{parser.prog}/<time>)")
    if data_dir_help is not None:
        parser.add_argument("--data-dir", type=Path, default=None, help=data_dir_help)
    if device:
        parser.add_argument("--device", default=device_default, help=device_help)
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--quiet", action="store_true")
    return parser


def resolve_out_dir(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """``--out``, else :func:`default_out_dir` of the app; ``--resume`` without ``--out`` is a usage
    error (exit status 2), since there is no run to continue; so is a missing ``--out`` under
    ``torchrun`` (each process would name its folder by its own clock)."""
    if args.resume and args.out is None:
        parser.error("--resume needs --out DIR (the run to continue)")
    if args.out is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        parser.error("under torchrun give --out DIR: every process must write to the same folder")
    return args.out if args.out is not None else default_out_dir(parser.prog)
