"""Sharded generation: determinism, resume, corruption detection, split, loader helpers."""

import dataclasses
import json
import os
import shutil
import stat

import numpy as np
import pytest
from ebm_robotics import generate as gen
from ebm_robotics.dataset import load_trajectories, make_transitions
from ebm_robotics.generate import GenerationConfig, generate_trajectories
from ebm_robotics.shards import merge_manifests, split_trajectories

CONFIG = GenerationConfig(num_trajectories=10, horizon=6, seed=7, shard_size=3, test_fraction=0.2)


def all_states(data):
    order = np.argsort(np.concatenate([data.train_indices, data.test_indices]))
    states = np.concatenate([data.states_train, data.states_test])[order]
    actions = np.concatenate([data.actions_train, data.actions_test])[order]
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
    assert data.states_train.shape == (8, 7, 31) and data.actions_train.shape == (8, 6, 20)
    assert data.states_test.shape == (2, 7, 31) and data.states_train.dtype == np.float32
    assert not list(out.glob(".*"))  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    for f in ("shard-00000.npz", "manifest.json"):  # as readable as any file this user makes, not owner-only
        assert stat.S_IMODE((out / f).stat().st_mode) == 0o666 & ~umask, f
    states, actions = all_states(data)
    assert len({s.tobytes() for s in states[:, 0]}) == 10  # each trajectory starts differently
    # Every 4th action (t = 3) is uniform in [-1, 1]; the gait between is a slow sinusoid (at most
    # 0.1 cycle per step), so the jump into step 3 is much larger than the gait's own steps.
    jump_to_random = np.abs(actions[:, 3] - actions[:, 2]).mean()
    gait_steps = np.abs(np.diff(actions[:, :3], axis=1)).mean()
    assert jump_to_random > 2 * gait_steps, (jump_to_random, gait_steps)
    assert np.abs(actions[:, 5] - actions[:, 4]).mean() < 0.5 * jump_to_random


def test_split_is_by_trajectory_and_deterministic(reference):
    _, _, data = reference
    train, test = split_trajectories(10, 0.2, seed=7)
    np.testing.assert_array_equal(data.train_indices, train)
    np.testing.assert_array_equal(data.test_indices, test)
    assert len(test) == 2 and not set(train) & set(test) and len(train) + len(test) == 10
    train2, test2 = split_trajectories(10, 0.2, seed=7)
    np.testing.assert_array_equal(test, test2)
    other = [tuple(split_trajectories(100, 0.1, seed=s)[1]) for s in range(3)]
    assert len(set(other)) == 3
    with pytest.raises(ValueError, match="test_fraction"):
        split_trajectories(10, 1.0, seed=0)


def test_same_data_regardless_of_workers_and_sharding(reference, tmp_path):
    _, _, data = reference
    cfg = GenerationConfig(
        num_trajectories=10, horizon=6, seed=7, shard_size=4, test_fraction=0.2, workers=2
    )
    generate_trajectories(cfg, tmp_path, quiet=True)
    other = load_trajectories(tmp_path)
    np.testing.assert_array_equal(other.states_train, data.states_train)
    np.testing.assert_array_equal(other.actions_test, data.actions_test)
    different = GenerationConfig(num_trajectories=10, horizon=6, seed=8, shard_size=3)
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
    np.testing.assert_array_equal(resumed.states_train, data.states_train)
    np.testing.assert_array_equal(resumed.actions_train, data.actions_train)


def test_resume_rejects_other_config(reference, tmp_path):
    out, _, _ = reference
    shutil.copytree(out, tmp_path / "d")
    with pytest.raises(ValueError, match="different config"):
        generate_trajectories(
            GenerationConfig(num_trajectories=10, horizon=6, seed=8, shard_size=3),
            tmp_path / "d",
            quiet=True,
        )


@pytest.mark.parametrize("damage", ["truncate", "nan", "garbage"])
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
        with np.load(bad) as z:
            arrays = dict(z)
        arrays["states"][1, 2, 5] = np.nan
        np.savez(bad, **arrays)
    for verify in (True, False):
        with pytest.raises(ValueError, match="shard-00002.npz"):
            load_trajectories(d, verify_checksums=verify)


def test_bad_policy_spec_fails_before_writing(tmp_path):
    cfg = GenerationConfig(num_trajectories=2, horizon=2, policy="no_such_policy", workers=2)
    with pytest.raises(ValueError, match="policy spec"):
        generate_trajectories(cfg, tmp_path / "d", quiet=True)
    assert not (tmp_path / "d").exists()
    with pytest.raises(ValueError, match="num_trajectories"):
        GenerationConfig(num_trajectories=0)


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
    np.testing.assert_array_equal(load_trajectories(tmp_path).states_test, data.states_test)
    merge_manifests(tmp_path)
    np.testing.assert_array_equal(load_trajectories(tmp_path).states_train, data.states_train)


def test_transitions_and_normalizer(reference):
    _, _, data = reference
    tr = make_transitions(data.states_train, data.actions_train)
    assert len(tr) == 8 * 6
    np.testing.assert_array_equal(tr.states[7], data.states_train[1, 1])
    np.testing.assert_array_equal(tr.next_states[7], data.states_train[1, 2])
    np.testing.assert_array_equal(tr.actions[7], data.actions_train[1, 1])
    with pytest.raises(ValueError, match="expected states"):
        make_transitions(data.states_train[:, :-1], data.actions_train)


def test_experiment_finishes_an_interrupted_generation_and_refuses_other_settings(tmp_path, monkeypatch):
    """`hand_rollout --data DIR`: a crash mid-generation is finished on the next run (not loaded as
    incomplete forever), and data of another seed is an error, never reused."""
    from ebm_robotics.experiment import PRESETS, prepare_data

    config = PRESETS["tiny"]  # 20 trajectories in 2 shards of 10
    real = crash_at_shard(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        prepare_data(config, tmp_path / "data", quiet=True)
    monkeypatch.setattr(gen, "generate_shard", real)
    finished = prepare_data(config, tmp_path / "data", quiet=True)
    straight = prepare_data(config, tmp_path / "straight", quiet=True)
    for a, b in zip(all_states(finished), all_states(straight)):
        np.testing.assert_array_equal(a, b)
    assert len(finished.states_train) + len(finished.states_test) == 20

    with pytest.raises(ValueError, match="holds trajectories generated with"):
        prepare_data(dataclasses.replace(config, seed=1), tmp_path / "data", quiet=True)


def test_experiment_refuses_unfinished_parts_of_a_multi_machine_generation(tmp_path, monkeypatch):
    from ebm_robotics.experiment import PRESETS, prepare_data

    config = PRESETS["tiny"]  # 2 shards: machine 0 makes shard 0, machine 1 shard 1
    gen_config = GenerationConfig(num_trajectories=20, horizon=10, seed=0, policy=config.policy, shard_size=10)
    generate_trajectories(gen_config, tmp_path, machine_index=0, num_machines=2, quiet=True)
    real = crash_at_shard(monkeypatch, None)
    with pytest.raises(KeyboardInterrupt):
        generate_trajectories(gen_config, tmp_path, machine_index=1, num_machines=2, quiet=True)
    monkeypatch.setattr(gen, "generate_shard", real)
    with pytest.raises(ValueError, match="not all finished"):
        prepare_data(config, tmp_path, quiet=True)
    assert not (tmp_path / "manifest.json").exists()  # nothing regenerated as one machine
    generate_trajectories(gen_config, tmp_path, machine_index=1, num_machines=2, quiet=True)
    assert len(prepare_data(config, tmp_path, quiet=True).states_train) == 18
