"""How rollouts are scored: the per-step Frechet distance (Figure 13) with paired bootstrap
intervals, and the distance of sampled futures to the true branched continuations (multimodality).

All in standardized state units (``TransitionScaler.state``). A bootstrap resample draws test
items with replacement, the SAME draw for every model, so the interval of a difference between two
models is paired (DESIGN.md, Measurement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from ebm_core import energy_distance, frechet_distances, mean_pairwise_distance, sqrt_psd
from ebm_core.seeding import numpy_generator

HORIZONS = (1, 5, 10, 20)


def interval(replicates: np.ndarray, estimate: float) -> list[float]:
    """95% interval [lo, hi] of a figure: the full-sample ``estimate`` plus or minus 1.96 standard
    deviations of its bootstrap ``replicates`` (the normal interval: centred on the figure reported,
    where a percentile interval of a Frechet distance is not, since a resample repeats some items,
    which alone raises the distance)."""
    half = 1.959964 * float(np.std(np.asarray(replicates, dtype=np.float64), ddof=1))
    return [estimate - half, estimate + half]


# The name of the bootstrap's stream in the run's seed scheme: a number, as the published
# intervals were first drawn with.
BOOTSTRAP_STREAM = 7


def resample_counts(n_items: int, n_boot: int, seed: int) -> torch.Tensor:
    """(1 + n_boot, n_items) float64 counts: row 0 all ones (the sample itself), then ``n_boot``
    multinomial resamples of the items."""
    rng = numpy_generator(seed, BOOTSTRAP_STREAM)
    counts = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_boot)
    return torch.from_numpy(np.concatenate([np.ones((1, n_items)), counts]).astype(np.float64))


def _weighted_moments(counts: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (R, D) and unbiased covariance (R, D, D) of ``x`` (N, D) under each row of counts (R, N)."""
    n, d = x.shape
    mean = counts @ x / n
    i, j = torch.triu_indices(d, d)  # the second moments are symmetric: half the products
    upper = counts @ (x[:, i] * x[:, j]) / n
    second = x.new_empty(counts.shape[0], d, d)
    second[:, i, j] = upper
    second[:, j, i] = upper
    return mean, (second - mean[:, :, None] * mean[:, None, :]) * (n / (n - 1))


def _factor(cov: torch.Tensor) -> torch.Tensor:
    """A factor A of each covariance (cov = A A^T): Cholesky, or the symmetric square root where a
    covariance is singular."""
    chol, info = torch.linalg.cholesky_ex(cov)
    return chol if not bool(info.any()) else sqrt_psd(cov)


@dataclass(frozen=True)
class FrechetScores:
    """Per model: ``per_step`` Frechet distances at t = 1..T, their ``mean`` over steps, and
    ``replicates`` (n_boot,) of that mean under the shared resamples of test trajectories."""

    per_step: dict[str, list[float]]
    mean: dict[str, float]
    replicates: dict[str, np.ndarray]


def frechet_scores(predicted: Mapping[str, torch.Tensor], truth: torch.Tensor, n_boot: int = 0,
                   seed: int = 0) -> FrechetScores:
    """Frechet distance between predicted and true state distributions across trajectories at each
    step t = 1..T (inputs (N, T+1, D), rollouts paired with their test trajectories), and ``n_boot``
    paired bootstrap replicates of the mean over steps. A rollout with non-finite states at a step
    scores inf there."""
    truth = torch.as_tensor(truth, dtype=torch.float64)
    for name, p in predicted.items():
        if tuple(p.shape) != tuple(truth.shape):
            raise ValueError(f"{name}: predicted {tuple(p.shape)} and truth {tuple(truth.shape)} differ")
    counts = resample_counts(truth.shape[0], n_boot, seed)
    steps = truth.shape[1] - 1
    fd = {name: torch.empty(counts.shape[0], steps, dtype=torch.float64) for name in predicted}
    def score(name: str, t: int, m_true: torch.Tensor, c_true: torch.Tensor, s_true: torch.Tensor) -> None:
        x = torch.as_tensor(predicted[name][:, t], dtype=torch.float64)
        if not torch.isfinite(x).all():
            fd[name][:, t - 1] = torch.inf
            return
        m, c = _weighted_moments(counts, x)
        fd[name][:, t - 1] = frechet_distances(m_true, c_true, m, c, s_true)

    # two models at a time: torch's batched eigensolver runs on one core
    with ThreadPoolExecutor(max_workers=2) as pool:
        for t in range(1, steps + 1):
            m_true, c_true = _weighted_moments(counts, truth[:, t])
            s_true = _factor(c_true)
            n = len(predicted)
            list(pool.map(score, predicted, [t] * n, [m_true] * n, [c_true] * n, [s_true] * n))
    return FrechetScores(
        per_step={k: v[0].tolist() for k, v in fd.items()},
        mean={k: float(v[0].mean()) for k, v in fd.items()},
        replicates={k: v[1:].mean(1).numpy() for k, v in fd.items()},
    )


