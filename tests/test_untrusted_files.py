"""Files from others run no code: every loader of model files, checkpoints and pickled data sets is
handed a crafted pickle whose unpickling would create a folder, and must refuse it with a one-line
error naming the file, the folder never appearing."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from app_runner import call_app
from ebm_core import LangevinSampler, MLPEnergy, Trainer, TrainerConfig
from ebm_core.checkpoint import load_torch_file


class Payload:
    """Unpickled, it would call ``os.mkdir(marker)``: the side effect the tests look for."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text, text
    return text


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "code-ran"


def test_load_torch_file_runs_no_code(tmp_path, marker):
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {}, "extra": Payload(marker)}, path)
    with pytest.raises(ValueError) as err:
        load_torch_file(path, "model file")
    assert one_line(err.value).startswith(f"model file {path} cannot be loaded") and not marker.exists()


def test_trainer_resume_runs_no_code(tmp_path, marker):
    data = torch.randn(16, 2)
    trainer = Trainer(MLPEnergy(2, hidden=(8,)), LangevinSampler(steps=2, step_size=0.1, noise_std=0.01), data,
                      TrainerConfig(steps=2, batch_size=8, quiet=True), out_dir=tmp_path / "run")
    trainer.train()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)  # what a checkpoint holds: no objects
    state["rng"]["python"] = Payload(marker)
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(ValueError) as err:
        trainer.resume()
    assert "checkpoint" in one_line(err.value) and not marker.exists()


def test_a_crafted_model_file_given_to_an_app_runs_nothing(tmp_path, marker):
    crafted = tmp_path / "model.pt"
    torch.save(Payload(marker), crafted)
    proc = call_app("ood_eval", "--preset", "tiny", "--checkpoint", str(crafted), "--out", str(tmp_path / "o"),
                    "--quiet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"model file {crafted} cannot be loaded" in proc.stderr and not marker.exists()


def test_pickled_image_batches_admit_arrays_only(tmp_path, marker):
    from ebm_vision.data import load_cifar, load_imagenet32

    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    good = {"data": np.zeros((2, 3072), np.uint8), "labels": [1, 2]}
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        (cifar / name).write_bytes(pickle.dumps(good))
    (cifar / "data_batch_3").write_bytes(pickle.dumps({"data": Payload(marker), "labels": [1]}))
    with pytest.raises(ValueError) as err:
        load_cifar(tmp_path, "train")
    assert one_line(err.value).startswith(f"{cifar / 'data_batch_3'} cannot be read as a CIFAR-10 batch")
    assert "os.mkdir" in str(err.value) or "posix.mkdir" in str(err.value)
    crafted = {"data": np.zeros((1, 3072), np.uint8), "labels": Payload(marker)}
    (tmp_path / "val_data").write_bytes(pickle.dumps(crafted))
    with pytest.raises(ValueError, match="cannot be read as a downsampled-ImageNet batch") as err:
        load_imagenet32(tmp_path, "test")
    one_line(err.value)
    assert not marker.exists()


def test_dsprites_reads_only_its_array_keys(tmp_path, marker):
    from ebm_compose.dsprites import NPZ_NAME, load_dsprites

    buffer = io.BytesIO()  # an object-array .npy as numpy writes one: the header, then a pickle
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    buffer.write(pickle.dumps(Payload(marker)))
    with zipfile.ZipFile(tmp_path / NPZ_NAME, "w") as z:
        z.writestr("imgs.npy", buffer.getvalue())
        z.writestr("latents_classes.npy", buffer.getvalue())
    with pytest.raises(ValueError) as err:
        load_dsprites(tmp_path)
    assert one_line(err.value).startswith(f"{tmp_path / NPZ_NAME} cannot be read as the dSprites .npz")
    assert not marker.exists()


@pytest.mark.parametrize("spec, message", [
    ("../policies/evil.py:act", "dotted name"),
    ("./evil:act", "dotted name"),
    ("no_such_module_here:act", "no installed module 'no_such_module_here'"),
    ("numpy:not_there", "has no attribute"),
])
def test_policy_specs_name_installed_modules_only(spec, message):
    from ebm_robotics.policy import load_policy

    with pytest.raises(ValueError, match=message) as err:
        load_policy(spec, None)
    one_line(err.value)


def test_inception_weights_are_read_as_tensors_before_torch_fidelity_sees_them(tmp_path, marker):
    from ebm_vision.scores import inception_weights_file

    crafted = tmp_path / "pt_inception.pth"
    torch.save({"conv.weight": torch.zeros(1), "fc.bias": Payload(marker)}, crafted)
    with pytest.raises(ValueError) as err:
        inception_weights_file(crafted)  # what the apps call before training
    assert one_line(err.value).startswith(f"Inception weights {crafted} cannot be loaded") and not marker.exists()
    notes = tmp_path / "notes.txt"
    notes.write_text("the weights are on the other machine\n")
    with pytest.raises(ValueError, match="cannot be loaded"):
        inception_weights_file(notes)
    torch.save([torch.zeros(2)], crafted)
    with pytest.raises(ValueError, match="is not a state dict of tensors"):
        inception_weights_file(crafted)
