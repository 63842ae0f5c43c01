"""The conventions every app shares: the flags (``--preset``, ``--config``, ``--out``, ``--seed``, ``--set``,
``--print-config``, ``--resume``, ``--overwrite``, ``--quiet``, ``--traceback``, and where an app has
them ``--data-dir`` and ``--device``),
the parser whose usage errors are one line, the run folder an ``--out`` names, and :func:`run_cli`, which
turns a mistake in the input into one line instead of a traceback."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

from .curves import plot_training_curves
from .flags import MAX_SEED, device_name, seed_number
from .overrides import apply_config_file, apply_overrides, config_file_fields, read_config_file
from .records import RUN_RECORD, held_run_folders, recorded_app

# What a user's input causes (a missing or unreadable file; a ValueError raised by this project's own
# checks of files and values): reported in one short message by run_cli. Anything else (a bug, a
# ValueError from inside torch or numpy, CUDA out of memory) keeps its traceback.
FILE_ERRORS = (OSError,)  # a missing or unreadable file, a read-only or full disk: what the machine refuses


_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")  # terminal escapes, control bytes


def console_entry(main: Callable[[], int], prog: str) -> Callable[[], None]:
    """An app's console-script function (``[project.scripts]``): :func:`run_cli` of ``main``, its
    result the process's exit status."""

    def entry() -> None:
        sys.exit(run_cli(main, prog))

    entry.__doc__ = f"The console entry point of {prog}: run_cli(main, {prog!r}) as the exit status."
    return entry


def run_cli(main: Callable[[], int], prog: str, argv: list[str] | None = None) -> int:
    """Run an app's ``main()``. A mistake in the input (:data:`FILE_ERRORS`, or a ``ValueError`` raised
    in this project's code) ends with one line on stderr, ``<prog>: error (<kind>): <message> [<where it
    was raised>]``, and exit status 2, unless ``--traceback`` is on the command line (``argv``,
    default ``sys.argv[1:]``), which shows the whole trace. Ctrl-C ends with one line saying how to
    resume, and exit status 130. A run that ends well gets ``training_curves.png`` in its run folder
    (:func:`plot_training_curves`, from the metrics.jsonl logs of the models it trained)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = main()
        held = held_run_folders()
        if code == 0 and held:
            try:
                plot_training_curves(held[-1])
            except Exception as e:  # a figure about a finished run never turns it into a failure
                print(f"{prog}: training_curves.png not drawn ({type(e).__name__}: {str(e)[:120]})", file=sys.stderr)
        return code
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
        message = " ".join(_CONTROL.sub("", str(e)).split())  # one plain line, whatever the message held
        print(f"{prog}: error ({type(e).__name__}): {message} [{Path(where.filename).name}:{where.lineno}; "
              "--traceback shows the trace]", file=sys.stderr)
        return 2


class AppParser(argparse.ArgumentParser):
    """An app's parser: a usage mistake ends with one line, ``<prog>: error: <message>``, and exit
    status 2 (argparse's own prints the whole usage first); the module docstring's examples are the
    epilog of ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (--help lists the options)\n")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` keeps the examples as written and states each option's default (where it has one
    and its help does not already say it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS)) \
                or action.default == []:
            return text
        return f"{text} (default: %(default)s)"


def app_parser(prog: str, doc: str) -> AppParser:
    """The parser of app ``prog`` whose module docstring is ``doc`` (first line: the description;
    the rest, kept as written: the examples)."""
    lines = doc.strip("\n").splitlines()
    return AppParser(prog=prog, description=lines[0], epilog="\n".join(lines[1:]).strip("\n") or None,
                     formatter_class=_HelpFormatter)


def default_out_dir(app: str) -> Path:
    """``runs/<app>/<YYYYmmdd-HHMMSS>``: a fresh output folder named by the local time now."""
    return Path("runs") / app / time.strftime("%Y%m%d-%H%M%S")


def _project_file(filename: str) -> bool:
    """Whether a source file belongs to this project: one of its ``ebm_*`` packages or an app."""
    parts = Path(filename).parts
    return any(p.startswith("ebm_") for p in parts) or "apps" in parts