def frechet_per_step(predicted: torch.Tensor | np.ndarray, truth: torch.Tensor | np.ndarray) -> list[float]:
    """Frechet distance between predicted and true states (N, T+1, D) at t = 1..T."""
    return frechet_scores({"x": torch.as_tensor(predicted)}, torch.as_tensor(truth)).per_step["x"]


@dataclass(frozen=True)
class BranchScores:
    """Per horizon h: the energy distance between each start state's true continuations and a model's
    sampled ones (``distance[h]``, (m,)), and the spread (mean pairwise distance) of each set."""

    distance: dict[int, np.ndarray]
    spread: dict[int, np.ndarray]
    true_spread: dict[int, np.ndarray]


def branch_scores(predicted: torch.Tensor, truth: torch.Tensor, horizons: Sequence[int] = HORIZONS) -> BranchScores:
    """Score futures sampled from m start states against the true continuations, both (m, K, H+1, D)
    in standardized units, at each horizon h (the state h steps after the start). The k-th future and
    the k-th true continuation are not compared with each other (a conditional model's k-th future
    follows the k-th continuation's actions: the pair is not independent)."""
    predicted = torch.as_tensor(predicted, dtype=torch.float64)
    truth = torch.as_tensor(truth, dtype=torch.float64)
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and true {tuple(truth.shape)} continuations differ")
    if max(horizons) >= truth.shape[2]:
        raise ValueError(f"horizons {tuple(horizons)} exceed the branches' {truth.shape[2] - 1} steps")
    out: dict[str, dict[int, np.ndarray]] = {"distance": {}, "spread": {}, "true_spread": {}}
    for h in horizons:
        p, q = predicted[:, :, h], truth[:, :, h]
        finite = torch.isfinite(p).all(dim=(1, 2))
        # paired: a conditional model's k-th future follows the k-th true future's actions
        out["distance"][h] = torch.where(finite, energy_distance(q, p.nan_to_num(), paired=True), torch.inf).numpy()
        out["spread"][h] = mean_pairwise_distance(p.nan_to_num()).numpy()
        out["true_spread"][h] = mean_pairwise_distance(q).numpy()
    return BranchScores(**out)


def multimodality_summary(scores: Mapping[str, BranchScores], n_boot: int = 200, seed: int = 0
                          ) -> tuple[dict[str, dict[str, dict[str, object]]], dict[str, dict[str, np.ndarray]]]:
    """results.json's ``multimodality`` {model: {"distance": {h: mean over start states},
    "distance_ci95": {h: [lo, hi]}, "spread_ratio": {h: model spread / true spread}}} with intervals
    from a paired bootstrap over start states, and the resample replicates of each mean distance
    {model: {h: (n_boot,)}} for paired differences."""
    first = next(iter(scores.values()))
    m = len(next(iter(first.distance.values())))
    counts = resample_counts(m, n_boot, seed).numpy()[1:] / m
    summary: dict[str, dict[str, dict[str, object]]] = {}
    replicates: dict[str, dict[str, np.ndarray]] = {}
    for name, s in scores.items():
        summary[name] = {"distance": {}, "distance_ci95": {}, "spread_ratio": {}}
        replicates[name] = {}
        for h, d in s.distance.items():
            reps = counts @ d
            summary[name]["distance"][str(h)] = float(d.mean())
            summary[name]["distance_ci95"][str(h)] = interval(reps, float(d.mean()))
            summary[name]["spread_ratio"][str(h)] = float(s.spread[h].sum() / s.true_spread[h].sum())
            replicates[name][str(h)] = reps
    return summary, replicates
