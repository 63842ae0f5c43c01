"""On-disk format of generated trajectories: shard files, manifests, the split.

A data directory holds ``shard-00000.npz``, ... and ``manifest.json`` -- or, when several machines
generated parts of it, one ``manifest.part-KKK-of-NNN.json`` per machine. A shard holds arrays
``states`` (n, T+1, 61) float32, ``actions`` (n, T, 20) float32, ``trajectory_index`` (n,) int64, and
the branches of its branched trajectories (m of them, m may be 0): ``branch_index`` (m,) int64
(trajectory index), ``branch_time`` (m,) int64 (the step t they start from),
``branch_states`` (m, K, H+1, 61) and ``branch_actions`` (m, K, H, 20) float32.
This module needs only numpy (generation workers import it without torch).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

POSITION_DIM = 31  # 24 hand joint angles + cube position (3) + cube quaternion (4)
VELOCITY_DIM = 30  # 24 hand joint velocities + cube linear (3) and angular (3) velocity
STATE_DIM = POSITION_DIM + VELOCITY_DIM  # the Markov state: positions, then velocities
ACTION_DIM = 20  # one target per actuator of the Shadow hand
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "ebm-robotics-trajectories/2"
SPLITS = ("train", "validation", "test")


def shard_name(index: int) -> str:
    """File name of shard ``index``."""
    return f"shard-{index:05d}.npz"


def part_manifest_name(machine_index: int, num_machines: int) -> str:
    """Manifest file name of one machine's part (``manifest.json`` for a single machine)."""
    if num_machines == 1:
        return MANIFEST_NAME
    return f"manifest.part-{machine_index:03d}-of-{num_machines:03d}.json"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()




def split_ranges(num_train: int, num_validation: int, num_test: int) -> dict[str, range]:
    """Trajectory indices of each split, disjoint BY TRAJECTORY: test ``[0, n_test)``, validation
    next, train last. Every trajectory is an independent draw (its own seed), so contiguous ranges
    are random splits; and a larger training set leaves the test and validation sets as they are."""
    return {
        "test": range(0, num_test),
        "validation": range(num_test, num_test + num_validation),
        "train": range(num_test + num_validation, num_test + num_validation + num_train),
    }


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The dataset's manifest: ``manifest.json``, or the merge of all machines' part manifests.

    Raises ``FileNotFoundError`` if the directory or its manifest(s) are missing and
    ``ValueError`` if part manifests disagree or a part is missing.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"trajectory directory {str(directory)!r} does not exist; generate it with "
            "ebm_robotics.generate_trajectories(config, out_dir)"
        )
    single = directory / MANIFEST_NAME
    if single.is_file():
        return read_manifest_file(single)
    parts = sorted(directory.glob("manifest.part-*-of-*.json"))
    if not parts:
        raise FileNotFoundError(
            f"no {MANIFEST_NAME} (or manifest.part-*-of-*.json) in {str(directory)!r}; expected "
            "a directory written by ebm_robotics.generate_trajectories"
        )
    return merge_part_manifests([read_manifest_file(p) for p in parts], where=str(directory))


def merge_part_manifests(parts: list[dict[str, Any]], where: str = "") -> dict[str, Any]:
    """Merge the manifests of machines 0..n-1 into one (all parts must be present and agree)."""
    first = parts[0]
    n = int(first["num_machines"])
    got = sorted(int(p["machine_index"]) for p in parts)
    if got != list(range(n)):
        raise ValueError(f"{where}: expected part manifests of machines 0..{n - 1}, found {got}")
    for p in parts[1:]:
        for key in ("config", "env_id", "num_shards", "versions"):
            if p[key] != first[key]:
                raise ValueError(
                    f"{where}: part manifests disagree on {key!r}: {p[key]} vs {first[key]}"
                )
    merged = dict(first)
    merged["machine_index"], merged["num_machines"] = 0, 1
    merged["shards"] = sorted((s for p in parts for s in p["shards"]), key=lambda s: s["index"])
    merged["complete"] = all(p["complete"] for p in parts)
    return merged


def merge_manifests(directory: str | Path) -> Path:
    """Write ``manifest.json`` merged from the part manifests in ``directory``; returns its path."""
    from ebm_run import write_json_atomic  # here, not at the top: generation workers skip torch

    manifest = read_manifest(directory)
    path = Path(directory) / MANIFEST_NAME
    write_json_atomic(path, manifest)
    return path


def read_manifest_file(path: str | Path) -> dict[str, Any]:
    """Read one manifest file and check its format."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"manifest {str(path)!r} is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise ValueError(f"manifest {str(path)!r} is not a JSON object")
    if obj.get("format") != MANIFEST_FORMAT:
        raise ValueError(
            f"manifest {str(path)!r}: expected format {MANIFEST_FORMAT!r}, "
            f"got {obj.get('format')!r}"
        )
    return obj


BRANCH_KEYS = ("branch_index", "branch_time", "branch_states", "branch_actions")


def load_shard(
    path: str | Path, start: int, stop: int, horizon: int, branch: tuple[int, int] = (0, 0)
) -> dict[str, np.ndarray]:
    """Load and validate one shard holding trajectories ``start..stop-1``.

    ``branch`` = (K, H): branches per branched trajectory and their length. Returns the arrays by
    name (see the module docstring). Raises ``ValueError`` naming the file if it is unreadable,
    truncated, mis-shaped, of the wrong dtype or not finite.
    """
    path = Path(path)
    n = stop - start
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("states", "actions", "trajectory_index", *BRANCH_KEYS)}
    except FileNotFoundError:
        raise FileNotFoundError(f"shard {str(path)!r} listed in the manifest is missing") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as e:
        raise ValueError(
            f"corrupt or truncated shard {str(path)!r}: {type(e).__name__}: {e}"
        ) from e
    k, h = branch
    m = arrays["branch_index"].shape[0] if arrays["branch_index"].ndim == 1 else -1
    expected = {
        "states": ((n, horizon + 1, STATE_DIM), np.float32),
        "actions": ((n, horizon, ACTION_DIM), np.float32),
        "trajectory_index": ((n,), np.int64),
        "branch_index": ((m,), np.int64),
        "branch_time": ((m,), np.int64),
        "branch_states": ((m, k, h + 1, STATE_DIM), np.float32),
        "branch_actions": ((m, k, h, ACTION_DIM), np.float32),
    }
    for key, (shape, dtype) in expected.items():
        a = arrays[key]
        if a.shape != shape or a.dtype != dtype:
            raise ValueError(
                f"shard {str(path)!r}: expected {key} of shape {shape} and dtype "
                f"{np.dtype(dtype)}, "
                f"got {a.shape} {a.dtype}"
            )
    if not np.array_equal(arrays["trajectory_index"], np.arange(start, stop)):
        raise ValueError(f"shard {str(path)!r}: expected trajectory indices {start}..{stop - 1}")
    bi, bt = arrays["branch_index"], arrays["branch_time"]
    if ((bi < start) | (bi >= stop)).any() or ((bt < 0) | (bt > horizon - h)).any():
        raise ValueError(f"shard {str(path)!r}: branches must start inside its trajectories, at t <= T - H")
    for key in ("states", "actions", "branch_states", "branch_actions"):
        if not np.all(np.isfinite(arrays[key])):
            raise ValueError(f"shard {str(path)!r}: {key} contain NaN or inf")
    for key in ("actions", "branch_actions"):
        if np.abs(arrays[key]).max(initial=0.0) > 1.0:
            raise ValueError(f"shard {str(path)!r}: expected {key} in [-1, 1]")
    return arrays
