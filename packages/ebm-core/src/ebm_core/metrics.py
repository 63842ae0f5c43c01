"""Metrics shared by the packages: Frechet distance between Gaussian fits, AUROC."""

from __future__ import annotations

import numpy as np
import torch

from .checks import check_finite

ArrayLike = np.ndarray | torch.Tensor


def _as_f64(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def sqrt_psd(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric square roots of positive semi-definite matrices (..., D, D) (negative eigenvalues
    of round-off clipped to 0)."""
    w, v = torch.linalg.eigh((cov + cov.transpose(-1, -2)) / 2)
    return (v * w.clamp_min(0).sqrt().unsqueeze(-2)) @ v.transpose(-1, -2)


def frechet_distances(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor,
                      sqrt_cov1: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Frechet (2-Wasserstein) distances between N(mu1, cov1) and N(mu2, cov2), batched over
    leading dimensions: |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2), through symmetric
    eigendecompositions. ``sqrt_cov1``, any factor ``A`` of ``cov1 = A A^T`` (``sqrt_psd(cov1)`` or a
    Cholesky factor: ``A^T C2 A`` has the eigenvalues of ``C1 C2`` either way), may be passed to reuse it."""
    s1 = sqrt_psd(cov1) if sqrt_cov1 is None else sqrt_cov1
    cross = s1.transpose(-1, -2) @ cov2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((cross + cross.transpose(-1, -2)) / 2).clamp_min(0).sqrt().sum(-1)
    trace = torch.diagonal(cov1, dim1=-2, dim2=-1).sum(-1) + torch.diagonal(cov2, dim1=-2, dim2=-1).sum(-1)
    return ((mu1 - mu2) ** 2).sum(-1) + trace - 2 * tr_sqrt


def frechet_distance(mu1: ArrayLike, cov1: ArrayLike, mu2: ArrayLike, cov2: ArrayLike) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2), as in FID,
    in float64 (:func:`frechet_distances` for one pair)."""
    mu1, mu2, c1, c2 = map(_as_f64, (mu1, mu2, cov1, cov2))
    if mu1.shape != mu2.shape or c1.shape != c2.shape or c1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes must be mu (D,), cov (D, D); got {mu1.shape}, {c1.shape}, {mu2.shape}, {c2.shape}")
    return float(frechet_distances(*(torch.from_numpy(a) for a in (mu1, c1, mu2, c2))))


def gaussian_fit(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of samples ``x`` of shape (N, D), in float64."""
    x = _as_f64(x)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need samples of shape (N >= 2, D), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or inf values: no Gaussian fit (and no Frechet distance)")
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance_samples(x: ArrayLike, y: ArrayLike) -> float:
    """Frechet distance between Gaussian fits of two sample sets (N, D) and (M, D)."""
    return frechet_distance(*gaussian_fit(x), *gaussian_fit(y))


def mean_pairwise_distance(x: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance between distinct samples of each set ``x`` (..., n, D) -> (...): the
    spread of a sample set, E|X - X'|."""
    n = x.shape[-2]
    return torch.cdist(x, x).sum((-1, -2)) / (n * (n - 1))


def energy_distance(x: torch.Tensor, y: torch.Tensor, paired: bool = False) -> torch.Tensor:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between sample sets ``x`` (..., n, D) and
    ``y`` (..., m, D), batched over leading dimensions; within-set terms over distinct pairs (unbiased).
    Zero in expectation exactly when the two distributions are equal (Szekely & Rizzo 2013).
    ``paired``: ``x[i]`` and ``y[i]`` were drawn together (n == m, e.g. under the same actions), so the
    cross term skips i == j, the pairs that are not independent."""
    cross = torch.cdist(x, y)
    if paired:
        n = x.shape[-2]
        cross_mean = (cross.sum((-1, -2)) - torch.diagonal(cross, dim1=-2, dim2=-1).sum(-1)) / (n * (n - 1))
    else:
        cross_mean = cross.mean((-1, -2))
    return 2 * cross_mean - mean_pairwise_distance(x) - mean_pairwise_distance(y)


def auroc(scores_positive: ArrayLike, scores_negative: ArrayLike) -> float:
    """Area under the ROC curve for 'positive scores higher' (Mann-Whitney U, ties count 1/2); NaN or
    infinite scores raise ``NonFiniteError`` (a NaN would rank arbitrarily)."""
    pos, neg = _as_f64(scores_positive).ravel(), _as_f64(scores_negative).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("auroc needs at least one positive and one negative score")
    check_finite(pos, "AUROC: the positive scores")
    check_finite(neg, "AUROC: the negative scores")
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size)
    # average rank within each group of tied scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))
