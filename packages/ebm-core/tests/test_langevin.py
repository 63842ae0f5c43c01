import dataclasses
import math
import os
import warnings

import pytest
import torch
from ebm_core import LangevinSampler, MLPEnergy, SumEnergy, sample_in_turn
from toy_energies import BoxGaussianEnergy, GaussianMixtureEnergy


def mixture() -> GaussianMixtureEnergy:
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
    return GaussianMixtureEnergy(means, torch.tensor([0.5, 0.3, 0.2]), sigma=0.5)


def test_langevin_visits_every_mode_in_proportion():
    torch.manual_seed(0)
    energy = mixture()
    eta = 0.01  # unadjusted Langevin: x -= eta * grad + sqrt(2 eta) * noise
    sampler = LangevinSampler(steps=1500, step_size=eta, noise_std=math.sqrt(2 * eta), grad_clip=None, clamp=None)
    x0 = torch.randn(3000, 2) * 0.1 + torch.tensor([0.0, 3.0])  # all chains start far from the modes
    x = sampler(energy, x0)
    nearest = torch.cdist(x, energy.means).argmin(1)
    share = torch.bincount(nearest, minlength=3).float() / x.shape[0]
    # expected shares of nearest-centre regions, estimated from exact samples of the mixture
    k = torch.multinomial(energy.log_w.exp(), 200_000, replacement=True)
    exact = energy.means[k] + 0.5 * torch.randn(200_000, 2)
    expected = torch.bincount(torch.cdist(exact, energy.means).argmin(1), minlength=3).float() / 200_000
    assert torch.allclose(share, expected, atol=0.04), (share, expected)


def test_mask_leaves_unmasked_entries_bit_identical():
    torch.manual_seed(0)
    energy = MLPEnergy(6, hidden=(32, 32))
    x0 = torch.rand(16, 6)
    mask = torch.zeros(16, 6, dtype=torch.bool)
    mask[:, 3:] = True
    x = LangevinSampler(steps=10, step_size=10.0)(energy, x0, mask=mask)
    assert torch.equal(x[:, :3], x0[:, :3])
    assert not torch.equal(x[:, 3:], x0[:, 3:])


