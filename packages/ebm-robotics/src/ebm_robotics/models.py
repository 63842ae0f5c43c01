"""Dynamics models of section 5: transition EBMs E(s_t[, a_t], s_t+1) and FC baselines.

Both work in the units of :class:`TransitionScaler`: the condition is the standardized state
s_t (and the action a_t for action-conditional models), the output is the normalized step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from ebm_core import MLPEnergy, activation, sn_linear
from torch import nn

from .shards import ACTION_DIM, STATE_DIM


def condition(states: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
    """The conditioning vector of a transition model: s_t, or [s_t, a_t] (action-conditional)."""
    return states if actions is None else torch.cat([states, actions], dim=-1)


class TransitionEnergy(MLPEnergy):
    """E(s_t+1 | s_t[, a_t]): 3 hidden layers of 128 with spectral norm (5.1). ``x`` is the
    normalized step to s_t+1, ``y`` = s_t (unconditional model) or [s_t, a_t]."""

    def __init__(
        self, conditional: bool, hidden: Sequence[int] = (128, 128, 128), act: str = "swish",
        spectral_norm: bool = True,
    ):
        cond_dim = STATE_DIM + (ACTION_DIM if conditional else 0)
        super().__init__(STATE_DIM, hidden=hidden, cond_dim=cond_dim, act=act, spectral_norm=spectral_norm)
        self.conditional = conditional


class FCDynamics(nn.Module):
    """Feed-forward baseline predicting the normalized step from s_t[, a_t]: 3x128 with spectral
    norm (5.1), trained by mean squared error."""

    def __init__(self, conditional: bool, hidden: Sequence[int] = (128, 128, 128), act: str = "swish"):
        super().__init__()
        self.conditional = conditional
        width = STATE_DIM + (ACTION_DIM if conditional else 0)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [sn_linear(width, h), activation(act)]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, STATE_DIM))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        width = STATE_DIM + (ACTION_DIM if self.conditional else 0)
        if y.shape[-1] != width:
            what = "[s_t, a_t]: pass the actions" if self.conditional else "s_t only (no actions)"
            raise ValueError(f"this FC model takes {what}, width {width}; got width {y.shape[-1]}")
        return self.net(y)
