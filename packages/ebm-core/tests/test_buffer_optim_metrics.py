import numpy as np
import pytest
import torch
from ebm_core import (
    ClippedAdam,
    ReplayBuffer,
    auroc,
    dequantize,
    frechet_distance,
    frechet_distance_samples,
    quantize,
)


def test_buffer_fresh_rate_and_replay():
    torch.manual_seed(0)
    buf = ReplayBuffer((3,), capacity=100, replay_prob=0.95)
    buf.add(torch.full((100, 3), 7.0))
    x, _, replayed = buf.sample(40_000, torch.zeros(40_000, 3))
    fresh_rate = 1 - replayed.float().mean().item()
    assert abs(fresh_rate - 0.05) < 0.005
    assert torch.all(x[replayed] == 7.0) and torch.all(x[~replayed] == 0.0)


def test_empty_buffer_gives_fresh_states():
    buf = ReplayBuffer((2,), capacity=10)
    x, _, replayed = buf.sample(5, lambda n: torch.ones(n, 2))
    assert not replayed.any() and torch.all(x == 1)


def test_dequantize_range_and_inverse():
    q = torch.arange(256, dtype=torch.uint8).repeat(40)
    x = dequantize(q)
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() < 1
    assert torch.equal(quantize(x), q)  # each level maps into its own 1/256 bin
    assert not torch.equal(dequantize(q), x)  # fresh noise on every read
    with pytest.raises(ValueError, match="uint8"):
        dequantize(x)


def test_ring_overwrites_oldest_and_keeps_labels():
    buf = ReplayBuffer((1,), capacity=4, replay_prob=1.0, label_shape=(2,), label_dtype=torch.float32)
    for v in range(6):
        buf.add(torch.full((1, 1), float(v)), torch.full((1, 2), 10.0 * v))
    assert len(buf) == 4
    assert sorted(buf.samples[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0]
    x, y, _ = buf.sample(50, torch.zeros(50, 1), torch.zeros(50, 2))
    assert torch.all(y[:, 0] == 10.0 * x[:, 0])  # each replayed sample comes with its own label
    assert buf.latest(3)[:, 0].tolist() == [3.0, 4.0, 5.0]  # the newest, oldest first, across the wrap
    assert buf.latest(10)[:, 0].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert buf.latest_labels(3)[:, 0].tolist() == [30.0, 40.0, 50.0]  # the labels of latest(3), in its order
    assert ReplayBuffer((1,), capacity=4).latest_labels(2) is None


def test_uint8_storage_dequantizes_within_one_level():
    torch.manual_seed(0)
    buf = ReplayBuffer((5,), capacity=50, replay_prob=1.0, uint8=True)
    data = torch.rand(50, 5)
    buf.add(data)
    assert buf.samples.dtype == torch.uint8
    decoded = buf._decode(buf.samples)
    assert (decoded - data).abs().max() < 1 / 256 + 1e-6
    assert (buf.latest(50) - data).abs().max() <= 0.5 / 256 + 1e-6  # bin centres, no noise


def test_buffer_state_dict_roundtrip_and_shape_errors():
    a = ReplayBuffer((2,), capacity=8)
    a.add(torch.rand(5, 2))
    b = ReplayBuffer((2,), capacity=8)
    b.load_state_dict(a.state_dict())
    assert len(b) == 5 and torch.equal(a.samples, b.samples) and b.ptr == a.ptr
    with pytest.raises(ValueError, match="shape"):
        a.add(torch.rand(5, 3))


def test_clipped_adam_matches_reference_formula():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(6))
    opt = ClippedAdam([p], lr=0.01)
    grads = [torch.randn(6) * s for s in (0.05, 1.0, 50.0, 0.3)]  # 50x spikes must be clipped
    ref = torch.zeros(6, dtype=torch.float64)
    m = torch.zeros(6, dtype=torch.float64)
    v = torch.zeros(6, dtype=torch.float64)
    clipped_any = False
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        opt.step()
        g = g.double()
        v_hat_prev = v / (1 - 0.999 ** (t - 1)) if t > 1 else v
        bound = 3 * v_hat_prev.sqrt() + 0.1
        clipped_any |= bool((g.abs() > bound).any())
        g = g.clamp(-bound, bound)
        m = g  # beta1 = 0
        v = 0.999 * v + 0.001 * g * g
        ref -= 0.01 * m / ((v / (1 - 0.999**t)).sqrt() + 1e-8)
    assert clipped_any
    assert torch.allclose(p.detach().double(), ref, atol=1e-6)


