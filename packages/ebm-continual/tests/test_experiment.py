"""run_split_mnist on tiny synthetic digits: --resume reuses a finished run only under the same settings;
the presets' sections build the library configs each method's learner takes."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from ebm_continual import (
    METHODS,
    PRESETS,
    SPLIT_MNIST_TASKS,
    ClassifierConfig,
    ClassifierTraining,
    ContinualEBM,
    ContinualEBMConfig,
    ContrastiveEBMConfig,
    EBMTraining,
    MNISTSplit,
    SplitMNISTConfig,
    SplitMNISTEvaluation,
    SplitMNISTTraining,
    VAEConfig,
    method_config,
    run_settings,
    run_split_mnist,
    split_tasks,
    with_device,
)
from ebm_continual.experiment import make_learner, summarize
from ebm_core import LangevinSampler
from ebm_run import apply_overrides


def synthetic_digits(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat_interleave(per_class)
    centres = torch.rand(10, 784, generator=torch.Generator().manual_seed(0))
    return (centres[y] + 0.1 * torch.randn(len(y), 784, generator=gen)).clamp(0, 1), y


def test_resume_reuses_runs_only_when_their_settings_match(tmp_path):
    torch.set_num_threads(1)
    data = MNISTSplit(*synthetic_digits(8, 1), *synthetic_digits(3, 2), "synthetic digits")
    config = SplitMNISTConfig(
        sampler=LangevinSampler(steps=1),
        training=SplitMNISTTraining(ebm=EBMTraining(steps_per_task=2, batch_size=8, buffer_size=64),
                                    classifier=ClassifierTraining(epochs_per_task=1, batch_size=16)),
        evaluation=SplitMNISTEvaluation(methods=("ebm", "joint"), seeds=1),
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

    changed = apply_overrides(config, ["training.ebm.steps_per_task=1"])  # as --set or --ebm-steps does
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


def test_ebm_replay_resumed_mid_sequence_generates_the_same_samples_and_numbers(tmp_path):
    torch.set_num_threads(1)
    data = MNISTSplit(*synthetic_digits(8, 1), *synthetic_digits(3, 2), "synthetic digits")
    config = apply_overrides(SplitMNISTConfig(
        sampler=LangevinSampler(steps=2),
        training=SplitMNISTTraining(ebm=EBMTraining(steps_per_task=3, batch_size=8, buffer_size=64)),
        evaluation=SplitMNISTEvaluation(methods=("ebm_replay",), seeds=1),
    ), ["training.generative_replay.per_class=6"])
    run_split_mnist(config, data, tmp_path, quiet=True)
    first = json.loads((tmp_path / "runs" / "ebm_replay_seed0.json").read_text())
    assert first["settings"]["config"]["generated_per_class"] == 6
    trained = torch.load(tmp_path / "models" / "ebm_replay_seed0.pt", weights_only=True)["state_dict"]
    # tasks 3 and 4 train again from task 2's checkpoint, on the samples generated after tasks 0-2 again
    for task in (3, 4):
        shutil.rmtree(tmp_path / f"checkpoints/ebm_replay/seed0/task{task}")
    (tmp_path / "runs" / "ebm_replay_seed0.json").unlink()
    run_split_mnist(config, data, tmp_path, resume=True, quiet=True)
    again = json.loads((tmp_path / "runs" / "ebm_replay_seed0.json").read_text())
    assert again["matrix"] == first["matrix"] and again["confusion"] == first["confusion"]
    retrained = torch.load(tmp_path / "models" / "ebm_replay_seed0.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(retrained[k], v) for k, v in trained.items())  # bit for bit: the same samples


def test_confusion_sums_seeds_even_when_they_predicted_different_classes():
    data = MNISTSplit(*synthetic_digits(2, 1), *synthetic_digits(1, 2), "synthetic digits")
    def rec(confusion):
        return {"seed": 0, "accuracy": 0.5, "matrix": [[0.5] * 5] * 5, "confusion": confusion}
    runs = {"ebm": [rec([[1, 2], [3, 4]]), rec([[1, 0, 0], [0, 1, 0], [0, 0, 5]])]}
    config = SplitMNISTConfig(evaluation=SplitMNISTEvaluation(methods=("ebm",)))
    results = summarize(runs, config, data, split_tasks(data))
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
    assert "ebm_joint" not in SplitMNISTConfig().evaluation.methods  # optional: not in the default run


def test_summary_table_shows_a_spread_only_over_several_seeds():
    from ebm_continual import summary_table
    from ebm_run import seed_interval

    acc = {"ebm": {"mean": 51.83, "ci95": seed_interval(np.array([50.8, 51.9, 52.8]), (0.0, 100.0))},
           "joint": {"mean": 96.0, "ci95": [95.5, 96.5]}}
    many = summary_table({"seeds": [0, 1, 2], "accuracy": acc, "paper_accuracy": {"ebm": 64.99},
                          "eval_split": "validation"})
    assert "on validation, 3 seeds, mean [95% interval]" in many
    assert "| 51.83 [49.35, 54.32] | 64.99 |" in many and "| 96.00 [95.50, 96.50] | - |" in many
    one = summary_table({"seeds": [4], "accuracy": {"ebm": {"mean": 50.6, "ci95": None}}, "paper_accuracy": {}})
    assert "on test, 1 seed (%)" in one and "| 50.60 | - |" in one and "[" not in one.splitlines()[2]
    cut = seed_interval(np.array([1.0, 2.0, 3.0]), (0.0, 100.0))
    assert cut == pytest.approx([0.0, 2.0 + 4.3027 / 3**0.5], abs=1e-3)  # cut at 0
    assert seed_interval(np.array([50.0])) is None


# Each preset's settings as they were before the config took its data / model / sampler / training /
# evaluation shape: what each method's learner must still receive.
DEFAULT_RUN = ("ebm", "ebm_replay", "ebm_contrastive", "finetune", "ewc", "si", "lwf", "vae", "joint")
BEFORE = {
    "default": (ContinualEBMConfig(steps_per_task=300, lr=1e-3, sampler=LangevinSampler(steps=20), label_scale=10.0),
                (5, 5, 10), 4, DEFAULT_RUN, 3, "mnist"),  # full MNIST by default since issue 20; epochs
    # (contrastive EBM, classifiers, VAE) chosen on validation since issue 20 (they were 20 each)
    "paper": (ContinualEBMConfig(steps_per_task=5000, lr=1e-4), (4, 4, 4), 16, DEFAULT_RUN, 10, "torchvision"),
    "tiny": (ContinualEBMConfig(steps_per_task=30, lr=1e-3, batch_size=64, buffer_size=512, label_scale=10.0,
                                sampler=LangevinSampler(steps=5)),
             (1, 1, 1), 2, ("ebm", "finetune", "vae", "joint"), 2, "mnist"),
}


@pytest.mark.parametrize("preset", sorted(BEFORE))
def test_each_preset_gives_every_method_the_settings_it_had(preset):
    ebm, epochs, importance_samples, methods, seeds, source = BEFORE[preset]
    config = with_device(PRESETS[preset], "cuda")  # a name only: nothing is built here
    contrastive, classifier, vae = epochs
    per_class = 50 if preset == "tiny" else 2000
    replay = dataclasses.replace(ebm, generated_per_class=per_class, generation_rounds=1)
    expected = {"ebm": ebm, "ebm_replay": replay, "ebm_joint": ebm,
                "ebm_contrastive": ContrastiveEBMConfig(epochs_per_task=contrastive),
                "vae": VAEConfig(epochs_per_task=vae, importance_samples=importance_samples),
                "vae_replay": VAEConfig(epochs_per_task=vae, importance_samples=importance_samples,
                                        generated_per_class=per_class),
                **{m: ClassifierConfig(epochs_per_task=classifier) for m in ("finetune", "ewc", "si", "lwf", "joint")}}
    assert set(expected) == set(METHODS)
    for method, library in expected.items():
        assert method_config(method, config) == dataclasses.replace(library, device="cuda"), method
    assert config.evaluation.methods == methods and config.evaluation.seeds == seeds and config.seed == 0
    assert config.data.source == source and config.data.eval_per_class is None and config.data.train_per_class is None
    assert config.data.tasks == SPLIT_MNIST_TASKS and config.evaluation.split == "test"
    sections = [f.name for f in dataclasses.fields(config)]
    assert sections == ["data", "model", "sampler", "training", "evaluation", "seed"]


def test_a_setting_lives_in_one_section_and_reaches_every_method_that_uses_it():
    config = with_device(apply_overrides(PRESETS["tiny"], [
        "model.hidden=(32,)", "model.label_scale=3", "sampler.steps=7", "training.classifier.ewc_lambda=9"]), "cuda")
    built = {m: method_config(m, config) for m in METHODS}
    assert all(c.hidden == (32,) and c.device == "cuda" for c in built.values())
    assert built["ebm"].label_scale == 3.0 and built["ebm_joint"].sampler.steps == 7
    assert all(built[m].ewc_lambda == 9.0 for m in ("finetune", "ewc", "si", "lwf", "joint"))
    data = MNISTSplit(*synthetic_digits(2, 1), *synthetic_digits(1, 2), "synthetic digits")
    assert "device" not in run_settings("ewc", config, data)["config"]  # the device decides no result
    assert run_settings("ewc", config, data) == run_settings("ewc", with_device(config, "cpu"), data)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        method_config("nope", config)


def test_a_bad_setting_of_any_section_is_refused_when_the_config_is_made():
    tiny = PRESETS["tiny"]
    with pytest.raises(ValueError, match="ContinualEBMConfig.lr must be > 0"):  # the library config's own check
        apply_overrides(tiny, ["training.ebm.lr=-1"])
    with pytest.raises(ValueError, match="ContinualEBMConfig.label_scale must be > 0"):
        apply_overrides(tiny, ["model.label_scale=0"])
    with pytest.raises(ValueError, match="EpochTraining.epochs_per_task must be >= 1"):
        apply_overrides(tiny, ["training.vae.epochs_per_task=0"])
    with pytest.raises(ValueError, match="SplitMNISTData.source: unknown MNIST source 'kaggle'; choose"):
        apply_overrides(tiny, ["data.source=kaggle"])
    with pytest.raises(ValueError, match="SplitMNISTEvaluation.split must be 'validation' or 'test'"):
        apply_overrides(tiny, ["evaluation.split=train"])
    with pytest.raises(ValueError, match="the demo data .* has no validation set"):
        apply_overrides(tiny, ["data.source=demo", "evaluation.split=validation"])
    with pytest.raises(ValueError, match="SplitMNISTEvaluation.seeds: 1,001 runs of every method; at most 1000"):
        apply_overrides(tiny, ["evaluation.seeds=1001"])
