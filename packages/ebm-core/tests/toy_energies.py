"""Analytic energies for tests: known densities and partition functions."""

from __future__ import annotations

import math

import torch
from torch import nn


class GaussianMixtureEnergy(nn.Module):
    """E(x) = -log sum_k w_k N(x; mu_k, sigma^2 I) (unnormalized up to a constant)."""

    def __init__(self, means: torch.Tensor, weights: torch.Tensor, sigma: float):
        super().__init__()
        self.register_buffer("means", means)
        self.register_buffer("log_w", weights.log())
        self.sigma = sigma

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        return -torch.logsumexp(self.log_w - d2 / (2 * self.sigma**2), dim=1)


class BoxGaussianEnergy(nn.Module):
    """E(x) = sum_i (x_i - m)^2 / (2 s^2): on [0, 1]^D its log Z is known in closed form."""

    def __init__(self, dim: int, m: float = 0.3, s: float = 0.2):
        super().__init__()
        self.dim, self.m, self.s = dim, m, s
        self.dummy = nn.Parameter(torch.zeros(()))  # so parameter freezing has something to do

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return ((x.flatten(1) - self.m) ** 2).sum(1) / (2 * self.s**2) + 0 * self.dummy

    def log_z(self) -> float:
        a = self.s * math.sqrt(2)
        one_dim = self.s * math.sqrt(math.pi / 2) * (math.erf((1 - self.m) / a) - math.erf(-self.m / a))
        return self.dim * math.log(one_dim)
