
import pytest
import torch
from ebm_core import LangevinSampler, MLPEnergy, ReplayBuffer, Trainer, TrainerConfig
from ebm_core.atomic import atomic_path
from ebm_core.checkpoint import atomic_torch_save
from ebm_core.model_file import load_if_same_settings, save_with_settings


def test_trainer_carries_a_given_buffer_and_optimizer_across_trainers():
    torch.manual_seed(0)
    energy = MLPEnergy(2, hidden=(16,), spectral_norm=False)
    sampler = LangevinSampler(steps=2, step_size=0.1, noise_std=0.01, grad_clip=None, clamp=(-2.0, 2.0))
    buffer = ReplayBuffer((2,), capacity=100)
    opt = torch.optim.SGD(energy.parameters(), lr=1e-2)
    cfg = TrainerConfig(steps=3, batch_size=8, quiet=True)
    first = Trainer(energy, sampler, (torch.randn(64, 2), None), cfg, buffer=buffer, optimizer=opt)
    first.train()
    filled = len(buffer)
    assert filled == 3 * 8
    second = Trainer(energy, sampler, (torch.randn(64, 2) + 1, None), cfg, buffer=buffer, optimizer=opt)
    assert second.buffer is buffer and second.optimizer is opt
    second.train()
    assert len(buffer) == filled + 3 * 8  # the second task's negatives join the first task's


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "fig.png"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


def test_weights_are_reused_only_under_the_settings_that_made_them(tmp_path):
    path = tmp_path / "aux" / "classifier.pt"
    settings = {"kind": "classifier", "steps": 400, "widths": (32, 64), "data": tmp_path}  # tuple, Path
    made = torch.nn.Linear(3, 2)
    assert not load_if_same_settings(torch.nn.Linear(3, 2), settings, path)  # nothing saved yet
    save_with_settings(made, settings, path)
    fresh = torch.nn.Linear(3, 2)
    assert load_if_same_settings(fresh, dict(settings), path)  # equal settings (the tuple read back as a list)
    assert torch.equal(fresh.weight, made.weight)
    other = torch.nn.Linear(3, 2)
    before = other.weight.clone()
    assert not load_if_same_settings(other, {**settings, "steps": 800}, path)  # e.g. a changed --classifier-steps
    assert torch.equal(other.weight, before)  # left untouched: the caller trains anew
    save_with_settings(torch.nn.Linear(3, 5), settings, path)  # equal settings, weights of another shape
    with pytest.raises(ValueError, match="classifier.pt cannot be used: its state_dict entry weight has shape"):
        load_if_same_settings(other, settings, path)
    saved = torch.load(path, weights_only=True)
    assert saved["format"] == "ebm-core/weights-with-settings/v1"  # an ebm-core model file, settings as config
    torch.save(made.state_dict(), path)  # a file of the older format: weights without settings
    assert not load_if_same_settings(other, settings, path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="classifier.pt cannot be loaded"):
        load_if_same_settings(other, settings, path)


def test_files_written_atomically_get_the_umasks_permissions_not_owner_only(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "results.json") as tmp:
            tmp.write_text("{}")
        with atomic_path(tmp_path / "fig.png") as tmp:
            tmp.write_bytes(b"png")
        atomic_torch_save({"w": torch.zeros(1)}, tmp_path / "model.pt")
        for name in ("results.json", "fig.png", "model.pt"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name  # readable by the group and others
    finally:
        os.umask(mask)