class RecordingEnergy(BoxGaussianEnergy):
    """Records, at each call, whether its parameter requires grad (on the autograd path)."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.seen: list[bool] = []

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.seen.append(self.dummy.requires_grad)
        return super().forward(x, y)


def test_sampling_freezes_parameters_during_the_chain_and_restores_them():
    energy = MLPEnergy(4, hidden=(16,))
    LangevinSampler(steps=5)(energy, torch.rand(8, 4))
    assert all(p.grad is None for p in energy.parameters())
    assert all(p.requires_grad for p in energy.parameters())
    recording = RecordingEnergy(4)
    LangevinSampler(steps=5)(recording, torch.rand(8, 4))
    assert recording.seen == [False] * 5 and recording.dummy.requires_grad  # no weight paths in the chain
    recording.seen.clear()
    LangevinSampler(steps=5, create_graph=True)(recording, torch.rand(8, 4))
    assert recording.seen == [True] * 5  # the KL term (A.8) needs the path to the weights


def test_spectral_norm_weights_computed_once_per_chain():
    energy = MLPEnergy(4, hidden=(16, 16))
    calls = []
    for module in energy.modules():
        if hasattr(module, "parametrizations"):
            module.parametrizations.weight[0].register_forward_hook(lambda *a: calls.append(1))
    LangevinSampler(steps=7)(energy, torch.rand(8, 4))
    assert len(calls) == 2  # two spectrally normalized layers, each computed once for 7 steps


def test_run_records_chain_and_energies_and_they_decrease():
    torch.manual_seed(0)
    energy = BoxGaussianEnergy(4)
    out = LangevinSampler(steps=20, step_size=0.01, noise_std=0.0, grad_clip=None, record_every=5,
                          record_energies=True).run(energy, torch.rand(32, 4))
    assert out.chain.shape == (5, 32, 4) and out.energies.shape == (20, 32)
    assert out.energies[-1].mean() < out.energies[0].mean()
    assert torch.equal(out.chain[-1], out.x)


def test_create_graph_lets_gradients_reach_parameters():
    energy = MLPEnergy(3, hidden=(8,))
    x = LangevinSampler(steps=3, step_size=0.1, grad_clip=None, create_graph=True).run(energy, torch.rand(4, 3)).x
    x.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in energy.parameters())


def test_sum_energy_is_sampled_like_any_energy():
    torch.manual_seed(0)
    e1 = GaussianMixtureEnergy(torch.tensor([[0.0]]), torch.tensor([1.0]), sigma=1.0)
    e2 = GaussianMixtureEnergy(torch.tensor([[2.0]]), torch.tensor([1.0]), sigma=1.0)
    both = SumEnergy([(e1, None), (e2, None)])
    x = torch.randn(5, 1)
    assert torch.allclose(both(x), e1(x) + e2(x))
    eta = 0.01
    s = LangevinSampler(steps=800, step_size=eta, noise_std=math.sqrt(2 * eta), grad_clip=None, clamp=None)
    samples = s(both, torch.randn(4000, 1))
    # product of N(0,1) and N(2,1) is N(1, 1/2)
    assert abs(samples.mean().item() - 1.0) < 0.06
    assert abs(samples.var().item() - 0.5) < 0.06


@pytest.mark.parametrize(
    "x0, y, message",
    [
        (torch.zeros(4, 3, dtype=torch.long), None, "floating"),
        (torch.tensor([[float("nan"), 0.0, 0.0]]), None, "NaN"),
        (torch.zeros(4, 3), torch.zeros(5, 2), "batch size"),
    ],
)
def test_bad_input_is_explained(x0, y, message):
    with pytest.raises(ValueError, match=message):
        LangevinSampler(steps=1)(MLPEnergy(3, hidden=(4,)), x0, y)


def test_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    import ebm_core.langevin as langevin

    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(langevin, "_compiled", broken)
    monkeypatch.setattr(langevin, "_compile_error", None)
    energy, x0 = MLPEnergy(5, hidden=(16,)).eval(), torch.rand(8, 5)  # eval: same weights each chain
    torch.manual_seed(0)
    eager = LangevinSampler(steps=4)(energy, x0)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="no compiler here"):
        fallback = LangevinSampler(steps=4, compile=True)(energy, x0)
    assert torch.equal(fallback, eager)
    with pytest.warns(UserWarning, match="sampling eagerly"):  # later chains do not try again
        LangevinSampler(steps=4, compile=True)(energy, x0)


def test_compile_is_ignored_with_create_graph():
    """compile=True with create_graph=True runs the eager graph-keeping chain: the same samples and the
    same parameter gradients as compile=False, nonzero (the KL term's path, A.8)."""
    energy, x0 = MLPEnergy(3, hidden=(8,)).eval(), torch.rand(4, 3)  # eval: the same weights in both chains
    grads = []
    for compile_ in (True, False):
        energy.zero_grad()
        torch.manual_seed(0)
        s = LangevinSampler(steps=2, step_size=0.1, grad_clip=None, create_graph=True, compile=compile_)
        x = s.run(energy, x0).x
        x.sum().backward()
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in energy.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    assert sum(float(g.abs().sum()) for g in grads[0]) > 0


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("EBM_RUN_COMPILE_TESTS") != "1",
                    reason="compiles (about a minute on a CPU); set EBM_RUN_COMPILE_TESTS=1")
def test_compiled_chain_gives_the_eager_samples():
    energy = MLPEnergy(10, hidden=(32, 32), num_classes=3).eval()
    x0, y = torch.rand(16, 10), torch.randint(0, 3, (16,))
    mask = torch.zeros(16, 10, dtype=torch.bool)
    mask[:, 4:] = True
    box = (x0 - 0.5).clamp(0, 1), (x0 + 0.5).clamp(0, 1)  # per-element bounds (run's low, high)
    for m, (low, high) in ((None, (None, None)), (mask, (None, None)), (mask, box)):
        torch.manual_seed(1)
        eager = LangevinSampler(steps=30).run(energy, x0, y, m, low, high).x
        torch.manual_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compiled = LangevinSampler(steps=30, compile=True).run(energy, x0, y, m, low, high).x
        assert torch.allclose(compiled, eager, atol=1e-4), (compiled - eager).abs().max()
    assert torch.equal(compiled[:, :4], x0[:, :4])
    assert ((compiled >= box[0]) & (compiled <= box[1])).all()
    other = MLPEnergy(10, hidden=(16,), cond_dim=2).eval()  # in turn: one compiled step function per energy
    y_other, chains = torch.randn(16, 2), []
    for flag in (False, True):
        torch.manual_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sampler = LangevinSampler(steps=20, compile=flag)
            chains.append(sample_in_turn(sampler, [energy, other], x0, [y, y_other], mask, *box).x)
    assert torch.allclose(chains[1], chains[0], atol=1e-4), (chains[1] - chains[0]).abs().max()


