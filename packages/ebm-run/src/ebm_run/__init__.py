"""ebm-run: what every app of this repository needs and no algorithm does.

The command-line conventions (:mod:`.cli`, :mod:`.flags`, :mod:`.overrides`), run folders that own
their runs and the files written into them (:mod:`.records`), and the finding of the MNIST files the
CPU demos use (:mod:`.mnist_files`). The algorithms live in ebm-core; the experiments in the domain
packages, which call these helpers at their boundary.
"""

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

__all__ = [
    "plot_training_curves",
    "AppParser", "app_parser", "add_run_args", "default_out_dir", "finish_config", "resolve_out_dir", "run_cli",
    "console_entry",
    "run_files",
    "MAX_CHAIN_STEPS", "MAX_COUNT", "MAX_SEED", "MAX_TRAINING_STEPS", "chain_steps", "check_memory", "device_name",
    "nonnegative_float", "nonnegative_int", "positive_float", "positive_int", "seed_number", "training_steps",
    "apply_overrides", "apply_config_file", "read_config_file", "preset_config",
    "replace_given",
    "RUN_RECORD", "held_run_folders", "lock_run_folder", "package_versions", "read_run_record",
    "recorded_app", "save_figure", "settings_changes", "stale_temporaries", "start_run_folder", "write_json_atomic",
    "recorded_config", "save_samples",
    "MNIST_FILES", "find_mnist_files", "read_idx", "read_mnist_idx", "shared_mnist_dir", "shared_fashion_mnist_dir",
    "shared_idx_dir",
]
__version__ = "0.1.0"
