"""End to end: `uv run apps/dsprites_compose --preset tiny` writes every output, and resumes."""

import json

import numpy as np
import pytest
import torch
from app_runner import call_app, run_app
from ebm_run import seed_interval

APP = "dsprites_compose"


def test_dsprites_compose_tiny_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    assert proc.stdout.splitlines()[1] == f"{APP}: watch it with: uv run tensorboard --logdir {out}"
    assert (out / "training_curves.png").stat().st_size > 10_000  # every trained model's curves
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0, 1]  # the tiny preset's two seeds
    joint = results["joint"]["metrics"]
    assert set(joint) == {"ground_truth", "sum", "joint_baseline", "scale_only", "position_only"}  # one method a row
    for m in joint.values():
        assert {"position_error", "scale_error", "rotation_error_deg", "shape_accuracy", "pixel_mse",
                "satisfies_all", "satisfies_all_ci95", "position_error_ci95"} <= set(m)
    assert joint["ground_truth"]["pixel_mse"] == 0.0 and joint["sum"]["pixel_mse"] > 0
    per_seed = results["joint"]["per_seed"]
    assert [s["seed"] for s in per_seed] == [0, 1]
    for metric in ("satisfies_all", "pixel_mse"):  # each figure is the mean over seeds, with its t interval
        values = [s["metrics"]["sum"][metric] for s in per_seed]
        assert joint["sum"][metric] == pytest.approx(np.mean(values))
        assert joint["sum"][f"{metric}_ci95"] == pytest.approx(seed_interval(values, (0.0, 1.0 if metric ==
                                                                             "satisfies_all" else np.inf)))
    # the joint baseline trains as long as the concept models together (tiny: scale 6 + position 4)
    assert results["joint"]["concept_steps"] == {"scale": 6, "position": 4} and results["joint"]["baseline_steps"] == 10
    for s in per_seed:  # the weight is the validation's best candidate, and it is what sampled the reported row
        shares = s["validation"]["sum"]
        assert set(shares) == {"1.0", "0.25"} and s["weights"]["sum"] == [float(max(shares, key=shares.get)), 1.0]
        assert s["n_validation"] == 4 and s["n_evaluated"] == 6
    diff = results["joint"]["comparisons"]["sum - best_single"]
    expect = [m["sum"]["satisfies_all"] - max(m["scale_only"]["satisfies_all"], m["position_only"]["satisfies_all"])
              for m in (s["metrics"] for s in per_seed)]
    assert diff["per_seed"] == pytest.approx(expect) and diff["beats"] == (diff["ci95"][0] > 0)
    assert set(results["cross_product"]) == {"size_position", "shape_position"}
    for exp in results["cross_product"].values():
        assert {"sum", "sum_kl", "joint_baseline", "ground_truth"} <= set(exp["metrics"])
        assert exp["baseline_steps"] == 4 + 4 + 2 and exp["kl_finetuning_steps"] == 2  # concept models + fine-tuning
        assert {"sum - best_single", "sum - joint_baseline", "sum_kl - best_single",
                "sum_kl - joint_baseline"} == set(exp["comparisons"])
        assert exp["n_evaluated"] > 0 and exp["n_validation"] > 0
    assert results["reduced_resolution"] is True and "16x16" in results["note"]
    for k in ("config", "seed", "wall_seconds", "versions"):
        assert k in results
    assert list(results["config"]) == ["data", "model", "sampler", "training", "evaluation", "seed"]  # the whole config
    assert results["config"]["training"]["predictor"]["steps"] == 5 and results["config"]["data"]["image_size"] == 16
    assert (out / "joint_samples.png").stat().st_size > 5_000

    with np.load(out / "samples.npz") as npz:  # every generated image as data (no pickle)
        images, labels, sets = npz["images"], npz["labels"], npz["set"]
    assert images.dtype == np.uint8 and images.shape[1:] == (1, 16, 16) and (labels == -1).all()
    assert len(images) == len(sets) == results["samples"]["n"] and "ground_truth" not in " ".join(set(sets.tolist()))
    wanted = {"seed 0 joint: sum", "seed 1 size_position: sum_kl", "seed 0 shape_position: joint_baseline"}
    assert wanted <= set(sets.tolist())
    assert results["samples"]["per_set"]["seed 1 joint: sum"] == int((sets == "seed 1 joint: sum").sum()) == 6
    assert (out / "cross_product.png").stat().st_size > 5_000
    assert (out / "checkpoints" / "seed1" / "joint_scale" / "checkpoint.pt").exists()
    assert (out / "checkpoints" / "seed0" / "cross_finetune_size_position" / "checkpoint.pt").exists()
    assert "sum - best_single" in proc.stdout and "95% interval" in proc.stdout
    # every trained concept EBM is a model file that loads back whole, ready to compose
    from ebm_compose import load_concept_energy

    names = {"joint_scale", "joint_position", "joint_baseline", "cross_position_D2"}
    assert {f"seed{s}/{n}" for s in (0, 1) for n in names} <= set(results["models"])
    for key, rel in results["models"].items():
        name = key.split("/")[1]
        energy, spec = load_concept_energy(out / rel)
        if name.startswith("joint_") and name != "joint_baseline":
            assert spec.names == (name[len("joint_"):],) and spec.image_size == 16
        assert torch.isfinite(energy(torch.rand(2, 1, 16, 16), torch.rand(2, 8))).all()
        trained = torch.load(out / "checkpoints" / key / "checkpoint.pt", weights_only=True)["model"]
        saved = energy.state_dict()  # the very weights training ended with, not a fresh network
        assert trained.keys() == saved.keys() and all(torch.equal(trained[k], saved[k]) for k in trained)

    again = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["joint"]["metrics"] == joint  # finished checkpoints reused: same samples, same numbers
    assert resumed["cross_product"] == results["cross_product"]

    # the models trained side by side in 2 worker processes (one thread each): the same models, up to the
    # last bits of float sums done in another order
    side = tmp_path / "side_by_side"
    proc = run_app(APP, "--preset", "tiny", "--out", str(side), "--quiet", "--set", "training.workers=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    parallel = json.loads((side / "results.json").read_text())
    assert parallel["final_losses"].keys() == results["final_losses"].keys()
    for name, loss in results["final_losses"].items():
        assert parallel["final_losses"][name] == pytest.approx(loss, rel=1e-4, abs=1e-6), name
    assert parallel["config"]["training"]["workers"] == 2 and results["config"]["training"]["workers"] == 1


def test_the_flags_write_into_the_config_sections():
    proc = call_app(APP, "--preset", "tiny", "--steps", "9", "--device", "cpu", "--set", "sampler.sample_steps=7",
                    "--seeds", "4", "--print-config")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads(proc.stdout)
    assert config["evaluation"]["seeds"] == 4
    assert config["training"]["steps"] == 9 and config["training"]["joint_steps"] == [["scale", 9]]  # every model
    assert config["training"]["device"] == "cpu" and config["sampler"] == {
        "langevin_steps": 2, "sample_steps": 7, "step_size": 500.0, "noise_std": 0.005, "grad_clip": 0.01}


def test_errors_are_clear(tmp_path):
    proc = call_app(APP, "--resume")
    assert proc.returncode != 0 and "--resume needs --out" in proc.stderr
    proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "x"), "--data-dir", str(tmp_path), "--quiet")
    assert proc.returncode != 0 and "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in proc.stderr
