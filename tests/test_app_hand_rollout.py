"""End to end: `uv run apps/hand_rollout --preset tiny` produces every output, and resumes."""

import json
import subprocess
import sys

import pytest
from app_runner import ROOT, call_app, run_app

APP = "hand_rollout"


MODELS = {f"{family}_{kind}" for kind in ("uncond", "cond") for family in ("ebm", "fc", "fc_paper", "gaussian")}


def _can_render() -> bool:
    """Probed in a child process: a test process that opened Mesa's EGL cannot import triton after it
    (their LLVMs clash), which torch does on first use of an optimizer."""
    probe = ("from ebm_robotics.render import CameraConfig, HandRenderer, RenderingUnavailableError\n"
             "try:\n    HandRenderer(CameraConfig(width=16, height=16)).close()\n"
             "except RenderingUnavailableError:\n    raise SystemExit(3)\n")
    code = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120).returncode
    assert code in (0, 3), f"the rendering probe crashed (exit {code})"
    return code == 0


def test_hand_rollout_tiny_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--train", "24")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    assert proc.stdout.splitlines()[1] == f"{APP}: watch it with: uv run tensorboard --logdir {out}"
    assert (out / "training_curves.png").stat().st_size > 10_000  # every trained model's curves
    results = json.loads((out / "results.json").read_text())
    assert results["eval_split"] == "test" and results["config"]["evaluation"]["split"] == "test"
    assert list(results["config"]) == ["data", "model", "sampler", "training", "evaluation", "seed"]  # one shape
    assert set(results["frechet_mean"]) == set(results["frechet_ci95"]) == MODELS
    assert set(results["frechet_per_step"]) == MODELS
    assert all(len(v) == results["horizon"] == 10 for v in results["frechet_per_step"].values())
    assert (results["n_train"], results["n_validation"], results["n_test"], results["n_eval"]) == (24, 6, 6, 6)
    for name, (lo, hi) in results["frechet_ci95"].items():
        assert lo <= results["frechet_mean"][name] <= hi
    assert set(results["frechet_diff_ci95"]) == {"uncond", "cond", "fc_paper_uncond", "fc_paper_cond",
                                                 "gaussian_uncond", "gaussian_cond"}
    assert set(results["multimodality"]) == MODELS and results["n_branch_starts"] == 3
    mm = results["multimodality"]["ebm_uncond"]
    assert set(mm) == {"distance", "distance_ci95", "spread_ratio"} and set(mm["distance"]) == {"1", "5"}
    assert results["multimodality"]["fc_uncond"]["spread_ratio"]["5"] == 0.0  # one deterministic future
    for k in ("config", "seed", "wall_seconds", "one_step_mse", "frechet_mean_controls"):
        assert k in results
    assert (out / "fd_curve.png").stat().st_size > 10_000
    assert (out / "multimodality.png").stat().st_size > 10_000
    if _can_render():  # probed here, independently of the app: frames are written where GL works
        assert results["frames"].startswith("frames written to frames.png")
        assert (out / "frames.png").stat().st_size > 10_000
    else:
        assert results["frames"].startswith("frames skipped: no offscreen GL backend")
        assert not (out / "frames.png").exists()
    assert (out / "checkpoints" / "ebm_uncond" / "checkpoint.pt").exists()
    # every trained model is saved whole and loads back with one call, as the rollouts used it
    from ebm_robotics import LearnedDynamics

    assert set(results["models"]) == MODELS
    for name, rel in results["models"].items():
        family, kind = name.rsplit("_", 1)
        spec = LearnedDynamics.load(out / rel).spec
        assert (spec.family, spec.conditional) == (family, kind == "cond")
        assert (spec.sampler is not None) == (family == "ebm")
    assert "ebm_uncond" in proc.stdout and "evaluated on the test split" in proc.stdout  # the printed table

    # resume: the finished checkpoints are reused, so the numbers come out the same
    again = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--train", "24", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["frechet_mean"] == results["frechet_mean"]


def test_validation_split_and_a_subset_of_models_with_overrides(tmp_path):
    """`--eval-split validation` scores the validation trajectories (and their branches); `--models`
    trains only those asked for; `--set` changes any field of the config, recorded in results.json."""
    data = tmp_path / "data"
    out = tmp_path / "val"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--data-dir", str(data),
                   "--eval-split", "validation", "--models", "ebm_uncond,gaussian_uncond",
                   "--set", "model.hidden=(32, 32)", "--set", "sampler.rollout.steps=3", "--no-render")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["eval_split"] == "validation" and results["n_eval"] == results["n_validation"] == 6
    assert set(results["frechet_mean"]) == {"ebm_uncond", "gaussian_uncond"}
    assert set(results["frechet_diff_ci95"]) == {"gaussian_uncond"}
    assert results["config"]["sampler"]["rollout"]["steps"] == 3
    assert results["config"]["model"]["hidden"] == [32, 32] and results["config"]["evaluation"]["render"] is False
    from ebm_robotics import LearnedDynamics

    ebm = LearnedDynamics.load(out / results["models"]["ebm_uncond"]).spec  # built with the widths asked for
    assert ebm.model.hidden == (32, 32) and ebm.model.energy == "whitened" and ebm.langevin().steps == 3
    assert (out / "checkpoints" / "gaussian_uncond" / "checkpoint.pt").exists()
    assert not (out / "checkpoints" / "fc_uncond").exists()


def test_resume_without_out_is_a_clear_error():
    proc = call_app(APP, "--resume")
    assert proc.returncode != 0 and "--resume needs --out" in proc.stderr


