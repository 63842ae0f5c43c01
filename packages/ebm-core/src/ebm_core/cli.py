"""The command-line flags every app shares: ``--preset``, ``--out``, ``--seed``, ``--resume``, ``--quiet``,
``--traceback``, and where an app has them ``--data-dir`` and ``--device`` (the repository's app
conventions); argparse types for counts and devices; :func:`run_cli`, which turns a mistake in the
input into one line instead of a traceback."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import torch

from .records import RUN_RECORD, recorded_app

_Number = TypeVar("_Number", int, float)

# What a user's input causes (a missing or unreadable file; a ValueError raised by this project's own
# checks of files and values): reported in one short message by run_cli. Anything else (a bug, a
# ValueError from inside torch or numpy, CUDA out of memory) keeps its traceback.
FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (a count of steps, images, seeds, workers)."""
    return _bounded(_whole_number(text), 1, "must be at least 1")


def nonnegative_int(text: str) -> int:
    """argparse type: a whole number of at least 0 (a seed)."""
    return _bounded(_whole_number(text), 0, "must be 0 or more")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a temperature, a step size)."""
    return _bounded(_finite_number(text), 0.0, "must be > 0", strict=True)


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (an attack budget)."""
    return _bounded(_finite_number(text), 0.0, "must be 0 or more")


def _bounded(value: _Number, low: float, rule: str, strict: bool = False) -> _Number:
    if value < low or (strict and value == low):
        raise argparse.ArgumentTypeError(f"{rule}, got {value}")
    return value


def _finite_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def device_name(text: str) -> str:
    """argparse type: a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``), checked
    before any work starts."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r} (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text}: CUDA is not available on this machine "
                                             "(torch.cuda.is_available() is False); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available on this machine; use --device cpu")
    return text


def run_cli(main: Callable[[], int], prog: str, argv: list[str] | None = None) -> int:
    """Run an app's ``main()``. A mistake in the input (:data:`FILE_ERRORS`, or a ``ValueError`` raised
    in this project's code) ends with ``<prog>: error (<kind>): <message>`` on stderr, a line saying
    where it was raised, and exit status 2, unless ``--traceback`` is on the command line (``argv``,
    default ``sys.argv[1:]``), which shows the whole trace. Ctrl-C ends with one line saying how to
    resume, and exit status 130."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return main()
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; run the same command with --resume (and the same --out) to continue "
              "from its last checkpoint", file=sys.stderr)
        return 130
    except (*FILE_ERRORS, ValueError) as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        ours = isinstance(e, FILE_ERRORS) or _project_file(where.filename)
        if "--traceback" in argv or not ours:
            raise
        print(f"{prog}: error ({type(e).__name__}): {e}\n  (raised at {Path(where.filename).name}:{where.lineno}; "
              "--traceback shows the whole trace)", file=sys.stderr)
        return 2


def default_out_dir(app: str) -> Path:
    """``runs/<app>/<YYYYmmdd-HHMMSS>``: a fresh output folder named by the local time now."""
    return Path("runs") / app / time.strftime("%Y%m%d-%H%M%S")


def _project_file(filename: str) -> bool:
    """Whether a source file belongs to this project: one of its ``ebm_*`` packages or an app."""
    parts = Path(filename).parts
    return any(p.startswith("ebm_") for p in parts) or "apps" in parts


def add_run_args(
    parser: argparse.ArgumentParser, presets: Iterable[str], default_preset: str, *,
    data_dir_help: str | None = None, device: bool = True, device_default: str | None = None,
    device_help: str | None = "cpu or cuda", seed_help: str | None = None,
    resume_help: str = "continue from the checkpoints in --out",
) -> argparse.ArgumentParser:
    """Add the shared flags to an app's parser (its ``prog`` is the app name, used in ``--out``'s help).

    ``--preset`` (choices ``presets``), ``--out`` (default None: see :func:`resolve_out_dir`), ``--data-dir``
    (only with ``data_dir_help``), ``--device`` (unless ``device=False``), ``--seed`` (default 0),
    ``--resume``, ``--quiet`` and ``--traceback`` (read by :func:`run_cli`). Returns the parser."""
    presets = sorted(presets)
    if default_preset not in presets:
        raise ValueError(f"default preset {default_preset!r} is not one of {presets}")
    parser.add_argument("--preset", choices=presets, default=default_preset,
                        help=f"settings to run (default {default_preset}; see the package README)")
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default runs/{parser.prog}/<time>)")
    if data_dir_help is not None:
        parser.add_argument("--data-dir", type=Path, default=None, help=data_dir_help)
    if device:
        parser.add_argument("--device", type=device_name, default=device_default, help=device_help)
    parser.add_argument("--seed", type=nonnegative_int, default=0, help=seed_help)
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in an --out that holds a run (its logs are cleared, its files replaced)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--traceback", action="store_true", help="on an error, show the whole Python traceback")
    return parser


