"""The EBM's label input: ``label_scale`` times the one-hot, with the sampler's fast gradient path."""

import pytest
import torch
from ebm_continual import ContinualEBM, ContinualEBMConfig, LabelScaledEnergy, make_energy
from ebm_core import MLPEnergy


def test_label_scaled_energy_is_the_mlp_on_the_scaled_one_hot():
    torch.manual_seed(0)
    mlp = MLPEnergy(20, hidden=(16, 16), num_classes=10)
    energy = LabelScaledEnergy(mlp, 10.0).eval()
    x, y = torch.rand(8, 20), torch.randint(0, 10, (8,))
    scaled = 10.0 * torch.nn.functional.one_hot(y, 10).float()
    assert torch.allclose(energy(x, y), mlp(x, scaled))
    # the hand-written input gradient (Langevin's fast path) equals autograd's
    e, g = energy.energy_and_input_grad(x, y)
    xg = x.clone().requires_grad_(True)
    (g_auto,) = torch.autograd.grad(energy(xg, y).sum(), xg)
    assert torch.allclose(e, energy(x, y), atol=1e-6) and torch.allclose(g, g_auto, atol=1e-6)


def test_label_scale_makes_the_label_move_the_energy_more():
    """Same weights: the spread of E(x, c) over the 10 labels grows with the scale of the label input."""
    torch.manual_seed(0)
    x = torch.rand(64, 784)
    spreads = []
    for scale in (1.0, 10.0):
        torch.manual_seed(1)
        energy = make_energy(ContinualEBMConfig(label_scale=scale)).eval()
        with torch.no_grad():
            e = torch.stack([energy(x, torch.full((64,), c)) for c in range(10)], 1)
        spreads.append(e.std(1).mean().item())
    assert spreads[1] > 3 * spreads[0]


def test_default_label_input_is_the_plain_one_hot_and_a_scale_multiplies_it():
    """Built from one seed, the scaled model's E(x, c) is the plain model's E on scale x one-hot(c): the
    label input is the plain one-hot by default, and ``label_scale`` multiplies exactly that."""
    x, y = torch.rand(16, 784), torch.arange(16) % 10
    torch.manual_seed(3)
    plain = ContinualEBM(ContinualEBMConfig()).energy.eval()
    torch.manual_seed(3)
    scaled = ContinualEBM(ContinualEBMConfig(label_scale=10.0)).energy.eval()
    one_hot = torch.nn.functional.one_hot(y, 10).float()
    with torch.no_grad():
        assert torch.allclose(plain(x, y), plain(x, one_hot), atol=1e-6)  # an index is the plain one-hot
        assert torch.allclose(scaled(x, y), plain(x, 10.0 * one_hot), atol=1e-5)
        assert not torch.allclose(scaled(x, y), plain(x, y), atol=1e-3)  # the scale changes the energy


def test_the_trained_energy_saves_and_loads_back_whole(tmp_path):
    from ebm_continual import load_continual_energy

    learner = ContinualEBM(ContinualEBMConfig(hidden=(16,), label_scale=10.0), in_dim=12, seed=0)
    path = learner.save(tmp_path / "ebm.pt")
    energy, num_classes = load_continual_energy(path)
    x, y = torch.rand(6, 12), torch.arange(6)
    assert num_classes == 10 and torch.equal(energy(x, y), learner.energy.eval()(x, y))  # label scale kept
    saved = torch.load(path, weights_only=True)
    saved["config"]["hidden"] = [32]
    torch.save(saved, tmp_path / "wider.pt")
    with pytest.raises(ValueError, match="wider.pt cannot be used: its state_dict entry .* has shape"):
        load_continual_energy(tmp_path / "wider.pt")
    own = ContinualEBM(ContinualEBMConfig(), energy=torch.nn.Bilinear(12, 10, 1), in_dim=12)
    with pytest.raises(ValueError, match="a user's own energy is saved by its owner"):
        own.save(tmp_path / "own.pt")
