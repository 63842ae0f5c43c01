"""ebm-core's image energies, shared by ebm-vision and ebm-compose: shapes, conditioning, input checks."""

import pytest
import torch
from ebm_core import ResNetEnergy, StridedConvEnergy


@pytest.mark.parametrize("make", [
    lambda: ResNetEnergy([(8, True), (16, True)], 8, in_channels=3, num_classes=4, image_size=16),
    lambda: StridedConvEnergy(3, 16, channels=(8, 16), hidden=16, num_classes=4),
])
def test_conditional_image_energy(make):
    torch.manual_seed(0)
    energy = make()
    x = torch.rand(5, 3, 16, 16, requires_grad=True)
    e = [energy(x, torch.full((5,), c)) for c in range(4)]
    assert all(v.shape == (5,) and torch.isfinite(v).all() for v in e)
    with torch.no_grad():  # the classes' gains and biases move the energy once they differ from init
        for p in energy.parameters():
            p.add_(0.1 * torch.randn_like(p))
    e = torch.stack([energy(x, torch.full((5,), c)) for c in range(4)])
    assert (e.max(0).values - e.min(0).values).min() > 1e-4  # each image's energy depends on the class
    (g,) = torch.autograd.grad(e.sum(), x)
    assert g.abs().sum() > 0
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, 16, 16\)"):
        energy(torch.rand(5, 3, 8, 8), torch.zeros(5, dtype=torch.long))


def test_resnet_energy_without_size_takes_any_size_and_needs_blocks():
    energy = ResNetEnergy([(8, True)], 8, in_channels=1)
    assert energy(torch.rand(2, 1, 12, 12)).shape == (2,) and energy(torch.rand(2, 1, 20, 20)).shape == (2,)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        energy(torch.rand(2, 3, 12, 12))
    with pytest.raises(ValueError, match="at least one residual block"):
        ResNetEnergy([], 8)
