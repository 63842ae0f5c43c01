"""A user's mistake stops an app at once with one line that names it (exit status 2), not a traceback
from deep inside torch and not a run on the wrong data."""

import pytest
import torch
from app_runner import call_app


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
