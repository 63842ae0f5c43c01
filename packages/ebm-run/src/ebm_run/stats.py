"""Figures over seeds: the one 95% interval of a mean over seeds every app reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def seed_interval(
    values: Sequence[float] | np.ndarray, bounds: tuple[float, float] | None = None,
) -> list[float] | None:
    """95% interval [lo, hi] of the mean of ``values`` (one per seed): Student's t with ``n - 1`` degrees of
    freedom, cut to ``bounds`` (the figure's possible range, e.g. (0, 100) for a percentage); None for one seed."""
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n < 2:
        return None
    half = float(t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n))
    lo, hi = float(v.mean()) - half, float(v.mean()) + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return [lo, hi]
