"""End to end: `uv run apps/celeba_compose --synthetic --preset tiny`, and the missing-data error."""

import json

import torch
from app_runner import call_app, run_app

APP = "celeba_compose"


def test_celeba_compose_synthetic_tiny_end_to_end(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--synthetic", "--preset", "tiny", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    results = json.loads((out / "results.json").read_text())
    assert results["synthetic"] is True and "NOT CelebA" in results["data"]
    combo = results["combinations"]["Male=1 & Smiling=1"]
    assert {"sum", "Male_only", "Smiling_only"} <= set(combo)
    assert all(0.0 <= v["all_requested"] <= 1.0 for v in combo.values())
    assert set(results["classifier_accuracy_held_out"]) == {"Male", "Smiling"}
    import numpy as np

    with np.load(out / "samples.npz") as npz:  # the generated images as data
        assert npz["images"].dtype == np.uint8 and npz["images"].shape[1] == 3
        assert "Male=1 & Smiling=1: sum" in set(npz["set"].tolist()) and (npz["labels"] == -1).all()
    assert list(results["config"]) == ["data", "model", "sampler", "training", "evaluation", "seed"]  # the whole config
    assert results["config"]["model"] == {"channels": [8]} and results["config"]["training"]["classifier_steps"] == 3
    from ebm_compose import load_concept_energy

    assert set(results["models"]) == {"Male", "Smiling"}
    for name, rel in results["models"].items():  # each attribute EBM, saved whole
        energy, spec = load_concept_energy(out / rel)
        assert spec.names == (name,) and spec.columns == (results["attributes"].index(name),)
        trained = torch.load(out / "checkpoints" / f"attr_{name}" / "checkpoint.pt", weights_only=True)["model"]
        assert all(torch.equal(trained[k], v) for k, v in energy.state_dict().items())  # the trained weights
    assert (out / "combinations.png").stat().st_size > 2_000
    assert (out / "checkpoints" / "attr_Male" / "checkpoint.pt").exists()
    assert "Male=1 & Smiling=1" in proc.stdout

    # --resume reuses the attribute classifier made with these settings and gives the same scores
    clf = out / "checkpoints" / "attribute_classifier.pt"
    made = clf.stat().st_mtime_ns
    same = call_app(APP, "--synthetic", "--preset", "tiny", "--out", str(out), "--quiet", "--resume")
    assert same.returncode == 0, same.stderr[-2000:]
    assert clf.stat().st_mtime_ns == made
    assert json.loads((out / "results.json").read_text())["combinations"] == results["combinations"]
    # ...but not under other training chains (the run folder records the settings in the config's shape)
    other = call_app(APP, "--synthetic", "--preset", "tiny", "--out", str(out), "--quiet", "--resume",
                     "--set", "sampler.langevin_steps=3")
    assert other.returncode != 0 and "sampler.langevin_steps: 2 -> 3" in other.stderr


def test_the_flags_write_into_the_config_sections():
    proc = call_app(APP, "--synthetic", "--preset", "tiny", "--steps", "9", "--device", "cpu",
                    "--set", "evaluation.eval_samples=5", "--print-config")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads(proc.stdout)
    assert config["training"]["steps"] == 9 and config["training"]["device"] == "cpu"
    assert config["evaluation"] == {"combinations": [[["Male", 1], ["Smiling", 1]]], "eval_samples": 5}


def test_missing_celeba_files_are_a_clear_error(tmp_path):
    proc = call_app(APP, "--data-dir", str(tmp_path), "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2  # one line, in the format of every app's input errors
    assert proc.stderr.startswith("celeba_compose: error (FileNotFoundError)")
    assert "list_attr_celeba.txt" in proc.stderr and "--data-dir" in proc.stderr
    proc = call_app(APP, "--preset", "tiny")
    assert proc.returncode != 0 and "--synthetic" in proc.stderr
    proc = call_app(APP, "--preset", "tiny", "--synthetic", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "not both" in proc.stderr  # --data-dir would be ignored
