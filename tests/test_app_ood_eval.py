"""End to end: `uv run apps/ood_eval --preset tiny` trains, scores, writes results; --checkpoint reuses a model."""

import json

from app_runner import call_app, run_app

APP = "ood_eval"


def test_ood_eval_tiny_end_to_end_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    r = json.loads((out / "results.json").read_text())
    # Fashion-MNIST's test images, shipped beside the checkout, join the synthetic sets by default
    assert set(r["auroc"]) == {"constant", "uniform", "interpolation", "fashion_mnist"}
    assert r["real_sets"] == ["fashion_mnist"] and r["num_ood_per_set"]["fashion_mnist"] == 100
    assert all(0.0 <= v <= 1.0 for v in r["auroc"].values())
    # scores are -E: uniform noise gets a far higher energy than digits even after 6 steps (1.0 here);
    # a flipped sign would put it near 0
    assert r["auroc"]["uniform"] > 0.9
    assert abs(r["mean_auroc"] - sum(r["auroc"].values()) / 4) < 1e-9
    assert r["num_in_distribution"] == 200
    assert r["training"]["steps"] == 6 and "wall_seconds" in r and "config" in r
    assert (out / "relative_energy_histograms.png").stat().st_size > 10_000
    model = out / "model" / "model.pt"
    assert model.exists() and "mean" in proc.stdout

    # the trained model file evaluates to the same numbers (same held-out split, no sampling)
    again = run_app(APP, "--checkpoint", str(model), "--preset", "tiny", "--out", str(tmp_path / "ckpt"), "--quiet")
    assert again.returncode == 0, again.stderr[-3000:]
    r2 = json.loads((tmp_path / "ckpt" / "results.json").read_text())
    assert r2["auroc"] == r["auroc"] and r2["checkpoint"] == str(model) and "training" not in r2


def test_missing_ood_set_is_a_clear_error(tmp_path):
    proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "x"), "--quiet", "--steps", "1",
                   "--ood-sets", "fashion_mnist", "--ood-data-dir", str(tmp_path / "nowhere"))
    assert proc.returncode != 0 and "FileNotFoundError" in proc.stderr and "--data-dir" in proc.stderr
