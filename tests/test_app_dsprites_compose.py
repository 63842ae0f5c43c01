"""End to end: `uv run apps/dsprites_compose --preset tiny` writes every output, and resumes."""

import json

import torch
from app_runner import call_app, run_app

APP = "dsprites_compose"


def test_dsprites_compose_tiny_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    assert proc.stdout.splitlines()[1] == f"{APP}: watch it with: uv run tensorboard --logdir {out}"
    assert (out / "training_curves.png").stat().st_size > 10_000  # every trained model's curves
    results = json.loads((out / "results.json").read_text())
    joint = results["joint"]["metrics"]
    methods = {"ground_truth", "sum_in_turn", "sum_gradient", "sum_gradient_equal_weights", "joint_baseline",
               "scale_only", "position_only"}
    assert methods == set(joint)
    for m in joint.values():
        assert {"position_error", "scale_error", "rotation_error_deg", "shape_accuracy", "pixel_mse",
                "satisfies_all"} <= set(m)
    assert joint["ground_truth"]["pixel_mse"] == 0.0 and joint["sum_in_turn"]["pixel_mse"] > 0
    assert set(results["cross_product"]) == {"size_position", "shape_position"}
    for exp in results["cross_product"].values():
        assert {"sum", "sum_finetuned", "joint_baseline", "ground_truth"} <= set(exp["metrics"])
        assert exp["n_evaluated"] > 0
    assert results["reduced_resolution"] is True and "16x16" in results["note"]
    for k in ("config", "seed", "wall_seconds", "versions"):
        assert k in results
    assert list(results["config"]) == ["data", "model", "sampler", "training", "evaluation", "seed"]  # the whole config
    assert results["config"]["training"]["predictor"]["steps"] == 5 and results["config"]["data"]["image_size"] == 16
    assert (out / "joint_samples.png").stat().st_size > 5_000
    import numpy as np

    with np.load(out / "samples.npz") as npz:  # every generated image as data (no pickle)
        images, labels, sets = npz["images"], npz["labels"], npz["set"]
    assert images.dtype == np.uint8 and images.shape[1:] == (1, 16, 16) and (labels == -1).all()
    assert len(images) == len(sets) == results["samples"]["n"] and "ground_truth" not in " ".join(set(sets.tolist()))
    wanted = {"joint: sum_in_turn", "size_position: sum_finetuned", "shape_position: joint_baseline"}
    assert wanted <= set(sets.tolist())
    assert results["samples"]["per_set"]["joint: sum_in_turn"] == int((sets == "joint: sum_in_turn").sum())
    assert (out / "cross_product.png").stat().st_size > 5_000
    assert (out / "checkpoints" / "joint_scale" / "checkpoint.pt").exists()
    assert (out / "checkpoints" / "cross_finetune_size_position" / "checkpoint.pt").exists()
    assert "sum_in_turn" in proc.stdout
    # every trained concept EBM is a model file that loads back whole, ready to compose
    from ebm_compose import load_concept_energy

    assert {"joint_scale", "joint_position", "joint_baseline", "cross_position_D2"} <= set(results["models"])
    for name, rel in results["models"].items():
        energy, spec = load_concept_energy(out / rel)
        if name.startswith("joint_") and name != "joint_baseline":
            assert spec.names == (name[len("joint_"):],) and spec.image_size == 16
        assert torch.isfinite(energy(torch.rand(2, 1, 16, 16), torch.rand(2, 8))).all()
        trained = torch.load(out / "checkpoints" / name / "checkpoint.pt", weights_only=True)["model"]
        saved = energy.state_dict()  # the very weights training ended with, not a fresh network
        assert trained.keys() == saved.keys() and all(torch.equal(trained[k], saved[k]) for k in trained)

    again = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["joint"]["metrics"] == joint  # finished checkpoints reused: same samples, same numbers
    assert resumed["cross_product"] == results["cross_product"]


def test_the_flags_write_into_the_config_sections():
    proc = call_app(APP, "--preset", "tiny", "--steps", "9", "--device", "cpu", "--set", "sampler.sample_steps=7",
                    "--print-config")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads(proc.stdout)
    assert config["training"]["steps"] == 9 and config["training"]["joint_steps"] == [["scale", 9]]  # every model
    assert config["training"]["device"] == "cpu" and config["sampler"] == {
        "langevin_steps": 2, "sample_steps": 7, "step_size": 500.0, "noise_std": 0.005, "grad_clip": 0.01}


def test_errors_are_clear(tmp_path):
    proc = call_app(APP, "--resume")
    assert proc.returncode != 0 and "--resume needs --out" in proc.stderr
    proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "x"), "--data-dir", str(tmp_path), "--quiet")
    assert proc.returncode != 0 and "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in proc.stderr
