"""Images outside [0, 1] are refused where they enter (training, OOD scores, refinement,
restoration, test-time sampling, Inception scores, PGD, the domain classifier), and nonsense
settings by the configs."""

import pytest
import torch
from ebm_core import LangevinSampler
from ebm_vision import (
    TRAINING_PRESETS,
    ImageEnergyConfig,
    RefineConfig,
    RestorationConfig,
    RobustnessConfig,
    TestTimeSampling,
    build_energy,
    ebm_predict,
    inception_scores,
    load_images,
    nearest_neighbours,
    ood_scores,
    pgd_attack,
    run_restoration,
    sample_test_time,
    train_domain_classifier,
    train_image_energy,
)

UINT8_RANGE = r"must lie in \[0, 1\], got values in \[0, 25\d\] \(uint8 images: divide by 255\)"


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    energy = build_energy(TRAINING_PRESETS["tiny"].model).eval()
    x = torch.rand(4, 1, 28, 28)
    return energy, x, (x * 255).round(), torch.tensor([0, 1, 2, 3])


def test_images_in_uint8_range_are_refused_everywhere(setup):
    energy, x, raw, y = setup
    sampler = LangevinSampler(steps=1)
    with pytest.raises(ValueError, match="training images x " + UINT8_RANGE):
        train_image_energy(TRAINING_PRESETS["tiny"], (raw, y))  # used to train on [0, 255] positives
    with pytest.raises(ValueError, match="images " + UINT8_RANGE):
        ood_scores(energy, raw, num_classes=10)
    with pytest.raises(ValueError, match="images " + UINT8_RANGE):
        ebm_predict(energy, raw, 10)
    with pytest.raises(ValueError, match="clean images " + UINT8_RANGE):
        run_restoration(energy, raw, y, sampler)
    with pytest.raises(ValueError, match="init " + UINT8_RANGE):
        sample_test_time(energy, 4, (1, 28, 28), sampler, TestTimeSampling(rounds=1, flip_rounds=0), y=y,
                         num_classes=10, init=raw)
    with pytest.raises(ValueError, match="fake " + UINT8_RANGE):
        inception_scores(x, raw)  # used to be clamped to [0, 1] silently
    with pytest.raises(ValueError, match="images " + UINT8_RANGE):
        pgd_attack(lambda v: torch.zeros(v.shape[0], 10), raw, y)
    with pytest.raises(ValueError, match="x " + UINT8_RANGE):
        train_domain_classifier(raw, y, steps=1, batch_size=4)
    with pytest.raises(ValueError, match=r"float images in \[0, 1\], got dtype torch.uint8"):
        train_domain_classifier(raw.to(torch.uint8), y, steps=1, batch_size=4)
    assert ood_scores(energy, x, num_classes=10).shape == (4,)  # the same images in [0, 1] are fine


@pytest.mark.parametrize("build, message", [
    (lambda: ImageEnergyConfig(in_channels=0), "in_channels must be >= 1"),
    (lambda: ImageEnergyConfig(image_size=-3), "image_size must be >= 1"),
    (lambda: ImageEnergyConfig(dropout=1.0), "dropout must be in"),
    (lambda: RestorationConfig(pepper=2.0), "pepper must be in"),
    (lambda: RefineConfig(radius=-0.03), "radius must be >= 0"),
    (lambda: RobustnessConfig(linf_eps=(0.0, -0.1)), "linf_eps must be >= 0"),  # was found after training
    (lambda: RobustnessConfig(num_images=0), "num_images must be >= 1"),
    (lambda: TestTimeSampling(batch_size=0), "batch_size must be >= 1"),
    (lambda: load_images("mnist", "test", limit=-5), "limit must be >= 1"),  # used to drop the last 5 images
    (lambda: nearest_neighbours(torch.rand(2, 4), torch.rand(5, 4), k=6),  # used to pad with inf and index 0
     "k = 6 neighbours asked of only 5 training images"),
])
def test_nonsense_settings_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()
