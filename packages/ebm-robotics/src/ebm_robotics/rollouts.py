"""Multi-step rollouts on a model's own predictions (5.2).

A model enters a rollout as a ``NextState`` function: raw states s_t (B, 61) and the actions a_t
(B, 20), or None for unconditional models, to raw states s_t+1. Every model but the paper's FC
keeps its states inside the box spanned by the training states (``TransitionScaler.bound``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from ebm_core import LangevinSampler
from torch import nn

from .models import GaussianDynamics, condition
from .scaling import TransitionScaler

NextState = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def ebm_next_state(energy: nn.Module, scaler: TransitionScaler, sampler: LangevinSampler,
                   init_std: float = 0.0) -> NextState:
    """Sample s_t+1 from E(. | s_t[, a_t]) with Langevin dynamics on the normalized step, started
    at s_t perturbed by ``init_std`` step units of Gaussian noise (0: exactly at s_t); for a
    whitened energy, on the whitened step, started from ``init_std`` times the base's own noise. A
    chain that diverges raises ``NonFiniteError`` (``check_finite``) instead of feeding NaN onward."""

    sampler = dataclasses.replace(sampler, check_finite=True)
    unwhiten = getattr(energy, "unwhiten", None)  # a WhitenedTransitionEnergy samples whitened steps

    def next_state(s: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
        y = condition(scaler.state(s), a)
        step = sampler(energy, init_std * torch.randn(s.shape[0], energy.in_dim), y)
        if unwhiten is not None:
            with torch.no_grad():
                step = unwhiten(step, y)
        return scaler.bound(scaler.step(s, step))

    return next_state


def baseline_next_state(model: nn.Module, scaler: TransitionScaler) -> NextState:
    """A baseline's prediction: the strong FC's step, the Gaussian model's sampled step (both kept in
    the training box), or the paper's FC's next state as it comes (standardized; no box)."""

    def next_state(s: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
        y = condition(scaler.state(s), a)
        with torch.no_grad():
            if getattr(model, "target", "step") == "state":
                return scaler.unstate(model(y))
            step = model.sample(y) if isinstance(model, GaussianDynamics) else model(y)
        return scaler.bound(scaler.step(s, step))

    return next_state


def rollout_states(next_state: NextState, s0: torch.Tensor, horizon: int,
                   actions: torch.Tensor | None = None) -> torch.Tensor:
    """(N, horizon+1, D) raw states from ``s0`` (N, D), each step predicted from the model's own
    previous state (5.2); conditional models get ``actions[:, t]``."""
    states = [s0]
    for t in range(horizon):
        states.append(next_state(states[-1], actions[:, t] if actions is not None else None))
    return torch.stack(states, dim=1)


def one_step_mse(
    next_state: NextState, scaler: TransitionScaler, states: torch.Tensor | np.ndarray,
    actions: torch.Tensor | np.ndarray | None = None,
) -> float:
    """Mean squared error of one predicted step from every true state of ``states`` (N, T+1, D), in
    the normalized step units of ``scaler`` (predicting no change scores the steps' mean square,
    about 1). A diagnostic beside the rollouts: a regression (FC) aims at the conditional mean, and
    a perfect sampler of a noisy transition scores twice the conditional variance."""
    states = torch.as_tensor(states)  # load_trajectories gives numpy arrays
    actions = torch.as_tensor(actions) if actions is not None else None
    s = states[:, :-1].reshape(-1, states.shape[-1])
    s_next = states[:, 1:].reshape(-1, states.shape[-1])
    a = actions.reshape(-1, actions.shape[-1]) if actions is not None else None
    return float((scaler.delta(next_state(s, a), s_next) ** 2).mean())


class ZeroEnergy(nn.Module):
    """E = 0 everywhere: a Langevin chain on it is its initial noise plus its per-step noise. The
    control that shows what a transition EBM's energy adds to the chain's own randomness."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return x.sum(dim=-1) * 0.0


def no_change(s: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
    """The model that predicts no change (s_t+1 = s_t): the reference of ``one_step_mse``."""
    return s