@pytest.mark.parametrize("act", ["swish", "leaky_relu", "relu"])
@pytest.mark.parametrize("conditioning", ["none", "continuous", "class"])
def test_mlp_hand_written_input_gradient_equals_autograd(act, conditioning):
    torch.manual_seed(0)
    cond_dim, num_classes = (5, 0) if conditioning == "continuous" else (0, 3 if conditioning == "class" else 0)
    energy = MLPEnergy(7, hidden=(16, 8), cond_dim=cond_dim, num_classes=num_classes, act=act).eval()
    x = torch.randn(11, 7, requires_grad=True)
    y = torch.randn(11, 5) if cond_dim else (torch.randint(0, 3, (11,)) if num_classes else None)
    e = energy(x, y)
    (g,) = torch.autograd.grad(e.sum(), x)
    e_fast, g_fast = energy.energy_and_input_grad(x.detach(), y)
    torch.testing.assert_close(e_fast, e.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_fast, g, rtol=1e-5, atol=1e-6)
    other = "relu" if act != "relu" else "swish"
    torch.manual_seed(0)  # same weights, another activation: ``act`` reaches both paths
    changed = MLPEnergy(7, hidden=(16, 8), cond_dim=cond_dim, num_classes=num_classes, act=other).eval()
    e_other, g_other = changed.energy_and_input_grad(x.detach(), y)
    assert not torch.allclose(e_other, e_fast) and not torch.allclose(g_other, g_fast)


def test_sampler_takes_the_fast_gradient_and_it_gives_the_autograd_samples():
    class ViaAutograd(MLPEnergy):  # a redefined forward turns the fast path off
        def forward(self, x, y=None):
            return super().forward(x, y)

    torch.manual_seed(0)
    fast = MLPEnergy(4, hidden=(32, 32), num_classes=3)
    slow = ViaAutograd(4, hidden=(32, 32), num_classes=3)
    slow.load_state_dict(fast.state_dict())
    assert slow.energy_and_input_grad(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)) is None
    x0, y = torch.rand(64, 4), torch.randint(0, 3, (64,))
    sampler = LangevinSampler(steps=30, step_size=1.0, noise_std=0.01, grad_clip=None, temperature=0.5)
    out = []
    for energy in (fast, slow):
        torch.manual_seed(1)
        out.append(sampler(energy, x0, y))
    assert (out[0] - x0).abs().mean() > 0.01  # the chains moved
    torch.testing.assert_close(out[0], out[1], rtol=1e-4, atol=1e-5)
    assert all(p.grad is None for p in fast.parameters())


def test_every_chain_takes_the_same_step():
    """One step function for all chains: with the same seed, the graph-keeping chain (KL term) gives the
    plain chain's samples, and one term in turn is the plain chain; masked entries stay at x0."""
    from ebm_core import langevin_step, sample_in_turn

    energy = MLPEnergy(4, hidden=(16,)).eval()
    x0, mask = torch.rand(8, 4), torch.tensor([True, True, False, True]).expand(8, 4)
    s = LangevinSampler(steps=5, step_size=0.05, noise_std=0.01)
    outs = []
    for sample in (lambda: s.run(energy, x0, mask=mask).x,
                   lambda: dataclasses.replace(s, create_graph=True).run(energy, x0, mask=mask).x.detach(),
                   lambda: sample_in_turn(s, [energy], x0, mask=mask).x):
        torch.manual_seed(4)
        outs.append(sample())
    assert torch.allclose(outs[0], outs[1], atol=1e-6) and torch.equal(outs[0], outs[2])
    assert torch.equal(outs[0][:, 2], x0[:, 2]) and not torch.equal(outs[0], x0)
    # the step itself: no noise, a constant gradient, the clip and the box
    one = dataclasses.replace(s, noise_std=0.0, grad_clip=0.01, step_size=10.0)
    x, e, g = langevin_step(torch.full((2, 3), 0.5), lambda x: (x.sum(1), torch.ones_like(x)), one, None, None,
                            None, torch.zeros(2, 3))
    assert torch.allclose(x, torch.full((2, 3), 0.4)) and torch.equal(g, torch.ones(2, 3))
