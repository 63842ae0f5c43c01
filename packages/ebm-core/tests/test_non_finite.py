"""A NaN never becomes a result: the sampler's check and AUROC refuse non-finite values by name."""

import math

import numpy as np
import pytest
import torch
from ebm_core import LangevinSampler, NonFiniteError, auroc, check_finite
from torch import nn


class BlowsUp(nn.Module):
    """E(x) = sum(x^2) except NaN for samples whose first coordinate is above 0.5."""

    def forward(self, x, y=None):
        scale = torch.where(x[:, 0] > 0.5, math.nan, 1.0)  # NaN energy and gradient there
        return (x**2).sum(1) * scale


def test_sampler_check_finite_raises_where_a_chain_diverged():
    x0 = torch.tensor([[0.9, 0.0], [0.1, 0.0]])
    sampler = LangevinSampler(steps=3, step_size=0.1, noise_std=0.0, grad_clip=None, clamp=None)
    assert torch.isnan(sampler(BlowsUp(), x0)).any()  # off by default (training rolls back on its own)
    with pytest.raises(NonFiniteError, match=r"Langevin samples \(3 steps of 0.1\): 2 of 4 values are NaN"):
        LangevinSampler(steps=3, step_size=0.1, noise_std=0.0, grad_clip=None, clamp=None, check_finite=True)(
            BlowsUp(), x0)
    ok = LangevinSampler(steps=3, step_size=0.1, noise_std=0.0, grad_clip=None, clamp=None, check_finite=True)
    assert torch.isfinite(ok(BlowsUp(), torch.tensor([[0.1, 0.2]]))).all()


def test_auroc_and_check_finite_name_what_is_broken():
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 1.0
    with pytest.raises(NonFiniteError, match="AUROC: the negative scores: 1 of 2 values"):
        auroc([2.0, 3.0], [0.0, np.nan])
    with pytest.raises(NonFiniteError, match="bounds: 1 of 3"):
        check_finite([1.0, math.inf, 2.0], "bounds")
    check_finite(torch.tensor([1, 2]), "counts")  # integers are always finite
    assert issubclass(NonFiniteError, ValueError)  # the apps' one-line error, exit status 2
