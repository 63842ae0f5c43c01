"""Per-dimension normalization of transitions: states standardized, steps in units of their std."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .shards import STATE_DIM


class TransitionScaler(nn.Module):
    """Fitted on training trajectories (N, T+1, D).

    * ``state(s)``: (s - mean) / std, the models' input and the space of the Frechet distance
      (``unstate`` inverts it);
    * ``delta(s, s_next)``: (s_next - s) / delta_std, what the transition EBM models: E(s_t, s_t+1)
      written in the step s_t+1 - s_t (a change of variables), so a chain started at s_t starts
      at 0 and every dimension moves on the scale of its typical one-step change;
    * ``step(s, d)``: s + d * delta_std, the inverse;
    * ``bound(s)``: s clamped into the box spanned by the training states (the hand's joint limits
      and the cube's workspace), as image samplers clamp pixels to [0, 1]; rollouts apply it.
    Buffers, so the scaler is saved in a module's ``state_dict``.
    """

    state_mean: torch.Tensor
    state_std: torch.Tensor
    delta_std: torch.Tensor
    state_low: torch.Tensor
    state_high: torch.Tensor

    def __init__(self, dim: int = STATE_DIM) -> None:
        super().__init__()
        self.register_buffer("state_mean", torch.zeros(dim))
        self.register_buffer("state_std", torch.ones(dim))
        self.register_buffer("delta_std", torch.ones(dim))
        self.register_buffer("state_low", torch.full((dim,), -torch.inf))
        self.register_buffer("state_high", torch.full((dim,), torch.inf))

    @classmethod
    def fit(cls, trajectories: np.ndarray | torch.Tensor, min_std: float = 1e-4) -> TransitionScaler:
        s = torch.as_tensor(np.asarray(trajectories), dtype=torch.float64)
        if s.dim() != 3 or s.shape[1] < 2 or not torch.isfinite(s).all():
            raise ValueError(f"expected finite trajectories (N, T+1, D) with T >= 1, got {tuple(s.shape)}")
        scaler = cls(s.shape[-1])
        flat = s.reshape(-1, s.shape[-1])
        scaler.state_mean.copy_(flat.mean(0).float())
        scaler.state_std.copy_(flat.std(0).clamp_min(min_std).float())
        steps = (s[:, 1:] - s[:, :-1]).reshape(-1, s.shape[-1])
        scaler.delta_std.copy_(steps.std(0).clamp_min(min_std).float())
        scaler.state_low.copy_(flat.min(0).values.float())
        scaler.state_high.copy_(flat.max(0).values.float())
        return scaler

    def _check(self, s: torch.Tensor) -> None:
        if s.shape[-1] != self.state_mean.shape[0]:
            raise ValueError(f"expected states (..., {self.state_mean.shape[0]}), got {tuple(s.shape)}")

    def state(self, s: torch.Tensor) -> torch.Tensor:
        self._check(s)
        return (s - self.state_mean) / self.state_std

    def unstate(self, z: torch.Tensor) -> torch.Tensor:
        """The inverse of ``state``: raw states from standardized ones."""
        return z * self.state_std + self.state_mean

    def delta(self, s: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
        self._check(s)
        return (s_next - s) / self.delta_std

    def step(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return s + d * self.delta_std

    def bound(self, s: torch.Tensor) -> torch.Tensor:
        self._check(s)
        return torch.maximum(torch.minimum(s, self.state_high), self.state_low)
