"""Classification by lowest energy: E(x, c) for every class, argmin over classes (sections 4.3, 6)."""

import pytest
import torch
from ebm_core import MLPEnergy, class_energies, lowest_energy_class, repeat_per_class
from torch import nn


class DistanceEnergy(nn.Module):
    """E(x, y) = ||x - mu_y||^2: the lowest-energy label is the nearest centre."""

    def __init__(self, centres: torch.Tensor):
        super().__init__()
        self.centres = nn.Parameter(centres)

    def forward(self, x, y):
        return ((x - self.centres[y]) ** 2).sum(1)


def test_class_energies_hold_every_class_and_lowest_energy_class_is_the_nearest_centre():
    centres = torch.rand(10, 5)
    energy = DistanceEnergy(centres)
    labels = torch.randint(0, 10, (300,))
    x = centres[labels] + 0.01 * torch.randn(300, 5)
    e = class_energies(energy, x, 10)
    assert e.shape == (300, 10)
    assert torch.allclose(e[:, 3], ((x - centres[3]) ** 2).sum(1))
    assert torch.equal(lowest_energy_class(energy, x, 10, batch_size=7), labels)  # batches that do not divide N
    # among a subset of classes: the answer is a class of the subset, the nearest of them
    subset = torch.tensor([2, 7])
    nearest = subset[torch.stack([((x - centres[c]) ** 2).sum(1) for c in subset], 1).argmin(1)]
    assert torch.equal(lowest_energy_class(energy, x, subset, batch_size=64), nearest)
    assert set(nearest.tolist()) == {2, 7}


def test_class_energies_are_differentiable_and_prediction_runs_in_eval_mode():
    energy = MLPEnergy(6, hidden=(16,), num_classes=3, spectral_norm=True)
    x = torch.rand(4, 6, requires_grad=True)
    xs, ys = repeat_per_class(x, 3)
    assert torch.equal(xs[:3], x[:1].expand(3, 6)) and ys.tolist() == [0, 1, 2] * 4  # image-major
    (g,) = torch.autograd.grad(class_energies(energy, x, 3).logsumexp(1).sum(), x)  # logits -E, e.g. for PGD
    assert g.abs().sum() > 0
    energy.train()
    modes = []
    energy.forward = lambda x, y, f=energy.forward: (modes.append(energy.training), f(x, y))[1]
    lowest_energy_class(energy, torch.rand(5, 6), 3)
    assert modes == [False] and energy.training  # eval while classifying, training mode restored
    with pytest.raises(ValueError, match="at least one class"):
        class_energies(energy, x, 0)  # e.g. an unconditional model
