"""Models from a run's weight snapshots: the weight average (spectral norms re-estimated) and the
historical ensemble."""

import copy
import dataclasses

import pytest
import torch
from ebm_core import (
    LangevinSampler,
    MLPEnergy,
    Trainer,
    TrainerConfig,
    refresh_power_iterations,
    shrink_sn_conv2d,
    snapshot_ensemble,
    weight_average,
)
from torch import nn


def _snapshots(energy: nn.Module, n: int, scale: float = 0.5) -> list[dict[str, torch.Tensor]]:
    """``n`` state dicts of ``energy`` with its parameters moved at random, each with its spectral
    norms' singular vectors converged for its own weights (as after many training steps)."""
    out = []
    for i in range(n):
        torch.manual_seed(100 + i)
        m = copy.deepcopy(energy)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(scale * torch.randn_like(p))
        refresh_power_iterations(m, 200)
        out.append(copy.deepcopy(m.state_dict()))
    return out


def _sn_layers(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear) and hasattr(m, "parametrizations")]


def test_weight_average_means_the_weights_and_re_estimates_spectral_norms():
    torch.manual_seed(0)
    energy = MLPEnergy(6, hidden=(16, 16))
    snaps = _snapshots(energy, 4)
    avg = weight_average(energy, snaps)
    key = "net.0.parametrizations.weight.original"
    assert torch.allclose(avg.state_dict()[key], torch.stack([s[key] for s in snaps]).mean(0))
    assert torch.allclose(avg.state_dict()["net.4.bias"], torch.stack([s["net.4.bias"] for s in snaps]).mean(0))
    assert not avg.training
    # the effective (normalized) weight of each spectrally normalized layer has spectral norm 1 again
    for layer in _sn_layers(avg):
        assert abs(torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() - 1.0) < 5e-3
    # loading the mean state dict as it is (mean singular vectors, not unit) would get it wrong
    naive = copy.deepcopy(energy)
    naive.load_state_dict({k: torch.stack([s[k].float() for s in snaps]).mean(0) for k in snaps[0]})
    naive.eval()
    errors = [abs(torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() - 1.0) for layer in _sn_layers(naive)]
    assert max(errors) > 0.05
    x = torch.rand(5, 6)
    assert not torch.allclose(naive(x), avg(x), atol=1e-3)


def test_weight_average_keeps_the_last_integer_entries_and_copies_without_snapshots():
    torch.manual_seed(0)
    energy = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    snaps = []
    for steps in (3, 7):
        sd = copy.deepcopy(energy.state_dict())
        sd["1.num_batches_tracked"] = torch.tensor(steps)
        snaps.append(sd)
    avg = weight_average(energy, snaps)
    assert int(avg.state_dict()["1.num_batches_tracked"]) == 7
    plain = weight_average(energy, [])
    assert plain is not energy and not plain.training
    x = torch.randn(4, 3)
    energy.eval()
    assert torch.equal(plain(x), energy(x))


def test_refresh_covers_the_shrink_only_spectral_norm():
    torch.manual_seed(0)
    conv = shrink_sn_conv2d(2, 3, init_std=1.0)  # sigma well above 1: the weight is divided by it
    with torch.no_grad():
        conv.parametrizations.weight[0]._u.mul_(0.3)  # a stale, non-unit vector
    refresh_power_iterations(conv, 100)
    assert abs(torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item() - 1.0) < 5e-3


def test_trainer_average_comes_from_the_kept_snapshots():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    cfg = TrainerConfig(steps=6, batch_size=16, quiet=True, ensemble_size=2, ensemble_every=3, buffer_size=64)
    sampler = LangevinSampler(steps=2, step_size=0.1, noise_std=0.01, clamp=None)
    t = Trainer(MLPEnergy(2, hidden=(8,)), dataclasses.replace(sampler), (x, None), cfg)
    t.train()
    avg = t.averaged_energy()
    key = "net.0.parametrizations.weight.original"
    assert torch.allclose(avg.state_dict()[key], (t.snapshots[0][key] + t.snapshots[1][key]) / 2)
    assert not torch.equal(t.snapshots[0][key], t.snapshots[1][key])


def test_snapshot_ensemble_is_the_mean_energy_and_the_model_itself_without_snapshots():
    torch.manual_seed(0)
    energy = MLPEnergy(3, hidden=(8,))
    snaps = _snapshots(energy, 3)
    x = torch.rand(4, 3)
    members = []
    for sd in snaps:
        m = copy.deepcopy(energy)
        m.load_state_dict(sd)
        members.append(m.eval()(x))
    ens = snapshot_ensemble(energy, snaps).eval()
    assert torch.allclose(ens(x), torch.stack(members).mean(0), atol=1e-6)
    assert not torch.allclose(ens(x), weight_average(energy, snaps)(x), atol=1e-3)  # not the same model
    assert snapshot_ensemble(energy, []) is energy


def test_weight_average_keeps_float64_and_refuses_no_power_iterations():
    torch.manual_seed(0)
    energy = MLPEnergy(3, hidden=(4,)).double()
    snaps = _snapshots(energy, 3, scale=1e-9)  # differences below float32's resolution of the weights
    avg = weight_average(energy, snaps)
    key = "net.2.weight"
    assert avg.state_dict()[key].dtype == torch.float64
    assert torch.equal(avg.state_dict()[key], torch.stack([s[key] for s in snaps]).mean(0))
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        refresh_power_iterations(energy, 0)
