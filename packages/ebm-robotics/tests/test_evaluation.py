"""Scoring rollouts: Frechet distance with paired bootstrap intervals, and futures against branches."""

import numpy as np
import pytest
import torch
from ebm_robotics.evaluation import branch_scores, frechet_scores, interval, multimodality_summary


def test_frechet_scores_and_paired_intervals():
    g = torch.Generator().manual_seed(0)
    n, t, d = 400, 3, 4
    truth = torch.randn(n, t + 1, d, generator=g)
    near = truth + 0.3 * torch.randn(n, t + 1, d, generator=g)  # paired with the truth, slightly off
    far = truth.clone()
    far[:, 1:, 0] += 3.0  # a mean shift of 3: Frechet distance 9 at every step
    scores = frechet_scores({"near": near, "far": far}, truth, n_boot=300, seed=1)
    assert scores.mean["far"] == pytest.approx(9.0, abs=1e-6)  # same covariance, shifted mean: exactly 9
    assert len(scores.per_step["near"]) == t and scores.mean["near"] < 0.2
    assert scores.replicates["far"].shape == (300,)
    lo, hi = interval(scores.replicates["far"] - scores.replicates["near"], scores.mean["far"] - scores.mean["near"])
    assert lo > 8.0 and hi < 10.0 and lo < scores.mean["far"] - scores.mean["near"] < hi
    again = frechet_scores({"near": near, "far": far}, truth, n_boot=300, seed=1)
    np.testing.assert_array_equal(again.replicates["near"], scores.replicates["near"])  # reproducible
    bad = near.clone()
    bad[0, 2, 0] = float("nan")
    assert frechet_scores({"bad": bad}, truth).per_step["bad"][1] == float("inf")
    with pytest.raises(ValueError, match="differ"):
        frechet_scores({"short": near[:, :2]}, truth)


def test_interval_is_centred_on_the_estimate_with_the_replicates_spread():
    reps = np.random.default_rng(0).normal(5.0, 2.0, size=20_000)
    lo, hi = interval(reps, 3.0)  # centred on the figure reported, not on the replicates' mean
    assert (lo + hi) / 2 == pytest.approx(3.0) and (hi - lo) / 2 == pytest.approx(1.96 * 2.0, rel=0.02)


def test_branch_scores_prefer_the_model_that_samples_both_modes():
    """True futures: +1 or -1 in the first coordinate with equal odds. A sampler of both modes is at
    energy distance ~0 with spread ratio ~1; the mean (what a regression predicts) has spread 0 and
    is far; a Gaussian of the same variance is in between."""
    g = torch.Generator().manual_seed(0)
    m, k, h, d = 40, 64, 2, 3

    def bimodal():
        x = 0.05 * torch.randn(m, k, h + 1, d, generator=g)
        x[:, :, 1:, 0] += torch.where(torch.rand(m, k, 1, generator=g) < 0.5, -1.0, 1.0)
        return x

    truth = bimodal()
    mean = torch.zeros_like(truth)
    gaussian = torch.randn(m, k, h + 1, d, generator=g) * torch.tensor([1.0, 0.05, 0.05])
    scores = {name: branch_scores(x, truth, horizons=(1, 2))
              for name, x in {"sampler": bimodal(), "mean": mean, "gaussian": gaussian}.items()}
    for hz in (1, 2):
        assert abs(scores["sampler"].distance[hz].mean()) < 0.02
        assert scores["mean"].distance[hz].mean() > 0.5
        assert 0.05 < scores["gaussian"].distance[hz].mean() < scores["mean"].distance[hz].mean()
    summary, reps = multimodality_summary(scores, n_boot=200, seed=0)
    assert summary["sampler"]["spread_ratio"]["2"] == pytest.approx(1.0, abs=0.05)
    assert summary["mean"]["spread_ratio"]["2"] == 0.0
    lo, hi = summary["mean"]["distance_ci95"]["2"]
    assert lo < summary["mean"]["distance"]["2"] < hi and reps["mean"]["2"].shape == (200,)
    with pytest.raises(ValueError, match="exceed"):
        branch_scores(truth, truth, horizons=(5,))
