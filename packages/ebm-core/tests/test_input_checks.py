"""Wrong settings and inputs are refused with a message that names the mistake (not a silent
wrong result or an error from deep inside torch)."""

import io
import math

import numpy as np
import pytest
import torch
from ebm_core import (
    AISConfig,
    ConditionVector,
    HMCSampler,
    LangevinSampler,
    MLPEnergy,
    ObjectiveConfig,
    SumEnergy,
    TrainerConfig,
    ais_log_partition,
    contrastive_loss,
    gaussian_fit,
)
from ebm_core.checks import check_unit_range
from torch import nn


class Column(nn.Module):
    """A wrong energy: one value per sample but shaped (B, 1)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return (x**2).flatten(1).sum(1, keepdim=True)


def test_images_outside_unit_range_are_refused_with_a_hint():
    check_unit_range(torch.rand(4, 1, 8, 8))  # fine
    check_unit_range(torch.tensor([[0.0, 1.0]]))  # the edges are inside
    with pytest.raises(ValueError, match=r"\[0, 1\], got values in \[0, 255\] \(uint8 images: divide by 255\)"):
        check_unit_range(torch.tensor([[0.0, 255.0]]))
    with pytest.raises(ValueError, match=r"x_test must lie in \[0, 1\], got values in \[-1, 1\] \(images in \[-1, 1\]"):
        check_unit_range(torch.tensor([[-1.0, 1.0]]), "x_test")
    with pytest.raises(ValueError, match=r"got values in \[-3.5, 4.1\]$"):  # standardized data: no wrong hint
        check_unit_range(torch.tensor([[-3.5, 4.1]]))
    with pytest.raises(ValueError, match="NaN or inf"):  # NaN compares False both ways: it used to pass
        check_unit_range(torch.tensor([[0.5, math.nan]]))


@pytest.mark.parametrize("settings, message", [
    ({"grad_clip": -1.0}, "grad_clip"),  # used to push every state to the upper bound
    ({"grad_clip": 0.0}, "grad_clip"),  # used to freeze the chain
    ({"step_size": -1.0}, "step_size must be > 0"),  # used to climb the energy
    ({"temperature": math.nan}, "temperature must be a finite number"),
    ({"steps": 2.5}, "steps must be an integer"),
    ({"noise_std": -0.1}, "noise_std must be >= 0"),
    ({"clamp": (1.0, 0.0)}, "clamp must be"),
])
def test_langevin_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        LangevinSampler(**settings)
    LangevinSampler(grad_clip=None, noise_std=0.0, steps=0)  # the edges that are allowed


@pytest.mark.parametrize("settings, message", [
    ({"leapfrog_steps": 0}, "leapfrog_steps must be >= 1"),  # used to end in UnboundLocalError
    ({"step_size": -0.01}, "step_size must be > 0"),
    ({"steps": -1}, "steps must be >= 0"),
])
def test_hmc_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        HMCSampler(**settings)


@pytest.mark.parametrize("settings, message", [
    ({"batch_size": 0}, "batch_size must be >= 1"),  # used to end in a misleading 'diverged'
    ({"log_every": 0}, "log_every must be >= 1"),  # used to end in ZeroDivisionError
    ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"ensemble_every": 0}, "ensemble_every"),
    ({"steps": -5}, "steps must be >= 0"),  # used to train nothing, silently
    ({"lr": 0.0}, "lr must be > 0"),
    ({"betas": (0.0, 1.0)}, "betas"),
    ({"replay_prob": 1.5}, "replay_prob"),
])
def test_trainer_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**settings)
    TrainerConfig(energy_bound=math.inf, steps=0)  # inf turns the divergence bound off; 0 steps only builds


def test_loss_coefficients_must_not_be_negative():
    with pytest.raises(ValueError, match="l2_coeff must be >= 0"):
        ObjectiveConfig(l2_coeff=-1.0)
    with pytest.raises(ValueError, match="kl_coeff must be >= 0"):
        ObjectiveConfig(kl_coeff=-0.5)


def test_energies_of_shape_b1_are_refused_everywhere():
    x = torch.rand(4, 3)
    with pytest.raises(ValueError, match=r"must return shape \(4,\), got \(4, 1\)"):
        SumEnergy([(Column(), None)])(x)  # used to broadcast to (4, 4)
    with pytest.raises(ValueError, match=r"must return shape \(4,\)"):
        HMCSampler(leapfrog_steps=2).run(Column(), x)
    with pytest.raises(ValueError, match=r"must return shape \(4,\)"):
        ais_log_partition(Column(), (3,), AISConfig(num_chains=4, num_temperatures=2))
    with pytest.raises(ValueError, match=r"e_pos must be one energy per sample"):
        contrastive_loss(torch.zeros(4, 1), torch.zeros(4), ObjectiveConfig(loss="softplus"))


def test_class_labels_out_of_range_are_refused():
    cond = ConditionVector(5, num_classes=10)
    assert cond(torch.tensor([0, 9]), 2).shape == (2, 5)
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\), got values in \[-1, 3\]"):
        cond(torch.tensor([-1, 3]), 2)  # a negative index used to pick class 9 silently
    with pytest.raises(ValueError, match=r"\[0, 10\), got values in \[0, 10\]"):
        cond(torch.tensor([0, 10]), 2)
    y = torch.tensor([1, 2])
    cond(y, 2)  # checked once; a chain passes the same tensor at every step
    y[0] = -1  # changed in place after its check: checked again
    with pytest.raises(ValueError, match=r"got values in \[-1, 2\]"):
        cond(y, 2)
    with pytest.raises(ValueError, match="integer indices or float one-hot rows, got dtype torch.bool"):
        cond(torch.tensor([True, False]), 2)
    buffer = io.BytesIO()
    torch.save(cond, buffer)  # a whole model still pickles (the weak reference to the labels is left out)
    buffer.seek(0)
    assert torch.equal(torch.load(buffer, weights_only=False)(torch.tensor([3, 4]), 2), cond(torch.tensor([3, 4]), 2))


def test_mlp_energy_names_a_wrong_label_shape():
    energy = MLPEnergy(6, hidden=(8,), num_classes=3)
    x = torch.rand(4, 6)
    assert energy(x, torch.tensor([0, 1, 2, 0])).shape == (4,)
    with pytest.raises(ValueError, match=r"class labels y must have shape \(4,\), got \(4, 1\)"):
        energy(x, torch.tensor([[0], [1], [2], [0]]))
    with pytest.raises(ValueError, match=r"one-hot labels y must have shape \(4, 3\), got \(4, 2\)$"):
        energy(x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"got \(4,\) \(class indices must be an integer dtype"):
        energy(x, torch.tensor([0.0, 1.0, 2.0, 0.0]))


def test_gaussian_fit_refuses_non_finite_samples():
    x = np.random.default_rng(0).normal(size=(10, 3))
    gaussian_fit(x)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):  # used to end in LinAlgError inside scipy
        gaussian_fit(x)


def test_ais_settings_are_checked():
    with pytest.raises(ValueError, match=r"AISConfig.box must be \(low, high\) with low < high"):
        AISConfig(box=(1.0, 0.0))  # used to end in a math domain error
    with pytest.raises(ValueError, match="AISConfig.num_temperatures must be >= 1"):
        AISConfig(num_temperatures=0)
