"""Multi-step rollouts on a model's own predictions (5.2) and the per-timestep Frechet distance."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from ebm_core import LangevinSampler, frechet_distance_samples
from torch import nn

from .models import condition
from .scaling import TransitionScaler
from .shards import STATE_DIM

StepFn = Callable[[torch.Tensor], torch.Tensor]


def rollout_states(
    predict_step: StepFn, scaler: TransitionScaler, s0: torch.Tensor, horizon: int,
    actions: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, horizon+1, D) raw states, each step predicted from the model's own previous state (5.2).

    ``predict_step(y)`` maps the condition [standardized s_t(, a_t)] to a normalized step. Every
    predicted state is kept inside the training states' box (``TransitionScaler.bound``), for
    every model alike.
    """
    states = [s0]
    for t in range(horizon):
        y = condition(scaler.state(states[-1]), actions[:, t] if actions is not None else None)
        states.append(scaler.bound(scaler.step(states[-1], predict_step(y))))
    return torch.stack(states, dim=1)


def one_step_mse(
    predict_step: StepFn, scaler: TransitionScaler, states: torch.Tensor | np.ndarray,
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
    with torch.no_grad():
        target = scaler.delta(s, s_next)
    return float(((predict_step(condition(scaler.state(s), a)) - target) ** 2).mean())


def ebm_step(energy: nn.Module, sampler: LangevinSampler, init_std: float = 0.0) -> StepFn:
    """Sample the step from E(. | y) with Langevin dynamics started at s_t, perturbed by
    ``init_std`` delta units of Gaussian noise (0: exactly at s_t, a zero step)."""

    def step(y: torch.Tensor) -> torch.Tensor:
        x0 = init_std * torch.randn(y.shape[0], energy.in_dim, device=y.device)
        return sampler(energy, x0, y)

    return step


class ZeroEnergy(nn.Module):
    """E = 0 everywhere: a Langevin chain on it is its initial noise plus its per-step noise. The
    control that shows what a transition EBM's energy adds to the chain's own randomness."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return x.sum(dim=-1) * 0.0


def no_change_step(y: torch.Tensor) -> torch.Tensor:
    """The step of a model that predicts no change (s_t+1 = s_t): the reference of ``one_step_mse``."""
    return torch.zeros(y.shape[0], STATE_DIM, device=y.device)


def fc_step(model: nn.Module) -> StepFn:
    """The FC baseline as a step function: its prediction of the normalized step, no sampling."""
    def step(y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(y)

    return step


def frechet_per_step(predicted: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor) -> list[float]:
    """Frechet distance between the predicted and true state distributions (across trajectories)
    at t = 1..T: inputs (N, T+1, D) sharing the start state t = 0; returns T values. A rollout that
    left the finite numbers scores inf at that step."""
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and truth {tuple(truth.shape)} differ")
    out = []
    for t in range(1, truth.shape[1]):
        p = predicted[:, t]
        finite = bool(torch.isfinite(torch.as_tensor(p)).all())
        out.append(frechet_distance_samples(p, truth[:, t]) if finite else float("inf"))
    return out