def test_data_dir_of_other_settings_is_refused_under_both_option_names(tmp_path):
    from ebm_robotics.shards import MANIFEST_FORMAT, MANIFEST_NAME

    data = tmp_path / "trajectories"
    data.mkdir()
    manifest_text = json.dumps({"format": MANIFEST_FORMAT, "config": {"seed": 99}, "complete": True})
    (data / MANIFEST_NAME).write_text(manifest_text)
    for option in ("--data-dir", "--data"):  # --data: the earlier name, still accepted
        proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet", option, str(data))
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "holds trajectories generated with {'seed': 99}" in proc.stderr and "--data-dir" in proc.stderr
    assert not (tmp_path / "o").exists()  # refused before any work: no run folder
    assert (data / MANIFEST_NAME).read_text() == manifest_text and len(list(data.iterdir())) == 1  # nothing lost
    manifest = str(data / MANIFEST_NAME)
    proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet", "--data-dir", manifest)
    assert proc.returncode == 2 and "is a file; give a folder (--data-dir)" in proc.stderr


def test_bad_settings_are_usage_errors_before_any_work(tmp_path):
    for args, says in [(("--eval-split", "train"), "invalid choice: 'train'"),
                       (("--models", "ebm_uncond,ebm_uncond"), "must be distinct names"),
                       (("--models", "ebm"), "must be distinct names"),
                       (("--set", "training.lr=-1"), "lr must be > 0"),
                       (("--set", "training.stepz=1"), "has no field 'stepz'"),
                       (("--validation", "0", "--eval-split", "validation"), "needs at least 2"),
                       (("--set", "evaluation.horizons=(1, 50)"), "go past the branches")]:
        proc = call_app(APP, "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet", *args)
        assert proc.returncode == 2 and says in proc.stderr, (args, proc.stderr[-1500:])
        assert not (tmp_path / "o").exists()


def test_a_config_file_sets_any_field_and_only_flags_given_override_it(tmp_path):
    file = tmp_path / "hand.toml"
    file.write_text('[data]\nnum_train = 77\n[training]\nsteps = 123\n[evaluation]\nsplit = "validation"\n'
                    'render = false\n')
    config = json.loads(call_app("hand_rollout", "--config", str(file), "--print-config").stdout)
    assert (config["data"]["num_train"], config["training"]["steps"]) == (77, 123)
    assert (config["evaluation"]["split"], config["evaluation"]["render"]) == ("validation", False)
    config = json.loads(call_app("hand_rollout", "--config", str(file), "--steps", "9", "--eval-split", "test",
                                 "--print-config").stdout)
    assert (config["training"]["steps"], config["evaluation"]["split"]) == (9, "test")  # the flags given
    assert (config["data"]["num_train"], config["evaluation"]["render"]) == (77, False)  # the file's others
    config = json.loads(call_app("hand_rollout", "--no-render", "--print-config").stdout)
    assert config["evaluation"]["render"] is False and config["evaluation"]["split"] == "test"  # preset's default


def test_under_torchrun_the_ranks_split_the_generation_and_rank_0_scores(tmp_path):
    """2 CPU processes: rank k generates shards k, k + 2, ... (each shard the same bytes as a 1-process
    generation makes), both train every model together, rank 0 alone writes the models and results."""
    from ebm_robotics.experiment import PRESETS
    from ebm_robotics.generate import generate_trajectories
    from ebm_robotics.shards import sha256_file

    out = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29519",
         str(ROOT / "apps" / APP), "--preset", "tiny", "--out", str(out), "--quiet", "--no-render",
         "--models", "gaussian_uncond,ebm_uncond", "--eval-split", "validation"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("results: ") == 1  # one rank reports
    results = json.loads((out / "results.json").read_text())
    assert set(results["frechet_mean"]) == {"gaussian_uncond", "ebm_uncond"} and results["n_eval"] == 6
    assert sorted(p.name for p in (out / "models").iterdir()) == ["ebm_uncond.pt", "gaussian_uncond.pt"]
    assert (out / "checkpoints" / "ebm_uncond" / "checkpoint.rank1.pt").exists()  # rank 1's own buffer
    parts = [json.loads((out / "data" / f"manifest.part-00{k}-of-002.json").read_text()) for k in (0, 1)]
    assert [[s["index"] for s in p["shards"]] for p in parts] == [[0, 2], [1, 3]]
    merged = json.loads((out / "data" / "manifest.json").read_text())
    assert merged["complete"] and [s["index"] for s in merged["shards"]] == [0, 1, 2, 3]
    alone = tmp_path / "alone"
    generate_trajectories(PRESETS["tiny"].data_config(), alone, quiet=True)
    for shard in merged["shards"]:
        assert sha256_file(alone / shard["file"]) == shard["sha256"], shard["file"]


def test_unfinished_parts_are_resumed_by_as_many_ranks_and_refused_by_others(tmp_path):
    from ebm_robotics.experiment import PRESETS, check_data_dir
    from ebm_robotics.generate import generate_trajectories

    gen = PRESETS["tiny"].data_config()
    for k in (0, 1):
        generate_trajectories(gen, tmp_path, machine_index=k, num_machines=2, quiet=True)
    part = tmp_path / "manifest.part-001-of-002.json"
    manifest = json.loads(part.read_text())
    part.write_text(json.dumps({**manifest, "shards": manifest["shards"][:1], "complete": False}))  # killed
    assert check_data_dir(tmp_path, gen, world=2) is False  # a 2-rank job finishes it
    with pytest.raises(ValueError, match="not all finished"):
        check_data_dir(tmp_path, gen, world=1)
