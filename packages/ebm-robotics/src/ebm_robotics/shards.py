"""On-disk format of generated trajectories: shard files, manifests, the split.

A data directory holds ``shard-00000.npz``, ... (arrays ``states`` (n, T+1, 31) float32,
``actions`` (n, T, 20) float32, ``trajectory_index`` (n,) int64) and ``manifest.json`` -- or,
when several machines generated parts of it, one ``manifest.part-KKK-of-NNN.json`` per machine.
This module needs only numpy (generation workers import it without torch).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

STATE_DIM = 31  # state: 24 hand joint angles + cube position (3) + cube quaternion (4)
ACTION_DIM = 20  # one target per actuator of the Shadow hand
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "ebm-robotics-trajectories/1"


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




def split_trajectories(
    num_trajectories: int, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split BY TRAJECTORY: sorted (train_indices, test_indices).

    ``round(test_fraction * N)`` trajectories, chosen by a permutation drawn from
    ``SeedSequence(seed, spawn_key=(1,))`` (trajectory ``i`` itself uses spawn key ``(0, i)``),
    form the test set; the split depends only on (N, test_fraction, seed).
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"expected 0 <= test_fraction < 1, got {test_fraction}")
    n_test = int(round(test_fraction * num_trajectories))
    if num_trajectories - n_test < 1:
        raise ValueError(
            f"no training trajectories left: N={num_trajectories}, test_fraction={test_fraction}"
        )
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    perm = rng.permutation(num_trajectories)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


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
    from ebm_core import write_json_atomic  # here, not at the top: generation workers skip torch

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
    if obj.get("format") != MANIFEST_FORMAT:
        raise ValueError(
            f"manifest {str(path)!r}: expected format {MANIFEST_FORMAT!r}, "
            f"got {obj.get('format')!r}"
        )
    return obj


def load_shard(
    path: str | Path, start: int, stop: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Load and validate one shard holding trajectories ``start..stop-1``.

    Returns (states (n, T+1, 31) float32, actions (n, T, 20) float32). Raises ``ValueError``
    naming the file if it is unreadable, truncated, mis-shaped, of the wrong dtype or not finite.
    """
    path = Path(path)
    n = stop - start
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("states", "actions", "trajectory_index")}
    except FileNotFoundError:
        raise FileNotFoundError(f"shard {str(path)!r} listed in the manifest is missing") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as e:
        raise ValueError(
            f"corrupt or truncated shard {str(path)!r}: {type(e).__name__}: {e}"
        ) from e
    expected = {
        "states": ((n, horizon + 1, STATE_DIM), np.float32),
        "actions": ((n, horizon, ACTION_DIM), np.float32),
        "trajectory_index": ((n,), np.int64),
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
    for key in ("states", "actions"):
        if not np.all(np.isfinite(arrays[key])):
            raise ValueError(f"shard {str(path)!r}: {key} contain NaN or inf")
    if np.abs(arrays["actions"]).max(initial=0.0) > 1.0:
        raise ValueError(f"shard {str(path)!r}: expected actions in [-1, 1]")
    return arrays["states"], arrays["actions"]
