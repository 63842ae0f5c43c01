"""Energies whose log partition function is known exactly, to validate AIS where the answer is
known (Gaussians and mixtures of well-separated Gaussians inside the unit box)."""

from __future__ import annotations

import math

import torch
from torch import nn


def random_covariance_factor(dim: int, sd_range: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """A lower-triangular Cholesky factor L of a non-diagonal covariance Q diag(s^2) Q^T (Q a
    random rotation, the standard deviations s evenly spread over ``sd_range``)."""
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    s = torch.linspace(*sd_range, dim, dtype=torch.float64)
    return torch.linalg.cholesky(q @ torch.diag(s**2) @ q.T)


class GaussianMixtureEnergy(nn.Module):
    """E(x) = -log sum_k w_k exp(-(x - m_k)^T S^-1 (x - m_k) / 2) over flattened states, S = L L^T
    shared by the components, ``means`` (K, D) and ``weights`` (K,) summing to 1; one component is
    a Gaussian. Its log Z over R^D is D/2 log(2 pi) + log det L, whatever the weights; where the
    components sit many standard deviations inside the box, the box holds all but a negligible
    share of the mass, so that is AIS's answer too."""

    def __init__(self, means: torch.Tensor, chol: torch.Tensor, weights: torch.Tensor | None = None):
        super().__init__()
        k, dim = means.shape
        if chol.shape != (dim, dim):
            raise ValueError(f"chol must be ({dim}, {dim}) for means of dimension {dim}, got {tuple(chol.shape)}")
        weights = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else weights.double()
        if weights.shape != (k,) or (weights <= 0).any() or abs(weights.sum().item() - 1.0) > 1e-9:
            raise ValueError("weights must be K positive numbers summing to 1")
        whiten = torch.linalg.solve_triangular(chol.double(), torch.eye(dim, dtype=torch.float64), upper=False)
        self.register_buffer("whiten_t", whiten.T.float().contiguous())  # z = (x - m) L^-T
        self.register_buffer("means", means.float())
        self.register_buffer("log_weights", weights.log().float())
        self.log_z = dim / 2 * math.log(2 * math.pi) + torch.diagonal(chol.double()).log().sum().item()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = (x.flatten(1).unsqueeze(1) - self.means) @ self.whiten_t  # (B, K, D)
        return -torch.logsumexp(self.log_weights - 0.5 * (z**2).sum(-1), dim=1)


def gaussian_in_box(dim: int, sd_range: tuple[float, float] = (0.02, 0.05), components: int = 1,
                    seed: int = 0) -> GaussianMixtureEnergy:
    """A ``dim``-dimensional Gaussian (``components`` = 1) or equal mixture of Gaussians with a shared
    random non-diagonal covariance (standard deviations in ``sd_range``) whose means lie in
    [0.3, 0.7]^dim: at least 6 standard deviations from the walls of [0, 1]^dim, so the mass outside
    the box is below 1e-8 per dimension (negligible), and, in high dimension, components many
    standard deviations apart."""
    g = torch.Generator().manual_seed(seed)
    chol = random_covariance_factor(dim, sd_range, g)
    means = 0.5 + torch.zeros(1, dim, dtype=torch.float64) if components == 1 else \
        0.3 + 0.4 * torch.rand(components, dim, generator=g, dtype=torch.float64)
    return GaussianMixtureEnergy(means, chol)
