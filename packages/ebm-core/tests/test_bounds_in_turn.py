"""Per-element bounds of LangevinSampler and sampling a composition in turn (ebm_core.sample_in_turn)."""

import dataclasses

import pytest
import torch
from ebm_core import LangevinSampler, MLPEnergy, SumEnergy, sample_in_turn
from torch import nn


class Uphill(nn.Module):
    """E(x) = -sum x: every step pushes every entry up by the full clipped step."""

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return -x.flatten(1).sum(1)


def _box(x: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    return (x - radius).clamp(0.0, 1.0), (x + radius).clamp(0.0, 1.0)


@pytest.mark.parametrize("create_graph", [False, True])
def test_per_element_bounds_hold_at_every_step_and_bind(create_graph):
    torch.manual_seed(0)
    x0 = torch.rand(6, 5) * 0.5
    low, high = _box(x0, 0.05)
    sampler = LangevinSampler(steps=8, step_size=1.0, record_every=1, create_graph=create_graph)
    out = sampler.run(Uphill(), x0, low=low, high=high)
    assert ((out.chain >= low) & (out.chain <= high)).all()
    assert torch.equal(out.x.detach(), high)  # the energy pushes up: every entry ends at its own bound
    free = sampler.run(Uphill(), x0).x.detach()
    assert (free > high).all()  # without the bounds the chain leaves the box


def test_one_sided_and_broadcast_bounds():
    x0 = torch.full((4, 3), 0.2)
    high = torch.tensor([[0.3, 0.5, 0.7]])  # one row for the whole batch
    x = LangevinSampler(steps=10, step_size=100.0)(Uphill(), x0, high=high)
    assert torch.equal(x, high.expand(4, 3))
    downhill = SumEnergy([(Uphill(), None)], weights=[-1.0])  # E(x) = sum x: pushed down
    x = LangevinSampler(steps=10, step_size=100.0)(downhill, x0, low=torch.full((4, 1), 0.1))
    assert torch.equal(x, torch.full((4, 3), 0.1))


def test_masked_entries_stay_bit_identical_under_bounds():
    torch.manual_seed(0)
    energy = MLPEnergy(6, hidden=(16,))
    x0 = torch.rand(8, 6)
    mask = torch.zeros(8, 6, dtype=torch.bool)
    mask[:, 3:] = True
    low, high = torch.full_like(x0, 0.4), torch.full_like(x0, 0.6)  # x0 itself is mostly outside
    x = LangevinSampler(steps=5, step_size=10.0)(energy, x0, mask=mask, low=low, high=high)
    assert torch.equal(x[:, :3], x0[:, :3])
    assert ((x[:, 3:] >= 0.4) & (x[:, 3:] <= 0.6)).all()


def test_bounds_equal_projecting_after_every_one_step_chain():
    """The loop the bounds replace (ebm-vision's refinement): 1-step chains, each followed by the
    projection onto the box around the start, min(max(x, x0 - r), x0 + r) then clamp to [0, 1]."""
    torch.manual_seed(0)
    energy = MLPEnergy(5, hidden=(16, 16), num_classes=3).eval()
    x0, y, r = torch.rand(12, 5), torch.randint(0, 3, (12,)), 0.03
    sampler = LangevinSampler(steps=6, step_size=20.0)
    torch.manual_seed(1)
    x, one = x0, dataclasses.replace(sampler, steps=1)
    for _ in range(sampler.steps):
        x = torch.min(torch.max(one(energy, x, y), x0 - r), x0 + r).clamp(0.0, 1.0)
    torch.manual_seed(1)
    low, high = _box(x0, r)
    assert torch.equal(sampler(energy, x0, y, low=low, high=high), x)


@pytest.mark.parametrize(
    "low, high, error, message",
    [
        (torch.zeros(5, 3), None, ValueError, "does not broadcast"),
        (torch.full((4, 3), 0.6), torch.full((4, 3), 0.4), ValueError, "low must be <= high"),
        (None, torch.tensor([[float("nan"), 0.0, 0.0]]), ValueError, "NaN"),
        (0.5, None, TypeError, "torch.Tensor"),
    ],
)
def test_bad_bounds_are_explained(low, high, error, message):
    with pytest.raises(error, match=message):
        LangevinSampler(steps=1)(Uphill(), torch.rand(4, 3), low=low, high=high)


def _two_energies() -> tuple[MLPEnergy, MLPEnergy]:
    torch.manual_seed(0)
    return MLPEnergy(6, hidden=(16,), num_classes=3).eval(), MLPEnergy(6, hidden=(16,), cond_dim=2).eval()


@pytest.mark.parametrize("masked", [False, True])
def test_in_turn_equals_alternating_single_steps(masked):
    a, b = _two_energies()
    x0, ya, yb = torch.rand(7, 6), torch.randint(0, 3, (7,)), torch.randn(7, 2)
    mask = torch.rand(7, 6) > 0.5 if masked else None
    sampler = LangevinSampler(steps=5, step_size=20.0)
    one = dataclasses.replace(sampler, steps=1)
    torch.manual_seed(1)
    x = x0
    for _ in range(sampler.steps):
        x = one(b, one(a, x, ya, mask), yb, mask)
    torch.manual_seed(1)
    out = sample_in_turn(sampler, [a, b], x0, [ya, yb], mask=mask)
    assert torch.equal(out.x, x)
    if masked:
        assert torch.equal(out.x[~mask], x0[~mask])
    torch.manual_seed(1)
    ref = sampler.run(a, x0, ya)
    torch.manual_seed(1)
    assert torch.equal(sample_in_turn(sampler, [a], x0, ya).x, ref.x)  # one energy: the plain chain


def test_in_turn_records_every_step_and_keeps_the_graph():
    a, b = _two_energies()
    x0, ya, yb = torch.rand(4, 6), torch.randint(0, 3, (4,)), torch.randn(4, 2)
    sampler = LangevinSampler(steps=3, noise_std=0.0, record_energies=True, record_every=1)
    out = sample_in_turn(sampler, [a, b], x0, [ya, yb])
    assert out.energies.shape == (6, 4) and out.chain.shape == (4, 4, 6)  # one row per step, one state per round
    for k in range(3):  # each round starts with a's step, from where the last round ended
        assert torch.allclose(out.energies[2 * k], a(out.chain[k], ya), atol=1e-5)
    graph = LangevinSampler(steps=2, step_size=0.1, grad_clip=None, create_graph=True)
    sample_in_turn(graph, [a, b], x0, [ya, yb]).x.sum().backward()
    assert all(any(p.grad is not None and p.grad.abs().sum() > 0 for p in e.parameters()) for e in (a, b))


def test_in_turn_needs_matching_conditions_and_a_langevin_sampler():
    a, b = _two_energies()
    with pytest.raises(ValueError, match="2 energies"):
        sample_in_turn(LangevinSampler(steps=1), [a, b], torch.rand(3, 6), [torch.zeros(3, dtype=torch.long)])
    with pytest.raises(TypeError, match="LangevinSampler"):
        sample_in_turn(SumEnergy([(a, None)]), [a], torch.rand(3, 6))
