"""Every app's configuration has the one shape of DESIGN.md: nested frozen dataclasses
data / model / sampler / training / evaluation, and the run's seed."""

import dataclasses

import pytest

SECTIONS = ("data", "model", "sampler", "training", "evaluation", "seed")


def _presets() -> dict[str, dict]:
    from ebm_compose.celeba_experiment import PRESETS as CELEBA
    from ebm_compose.dsprites_experiment import PRESETS as DSPRITES
    from ebm_continual import PRESETS as SPLIT_MNIST
    from ebm_robotics.experiment import PRESETS as HAND
    from ebm_vision.evaluation import LIKELIHOOD_PRESETS, OOD_PRESETS, ROBUSTNESS_PRESETS
    from ebm_vision.experiment import PRESETS as IMAGE_GENERATE

    return {"celeba_compose": CELEBA, "dsprites_compose": DSPRITES, "split_mnist": SPLIT_MNIST,
            "hand_rollout": HAND, "likelihood": LIKELIHOOD_PRESETS, "ood_eval": OOD_PRESETS,
            "robustness": ROBUSTNESS_PRESETS, "image_generate": IMAGE_GENERATE}


def _frozen_dataclasses(value, path: str) -> list[str]:
    """Paths below ``value`` that hold a dataclass that is not frozen."""
    if not dataclasses.is_dataclass(value):
        return []
    bad = [] if value.__dataclass_params__.frozen else [path]
    for f in dataclasses.fields(value):
        bad += _frozen_dataclasses(getattr(value, f.name), f"{path}.{f.name}")
    return bad


@pytest.mark.parametrize("app", sorted(_presets()))
def test_every_preset_of_every_app_has_the_one_config_shape(app):
    for name, config in _presets()[app].items():
        assert tuple(f.name for f in dataclasses.fields(config)) == SECTIONS, f"{app} --preset {name}"
        for section in SECTIONS[:-1]:
            assert dataclasses.is_dataclass(getattr(config, section)), f"{app} --preset {name}: {section}"
        assert isinstance(config.seed, int)
        assert _frozen_dataclasses(config, app) == [], f"{app} --preset {name}: a settable dataclass"
