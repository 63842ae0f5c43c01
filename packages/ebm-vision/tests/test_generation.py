"""Behaviour of generation, restoration and scores on a tiny MNIST EBM trained briefly on real digits."""


import pytest
import torch
from ebm_core import LangevinSampler, frechet_distance_samples
from ebm_vision import DequantizedImages, load_images
from ebm_vision.data import shared_mnist_dir
from ebm_vision.image_energy import build_energy
from ebm_vision.modes import cross_class, energies, nearest_neighbours
from ebm_vision.restoration import RestorationConfig, bottom_half_mask, mask_bottom_half, restore, run_restoration
from ebm_vision.sampling import TestTimeSampling, chain_from_noise, sample_test_time
from ebm_vision.scores import SKIPPED, domain_fid, inception_scores
from ebm_vision.training import TRAINING_PRESETS, train_image_energy, with_overrides
from torch import nn

MNIST_DIR = shared_mnist_dir()


@pytest.fixture(scope="module")
def trained():
    """The 'tiny' preset's MNIST net trained 40 steps on 2,000 real test digits (seconds)."""
    x, y = load_images("mnist", "test", MNIST_DIR, limit=2000)
    cfg = with_overrides(TRAINING_PRESETS["tiny"], steps=40, quiet=True, langevin_steps=10)
    energy, trainer = train_image_energy(cfg, DequantizedImages(x, y))
    held_x, held_y = load_images("mnist", "test", MNIST_DIR)
    held = (held_x[-300:].float() + 0.5) / 256
    return energy, cfg, held, held_y[-300:], trainer


def test_masked_sampling_moves_only_the_mask():
    torch.manual_seed(0)
    energy = _Quadratic()
    x = torch.rand(4, 1, 28, 28)
    corrupted, mask = mask_bottom_half(x)
    assert torch.equal(corrupted[:, :, :14], x[:, :, :14]) and not torch.equal(corrupted[:, :, 14:], x[:, :, 14:])
    out = restore(energy, corrupted, None, LangevinSampler(steps=20, step_size=10.0), mask)
    assert torch.equal(out[:, :, :14], corrupted[:, :, :14])  # the kept half is bit-identical
    assert (out[:, :, 14:] - corrupted[:, :, 14:]).abs().mean() > 0.01  # the masked half moved
    assert torch.equal(bottom_half_mask(x), mask)


class _Quadratic(nn.Module):
    def forward(self, x, y=None):
        return ((x - 0.3) ** 2).flatten(1).sum(1)


def test_restoration_improves_mse_on_trained_model(trained):
    energy, cfg, held, held_y, _ = trained
    torch.manual_seed(0)
    metrics, images = run_restoration(energy, held[:100], held_y[:100], cfg.sampler, RestorationConfig(rounds=2))
    for task in ("salt_and_pepper", "inpainting"):
        m = metrics[task]
        assert m["mse_after"] < 0.7 * m["mse_before"], (task, m)
        assert m["psnr_after"] > m["psnr_before"]
    assert metrics["ground_truth"]["mse_before"] == 0.0
    assert metrics["ground_truth"]["mse_after"] < metrics["salt_and_pepper"]["mse_before"]
    assert images["inpainting"][1].shape == held[:100].shape