def resolve_out_dir(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """``--out``, else :func:`default_out_dir` of the app; ``--resume`` without ``--out`` is a usage
    error (exit status 2), since there is no run to continue; so is a missing ``--out`` under
    ``torchrun`` (each process would name its folder by its own clock). ``--resume`` with an ``--out``
    that holds nothing starts a new run and says so on stderr (a typo would otherwise go unnoticed;
    it is not an error, so that a job script may always pass ``--resume``). An ``--out`` that holds a
    run (:func:`run_files`) is refused without ``--resume``, unless ``--overwrite`` starts it over;
    ``--resume`` needs the folder's record to name this app. Only checks: the folder is cleaned by
    :func:`ebm_core.start_run_folder` once the run holds its lock."""
    if args.resume and args.out is None:
        parser.error("--resume needs --out DIR (the run to continue)")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file, not a folder")
    if args.out is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        parser.error("under torchrun give --out DIR: every process must write to the same folder")
    if args.resume and getattr(args, "overwrite", False):
        parser.error("--resume and --overwrite exclude each other")
    first_rank = os.environ.get("RANK", "0") == "0"  # under torchrun one process judges the folder
    held = run_files(args.out) if args.out is not None and first_rank else []
    if held and not args.resume:
        if not getattr(args, "overwrite", False):
            parser.error(f"--out {args.out} holds a run ({', '.join(held)}); add --resume to continue it, "
                         "--overwrite to start it over, or give another folder")
    if args.resume and held:
        owner = recorded_app(args.out)
        if owner != parser.prog:
            parser.error(f"--out {args.out} holds " + ("a run without a run record (run.json): not one this version "
                         "of the apps can continue" if owner is None else f"a run of {owner}, not of {parser.prog}")
                         + "; give another --out")
    if args.resume and not (args.out.is_dir() and any(args.out.iterdir())):
        print(f"{parser.prog}: --resume: {args.out} holds no earlier run; starting a new one", file=sys.stderr)
    return args.out if args.out is not None else default_out_dir(parser.prog)


RUN_FILES = (RUN_RECORD, "results.json", "metrics.jsonl", "checkpoint.pt", "model.pt", "checkpoints")


def run_files(folder: Path) -> list[str]:
    """The names in ``folder`` that show it holds a run (:data:`RUN_FILES`), [] if none (or no folder)."""
    return [name for name in RUN_FILES if (folder / name).exists()] if folder.is_dir() else []


def apply_overrides(config: Any, assignments: Iterable[str]) -> Any:
    """A copy of the nested frozen dataclass ``config`` with ``path.to.field=value`` assignments
    applied (``--set training.l2_coeff=0.01``). A value is read as a Python literal (numbers,
    tuples, None, True/False) or else as text, and must fit the type the field holds now (an
    int is accepted for a float); the changed dataclasses re-run their own checks. Raises
    ``ValueError`` naming the assignment and what was expected."""
    for text in assignments:
        path, sep, raw = text.partition("=")
        if not sep or not path:
            raise ValueError(f"--set {text!r}: expected path.to.field=value")
        config = _assign(config, path.split("."), raw, text)
    return config


def _assign(obj: Any, path: list[str], raw: str, text: str) -> Any:
    if not dataclasses.is_dataclass(obj):
        raise ValueError(f"--set {text!r}: {type(obj).__name__} has no fields to set")
    names = [f.name for f in dataclasses.fields(obj)]
    if path[0] not in names:
        raise ValueError(f"--set {text!r}: {type(obj).__name__} has no field {path[0]!r} (fields: {', '.join(names)})")
    current = getattr(obj, path[0])
    value = _assign(current, path[1:], raw, text) if len(path) > 1 else _coerce(current, raw, text)
    try:
        return dataclasses.replace(obj, **{path[0]: value})
    except (TypeError, ValueError) as e:
        raise ValueError(f"--set {text!r}: {e}") from None


def _coerce(current: Any, raw: str, text: str) -> Any:
    if dataclasses.is_dataclass(current):
        raise ValueError(f"--set {text!r}: that is a group of settings; set one of its fields")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    if value is None or current is None:  # "off" (e.g. grad_clip=None), or a field now off: its own checks decide
        ok = True
    elif isinstance(current, bool) or isinstance(value, bool):
        ok = isinstance(current, bool) and isinstance(value, bool)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        value = float(value) if ok else value
    elif isinstance(current, tuple) and isinstance(value, list):
        value, ok = tuple(value), True
    else:
        ok = isinstance(value, type(current))
    if not ok:
        raise ValueError(f"--set {text!r}: expected a value like {current!r}, got {value!r}")
    return value
