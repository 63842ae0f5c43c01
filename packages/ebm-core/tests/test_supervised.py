"""The one supervised loop: it learns, resumes bit for bit, and refuses other settings."""

import dataclasses

import pytest
import torch
from ebm_core import SupervisedConfig, train_supervised


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3


def test_it_fits_a_regression():
    model = torch.nn.Linear(3, 1)
    history = train_supervised(model, mse, data(), SupervisedConfig(steps=400, batch_size=32, lr=3e-2, quiet=True))
    assert history[-1]["loss"] < 1e-3 < history[0]["loss"]
    assert torch.allclose(model.weight, torch.tensor([[1.0, -2.0, 0.5]]), atol=0.02)


def test_resume_is_exact_and_refuses_other_settings(tmp_path, capsys):
    cfg = SupervisedConfig(steps=60, batch_size=32, checkpoint_every=20, log_every=10, seed=3)
    torch.manual_seed(0)
    straight = torch.nn.Linear(3, 1)
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    full = train_supervised(straight, mse, data(), cfg)
    part = torch.nn.Linear(3, 1)
    part.load_state_dict(start)
    train_supervised(part, mse, data(), dataclasses.replace(cfg, steps=40), out_dir=tmp_path)
    resumed = torch.nn.Linear(3, 1)
    resumed.load_state_dict(start)
    history = train_supervised(resumed, mse, data(), cfg, out_dir=tmp_path, resume=True)
    assert torch.equal(resumed.weight, straight.weight) and history == full  # 40 + 20 steps = 60, bit for bit
    assert "resumed at step 40" in capsys.readouterr().err
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # tensors and plain values only
    assert saved["step"] == 60
    with pytest.raises(ValueError, match=r"other settings \(config.lr: 0.001 -> 0.01\)"):
        train_supervised(torch.nn.Linear(3, 1), mse, data(), dataclasses.replace(cfg, lr=1e-2), tmp_path, True)
    with pytest.raises(ValueError, match="training examples: 300 -> 299"):
        x, y = data()
        train_supervised(torch.nn.Linear(3, 1), mse, (x[:-1], y[:-1]), cfg, tmp_path, True)
    with pytest.raises(ValueError, match="does not fit this model"):
        train_supervised(torch.nn.Linear(3, 2), lambda m, x, y: m(x).mean(), data(), cfg, tmp_path, True)


def test_cosine_schedule_anneals_to_zero_and_resumes_after_an_interruption(tmp_path):
    cfg = SupervisedConfig(steps=60, batch_size=32, lr=3e-2, checkpoint_every=20, seed=1, lr_schedule="cosine",
                           quiet=True)
    torch.manual_seed(0)
    start = torch.nn.Linear(3, 1).state_dict()
    straight = torch.nn.Linear(3, 1)
    straight.load_state_dict(start)
    train_supervised(straight, mse, data(), cfg, out_dir=tmp_path / "straight")
    saved = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    assert saved["schedule"]["_last_lr"][0] == pytest.approx(0.0, abs=1e-12)  # annealed to 0 at the last step
    calls = []

    def dies_at_step_45(m, x, y):
        calls.append(1)
        if len(calls) == 45:
            raise KeyboardInterrupt
        return mse(m, x, y)

    cut = torch.nn.Linear(3, 1)
    cut.load_state_dict(start)
    with pytest.raises(KeyboardInterrupt):
        train_supervised(cut, dies_at_step_45, data(), cfg, out_dir=tmp_path / "cut")
    resumed = torch.nn.Linear(3, 1)
    resumed.load_state_dict(start)
    train_supervised(resumed, mse, data(), cfg, out_dir=tmp_path / "cut", resume=True)  # from step 40
    assert torch.equal(resumed.weight, straight.weight)
    constant = torch.nn.Linear(3, 1)
    constant.load_state_dict(start)
    train_supervised(constant, mse, data(), dataclasses.replace(cfg, lr_schedule="constant"))
    assert not torch.equal(constant.weight, straight.weight)  # the schedule changed the run


def test_settings_are_checked():
    for bad in ({"steps": -1}, {"lr": 0.0}, {"betas": (0.9, 1.0)}, {"batch_size": 0},
                {"lr_schedule": "linear"}):
        with pytest.raises(ValueError, match="SupervisedConfig"):
            SupervisedConfig(**bad)


def test_epochs_and_a_persistent_optimizer():
    cfg = SupervisedConfig.for_epochs(3, examples=300, batch_size=32, quiet=True)
    assert (cfg.steps, cfg.batch_size) == (3 * 10, 32)  # 300 / 32: 9 full batches and a partial one
    assert SupervisedConfig.for_epochs(2, examples=10, batch_size=32).batch_size == 10  # never more than the data
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(2):  # a continual learner's calls, one optimizer throughout
        train_supervised(model, mse, data(), cfg, optimizer=optimizer)
    assert optimizer.state_dict()["param_groups"][0]["lr"] == 0.05  # its own rate, not the config's 1e-3
    assert torch.allclose(model.weight, torch.tensor([[1.0, -2.0, 0.5]]), atol=0.05)
