"""Sharded generation: determinism, resume, corruption detection, split, loader helpers."""

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
from ebm_robotics import generate as gen
from ebm_robotics.dataset import load_trajectories, make_transitions
from ebm_robotics.generate import GenerationConfig, generate_trajectories
from ebm_robotics.shards import merge_manifests, split_ranges

CONFIG = GenerationConfig(num_train=6, num_validation=2, num_test=2, horizon=6, seed=7, shard_size=3,
                          branch_starts=1, branch_samples=3, branch_horizon=4)


def all_states(data):
    splits = (data.train, data.validation, data.test)
    order = np.argsort(np.concatenate([s.indices for s in splits]))
    states = np.concatenate([s.states for s in splits])[order]
    actions = np.concatenate([s.actions for s in splits])[order]
    return states, actions


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    manifest = generate_trajectories(CONFIG, out, quiet=True)
    return out, manifest, load_trajectories(out)


def test_manifest_and_shapes(reference):
    out, manifest, data = reference
    assert manifest["complete"] and manifest["num_shards"] == 4
    assert [s["file"] for s in manifest["shards"]] == [f"shard-{i:05d}.npz" for i in range(4)]
    assert [(s["start"], s["stop"]) for s in manifest["shards"]] == [
        (0, 3),
        (3, 6),
        (6, 9),
        (9, 10),
    ]
    assert set(manifest["versions"]) == {"mujoco", "gymnasium", "gymnasium-robotics", "numpy"}
    assert manifest["env_id"] == "HandManipulateBlock-v1" and manifest["config"]["seed"] == 7
    assert data.train.states.shape == (6, 7, 61) and data.train.actions.shape == (6, 6, 20)
    assert data.test.states.shape == (2, 7, 61) and data.train.states.dtype == np.float32
    assert manifest["splits"] == {"test": [0, 2], "validation": [2, 4], "train": [4, 10]}
    assert not list(out.glob(".*"))  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    for f in ("shard-00000.npz", "manifest.json"):  # as readable as any file this user makes, not owner-only
        assert stat.S_IMODE((out / f).stat().st_mode) == 0o666 & ~umask, f
    states, _ = all_states(data)
    assert len({s.tobytes() for s in states[:, 0]}) == 10  # each trajectory starts differently


def test_splits_are_disjoint_by_trajectory_and_branches_start_on_their_trajectory(reference):
    _, _, data = reference
    splits = {name: data.split(name) for name in ("train", "validation", "test")}
    indices = [set(s.indices.tolist()) for s in splits.values()]
    assert sum(map(len, indices)) == 10 and set().union(*indices) == set(range(10))  # no index in two splits
    starts = [{s.tobytes() for s in sp.states[:, 0]} for sp in splits.values()]
    assert not (starts[0] & starts[1] or starts[0] & starts[2] or starts[1] & starts[2])  # nor any trajectory
    assert split_ranges(6, 2, 2) == {"test": range(0, 2), "validation": range(2, 4), "train": range(4, 10)}
    assert split_ranges(60, 2, 2)["test"] == range(0, 2)  # more training data leave test and validation alone
    assert len(data.train.branches) == 0
    for name in ("validation", "test"):
        sp = splits[name]
        b = sp.branches
        assert len(b) == 1 and b.states.shape == (1, 3, 5, 61) and b.actions.shape == (1, 3, 4, 20)
        row = list(sp.indices).index(b.trajectory_index[0])  # the first trajectory of the split
        assert row == 0 and 0 <= b.time[0] <= 6 - 4
        np.testing.assert_array_equal(b.states[0, :, 0], np.broadcast_to(sp.states[row, b.time[0]], (3, 61)))
        assert len({f.tobytes() for f in b.states[0, :, -1]}) == 3  # three different futures
    with pytest.raises(ValueError, match="unknown split"):
        data.split("dev")