def add_run_args(
    parser: argparse.ArgumentParser, presets: Iterable[str], default_preset: str, *,
    data_dir_help: str | None = None, device: bool = True, device_help: str | None = "cpu, cuda or mps",
    seed_help: str | None = None,
    resume_help: str = "continue from the checkpoints in --out", torchrun: bool = False,
    device_field: str = "training.device",
) -> argparse.ArgumentParser:
    """Add the shared flags to an app's parser (its ``prog`` is the app name, used in ``--out``'s help).

    ``--preset`` (choices ``presets``) and ``--config`` (both read by :func:`preset_config`), ``--out``
    (default None: see :func:`resolve_out_dir`), ``--data-dir`` (only with ``data_dir_help``),
    ``--device`` (unless ``device=False``) and ``--seed`` (default None: :func:`preset_config` fills
    them, ``auto`` and the config's seed, unless the config file sets them), ``--set``,
    ``--print-config`` (both read by :func:`finish_config`), ``--resume``, ``--quiet`` and
    ``--traceback`` (read by :func:`run_cli`). ``torchrun``: whether the app runs as the ranks of a
    torchrun job (else :func:`resolve_out_dir` refuses one). ``device_field``: the config field
    ``--device`` sets (a ``--config`` file that sets it keeps ``--device`` from defaulting to ``auto``).
    Returns the parser."""
    parser.set_defaults(torchrun=torchrun, device_field=device_field)
    presets = sorted(presets)
    if default_preset not in presets:
        raise ValueError(f"default preset {default_preset!r} is not one of {presets}")
    parser.add_argument("--preset", choices=presets, default=default_preset,
                        help="settings to run (see the package README)")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                        help="TOML file setting fields of the preset's config, its tables the config's sections "
                             "(e.g. [training] then steps = 500; --print-config shows every field); flags given on "
                             "the command line and --set override it")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output directory (default: runs/{parser.prog}/<time>)")
    if data_dir_help is not None:
        parser.add_argument("--data-dir", type=Path, default=None, help=data_dir_help)
    if device:
        parser.add_argument("--device", type=device_name, default=None,
                            help=f"{device_help}; auto: CUDA when present, else MPS, else the CPU (default: auto, "
                                 "or the device --config sets)")
    parser.add_argument("--seed", type=seed_number, default=None,
                        help=f"{seed_help or f'random seed, 0 to {MAX_SEED}'} (default: the config's seed, "
                             "0 in every preset)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                        help="set any field of the preset's config, e.g. seed=3 (repeatable; "
                             "--print-config lists every field)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config (preset, flags and --set) as JSON and exit")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in an --out that holds a run (its logs are cleared, its files replaced)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--traceback", action="store_true", help="on an error, show the whole Python traceback")
    return parser


def preset_config(parser: argparse.ArgumentParser, args: argparse.Namespace, presets: dict[str, Any]) -> Any:
    """The config the app's flags then change: the preset ``--preset`` names, with the fields of the
    ``--config`` file set (:func:`apply_config_file`; a bad file or field is a usage error). Fills the
    flags that were not given from it: ``args.seed`` becomes the config's seed, ``args.device`` (where
    the app has one) ``auto``'s device unless the file sets the field ``--device`` writes
    (``add_run_args(device_field=...)``), else None. So the order is
    preset, file, the flags given, ``--set``."""
    config = presets[args.preset]
    named: list[str] = []
    if args.config is not None:
        try:
            tables = read_config_file(args.config)
            named = [name for name, _ in config_file_fields(tables)]
            _refuse_section_seeds(parser, named, f"--config {args.config}")
            config = apply_config_file(config, args.config, tables)
        except ValueError as e:
            parser.error(str(e))
    if args.seed is None:
        args.seed = config.seed
    if hasattr(args, "device") and args.device is None:
        args.device = None if getattr(args, "device_field", "training.device") in named else device_name("auto")
    return config


def _refuse_section_seeds(parser: argparse.ArgumentParser, paths: Iterable[str], source: str) -> None:
    """A section's own ``seed`` or ``quiet`` is a usage error: the run sets them from its top-level
    ``seed`` and ``--quiet``, so the value would be silently lost."""
    for path in paths:
        if "." in path and path.rsplit(".", 1)[1] in ("seed", "quiet"):
            name = path.rsplit(".", 1)[1]
            parser.error(f"{source}: {path}: every {name} of a run comes from its top-level {name} "
                         f"(--{name}{'' if name == 'quiet' else ' N or --set seed=N'}), not from a section")


def finish_config(parser: argparse.ArgumentParser, args: argparse.Namespace, config: Any) -> Any:
    """The app's ``config`` (a nested frozen dataclass, already set from :func:`preset_config` and the
    flags) with the ``--set`` assignments applied (a refused one is a usage error); with
    ``--print-config`` it is printed whole as JSON and the app exits 0 before any work. A section's own
    ``seed`` or ``quiet`` is refused (:func:`_refuse_section_seeds`)."""
    for assignment in args.overrides:
        _refuse_section_seeds(parser, [assignment.split("=", 1)[0].strip()], f"--set {assignment}")
    try:
        config = apply_overrides(config, args.overrides)
    except ValueError as e:
        parser.error(str(e))
    if args.print_config:
        print(json.dumps(dataclasses.asdict(config), indent=2, default=str))
        parser.exit(0)
    return config


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
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not getattr(args, "torchrun", True):
        parser.error("runs in one process, not as the ranks of a torchrun job (image_generate and hand_rollout do; "
                     "this app's models are small)")
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
