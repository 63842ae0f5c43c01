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


def test_step_jitter_mixes_the_directions_a_fixed_trajectory_length_leaves_behind():
    """10 leapfrog steps of 0.01 turn directions of standard deviation near 0.032 by about pi per move, so
    from a state twice too wide those directions barely relax; a step drawn per chain from [0.5, 1.5] x
    0.01 at every move (``step_jitter=0.5``) relaxes the state to the density's mean energy D / 2."""
    from ebm_core.known_z import gaussian_in_box

    energy = gaussian_in_box(64, sd_range=(0.02, 0.05), seed=3)
    unwhiten = torch.linalg.inv(energy.whiten_t.double())
    torch.manual_seed(0)
    wide = (energy.means.double() + 2 * torch.randn(256, 64, dtype=torch.float64) @ unwhiten).float()
    mean_energy = {}
    for jitter in (0.0, 0.5):
        torch.manual_seed(1)
        out = HMCSampler(steps=15, leapfrog_steps=10, step_size=0.01, step_jitter=jitter).run(energy, wide)
        mean_energy[jitter] = energy(out.x).mean().item()
    assert abs(mean_energy[0.5] - 32) < 0.15 * 32, mean_energy  # E = |z|^2 / 2 has mean D / 2 at equilibrium
    assert mean_energy[0.0] - 32 > 2 * abs(mean_energy[0.5] - 32), mean_energy
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="step_jitter"):
            HMCSampler(step_jitter=bad)


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


def test_known_z_energies_match_their_closed_form():
    from ebm_core.known_z import GaussianMixtureEnergy, gaussian_in_box

    energy = gaussian_in_box(3, sd_range=(0.05, 0.1), seed=1)
    chol = torch.linalg.cholesky(torch.linalg.inv(energy.whiten_t.double() @ energy.whiten_t.double().T))
    x = torch.rand(5, 3)
    exact = torch.distributions.MultivariateNormal(energy.means[0].double(), scale_tril=chol)
    # exp(-E) / Z is the normal density: -E(x) - log Z = log N(x)
    assert torch.allclose(-energy(x).double() - energy.log_z, exact.log_prob(x.double()), atol=1e-3)
    grid = torch.stack(torch.meshgrid(*[torch.linspace(0.0005, 0.9995, 1000)] * 2, indexing="ij"), -1).flatten(0, 1)
    mix = GaussianMixtureEnergy(torch.tensor([[0.3, 0.3], [0.7, 0.6]]), torch.diag(torch.tensor([0.05, 0.04])),
                                torch.tensor([0.3, 0.7]))
    riemann = torch.logsumexp(-mix(grid).double(), 0).item() + math.log(1e-6)  # the box's integral, on a grid
    assert abs(riemann - mix.log_z) < 1e-3
    with pytest.raises(ValueError, match="summing to 1"):
        GaussianMixtureEnergy(torch.zeros(2, 2), torch.eye(2), torch.tensor([0.5, 0.6]))


def test_geometric_ais_with_adapted_jittered_steps_brackets_a_correlated_gaussian_and_a_mixture():
    """In 32-D, the geometric schedule with the step size adapted per temperature (toward 0.8) and
    jittered per chain brackets the true log Z of a correlated Gaussian and of a 4-mode mixture at 1,000
    temperatures (within the Monte Carlo slack of 0.5 nats the apps allow), the bracket shrinking from
    100 temperatures on; the acceptance rate stays near its target at every temperature. Without the
    jitter and at 0.65 the 100-temperature "upper" bound falls 9-23 nats below the truth (measured)."""
    from ebm_core.known_z import gaussian_in_box

    for components in (1, 4):
        energy = gaussian_in_box(32, components=components, seed=components)
        widths = []
        for k in (100, 1000):
            torch.manual_seed(0)
            cfg = AISConfig(num_chains=64, num_temperatures=k, schedule="geometric", beta_min=1e-3,
                            target_accept=0.8, hmc=HMCSampler(leapfrog_steps=5, step_size=0.05, step_jitter=0.5))
            r = ais_log_partition(energy, (32,), cfg)
            widths.append(r.log_z_upper - r.log_z_lower)
            assert r.log_z_lower - 0.5 <= energy.log_z <= r.log_z_upper + 0.5, (components, k, r.log_z_lower,
                                                                              r.log_z_upper)
            assert len(r.accept_rates) == len(r.step_sizes) == k
            assert 0.7 < sum(r.accept_rates[k // 10:]) / (k - k // 10) < 0.9  # after the first tenth: near 0.8
            assert min(r.accept_rates[k // 10:]) > 0.5
        assert 0 < widths[1] < 1.0 and widths[0] > 3 * widths[1], (components, widths)


def test_one_path_bounds_log_z_at_every_reported_inverse_temperature():
    """``report_betas``: the bounds on log Z(b) of exp(-b E) along the path bracket the exact values of the
    tempered box Gaussian at b = 0.25 and 1 (the end, the same figures as the run's own bounds), each with
    a standard error; an inverse temperature outside (0, 1] is refused."""
    energy = BoxGaussianEnergy(8, m=0.3, s=0.2)
    torch.manual_seed(0)
    cfg = AISConfig(num_chains=500, num_temperatures=100, hmc=HMCSampler(leapfrog_steps=10, step_size=0.05))
    r = ais_log_partition(energy, (8,), cfg, report_betas=[0.25])
    assert sorted(r.at_betas) == [0.25, 1.0]
    end = r.at_betas[1.0]
    assert (end.log_z_lower, end.log_z_upper) == pytest.approx((r.log_z_lower, r.log_z_upper))
    for b, pb in r.at_betas.items():
        truth = BoxGaussianEnergy(8, m=0.3, s=0.2 / math.sqrt(b)).log_z()  # exp(-b E) is the Gaussian of sd s / sqrt(b)
        assert pb.log_z_lower - 0.05 <= truth <= pb.log_z_upper + 0.05, (b, pb, truth)
        assert 0 < pb.lower_se < 0.05 and 0 < pb.upper_se < 0.05
    assert r.lower_se == pytest.approx(end.lower_se)
    with pytest.raises(ValueError, match="report_betas"):
        ais_log_partition(energy, (8,), cfg, report_betas=[1.5])


def test_ais_schedules():
    assert AISConfig(num_temperatures=4).betas() == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    b = AISConfig(num_temperatures=3, schedule="geometric", beta_min=0.01).betas()
    assert b == pytest.approx([0, 0.01, 0.1, 1])
    for bad in (dict(schedule="cosine"), dict(beta_min=0.0), dict(target_accept=1.0)):
        with pytest.raises(ValueError):
            AISConfig(**bad)
