"""PGD projections, the attack on a trained classifier, the Langevin refinement and BPDA."""


import pytest
import torch
from ebm_core import LangevinSampler, SupervisedConfig, lowest_energy_class
from ebm_vision import MNISTEnergy, dequantize, load_images
from ebm_vision.data import shared_mnist_dir
from ebm_vision.robustness import (
    PGDConfig,
    RefineConfig,
    RobustnessConfig,
    bpda_logits,
    class_energies,
    ebm_predict,
    energy_logits,
    pgd_attack,
    project,
    refine,
    robustness_curves,
    train_energy_classifier,
)

MNIST_DIR = shared_mnist_dir()


def small_net(seed: int = 0) -> MNISTEnergy:
    torch.manual_seed(seed)
    return MNISTEnergy(num_classes=10, channels=(8, 16, 16, 32), hidden=32)


@pytest.fixture(scope="module")
def mnist():
    q, y = load_images("mnist", "test", MNIST_DIR, limit=3000)
    return dequantize(q, torch.Generator().manual_seed(0)), y


@pytest.fixture(scope="module")
def trained_classifier(mnist):
    x, y = mnist
    net = small_net()
    cfg = SupervisedConfig(steps=80, batch_size=32, lr=3e-3, quiet=True, log_every=1)
    losses = [row["loss"] for row in train_energy_classifier(net, x[:2500], y[:2500], 10, cfg)]
    assert len(losses) == 80 and sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    return net


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_is_onto_ball_around_clean_image_and_unit_box(norm):
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    x[:8] = 0.0  # images at the edge of the box
    eps = 0.1 if norm == "linf" else 0.5
    far = x + 3 * torch.randn_like(x)
    p = project(far, x, eps, norm)
    dist = (p - x).flatten(1).abs().amax(1) if norm == "linf" else (p - x).flatten(1).norm(dim=1)
    assert (dist <= eps + 1e-5).all() and p.min() >= 0 and p.max() <= 1
    assert torch.isclose(dist, torch.full_like(dist, eps), atol=1e-4).any()  # the ball is reached, not shrunk
    inside = (x + 0.2 * eps * (torch.rand_like(x) * 2 - 1) / (1 if norm == "linf" else 8)).clamp(0, 1)
    assert torch.allclose(project(inside, x, eps, norm), inside)  # feasible points are fixed
    # the projection is the nearest feasible point: no feasible sample is closer to `far`
    for _ in range(20):
        q = project(p + 0.05 * torch.randn_like(p), x, eps, norm)
        assert ((far - p).flatten(1).norm(dim=1) <= (far - q).flatten(1).norm(dim=1) + 1e-4).all()


@pytest.mark.parametrize("norm,eps", [("linf", 0.2), ("l2", 2.0)])
def test_attack_stays_feasible_and_lowers_classifier_accuracy(mnist, trained_classifier, norm, eps):
    x, y = mnist
    xt, yt = x[2500:2600], y[2500:2600]
    logits = energy_logits(trained_classifier, 10)
    clean = (lowest_energy_class(trained_classifier, xt, 10) == yt).float().mean().item()
    torch.manual_seed(1)
    adv = pgd_attack(logits, xt, yt, PGDConfig(norm=norm, eps=eps, steps=10))
    dist = (adv - xt).flatten(1).abs().amax(1) if norm == "linf" else (adv - xt).flatten(1).norm(dim=1)
    assert (dist <= eps + 1e-5).all() and adv.min() >= 0 and adv.max() <= 1
    attacked = (lowest_energy_class(trained_classifier, adv, 10) == yt).float().mean().item()
    noise = project(xt + eps * torch.randn_like(xt) / (1 if norm == "linf" else 28), xt, eps, norm)
    random = (lowest_energy_class(trained_classifier, noise, 10) == yt).float().mean().item()
    assert clean > 0.5, clean
    assert attacked < clean - 0.3 and attacked < random - 0.2, (clean, random, attacked)


def test_l2_attack_with_many_large_steps_stays_in_ball_around_clean(mnist, trained_classifier):
    # the reference code projected relative to the previous iterate, drifting ~steps * eps away
    x, y = mnist[0][:16], mnist[1][:16]
    adv = pgd_attack(energy_logits(trained_classifier, 10), x, y, PGDConfig("l2", eps=0.5, steps=8, step_size=0.5))
    assert ((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()


def test_refinement_stays_in_box_and_predicts_lowest_energy_class():
    net = small_net(1).eval()
    torch.manual_seed(0)
    x = torch.rand(6, 1, 28, 28)
    cfg = RefineConfig(sampler=LangevinSampler(steps=10, step_size=10.0, noise_std=0.05, grad_clip=0.01), radius=0.03)
    xr, e = refine(net, x, 10, cfg)
    assert xr.shape == (6, 10, 1, 28, 28) and e.shape == (6, 10)
    dev = (xr - x.unsqueeze(1)).abs()
    assert dev.max() <= 0.03 + 1e-6 and dev.max() > 0.02 and xr.min() >= 0 and xr.max() <= 1
    # lower energy than where each chain started (the chain descends the energy)
    assert (e < class_energies(net, x, 10).detach()).float().mean() > 0.8
    torch.manual_seed(3)
    pred = ebm_predict(net, x, 10, cfg)
    torch.manual_seed(3)
    assert torch.equal(pred, refine(net, x, 10, cfg)[1].argmin(1))


def test_bpda_without_refinement_steps_is_the_plain_logits_and_has_gradients():
    net = small_net(2).eval()
    x = torch.rand(4, 1, 28, 28, requires_grad=True)
    none = RefineConfig(sampler=LangevinSampler(steps=0), radius=0.03)
    a, b = bpda_logits(net, 10, none)(x), energy_logits(net, 10)(x)
    assert torch.allclose(a, b, atol=1e-5)
    ga, = torch.autograd.grad(a[:, 0].sum(), x)
    gb, = torch.autograd.grad(b[:, 0].sum(), x)
    assert torch.allclose(ga, gb, atol=1e-5)
    # with refinement steps the gradient still reaches the input (straight-through), EOT averages draws
    g, = torch.autograd.grad(bpda_logits(net, 10, RefineConfig(), eot_samples=2)(x)[:, 3].sum(), x)
    assert g.abs().sum() > 0
    # and the forward value is the refined classifier's, not the plain one: -E(refine_c(x), c)
    steps = RefineConfig(sampler=LangevinSampler(steps=3, noise_std=0.0), radius=0.03)
    refined = -refine(net, x, 10, steps)[1]
    through = bpda_logits(net, 10, steps)(x).detach()
    assert torch.allclose(through, refined, atol=1e-5)
    assert (through - b.detach()).abs().max() > 1e-3


def test_robustness_curves_shapes(mnist, trained_classifier):
    x, y = mnist[0][2500:2516], mnist[1][2500:2516]
    cfg = RobustnessConfig(linf_eps=(0.0, 0.3), l2_eps=(0.0, 3.0), pgd_steps=3, num_images=16, batch_size=8,
                           refine=RefineConfig(sampler=LangevinSampler(steps=2)))
    curves = robustness_curves(small_net(3), trained_classifier, x, y, 10, cfg, quiet=True)
    assert set(curves) == {"ebm", "ebm_bpda", "classifier"}
    for c in curves.values():
        assert len(c["linf"]) == 2 and len(c["l2"]) == 2 and all(0 <= a <= 1 for a in c["linf"] + c["l2"])
    assert curves["ebm_bpda"]["linf"][0] == curves["ebm"]["linf"][0]
    assert curves["classifier"]["linf"][1] < curves["classifier"]["linf"][0]
