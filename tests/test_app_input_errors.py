"""A user's mistake stops an app at once with a message that names it (exit status 2), not a traceback
from deep inside torch and not a run on the wrong data."""

import pytest
import torch
from app_runner import call_app, mnist_without_train_files


def test_counts_below_one_are_usage_errors(tmp_path):
    proc = call_app("split_mnist", "--seeds", "0", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--seeds: must be at least 1, got 0" in proc.stderr
    assert not (tmp_path / "o").exists()
    proc = call_app("image_generate", "--preset", "tiny", "--train-limit", "-1", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--train-limit: must be at least 1, got -1" in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_missing_cuda_is_refused_before_any_data_is_generated(tmp_path):
    proc = call_app("hand_rollout", "--device", "cuda", "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2 and "CUDA is not available on this machine" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_a_text_file_as_checkpoint_is_one_line(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my model is in another folder\n")
    proc = call_app("robustness", "--preset", "tiny", "--checkpoint", str(notes), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"robustness: error (ValueError): model file {notes} cannot be loaded" in proc.stderr


def test_an_existing_file_as_out_is_one_error_not_a_traceback(tmp_path):
    taken = tmp_path / "results.txt"
    taken.write_text("not a folder\n")
    proc = call_app("ood_eval", "--preset", "tiny", "--out", str(taken), "--quiet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--out {taken} is a file, not a folder" in proc.stderr
    proc = call_app("split_mnist", "--preset", "tiny", "--out", str(taken), "--resume")
    assert proc.returncode == 2 and "is a file" in proc.stderr and "starting a new one" not in proc.stderr


def test_bad_budgets_and_temperatures_are_usage_errors_naming_the_flag(tmp_path):
    proc = call_app("robustness", "--preset", "tiny", "--linf-eps", "0", "-0.1", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--linf-eps: must be 0 or more, got -0.1" in proc.stderr  # before any training
    assert not (tmp_path / "o").exists()
    proc = call_app("likelihood", "--preset", "tiny", "--model-temperatures", "0", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--model-temperatures: must be > 0, got 0" in proc.stderr
    proc = call_app("likelihood", "--preset", "tiny", "--model-temperatures", "nan", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "expected a finite number, got 'nan'" in proc.stderr


def test_missing_inception_weights_are_refused_before_training(tmp_path):
    missing = tmp_path / "pt_inception.pth"
    proc = call_app("image_generate", "--preset", "tiny", "--inception-weights", str(missing),
                    "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2 and f"Inception weights {missing} not found" in proc.stderr
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written


def test_likelihood_bounds_only_held_out_images_and_says_so(tmp_path):
    proc = call_app("likelihood", "--preset", "tiny", "--test-images", "500", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "likelihood.num_test (500 test images, --test-images) exceeds" in proc.stderr
    # the paper preset bounds the whole test set: without the train files nothing would be left to train on
    only_test = mnist_without_train_files(tmp_path / "mnist")
    proc = call_app("likelihood", "--preset", "paper", "--data-dir", str(only_test), "--out", str(tmp_path / "p"),
                    "--quiet")
    assert proc.returncode == 2 and "would leave none to train on" in proc.stderr


SECTIONS = ("data", "model", "sampler", "training", "evaluation", "seed")  # every app's config (DESIGN.md)
APPS = ("celeba_compose", "dsprites_compose", "hand_rollout", "image_generate", "likelihood", "ood_eval",
        "robustness", "split_mnist")


@pytest.mark.parametrize("app", APPS)
def test_every_app_prints_its_resolved_config_with_set_and_stops_before_any_work(app, tmp_path):
    import json

    out = tmp_path / "run"
    data = ("--synthetic",) if app == "celeba_compose" else ()  # it asks for real files or --synthetic first
    proc = call_app(app, *data, "--out", str(out), "--seed", "5", "--set", "seed=9", "--print-config")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads(proc.stdout)
    assert config["seed"] == 9  # --set applies after the flags
    assert list(config) == list(SECTIONS) and all(isinstance(config[s], dict) for s in SECTIONS[:-1])
    assert not out.exists()  # nothing made, nothing trained
    bad = call_app(app, *data, "--out", str(out), "--set", "no_such_field=1", "--print-config")
    assert bad.returncode == 2 and "no_such_field" in bad.stderr and not bad.stdout


@pytest.mark.parametrize("app", APPS)
def test_every_app_reads_a_config_file_under_the_flags_given(app, tmp_path):
    import json

    data = ("--synthetic",) if app == "celeba_compose" else ()
    file = tmp_path / "run.toml"
    file.write_text("seed = 11\n")
    config = json.loads(call_app(app, *data, "--config", str(file), "--print-config").stdout)
    assert config["seed"] == 11  # the file over the preset's 0
    config = json.loads(call_app(app, *data, "--config", str(file), "--seed", "3", "--print-config").stdout)
    assert config["seed"] == 3  # the flag given over the file
    file.write_text("[evaluation]\nno_such_field = 1\n")
    bad = call_app(app, *data, "--config", str(file), "--print-config")
    assert bad.returncode == 2 and "no_such_field" in bad.stderr and str(file) in bad.stderr and not bad.stdout
