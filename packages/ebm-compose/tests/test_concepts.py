"""Concept energies, their sum as an energy, in-turn sampling and the KL fine-tuning step."""

import dataclasses

import numpy as np
import pytest
import torch
from ebm_compose import (
    CONCEPT_SLICES,
    ColumnCondition,
    ConceptTrainingConfig,
    DSpritesEnergy,
    compose,
    concept_energy,
    encode_labels,
    finetune_sum,
    init_chains,
    render,
    sample,
    to_tensor,
    train_energy,
)
from ebm_core import HMCSampler, LangevinSampler, MLPEnergy, SumEnergy

CFG = ConceptTrainingConfig(steps=2, batch_size=8, langevin_steps=3, buffer_size=32, channels=(8, 8), hidden=8)


def _pair(seed=0):
    torch.manual_seed(seed)
    pair = concept_energy(("scale",), 8, CFG), concept_energy(("position",), 8, CFG)
    for e in pair:  # label projections start at zero; give them a value so that labels matter
        for name, p in e.named_parameters():
            if name.endswith("proj.weight"):
                torch.nn.init.normal_(p, std=0.5)
        e.eval()  # spectral norm with fixed power-iteration vectors, so calls are repeatable
    return pair


def test_concept_energy_reads_only_its_columns():
    e, _ = _pair()
    x, y = torch.rand(4, 1, 8, 8), torch.rand(4, 8)
    y2 = y.clone()
    y2[:, 1:] = torch.rand(4, 7)  # everything but the scale column changes
    assert torch.equal(e(x, y), e(x, y2))
    y2[:, 0] += 0.3
    assert not torch.equal(e(x, y), e(x, y2))
    with pytest.raises(ValueError, match="label matrix"):
        e(x, None)


def test_sum_of_energies_is_an_energy_every_sampler_accepts():
    a, b = _pair()
    total = compose([a, b])
    assert isinstance(total, SumEnergy)
    x, y = torch.rand(6, 1, 8, 8), torch.rand(6, 8)
    assert torch.allclose(total(x, y), a(x, y) + b(x, y))
    for sampler in (LangevinSampler(steps=4, step_size=500.0), HMCSampler(leapfrog_steps=3, step_size=0.01)):
        out = sampler(total, x, y)
        out = out if isinstance(out, torch.Tensor) else out.x
        assert out.shape == x.shape and torch.isfinite(out).all()
        assert not torch.equal(out, x) and out.min() >= 0 and out.max() <= 1


def test_in_turn_sampling_is_ebm_core_langevin_step_by_step():
    a, b = _pair()
    x0, y = init_chains(5, (1, 8, 8), torch.Generator().manual_seed(0)), torch.rand(5, 8)
    sampler = LangevinSampler(steps=4, step_size=500.0)
    torch.manual_seed(1)
    ref = sampler(a, x0, y)
    torch.manual_seed(1)
    assert torch.equal(sample([a], x0, y, sampler, mode="in_turn"), ref)
    one = dataclasses.replace(sampler, steps=1)  # two concepts: a's step, then b's, each round; in batches of 3
    torch.manual_seed(1)
    parts = []
    for xb, yb in ((x0[:3], y[:3]), (x0[3:], y[3:])):
        for _ in range(sampler.steps):
            xb = one(b, one(a, xb, yb), yb)
        parts.append(xb)
    torch.manual_seed(1)
    assert torch.equal(sample([a, b], x0, y, sampler, mode="in_turn", batch=3), torch.cat(parts))
    assert sample([a, a], x0, y, sampler, mode="sum").shape == x0.shape
    with pytest.raises(ValueError, match="mode"):
        sample([a], x0, y, sampler, mode="random")


