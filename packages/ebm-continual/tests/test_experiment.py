"""run_split_mnist on tiny synthetic digits: --resume reuses a finished run only under the same settings."""

import dataclasses
import json

import torch
from ebm_continual import (
    ClassifierConfig,
    ContinualEBM,
    ContinualEBMConfig,
    MNISTSplit,
    SplitMNISTConfig,
    run_split_mnist,
    split_tasks,
)
from ebm_continual.experiment import make_learner, summarize
from ebm_core import LangevinSampler


def synthetic_digits(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat_interleave(per_class)
    centres = torch.rand(10, 784, generator=torch.Generator().manual_seed(0))
    return (centres[y] + 0.1 * torch.randn(len(y), 784, generator=gen)).clamp(0, 1), y


def test_resume_reuses_runs_only_when_their_settings_match(tmp_path):
    torch.set_num_threads(1)
    data = MNISTSplit(*synthetic_digits(8, 1), *synthetic_digits(3, 2), "synthetic digits")
    config = SplitMNISTConfig(
        methods=("ebm", "joint"), seeds=1, classifier=ClassifierConfig(epochs_per_task=1, batch_size=16),
        ebm=ContinualEBMConfig(steps_per_task=2, batch_size=8, buffer_size=64, sampler=LangevinSampler(steps=1)),
    )
    run_split_mnist(config, data, tmp_path, quiet=True)
    ebm_run, joint_run = (json.loads((tmp_path / "runs" / f"{m}_seed0.json").read_text()) for m in ("ebm", "joint"))
    assert ebm_run["settings"]["config"]["steps_per_task"] == 2
    assert json.loads((tmp_path / "checkpoints/ebm/seed0/settings.json").read_text()) == ebm_run["settings"]

    run_split_mnist(config, data, tmp_path, resume=True, quiet=True)  # same settings: nothing runs again
    assert json.loads((tmp_path / "runs" / "ebm_seed0.json").read_text()) == ebm_run

    # a run file of an older format (no confusion matrix) runs again; the EBM resumes its finished
    # checkpoints, so the numbers are the same
    old_format = {k: v for k, v in ebm_run.items() if k != "confusion"}
    (tmp_path / "runs" / "ebm_seed0.json").write_text(json.dumps(old_format))
    said = []
    last = tmp_path / "checkpoints/ebm/seed0/task4/checkpoint.pt"
    written = last.stat().st_mtime_ns
    run_split_mnist(config, data, tmp_path, resume=True, quiet=True, log=said.append)
    assert any("no confusion matrix in" in s for s in said)
    assert last.stat().st_mtime_ns == written  # resumed as finished, not trained again
    rerun = json.loads((tmp_path / "runs" / "ebm_seed0.json").read_text())
    assert rerun["confusion"] == ebm_run["confusion"] and rerun["matrix"] == ebm_run["matrix"]

    # a run whose saved model is gone runs again (from its finished checkpoints) and saves it anew
    (tmp_path / "models" / "ebm_seed0.pt").unlink()
    said = []
    run_split_mnist(config, data, tmp_path, resume=True, quiet=True, log=said.append)
    assert any("no saved model beside" in s for s in said) and (tmp_path / "models" / "ebm_seed0.pt").is_file()

    changed = dataclasses.replace(config, ebm=dataclasses.replace(config.ebm, steps_per_task=1))
    said = []
    results = run_split_mnist(changed, data, tmp_path, resume=True, quiet=True, log=said.append)
    again = json.loads((tmp_path / "runs" / "ebm_seed0.json").read_text())
    assert again["settings"]["config"]["steps_per_task"] == 1 and again["seconds"] != ebm_run["seconds"]
    assert any("settings differ" in s for s in said) and not any(s.startswith("joint") for s in said)
    assert json.loads((tmp_path / "runs" / "joint_seed0.json").read_text()) == joint_run  # unchanged: reused
    # the EBM's old per-task checkpoints (2 steps) were discarded, not resumed into the 1-step run
    ckpt = torch.load(tmp_path / "checkpoints/ebm/seed0/task4/checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 1
    assert results["accuracy"]["joint"]["per_seed"] == [100 * joint_run["accuracy"]]
    assert (tmp_path / "table.md").exists() and (tmp_path / "accuracy_over_tasks.png").exists()
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_confusion_sums_seeds_even_when_they_predicted_different_classes():
    data = MNISTSplit(*synthetic_digits(2, 1), *synthetic_digits(1, 2), "synthetic digits")
    def rec(confusion):
        return {"seed": 0, "accuracy": 0.5, "matrix": [[0.5] * 5] * 5, "confusion": confusion}
    runs = {"ebm": [rec([[1, 2], [3, 4]]), rec([[1, 0, 0], [0, 1, 0], [0, 0, 5]])]}
    results = summarize(runs, SplitMNISTConfig(methods=("ebm",)), data, split_tasks(data))
    assert results["confusion"]["ebm"] == [[2, 2, 0], [3, 5, 0], [0, 0, 5]]


def test_ebm_joint_trains_the_ebm_on_every_task_seen_so_far():
    data = MNISTSplit(*synthetic_digits(4, 1), *synthetic_digits(2, 2), "synthetic digits")
    tasks = split_tasks(data)
    learner = make_learner("ebm_joint", SplitMNISTConfig(), seed=0)
    inner = learner.learner
    assert isinstance(inner, ContinualEBM)
    sizes = []
    inner.learn_task = lambda task, i: sizes.append((task.classes, len(task.y_train)))  # record, do not train
    for i, task in enumerate(tasks[:3]):
        learner.learn_task(task, i)
    assert sizes == [((0, 1), 8), ((0, 1, 2, 3), 16), ((0, 1, 2, 3, 4, 5), 24)]
    assert "ebm_joint" not in SplitMNISTConfig().methods  # optional: not in the default run


def test_summary_table_shows_a_spread_only_over_several_seeds():
    from ebm_continual import summary_table

    acc = {"ebm": {"mean": 51.83, "std": 0.93}, "joint": {"mean": 96.0, "std": 0.14}}
    many = summary_table({"seeds": [0, 1, 2], "accuracy": acc, "paper_accuracy": {"ebm": 64.99}})
    assert "3 seeds, mean (std)" in many and "| 51.83 (0.93) | 64.99 |" in many and "| 96.00 (0.14) | - |" in many
    one = summary_table({"seeds": [4], "accuracy": {"ebm": {"mean": 50.6, "std": 0.0}}, "paper_accuracy": {}})
    assert "1 seed (%)" in one and "| 50.60 | - |" in one and "(0.00)" not in one
