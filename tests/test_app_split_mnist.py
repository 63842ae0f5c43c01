"""End to end: `uv run apps/split_mnist --preset tiny` writes results.json, the table and the figure, and resumes."""

import json

from app_runner import call_app, run_app
from ebm_continual import PAPER_ACCURACY

APP = "split_mnist"
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def test_split_mnist_tiny_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    args = ("--preset", "tiny", "--seeds", "2", "--methods", "ebm,ebm_replay,finetune,vae,ebm_joint",
            "--train-per-class", "70",
            "--eval-per-class", "20", "--out", str(out), "--quiet")
    proc = run_app(APP, *args, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    assert proc.stdout.splitlines()[1] == f"{APP}: watch it with: uv run tensorboard --logdir {out}"
    assert (out / "training_curves.png").stat().st_size > 10_000  # every trained model's curves
    results = json.loads((out / "results.json").read_text())
    assert set(results["accuracy"]) == {"ebm", "ebm_replay", "finetune", "vae", "ebm_joint"}
    for method, acc in results["accuracy"].items():
        assert len(acc["per_seed"]) == 2 and all(0 <= a <= 100 for a in acc["per_seed"])
        assert abs(acc["mean"] - sum(acc["per_seed"]) / 2) < 1e-9
        matrix = results["per_task_accuracy"][method]["mean"]
        assert len(matrix) == 5 and all(len(row) == 5 for row in matrix)
        # after task i nothing predicts an unseen pair of digits well: no leakage of future tasks
        assert all(matrix[i][j] < 60 for i in range(5) for j in range(i + 1, 5))
        # the confusion matrix holds every eval image of both seeds, its diagonal the accuracy
        conf = results["confusion"][method]
        assert [sum(row) for row in conf] == [2 * 20] * 10
        # (one image more or less moves it by 0.25 points; float32 accuracies differ by ~1e-6)
        assert abs(100 * sum(conf[c][c] for c in range(10)) / 400 - acc["mean"]) < 1e-3
    assert results["seeds"] == [0, 1]
    assert results["data"]["n_train"] == 700 and results["data"]["n_eval"] == 200
    assert results["data"]["n_validation"] == 5000 and results["eval_split"] == "test"
    assert "full MNIST" in results["data"]["description"] and "200 test images" in results["data"]["description"]
    for acc in results["accuracy"].values():  # the t interval over the 2 seeds, within [0, 100], around the mean
        lo, hi = acc["ci95"]
        assert 0 <= lo <= acc["mean"] <= hi <= 100
    for k in ("config", "wall_seconds", "tasks", "paper_accuracy", "versions"):
        assert k in results
    assert results["paper_accuracy"] == {m: PAPER_ACCURACY[m] for m in ("ebm", "vae")}  # no figure for finetune
    config = results["config"]  # the whole config, in its sections, with the flags written into them
    assert list(config) == ["data", "model", "sampler", "training", "evaluation", "seed"]
    assert config["data"] == {"source": "mnist", "validation": 5000, "train_per_class": 70, "eval_per_class": 20,
                              "tasks": [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]}
    assert config["evaluation"]["methods"] == ["ebm", "ebm_replay", "finetune", "vae", "ebm_joint"]
    assert config["training"]["generative_replay"] == {"per_class": 50, "rounds": 1}
    assert config["evaluation"]["seeds"] == 2 and config["training"]["device"] == "cpu"
    assert "EBM (ours" in (out / "table.md").read_text() and "EBM (ours" in proc.stdout
    assert (out / "accuracy_over_tasks.png").stat().st_size > 10_000
    assert (out / "confusion.png").stat().st_size > 10_000
    assert (out / "checkpoints" / "ebm" / "seed1" / "task4" / "checkpoint.pt").exists()
    assert (out / "checkpoints" / "ebm_joint" / "seed1" / "task4" / "checkpoint.pt").exists()
    # each EBM's final energy is a model file that loads back whole and classifies
    import torch
    from ebm_continual import load_continual_energy
    from ebm_core import lowest_energy_class

    assert results["models"] == {m: [f"models/{m}_seed{s}.pt" for s in (0, 1)]
                                 for m in ("ebm", "ebm_replay", "ebm_joint")}
    energy, num_classes = load_continual_energy(out / "models" / "ebm_seed1.pt")
    saved = torch.load(out / "models" / "ebm_seed1.pt", weights_only=True)["extra"]
    assert num_classes == 10 and saved["seed"] == 1
    assert 100 * saved["accuracy"] == results["accuracy"]["ebm"]["per_seed"][1]
    assert set(lowest_energy_class(energy, torch.rand(8, 784), num_classes).tolist()) <= set(range(10))
    trained = torch.load(out / "checkpoints/ebm/seed1/task4/checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(trained[k], v) for k, v in energy.state_dict().items())  # the last task's weights

    again = run_app(APP, *args, "--resume", env=ONE_THREAD)  # finished runs are reused: the same numbers
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["accuracy"] == results["accuracy"]

    # the same runs in 2 worker processes of one thread each: the same numbers as in one process of one thread
    side = tmp_path / "side_by_side"
    proc = run_app(APP, *args[:-3], "--out", str(side), "--quiet", "--set", "training.workers=2", env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parallel = json.loads((side / "results.json").read_text())
    assert parallel["accuracy"] == results["accuracy"] and parallel["confusion"] == results["confusion"]
    assert parallel["config"]["training"]["workers"] == 2 and config["training"]["workers"] == 1


def test_missing_data_is_a_clear_error(tmp_path):
    proc = call_app(APP, "--preset", "tiny", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2
    assert "train-images-idx3-ubyte.gz" in proc.stderr and "--data-dir" in proc.stderr


def test_the_flags_write_into_the_config_sections():
    proc = call_app(APP, "--preset", "tiny", "--data", "torchvision", "--eval-per-class", "9", "--train-per-class", "5",
                    "--methods", "ebm,vae", "--seeds", "4", "--ebm-steps", "7", "--seed", "3", "--eval-split",
                    "validation", "--task-order", "9,8/0,1,2/3,4,5,6,7",
                    "--set", "sampler.steps=11", "--set", "model.label_scale=2", "--print-config")
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert list(config) == ["data", "model", "sampler", "training", "evaluation", "seed"]
    assert config["data"] == {"source": "torchvision", "validation": 5000, "train_per_class": 5, "eval_per_class": 9,
                              "tasks": [[9, 8], [0, 1, 2], [3, 4, 5, 6, 7]]}
    assert config["evaluation"] == {"methods": ["ebm", "vae"], "seeds": 4, "vae_importance_samples": 2,
                                    "split": "validation"}
    assert config["training"]["ebm"]["steps_per_task"] == 7 and config["seed"] == 3
    assert config["sampler"]["steps"] == 11 and config["model"]["label_scale"] == 2.0
    assert config["training"]["ebm"]["buffer_size"] == 512  # the rest is the preset's


def test_every_method_shows_a_progress_bar_naming_method_seed_and_task(tmp_path):
    proc = run_app(APP, "--preset", "tiny", "--seeds", "1", "--seed", "4", "--methods",
                   "ebm,ebm_contrastive,finetune,ewc,vae,joint", "--train-per-class", "40", "--eval-per-class", "5",
                   "--out", str(tmp_path / "o"), env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("EBM", "ebm_contrastive", "finetune", "ewc", "vae", "joint"):
        for task in range(5):
            assert f"{name} seed 4 task {task}" in proc.stderr, (name, task)