def test_weights_scale_each_concepts_pull_in_both_sampling_modes():
    a, b = _pair()
    x0, y = init_chains(5, (1, 8, 8), torch.Generator().manual_seed(0)), torch.rand(5, 8)
    sampler = LangevinSampler(steps=3, step_size=0.5, grad_clip=None)  # unclipped: the weights act on the step
    for mode in ("sum", "in_turn"):
        torch.manual_seed(1)
        plain = sample([a, b], x0, y, sampler, mode=mode)
        torch.manual_seed(1)
        same = sample([a, b], x0, y, sampler, mode=mode, weights=[1.0, 1.0])
        torch.manual_seed(1)
        quarter = sample([a, b], x0, y, sampler, mode=mode, weights=[0.25, 1.0])
        assert torch.allclose(plain, same) and not torch.allclose(plain, quarter)
    one = dataclasses.replace(sampler, steps=1)
    torch.manual_seed(1)
    xb = x0
    for _ in range(sampler.steps):  # in turn: a's step on 0.25 E_a, then b's step on E_b
        xb = one(b, one(compose([a], [0.25]), xb, y), y)
    torch.manual_seed(1)
    assert torch.allclose(sample([a, b], x0, y, sampler, mode="in_turn", weights=[0.25, 1.0]), xb)
    torch.manual_seed(1)
    alone = sampler(b, x0, y)
    torch.manual_seed(1)  # a concept of weight 0 has no pull: the summed-gradient chain is b's own
    assert torch.allclose(sample([a, b], x0, y, sampler, mode="sum", weights=[0.0, 1.0]), alone, atol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        sample([a, b], x0, y, sampler, weights=[1.0])


def test_kl_finetuning_runs_and_changes_the_sum_not_the_originals():
    a, b = _pair()
    before = [p.detach().clone() for p in list(a.parameters()) + list(b.parameters())]
    x = init_chains(16, (1, 8, 8), torch.Generator().manual_seed(2)).round()
    y = torch.rand(16, 8)
    probe = torch.rand(4, 1, 8, 8), torch.rand(4, 8)
    e_before = compose([a, b])(*probe)
    tuned, history = finetune_sum([a, b], x, y, CFG, seed=0, steps=3, kl_coeff=1.0, quiet=True)
    assert history and all("kl" in h for h in history)  # the KL term of A.8 is in the loss
    assert not torch.allclose(tuned(*probe), e_before)
    after = [p.detach() for p in list(a.parameters()) + list(b.parameters())]
    assert all(torch.equal(p, q) for p, q in zip(before, after))  # fine-tuned copies, originals kept


def test_dsprites_energy_checks_its_input():
    e = DSpritesEnergy(cond_dim=2, image_size=16, channels=(4, 4))
    with pytest.raises(ValueError, match="expected images"):
        e(torch.rand(2, 1, 8, 8), torch.rand(2, 2))
    with pytest.raises(ValueError, match="too small"):
        DSpritesEnergy(image_size=4, channels=(4, 4, 4))
    with pytest.raises(ValueError, match="exactly one column"):
        ColumnCondition(e, [0, 1], as_index=True)
    assert dataclasses.replace(CFG, steps=5).sampler.steps == CFG.langevin_steps
    with pytest.raises(ValueError, match="label_frequencies"):
        DSpritesEnergy(cond_dim=2, image_size=16, channels=(4, 4), label_frequencies=-1)


def test_label_frequencies_condition_on_sin_cos_features_of_the_label():
    """K frequencies: the conditioning reads [y, sin(2^k pi y), cos(2^k pi y)], 2 + 2 * 2 * 3 values for
    a 2-dim label; a label and its shift by 2 (same sin / cos) differ only through the raw y."""
    torch.manual_seed(0)
    e = DSpritesEnergy(cond_dim=2, image_size=16, channels=(4, 4), label_frequencies=3).eval()
    assert e.cond_dim == 14 and e.biases[0].proj.in_features == 14
    for name, p in e.named_parameters():
        if name.endswith("proj.weight"):
            torch.nn.init.normal_(p, std=0.5)
    x, y = torch.rand(3, 1, 16, 16), torch.rand(3, 2)
    assert e(x, y).shape == (3,) and not torch.allclose(e(x, y), e(x, y + 0.25))
    for m in (*e.biases, *e.gains):
        m.proj.weight.data[:, :2] = 0  # drop the raw-label columns: only the periodic features remain
    assert torch.allclose(e(x, y), e(x, y + 2.0), atol=1e-5)
    cfg = dataclasses.replace(CFG, label_frequencies=2)
    assert concept_energy(("position",), 8, cfg).energy.cond_dim == 2 * (1 + 2 * 2)


def test_composed_sample_satisfies_both_concepts_better_than_either_alone():
    """Two tiny concept EBMs trained independently (concept a: x1 = label a, x2 free; concept b:
    x2 = label b, x1 free); samples of their sum satisfy both labels more often than either alone."""
    g = torch.Generator().manual_seed(0)
    lab = 0.15 + 0.7 * torch.rand(4000, 2, generator=g)
    x = lab + 0.03 * torch.randn(4000, 2, generator=g)
    free = torch.rand(4000, 2, generator=g)
    xa, xb = torch.stack([x[:, 0], free[:, 1]], 1), torch.stack([free[:, 0], x[:, 1]], 1)
    cfg = ConceptTrainingConfig(steps=300, batch_size=128, lr=1e-3, langevin_steps=20, step_size=0.05,
                                noise_std=0.01, grad_clip=None, buffer_size=2000)
    ea, _ = train_energy(ColumnCondition(MLPEnergy(2, (64, 64), cond_dim=1, spectral_norm=False), [0]), xa, lab, cfg,
                         seed=0, quiet=True)
    eb, _ = train_energy(ColumnCondition(MLPEnergy(2, (64, 64), cond_dim=1, spectral_norm=False), [1]), xb, lab, cfg,
                         seed=1, quiet=True)
    target = 0.15 + 0.7 * torch.rand(500, 2, generator=torch.Generator().manual_seed(5))
    x0 = torch.rand(500, 2, generator=torch.Generator().manual_seed(1))
    chain = LangevinSampler(steps=100, step_size=0.05, noise_std=0.01, grad_clip=None, clamp=(0.0, 1.0))
    both = {}
    for name, energies in (("a", [ea]), ("b", [eb]), ("a+b", [ea, eb])):
        torch.manual_seed(3)
        z = sample(energies, x0, target, chain, mode="in_turn")
        ok = (z - target).abs() < 0.1
        both[name] = ok.all(1).float().mean().item()
        if name != "a+b":  # each model alone does satisfy its own concept above chance (0.2)
            assert ok[:, 0 if name == "a" else 1].float().mean() > 0.3
    assert both["a+b"] > 1.3 * max(both["a"], both["b"]), both


def _coordinate_composition(seeds=(0, 1)):
    """Share of 200 samples at the requested (horizontal, vertical) coordinates, per sampled model."""
    size = 16
    pos = np.arange(32)
    px, py = np.meshgrid(pos, pos, indexing="ij")
    lat = np.stack([np.zeros(1024), np.full(1024, 3), np.zeros(1024), px.ravel(), py.ravel()], 1).astype(np.int64)
    x, y = to_tensor(render(lat), size), encode_labels(lat)
    cfg = ConceptTrainingConfig(steps=200, batch_size=32, lr=2e-3, langevin_steps=10, buffer_size=1000,
                                channels=(16, 32, 32), hidden=32, label_frequencies=4)
    models = []
    for seed, column in zip(seeds, (CONCEPT_SLICES["position"].start, CONCEPT_SLICES["position"].start + 1)):
        torch.manual_seed(seed)
        net = DSpritesEnergy(1, size, channels=cfg.channels, hidden=cfg.hidden, label_frequencies=4)
        models.append(train_energy(ColumnCondition(net, [column]), x, y, cfg, seed=seed, quiet=True)[0])

    def centroid(img):  # (horizontal, vertical) centre of mass in pixels, and the mass
        m = img[:, 0].clamp(0, 1)
        grid = torch.arange(size, dtype=torch.float32)
        mass = m.sum((1, 2))
        centre = torch.stack([(m.sum(1) * grid).sum(1), (m.sum(2) * grid).sum(1)], 1)
        return centre / mass.clamp_min(1e-6)[:, None], mass

    idx = np.random.default_rng(5).integers(0, 1024, 200)
    c_true, m_true = centroid(x[idx])
    x0 = init_chains(200, (1, size, size), torch.Generator().manual_seed(6))
    chain = dataclasses.replace(cfg.sampler, steps=40)
    ok = {}
    for name, energies in (("horizontal", [models[0]]), ("vertical", [models[1]]), ("sum", models)):
        torch.manual_seed(7)
        c, mass = centroid(sample(energies, x0, y[idx], chain, mode="in_turn"))
        ok[name] = ((c - c_true).abs() < 1.5) & (mass > 0.25 * m_true)[:, None]  # within 1.5 px, not empty
    return ok


def test_composed_dsprites_sample_is_at_both_coordinates_more_often_than_either_model_alone():
    """Image level: two tiny concept EBMs on 16 x 16 dSprites squares, one conditioned on the horizontal
    position only, the other on the vertical position only (each trained on every position). A sample of
    their sum (in turn) puts the square at both requested coordinates far more often than either model."""
    ok = _coordinate_composition()
    assert ok["horizontal"][:, 0].float().mean() > 0.8 and ok["vertical"][:, 1].float().mean() > 0.8  # own concept
    both = {k: v.all(1).float().mean().item() for k, v in ok.items()}
    assert both["sum"] > 0.5 and both["sum"] > 2 * max(both["horizontal"], both["vertical"]), both


def test_wrong_inputs_are_refused_with_their_reason():
    energy = ColumnCondition(MLPEnergy(2, (8,), cond_dim=2), [3, 4])  # position: label columns 3 and 4
    x, y = torch.rand(4, 2), torch.rand(4, 6)
    assert energy(x, y).shape == (4,)
    with pytest.raises(ValueError, match=r"reads label columns \[3, 4\], but y has only 3 columns"):
        energy(x, y[:, :3])  # used to end in an index error inside torch
    cfg = ConceptTrainingConfig(steps=2, batch_size=4, langevin_steps=1)
    with pytest.raises(ValueError, match=r"training images x must lie in \[0, 1\].*divide by 255"):
        train_energy(energy, x * 255, y, cfg, seed=0, quiet=True)
    with pytest.raises(ValueError, match=r"y must be a tensor of labels, one row per chain \(4\), got NoneType"):
        sample([energy], x, None, cfg.sampler)
    with pytest.raises(ValueError, match="checkpoint_every must be >= 1"):
        ConceptTrainingConfig(checkpoint_every=0)  # used to end in ZeroDivisionError
    ConceptTrainingConfig(steps=0)  # allowed: finetune_sum(..., steps=0) fine-tunes nothing
    with pytest.raises(ValueError, match="step_size must be > 0"):
        ConceptTrainingConfig(step_size=-500.0)