def test_samples_beat_noise_and_untrained_model(trained):
    energy, cfg, held, _, trainer = trained
    torch.manual_seed(0)
    tt = TestTimeSampling(rounds=3, flip_rounds=1)
    y = torch.arange(100) % 10
    samples = sample_test_time(energy, 100, (1, 28, 28), cfg.sampler, tt, y, 10)
    assert samples.shape == (100, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1
    pixels = lambda x: nn.functional.avg_pool2d(x, 4).flatten(1)  # noqa: E731 - a crude fixed extractor
    fid_samples = domain_fid(held, samples, pixels)
    fid_noise = domain_fid(held, torch.rand(100, 1, 28, 28), pixels)
    assert fid_samples < 0.5 * fid_noise
    # the same sampling from the network's initial weights, and all-black images, score worse
    torch.manual_seed(cfg.training.seed)  # how train_image_energy seeds the initial weights
    untrained = build_energy(cfg.model)
    torch.manual_seed(0)
    fid_untrained = domain_fid(held, sample_test_time(untrained, 100, (1, 28, 28), cfg.sampler, tt, y, 10), pixels)
    fid_black = domain_fid(held, torch.zeros(100, 1, 28, 28), pixels)
    # measured: 1.33 trained, 8.85 untrained, 3.08 black, 8.84 noise
    assert fid_samples < 0.5 * fid_untrained and fid_samples < 0.6 * fid_black
    # the trained model gives held-out digits lower energy than noise
    assert energies(energy, held[:100], y).mean() < energies(energy, torch.rand(100, 1, 28, 28), y).mean()
    # historical ensemble of the kept snapshots: its samples have lower ensemble energy than noise
    ens = trainer.ensemble_energy()
    assert len(trainer.snapshots) == 2
    ens_samples = sample_test_time(ens, 10, (1, 28, 28), cfg.sampler, tt, y[:10], 10)
    assert ens_samples.shape == (10, 1, 28, 28)
    assert energies(ens, ens_samples, y[:10]).mean() < energies(ens, torch.rand(10, 1, 28, 28), y[:10]).mean()


def test_chain_strip_and_cross_class_shapes(trained):
    energy, cfg, held, _, _ = trained
    chain = chain_from_noise(energy, 3, (1, 28, 28), cfg.sampler, total_steps=20, frames=4, y=torch.arange(3))
    assert chain.shape == (5, 3, 1, 28, 28)
    assert (chain[-1] - chain[0]).abs().mean() > 0.05  # the chain moved away from its noise start
    torch.manual_seed(0)
    src, targets = held[:2], torch.tensor([1, 4, 7])
    panel = cross_class(energy, src, 10, cfg.sampler, targets=targets, batch_size=4)
    assert panel.shape == (2, 3, 1, 28, 28)
    # the conversion lowers each image's energy under its target class
    for j, c in enumerate(targets.tolist()):
        yc = torch.full((2,), c)
        assert (energies(energy, panel[:, j], yc) < energies(energy, src, yc)).all()


class _ClassTarget(nn.Module):
    """E(x, y) = |x - y / 10|^2: the chain under class y converges to the grey level y / 10."""

    def forward(self, x, y):
        return ((x - y.view(-1, 1, 1, 1) / 10) ** 2).flatten(1).sum(1)


def test_cross_class_converts_to_each_target_in_batches():
    from ebm_vision.experiment import cross_class_targets

    torch.manual_seed(0)
    src = torch.rand(3, 1, 4, 4)
    targets = torch.tensor([0, 5, 9])
    sampler = LangevinSampler(steps=15, step_size=0.4, noise_std=0.0, grad_clip=None)
    panel = cross_class(_ClassTarget(), src, 10, sampler, targets=targets, batch_size=4)  # 9 chains in 3 batches
    assert panel.shape == (3, 3, 1, 4, 4)
    assert torch.allclose(panel.mean((0, 2, 3, 4)), targets / 10, atol=0.02)
    with pytest.raises(ValueError, match="target classes"):
        cross_class(_ClassTarget(), src, 10, LangevinSampler(steps=1), targets=torch.tensor([10]))
    assert cross_class_targets(10).tolist() == list(range(10))
    wide = cross_class_targets(1000)  # ImageNet: 10 classes spread over the 1000, not 1000 columns
    assert len(wide) == 10 and len(set(wide.tolist())) == 10 and 0 <= wide.min() and wide.max() == 999


def test_nearest_neighbours_finds_exact_copies():
    train = torch.rand(50, 1, 8, 8)
    d, idx = nearest_neighbours(train[[7, 31]] + 1e-4, train, k=3, batch_size=16)
    assert idx[:, 0].tolist() == [7, 31] and (d[:, 0] < 1e-2).all() and (d[:, 1:] > d[:, :1]).all()


class _StandIn(nn.Module):
    """A tiny 'Inception' stand-in: uint8 (B, 3, H, W) -> (B, 8) features / logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(3 * 4 * 4, 8)

    def forward(self, x):
        return self.proj(nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1))


def test_inception_path_with_stand_in_extractor_and_skipped_without_weights():
    torch.manual_seed(0)
    real = torch.rand(200, 1, 28, 28) ** 4
    other_real = torch.rand(200, 1, 28, 28) ** 4
    noise = torch.rand(200, 1, 28, 28)
    same = inception_scores(real, other_real, extractor=_StandIn(), splits=2)
    diff = inception_scores(real, noise, extractor=_StandIn(), splits=2)
    assert isinstance(same["fid"], float) and same["fid"] < diff["fid"]
    q = lambda x: (x * 255).round().to(torch.uint8).expand(-1, 3, -1, -1)  # noqa: E731
    with torch.no_grad():  # the FID is ebm-core's Frechet distance on the extractor's features
        assert diff["fid"] == pytest.approx(frechet_distance_samples(_StandIn()(q(real)), _StandIn()(q(noise))))
    assert diff["inception_score"] >= 1.0 - 1e-6
    both = inception_scores(real, {"same": other_real, "noise": noise}, extractor=_StandIn(), splits=2)
    assert set(both) == {"same", "noise"}  # a mapping scores each set against the same real features
    for name, alone in (("same", same), ("noise", diff)):
        assert both[name]["fid"] == pytest.approx(alone["fid"])
        assert both[name]["inception_score"] == pytest.approx(alone["inception_score"], rel=1e-3)  # IS shuffles
    assert inception_scores(real, noise) == {"inception_score": SKIPPED, "fid": SKIPPED}
    assert inception_scores(real, {"a": noise}) == {"a": {"inception_score": SKIPPED, "fid": SKIPPED}}
    with pytest.raises(FileNotFoundError, match="--inception-weights"):
        inception_scores(real, noise, weights="/nonexistent/pt_inception.pth")


def test_domain_fid_is_ebm_core_frechet_distance():
    a, b = torch.randn(300, 5), torch.randn(300, 5) + 1
    assert domain_fid(a, b, lambda x: x) == pytest.approx(frechet_distance_samples(a, b))


def test_test_time_chains_start_from_the_newest_buffer_images_of_their_own_class():
    from ebm_vision.sampling import buffer_init

    images = torch.arange(12, dtype=torch.float32).view(12, 1, 1, 1)  # oldest first
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    init = buffer_init(images, labels, y, 6).flatten().tolist()
    assert init == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]  # each slot: its class's newest images
    init = buffer_init(images, labels, torch.tensor([2, 2, 2, 2, 2]), 5).flatten().tolist()
    assert init == [2.0, 5.0, 8.0, 11.0, 2.0]  # fewer than asked for: used again, in turn
    assert buffer_init(images, None, y, 4).flatten().tolist() == [8.0, 9.0, 10.0, 11.0]  # no labels: the newest
    assert buffer_init(images, labels, torch.tensor([3, 0]), 2) is None  # a class never buffered: from noise
    assert buffer_init(images[:3], labels[:3], y, 6) is None  # too few
