"""End to end: `uv run apps/robustness --preset tiny` trains the EBM and the baseline, attacks, resumes."""

import json

from app_runner import call_app, run_app

APP = "robustness"


def test_robustness_tiny_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    r = json.loads((out / "results.json").read_text())
    assert set(r["accuracy"]) == {"ebm", "ebm_bpda", "classifier"}
    assert r["eps"] == {"linf": [0.0, 0.3], "l2": [0.0, 3.0]}
    for curves in r["accuracy"].values():
        assert all(0.0 <= a <= 1.0 for a in curves["linf"] + curves["l2"]) and len(curves["linf"]) == 2
    # the baseline learned something (150 steps: 5 of these 8 digits; chance is 1 in 10), the attack at
    # eps 0 is the clean prediction (computed separately), and PGD at L-inf 0.3 / L2 3.0 takes accuracy away
    clf = r["accuracy"]["classifier"]
    assert clf["linf"][0] == clf["l2"][0] == r["clean_accuracy"]["classifier"] >= 0.375
    assert clf["linf"][1] < clf["linf"][0] and clf["l2"][1] < clf["l2"][0]
    assert r["attack"]["pgd_steps"] == 3 and r["num_images"] == 8 and "wall_seconds" in r
    assert (out / "robustness.png").stat().st_size > 10_000
    assert (out / "model" / "model.pt").exists() and (out / "classifier" / "model.pt").exists()
    assert "ebm_bpda" in proc.stdout

    # resume reuses both trained models; with the same seed the attacks give the same numbers
    clf_file = out / "classifier" / "model.pt"
    trained = clf_file.stat().st_mtime_ns
    again = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["accuracy"] == r["accuracy"]
    assert clf_file.stat().st_mtime_ns == trained
    # ... but not a classifier trained with other settings: it is trained again
    more = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--resume", "--classifier-steps", "7")
    assert more.returncode == 0, more.stderr[-3000:]
    assert clf_file.stat().st_mtime_ns != trained
    # the baseline's own model file is not an EBM to attack
    wrong = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "x"), "--checkpoint", str(clf_file))
    assert wrong.returncode == 2 and "is the cross-entropy baseline" in wrong.stderr


def test_unconditional_checkpoint_is_rejected(tmp_path):
    from ebm_vision import ImageEnergyConfig, build_energy, save_image_energy

    cfg = ImageEnergyConfig("mnist", 0, 1, 28, mnist_channels=(8, 8, 8, 8), mnist_hidden=8)
    path = save_image_energy(build_energy(cfg), cfg, tmp_path / "uncond.pt")
    proc = call_app(APP, "--preset", "tiny", "--checkpoint", str(path), "--out", str(tmp_path / "x"), "--quiet")
    assert proc.returncode != 0 and "class-conditional" in proc.stderr
