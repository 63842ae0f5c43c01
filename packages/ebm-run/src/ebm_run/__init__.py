"""ebm-run: what every app of this repository needs and no algorithm does.

The command-line conventions (:mod:`.cli`, :mod:`.flags`, :mod:`.overrides`), run folders that own
their runs and the files written into them (:mod:`.records`), the interval of a figure over seeds
(:mod:`.stats`), and the finding of the MNIST files the
CPU demos use (:mod:`.mnist_files`). The algorithms live in ebm-core; the experiments in the domain
packages, which call these helpers at their boundary.

Public names are imported lazily (on first attribute access), so that a worker process importing
:mod:`.workers` alone does not pay for torch.
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports below re-export names that __all__ lists dynamically)
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "cli": ("AppParser", "add_run_args", "app_parser", "console_entry", "default_out_dir", "finish_config",
            "preset_config", "resolve_out_dir", "run_cli", "run_files"),
    "curves": ("plot_training_curves",),
    "flags": ("MAX_CHAIN_STEPS", "MAX_COUNT", "MAX_SEED", "MAX_TRAINING_STEPS", "chain_steps", "check_memory",
              "device_name", "nonnegative_float", "nonnegative_int", "positive_float", "positive_int", "seed_number",
              "training_steps"),
    "mnist_files": ("MNIST_FILES", "find_mnist_files", "read_idx", "read_mnist_idx", "shared_fashion_mnist_dir",
                    "shared_idx_dir", "shared_mnist_dir"),
    "overrides": ("apply_config_file", "apply_overrides", "read_config_file", "replace_given"),
    "records": ("RUN_RECORD", "held_run_folders", "lock_run_folder", "package_versions", "read_run_record",
                "recorded_app", "recorded_config", "save_figure", "save_samples", "settings_changes",
                "stale_temporaries", "start_run_folder", "write_json_atomic"),
    "stats": ("seed_interval",),
    "workers": ("die_with_parent", "process_pool", "run_in_processes"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:  # what type checkers and editors see: the same names as _EXPORTS (tested), never run
    from .cli import (
        AppParser,
        add_run_args,
        app_parser,
        console_entry,
        default_out_dir,
        finish_config,
        preset_config,
        resolve_out_dir,
        run_cli,
        run_files,
    )
    from .curves import plot_training_curves
    from .flags import (
        MAX_CHAIN_STEPS,
        MAX_COUNT,
        MAX_SEED,
        MAX_TRAINING_STEPS,
        chain_steps,
        check_memory,
        device_name,
        nonnegative_float,
        nonnegative_int,
        positive_float,
        positive_int,
        seed_number,
        training_steps,
    )
    from .mnist_files import (
        MNIST_FILES,
        find_mnist_files,
        read_idx,
        read_mnist_idx,
        shared_fashion_mnist_dir,
        shared_idx_dir,
        shared_mnist_dir,
    )
    from .overrides import apply_config_file, apply_overrides, read_config_file, replace_given
    from .records import (
        RUN_RECORD,
        held_run_folders,
        lock_run_folder,
        package_versions,
        read_run_record,
        recorded_app,
        recorded_config,
        save_figure,
        save_samples,
        settings_changes,
        stale_temporaries,
        start_run_folder,
        write_json_atomic,
    )
    from .stats import seed_interval
    from .workers import die_with_parent, process_pool, run_in_processes

__all__ = sorted(_WHERE)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'ebm_run' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
