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
from typing import Any, NoReturn, TypeVar

import torch

from .records import RUN_RECORD, held_run_folders, recorded_app

_Number = TypeVar("_Number", int, float)

# What a user's input causes (a missing or unreadable file; a ValueError raised by this project's own
# checks of files and values): reported in one short message by run_cli. Anything else (a bug, a
# ValueError from inside torch or numpy, CUDA out of memory) keeps its traceback.
FILE_ERRORS = (OSError,)  # a missing or unreadable file, a read-only or full disk: what the machine refuses


# Limits that protect the machine, checked when the command line is read (issue 23, part 4).
MAX_SEED = 2**31 - 1  # numpy's and CUDA's generators take 32 bits; runs add small offsets to the seed
MAX_TRAINING_STEPS = 86_400_000  # a day at 1 ms a step, faster than any model here trains
MAX_CHAIN_STEPS = 10_000  # Langevin steps per chain; the paper uses 60 (CIFAR-10), 10 for refinement
MAX_COUNT = 10_000_000  # images, samples, trajectories, chains: checked against memory where they are used


def positive_int(text: str) -> int:
    """argparse type: a whole number from 1 to :data:`MAX_COUNT` (a count of images, seeds, workers)."""
    return _at_most(_bounded(_whole_number(text), 1, "must be at least 1"), MAX_COUNT, "a count")


def nonnegative_int(text: str) -> int:
    """argparse type: a whole number from 0 to :data:`MAX_COUNT` (a count that may be zero)."""
    return _at_most(_bounded(_whole_number(text), 0, "must be 0 or more"), MAX_COUNT, "a count")


def seed_number(text: str) -> int:
    """argparse type: a seed, 0 to :data:`MAX_SEED` (a larger one would alias a small one)."""
    return _at_most(_bounded(_whole_number(text), 0, "must be 0 or more"), MAX_SEED,
                    "a seed (numpy and CUDA take 32 bits, and runs add offsets)")


def training_steps(text: str) -> int:
    """argparse type: training steps, 1 to :data:`MAX_TRAINING_STEPS` (a day at 1 ms a step)."""
    steps = _bounded(_whole_number(text), 1, "must be at least 1")
    if steps > MAX_TRAINING_STEPS:
        raise argparse.ArgumentTypeError(
            f"{steps:,} steps would take {steps / 1000 / 86400:,.1f} days even at 1 ms a step; "
            f"at most {MAX_TRAINING_STEPS:,}")
    return steps


def chain_steps(text: str) -> int:
    """argparse type: Langevin steps per chain, 1 to :data:`MAX_CHAIN_STEPS`."""
    return _at_most(_bounded(_whole_number(text), 1, "must be at least 1"), MAX_CHAIN_STEPS,
                    "Langevin steps per chain (the paper uses 60 on CIFAR-10)")


def _at_most(value: int, high: int, what: str) -> int:
    if value > high:
        raise argparse.ArgumentTypeError(f"{value:,} is over the limit of {high:,} for {what}")
    return value


def check_memory(what: str, nbytes: float, available: float | None = None) -> None:
    """Refuse (``ValueError`` naming ``what`` and both figures) a run whose arrays of ``nbytes`` bytes
    would not fit this machine's memory (``available``: default its physical memory)."""
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not POSIX: no figure to compare with
            return
    if nbytes > available:
        raise ValueError(f"{what} would need {nbytes / 2**30:,.1f} GiB of memory; this machine has "
                         f"{available / 2**30:,.1f} GiB")


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
    in this project's code) ends with one line on stderr, ``<prog>: error (<kind>): <message> [<where it
    was raised>]``, and exit status 2, unless ``--traceback`` is on the command line (``argv``,
    default ``sys.argv[1:]``), which shows the whole trace. Ctrl-C ends with one line saying how to
    resume, and exit status 130."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return main()
    except KeyboardInterrupt:
        held = held_run_folders()
        where = f"--out {held[-1]}" if held else "the same --out"
        print(f"\n{prog}: interrupted; to continue from the last checkpoint, run the same command with --resume "
              f"and {where}", file=sys.stderr)
        return 130
    except (*FILE_ERRORS, ValueError) as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        ours = isinstance(e, FILE_ERRORS) or _project_file(where.filename)
        if "--traceback" in argv or not ours:
            raise
        message = " ".join(str(e).split())  # one line, whatever the message held
        print(f"{prog}: error ({type(e).__name__}): {message} [{Path(where.filename).name}:{where.lineno}; "
              "--traceback shows the trace]", file=sys.stderr)
        return 2


class AppParser(argparse.ArgumentParser):
    """An app's parser: a usage mistake ends with one line, ``<prog>: error: <message>``, and exit
    status 2 (argparse's own prints the whole usage first); the module docstring's examples are the
    epilog of ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (--help lists the options)\n")


def app_parser(prog: str, doc: str) -> AppParser:
    """The parser of app ``prog`` whose module docstring is ``doc`` (first line: the description;
    the rest, kept as written: the examples)."""
    lines = doc.strip("\n").splitlines()
    return AppParser(prog=prog, description=lines[0], epilog="\n".join(lines[1:]).strip("\n") or None,
                     formatter_class=argparse.RawDescriptionHelpFormatter)


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
    parser.add_argument("--seed", type=seed_number, default=0, help=seed_help or f"random seed, 0 to {MAX_SEED}")
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
    that holds nothing starts a new run (:func:`ebm_core.start_run_folder` says so; it is not an
    error, so that a job script may always pass ``--resume``). An ``--out`` that holds a
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
