"""End to end: `uv run apps/hand_rollout --preset tiny` produces every output, and resumes."""

import json

from app_runner import call_app, run_app

APP = "hand_rollout"


def test_hand_rollout_tiny_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--trajectories", "30")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    keys = {"ebm_uncond", "fc_uncond", "ebm_cond", "fc_cond"}
    assert set(results["frechet_mean"]) == keys
    assert set(results["frechet_per_step"]) == keys
    assert all(len(v) == results["horizon"] == 10 for v in results["frechet_per_step"].values())
    assert results["n_train"] == 27 and results["n_test"] == 3
    for k in ("config", "seed", "wall_seconds"):
        assert k in results
    assert (out / "fd_curve.png").stat().st_size > 10_000
    assert (out / "frames.png").exists() or "skipped" in results["frames"]
    assert (out / "checkpoints" / "ebm_uncond" / "checkpoint.pt").exists()
    assert "ebm_uncond" in proc.stdout  # the printed summary table

    # resume: the finished checkpoints are reused, so the numbers come out the same
    again = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--trajectories", "30", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["frechet_mean"] == results["frechet_mean"]


def test_resume_without_out_is_a_clear_error():
    proc = call_app(APP, "--resume")
    assert proc.returncode != 0 and "--resume needs --out" in proc.stderr


def test_data_dir_of_other_settings_is_refused_under_both_option_names(tmp_path):
    from ebm_robotics.shards import MANIFEST_FORMAT, MANIFEST_NAME

    data = tmp_path / "trajectories"
    data.mkdir()
    (data / MANIFEST_NAME).write_text(json.dumps({"format": MANIFEST_FORMAT, "config": {"seed": 99}, "complete": True}))
    for option in ("--data-dir", "--data"):  # --data: the earlier name, still accepted
        proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet", option, str(data))
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "holds trajectories generated with {'seed': 99}" in proc.stderr and "--data-dir" in proc.stderr
    manifest = str(data / MANIFEST_NAME)
    proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet", "--data-dir", manifest)
    assert proc.returncode == 2 and "is a file; give a folder (--data-dir)" in proc.stderr
