"""The compose experiments' configs: one shape (data / model / sampler / training / evaluation / seed),
each setting in one section, and the library's ConceptTrainingConfig built from the sections."""

import dataclasses

import pytest
from ebm_compose import CELEBA_PRESETS, DSPRITES_PRESETS, ConceptTrainingConfig
from ebm_compose.concepts import ConceptNetwork, ConceptOptimization, ConceptSampler, concept_training_config
from ebm_core import LangevinSampler

SHAPE = ["data", "model", "sampler", "training", "evaluation", "seed"]


@pytest.mark.parametrize("presets", [DSPRITES_PRESETS, CELEBA_PRESETS], ids=["dsprites", "celeba"])
def test_every_preset_has_the_one_config_shape(presets):
    for config in presets.values():
        assert [f.name for f in dataclasses.fields(config)] == SHAPE
        assert all(dataclasses.is_dataclass(getattr(config, name)) for name in SHAPE[:-1])


def test_the_training_config_is_built_from_the_sections_with_the_presets_values():
    dsprites = DSPRITES_PRESETS["default"].concept_training
    assert dsprites == ConceptTrainingConfig(  # the values of the default preset written flat
        steps=300, batch_size=32, lr=2e-3, langevin_steps=10, buffer_size=2000, channels=(16, 32, 64, 64),
        hidden=64, label_frequencies=4, checkpoint_every=100)
    celeba = CELEBA_PRESETS["paper"].concept_training
    assert celeba == ConceptTrainingConfig(steps=30_000, step_size=10.0, langevin_steps=60)
    assert CELEBA_PRESETS["paper"].sampler.generation == dataclasses.replace(celeba.sampler, steps=60)
    assert DSPRITES_PRESETS["default"].sampler.generation == LangevinSampler(
        steps=60, step_size=500.0, noise_std=0.005, grad_clip=0.01, clamp=(0.0, 1.0))


def test_each_training_setting_comes_from_exactly_one_section():
    names = [f.name for section in (ConceptOptimization, ConceptSampler, ConceptNetwork)
             for f in dataclasses.fields(section) if f.name != "sample_steps"]  # generation only
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(ConceptTrainingConfig))
    built = concept_training_config(ConceptOptimization(lr=0.5), ConceptSampler(noise_std=0.25),
                                    ConceptNetwork(hidden=7))
    assert (built.lr, built.noise_std, built.hidden) == (0.5, 0.25, 7)


def test_a_section_checks_its_settings_naming_itself():
    config = DSPRITES_PRESETS["tiny"]
    with pytest.raises(ValueError, match="DSpritesTraining.lr must be > 0"):
        dataclasses.replace(config.training, lr=0.0)
    with pytest.raises(ValueError, match="ConceptSampler.sample_steps must be >= 0"):
        dataclasses.replace(config.sampler, sample_steps=-1)
    with pytest.raises(ValueError, match="ConceptNetwork.channels must list at least one width"):
        dataclasses.replace(config.model, channels=())
    with pytest.raises(ValueError, match="AttributeNetwork.channels"):
        dataclasses.replace(CELEBA_PRESETS["tiny"].model, channels=(0,))
    with pytest.raises(ValueError, match="CelebATraining.checkpoint_every must be >= 1"):
        dataclasses.replace(CELEBA_PRESETS["tiny"].training, checkpoint_every=0)
    with pytest.raises(ValueError, match="DSpritesTraining.workers must be >= 1"):
        dataclasses.replace(config.training, workers=0)
    with pytest.raises(ValueError, match="DSpritesEvaluation.weight_candidates names no weight"):
        dataclasses.replace(config.evaluation, weight_candidates=())
    with pytest.raises(ValueError, match="DSpritesEvaluation.weight_candidates must be > 0"):
        dataclasses.replace(config.evaluation, weight_candidates=(1.0, -0.5))
    with pytest.raises(ValueError, match="DSpritesEvaluation.cross_experiments: unknown"):
        dataclasses.replace(config.evaluation, cross_experiments=("size_shape",))
    with pytest.raises(ValueError, match="DSpritesEvaluation.cross_experiments names one twice"):
        dataclasses.replace(config.evaluation, cross_experiments=("size_position", "size_position"))
    with pytest.raises(ValueError, match="DSpritesEvaluation.weight_candidates names one twice"):
        dataclasses.replace(config.evaluation, weight_candidates=(1.0, 1.0))
    for concepts in (("scale", "scale"), ("position",)):
        with pytest.raises(ValueError, match="DSpritesData.concepts must name at least two different concepts"):
            dataclasses.replace(config.data, concepts=concepts)


def test_settings_that_must_agree_across_sections_are_checked_when_the_config_is_made():
    config = DSPRITES_PRESETS["tiny"]  # concepts (scale, position)
    with pytest.raises(ValueError, match="seeds 4,294,967,290 to 4,294,967,299 go past the generators' range"):
        dataclasses.replace(config, seed=2**32 - 6, evaluation=dataclasses.replace(config.evaluation, seeds=10))
    with pytest.raises(ValueError, match="joint_steps names concepts outside"):
        dataclasses.replace(config, training=dataclasses.replace(config.training, joint_steps=(("shape", 3),)))
    celeba = CELEBA_PRESETS["tiny"]  # attributes (Male, Smiling)
    with pytest.raises(ValueError, match="each combination needs >= 2 of"):
        dataclasses.replace(celeba, evaluation=dataclasses.replace(
            celeba.evaluation, combinations=((("Male", 1), ("Young", 1)),)))
