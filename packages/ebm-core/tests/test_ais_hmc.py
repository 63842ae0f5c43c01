import math

import pytest
import torch
from ebm_core import AISConfig, HMCSampler, ais_log_partition
from toy_energies import BoxGaussianEnergy


def test_hmc_samples_a_box_gaussian():
    torch.manual_seed(0)
    energy = BoxGaussianEnergy(3, m=0.5, s=0.15)
    out = HMCSampler(steps=200, leapfrog_steps=10, step_size=0.05).run(energy, torch.rand(2000, 3))
    assert out.accept_rate > 0.6
    assert (out.x.mean(0) - 0.5).abs().max() < 0.02
    assert (out.x.std(0) - 0.15).abs().max() < 0.02  # +-3.3 sigma fits in the box
    assert out.x.min() >= 0 and out.x.max() <= 1


def test_ais_bounds_bracket_known_log_z_and_tighten():
    energy = BoxGaussianEnergy(8, m=0.3, s=0.2)
    truth = energy.log_z()
    gaps = []
    for k in (3, 100):
        torch.manual_seed(0)
        cfg = AISConfig(num_chains=500, num_temperatures=k, hmc=HMCSampler(leapfrog_steps=10, step_size=0.05))
        r = ais_log_partition(energy, (8,), cfg)
        assert r.log_z_lower <= truth + 0.05, (k, r.log_z_lower, truth)
        assert r.log_z_upper >= truth - 0.05, (k, r.log_z_upper, truth)
        gaps.append(r.log_z_upper - r.log_z_lower)
    assert gaps[1] < 0.5 * gaps[0]
    assert gaps[1] < 0.2
    x = torch.rand(10, 8)
    lo, hi = r.log_likelihood_bounds(energy, x)
    exact = (-energy(x).mean() - truth).item()
    assert lo - 0.05 <= exact <= hi + 0.05
    assert not math.isnan(r.accept_rate)


def test_both_samplers_are_samplers_with_one_output_type_and_the_trainer_takes_hmc():
    """The Sampler protocol (DESIGN.md's call shape): Langevin and HMC implement it and return the same
    SampleOutput; the Trainer trains with either (HMC without the KL term, which needs a graph)."""
    from ebm_core import (
        HMCSampler,
        LangevinSampler,
        MLPEnergy,
        ObjectiveConfig,
        SampleOutput,
        Sampler,
        Trainer,
        TrainerConfig,
    )

    energy, x0 = MLPEnergy(2, hidden=(8,)), torch.rand(6, 2)
    for sampler in (LangevinSampler(steps=2, step_size=0.1), HMCSampler(steps=2, leapfrog_steps=2, step_size=0.05)):
        assert isinstance(sampler, Sampler)
        out = sampler.run(energy, x0)
        assert type(out) is SampleOutput and out.x.shape == x0.shape
        assert torch.isfinite(out.x).all() and not torch.equal(out.x, x0)
    assert 0.0 <= HMCSampler(steps=3, leapfrog_steps=2, step_size=0.05).run(energy, x0).accept_rate <= 1.0
    data = torch.rand(32, 2)
    hmc = HMCSampler(steps=1, leapfrog_steps=2, step_size=0.05, clamp=(0.0, 1.0))
    history = Trainer(energy, hmc, data, TrainerConfig(steps=3, batch_size=8, quiet=True)).train()
    assert len(history) >= 1 and all(math.isfinite(h["loss"]) for h in history)
    with pytest.raises(ValueError, match="the KL term"):
        Trainer(energy, hmc, data, TrainerConfig(batch_size=8, objective=ObjectiveConfig(kl_coeff=1.0)))
