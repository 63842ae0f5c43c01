"""Shared tiny settings for the ebm-compose tests."""

import numpy as np
import torch
from ebm_compose.dsprites import POSITIONS, SCALES, encode_labels, render, to_tensor

R = 16


def squares(n: int, seed: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Unrotated squares of random scale and position (positions thinned to the inner grid)."""
    rng = np.random.default_rng(seed)
    lat = np.zeros((n, 5), dtype=np.int64)
    lat[:, 1] = rng.integers(0, 6, n)
    lat[:, 3] = rng.integers(4, 28, n)
    lat[:, 4] = rng.integers(4, 28, n)
    return lat, to_tensor(render(lat), R), encode_labels(lat)


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(centroid (B, 2) in pixels as (col, row), mass (B,)) of images (B, 1, R, R)."""
    m = x.squeeze(1).clamp(0, 1)
    g = torch.arange(m.shape[-1], dtype=m.dtype) + 0.5
    mass = m.sum((1, 2)) + 1e-6
    return torch.stack([(m.sum(1) * g).sum(1) / mass, (m.sum(2) * g).sum(1) / mass], 1), mass


__all__ = ["R", "squares", "moments", "POSITIONS", "SCALES"]