def test_same_data_regardless_of_workers_and_sharding(reference, tmp_path):
    _, _, data = reference
    cfg = dataclasses.replace(CONFIG, shard_size=4, workers=2)
    generate_trajectories(cfg, tmp_path, quiet=True)
    other = load_trajectories(tmp_path)
    np.testing.assert_array_equal(other.train.states, data.train.states)
    np.testing.assert_array_equal(other.test.actions, data.test.actions)
    np.testing.assert_array_equal(other.test.branches.states, data.test.branches.states)
    different = dataclasses.replace(CONFIG, seed=8)
    generate_trajectories(different, tmp_path / "seed8", quiet=True)
    assert not np.array_equal(
        all_states(load_trajectories(tmp_path / "seed8"))[0], all_states(data)[0]
    )


def crash_at_shard(monkeypatch, crash_index: int | None):
    """Make shard ``crash_index`` (None: every shard) raise as a killed run would; returns the real generator."""
    real = gen.generate_shard

    def crashing(config, index, out_dir):
        if crash_index is None or index == crash_index:
            raise KeyboardInterrupt("simulated crash")
        return real(config, index, out_dir)

    monkeypatch.setattr(gen, "generate_shard", crashing)
    return real


def test_resume_after_crash(reference, tmp_path, monkeypatch):
    _, _, data = reference
    real = crash_at_shard(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        generate_trajectories(CONFIG, tmp_path, quiet=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [s["index"] for s in manifest["shards"]] == [0, 1] and not manifest["complete"]
    with pytest.raises(ValueError, match="incomplete"):
        load_trajectories(tmp_path)
    kept = (tmp_path / "shard-00000.npz").stat().st_mtime_ns
    (tmp_path / ".shard-00002.npz.abc.tmp").write_bytes(b"half-written by a killed run")

    calls = []
    monkeypatch.setattr(gen, "generate_shard", lambda c, i, o: calls.append(i) or real(c, i, o))
    # Also damage shard 1 (truncated): it must be regenerated, shard 0 kept.
    raw = (tmp_path / "shard-00001.npz").read_bytes()
    (tmp_path / "shard-00001.npz").write_bytes(raw[: len(raw) // 2])
    manifest = generate_trajectories(CONFIG, tmp_path, quiet=True)
    assert manifest["complete"] and sorted(calls) == [1, 2, 3]
    assert (tmp_path / "shard-00000.npz").stat().st_mtime_ns == kept
    assert not list(tmp_path.glob(".*.tmp"))
    resumed = load_trajectories(tmp_path)
    np.testing.assert_array_equal(resumed.train.states, data.train.states)
    np.testing.assert_array_equal(resumed.train.actions, data.train.actions)
    np.testing.assert_array_equal(resumed.validation.branches.states, data.validation.branches.states)


def test_resume_rejects_other_config(reference, tmp_path):
    out, _, _ = reference
    shutil.copytree(out, tmp_path / "d")
    with pytest.raises(ValueError, match="different config"):
        generate_trajectories(dataclasses.replace(CONFIG, seed=8), tmp_path / "d", quiet=True)


@pytest.mark.parametrize("damage", ["truncate", "nan", "garbage", "branch_nan", "branch_shape"])
def test_corrupt_shard_is_named(reference, tmp_path, damage):
    out, _, _ = reference
    d = tmp_path / "d"
    shutil.copytree(out, d)
    bad = d / "shard-00002.npz"
    if damage == "truncate":
        bad.write_bytes(bad.read_bytes()[:1000])
    elif damage == "garbage":
        bad.write_bytes(b"not a zip file at all")
    else:
        bad = d / "shard-00000.npz" if damage.startswith("branch") else bad  # shard 0 holds the test branch
        with np.load(bad) as z:
            arrays = dict(z)
        if damage == "nan":
            arrays["states"][1, 2, 5] = np.nan
        elif damage == "branch_nan":
            arrays["branch_states"][0, 1, 2, 5] = np.nan
        else:
            arrays["branch_actions"] = arrays["branch_actions"][:, :2]
        np.savez(bad, **arrays)
    for verify in (True, False):
        with pytest.raises(ValueError, match=bad.name):
            load_trajectories(d, verify_checksums=verify)


def test_bad_policy_spec_fails_before_writing(tmp_path):
    cfg = GenerationConfig(num_train=2, horizon=2, policy="no_such_policy", workers=2)
    with pytest.raises(ValueError, match="policy spec"):
        generate_trajectories(cfg, tmp_path / "d", quiet=True)
    assert not (tmp_path / "d").exists()
    with pytest.raises(ValueError, match="num_train"):
        GenerationConfig(num_train=0)
    with pytest.raises(ValueError, match="branch_horizon"):
        GenerationConfig(num_train=2, horizon=5, branch_starts=1, branch_horizon=6)
    with pytest.raises(ValueError, match="seed must be below 2"):
        GenerationConfig(num_train=2, seed=2**32)


def test_missing_directory_and_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trajectories(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="manifest"):
        load_trajectories(tmp_path)


def test_machines_split_the_shards(reference, tmp_path):
    _, _, data = reference
    for k in range(2):
        m = generate_trajectories(CONFIG, tmp_path, machine_index=k, num_machines=2, quiet=True)
        assert [s["index"] for s in m["shards"]] == list(range(k, 4, 2)) and m["complete"]
    assert (tmp_path / "manifest.part-001-of-002.json").is_file()
    np.testing.assert_array_equal(load_trajectories(tmp_path).test.states, data.test.states)
    merge_manifests(tmp_path)
    np.testing.assert_array_equal(load_trajectories(tmp_path).train.states, data.train.states)


def test_transitions_and_normalizer(reference):
    _, _, data = reference
    tr = make_transitions(data.train.states, data.train.actions)
    assert len(tr) == 6 * 6
    np.testing.assert_array_equal(tr.states[7], data.train.states[1, 1])
    np.testing.assert_array_equal(tr.next_states[7], data.train.states[1, 2])
    np.testing.assert_array_equal(tr.actions[7], data.train.actions[1, 1])
    with pytest.raises(ValueError, match="expected states"):
        make_transitions(data.train.states[:, :-1], data.train.actions)


def test_experiment_finishes_an_interrupted_generation_and_refuses_other_settings(tmp_path, monkeypatch):
    """`hand_rollout --data DIR`: a crash mid-generation is finished on the next run (not loaded as
    incomplete forever), and data of another seed is an error, never reused."""
    from ebm_robotics.experiment import PRESETS, prepare_data

    config = PRESETS["tiny"]  # 32 trajectories in 4 shards of 10
    real = crash_at_shard(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        prepare_data(config, tmp_path / "data", quiet=True)
    monkeypatch.setattr(gen, "generate_shard", real)
    finished = prepare_data(config, tmp_path / "data", quiet=True)
    straight = prepare_data(config, tmp_path / "straight", quiet=True)
    for a, b in zip(all_states(finished), all_states(straight)):
        np.testing.assert_array_equal(a, b)
    assert len(finished.train) + len(finished.validation) + len(finished.test) == 32

    with pytest.raises(ValueError, match="holds trajectories generated with"):
        prepare_data(dataclasses.replace(config, seed=1), tmp_path / "data", quiet=True)


def test_experiment_refuses_unfinished_parts_of_a_multi_machine_generation(tmp_path, monkeypatch):
    from ebm_robotics.experiment import PRESETS, prepare_data

    config = PRESETS["tiny"]  # 4 shards: machine 0 makes shards 0 and 2, machine 1 shards 1 and 3
    gen_config = config.data_config()
    generate_trajectories(gen_config, tmp_path, machine_index=0, num_machines=2, quiet=True)
    real = crash_at_shard(monkeypatch, None)
    with pytest.raises(KeyboardInterrupt):
        generate_trajectories(gen_config, tmp_path, machine_index=1, num_machines=2, quiet=True)
    monkeypatch.setattr(gen, "generate_shard", real)
    with pytest.raises(ValueError, match="not all finished"):
        prepare_data(config, tmp_path, quiet=True)
    assert not (tmp_path / "manifest.json").exists()  # nothing regenerated as one machine
    generate_trajectories(gen_config, tmp_path, machine_index=1, num_machines=2, quiet=True)
    assert len(prepare_data(config, tmp_path, quiet=True).train) == 20


def test_generation_workers_do_not_load_torch():
    """A worker imports only ebm_robotics.generate: torch (through ebm-core) would cost each one
    seconds and hundreds of MB."""
    probe = "import sys, ebm_robotics.generate; raise SystemExit(3 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", probe], timeout=120).returncode == 0