def test_frechet_distance_known_answer_and_symmetry():
    d = 4
    m = np.array([1.0, 0.0, -2.0, 0.5])
    s = 3.0
    fd = frechet_distance(np.zeros(d), np.eye(d), m, s**2 * np.eye(d))
    assert fd == pytest.approx((m**2).sum() + d * (1 - s) ** 2)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3))
    b = rng.normal(size=(400, 3)) @ np.diag([1, 2, 0.5]) + 1
    assert frechet_distance_samples(a, b) == pytest.approx(frechet_distance_samples(b, a))
    assert frechet_distance_samples(a, a) == pytest.approx(0.0, abs=1e-8)


def test_auroc_against_pairwise_definition():
    rng = np.random.default_rng(0)
    pos = rng.normal(1.0, 1.0, 300).round(1)  # rounding creates ties
    neg = rng.normal(0.0, 1.0, 200).round(1)
    pairwise = ((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])).mean()
    assert auroc(pos, neg) == pytest.approx(pairwise)
    assert auroc([2, 3], [0, 1]) == 1.0 and auroc([0, 1], [2, 3]) == 0.0


def test_batched_frechet_distances_match_one_at_a_time():
    from ebm_core import frechet_distances

    rng = np.random.default_rng(1)
    d = 5
    a = [rng.normal(size=(d, d)) for _ in range(3)]
    covs = torch.tensor(np.stack([m @ m.T + 0.1 * np.eye(d) for m in a]))
    mus = torch.tensor(rng.normal(size=(3, d)))
    batched = frechet_distances(mus, covs, mus.flip(0), covs.flip(0))
    for i in range(3):
        assert batched[i].item() == pytest.approx(frechet_distance(mus[i], covs[i], mus[2 - i], covs[2 - i]))
    # the closed form for commuting covariances: |mu1 - mu2|^2 + sum (sqrt(l1) - sqrt(l2))^2
    one = frechet_distances(torch.zeros(d), torch.eye(d) * 4.0, torch.ones(d), torch.eye(d))
    assert one.item() == pytest.approx(d + d * (2.0 - 1.0) ** 2)


def test_energy_distance_is_zero_for_equal_laws_and_grows_with_a_shift():
    from ebm_core import energy_distance, mean_pairwise_distance

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 64, 3, generator=g, dtype=torch.float64)
    y = torch.randn(200, 64, 3, generator=g, dtype=torch.float64)
    same = energy_distance(x, y)
    assert same.shape == (200,) and abs(same.mean().item()) < 0.01  # unbiased: zero on average
    shifted = energy_distance(x, y + torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64))
    assert shifted.mean().item() > 1.0
    # by its definition, on one small pair of sets
    a, b = x[0, :4], y[0, :5]
    cross = torch.stack([torch.stack([(p - q).norm() for q in b]) for p in a]).mean()
    within = lambda s: sum((s[i] - s[j]).norm() for i in range(len(s)) for j in range(len(s)) if i != j) / (  # noqa: E731
        len(s) * (len(s) - 1))
    assert energy_distance(a, b).item() == pytest.approx((2 * cross - within(a) - within(b)).item())
    assert mean_pairwise_distance(a).item() == pytest.approx(within(a).item())
    # paired draws (y[i] made from x[i]): the diagonal of the cross term would bias it low
    near = x + 0.01 * y
    assert energy_distance(x, near).mean().item() < -0.05  # biased by the dependent pairs (-0.07)
    assert abs(energy_distance(x, near, paired=True).mean().item()) < 0.02
