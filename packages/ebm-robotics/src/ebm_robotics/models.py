"""Dynamics models of section 5: the transition EBM E(s_t[, a_t], s_t+1) and three baselines.

All condition on the standardized state s_t (and the action a_t for action-conditional models),
in the units of :class:`ebm_robotics.TransitionScaler`:

* :class:`TransitionEnergy` -- the EBM: an energy of the normalized step to s_t+1;
* :class:`WhitenedTransitionEnergy` -- the EBM written in the coordinates of a Gaussian base model:
  ``E(u | y) = |u|^2 / 2 + g(u, y)`` over the step whitened by the base, ``u = (step - mean(y)) / std(y)``
  (the base's own energy plus a learned correction ``g``, a :class:`TransitionEnergy`);
* :class:`FCDynamics` ``(target="step")`` -- the strong feed-forward baseline: the normalized step by
  mean squared error (``fc_*``);
* :class:`FCDynamics` ``(target="state")`` -- the paper's FC: the standardized next state itself by
  mean squared error (``fc_paper_*``);
* :class:`GaussianDynamics` -- the probabilistic MLP of model-based RL (PETS, Chua et al. 2018): a
  mean and a variance per dimension of the normalized step, by Gaussian negative log likelihood,
  sampled at rollout (``gaussian_*``).

Every network is an MLP of the widths, activation and spectral norm of one
:class:`DynamicsModelConfig` (by default 3 hidden layers of 128 with spectral norm, 5.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from ebm_core import MLPEnergy, activation, sn_linear
from ebm_core.checks import check_widths
from torch import nn

from .shards import ACTION_DIM, STATE_DIM

MAX_WIDTH, MAX_LAYERS = 2048, 8  # a saved model's network is built on the CPU from its config: bound its size


@dataclass(frozen=True)
class DynamicsModelConfig:
    """The networks: the EBM's ``energy`` (``"whitened"``: :class:`WhitenedTransitionEnergy` over
    the trained Gaussian model's whitened step; ``"plain"``: the paper's :class:`TransitionEnergy`
    of the normalized step), and the MLP of every network, the EBM's and the baselines': ``hidden``
    widths, activation ``act``, spectrally normalized hidden layers (``spectral_norm``)."""

    energy: Literal["plain", "whitened"] = "whitened"
    hidden: tuple[int, ...] = (128, 128, 128)
    act: str = "swish"
    spectral_norm: bool = True

    def __post_init__(self) -> None:
        if self.energy not in ("plain", "whitened"):
            raise ValueError(f"DynamicsModelConfig.energy must be 'plain' or 'whitened', got {self.energy!r}")
        if not isinstance(self.hidden, (tuple, list)):
            raise ValueError(f"DynamicsModelConfig.hidden must be a tuple of widths, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(self.hidden))  # a list, as read back from a model file
        check_widths(self.hidden, "DynamicsModelConfig.hidden")
        if len(self.hidden) > MAX_LAYERS or max(self.hidden) > MAX_WIDTH:
            raise ValueError(f"DynamicsModelConfig.hidden: at most {MAX_LAYERS} widths of at most {MAX_WIDTH}, "
                             f"got {self.hidden}")
        activation(self.act)  # raises for an unknown name
        if not isinstance(self.spectral_norm, bool):
            raise ValueError(f"DynamicsModelConfig.spectral_norm must be true or false, got {self.spectral_norm!r}")

    def mlp(self) -> dict[str, Any]:
        """The keyword arguments of every network's MLP: ``hidden``, ``act``, ``spectral_norm``."""
        return {"hidden": self.hidden, "act": self.act, "spectral_norm": self.spectral_norm}


def condition(states: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
    """The conditioning vector of a transition model: s_t, or [s_t, a_t] (action-conditional), in the
    models' float32."""
    return states.float() if actions is None else torch.cat([states, actions], dim=-1).float()


def condition_width(conditional: bool) -> int:
    """Width of the conditioning vector: the state, plus the action for action-conditional models."""
    return STATE_DIM + (ACTION_DIM if conditional else 0)


class TransitionEnergy(MLPEnergy):
    """E(s_t+1 | s_t[, a_t]): by default 3 hidden layers of 128 with spectral norm (5.1). ``x`` is the
    normalized step to s_t+1, ``y`` = s_t (unconditional model) or [s_t, a_t]."""

    def __init__(
        self, conditional: bool, hidden: Sequence[int] = (128, 128, 128), act: str = "swish",
        spectral_norm: bool = True,
    ):
        super().__init__(STATE_DIM, hidden=hidden, cond_dim=condition_width(conditional), act=act,
                         spectral_norm=spectral_norm)
        self.conditional = conditional


class _Regressor(nn.Module):
    """An MLP (spectrally normalized hidden layers by default) from the condition to ``out_dim``
    outputs, checking the width."""

    def __init__(self, conditional: bool, out_dim: int, hidden: Sequence[int], act: str, spectral_norm: bool):
        super().__init__()
        self.conditional = conditional
        width = condition_width(conditional)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [sn_linear(width, h) if spectral_norm else nn.Linear(width, h), activation(act)]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, out_dim))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        width = condition_width(self.conditional)
        if y.shape[-1] != width:
            what = "[s_t, a_t]: pass the actions" if self.conditional else "s_t only (no actions)"
            raise ValueError(f"this model takes {what}, width {width}; got width {y.shape[-1]}")
        return self.net(y)


class FCDynamics(_Regressor):
    """Feed-forward baseline trained by mean squared error: ``target="step"`` predicts the normalized
    step (the strong FC), ``target="state"`` the standardized next state itself (the paper's FC)."""

    def __init__(self, conditional: bool, target: Literal["step", "state"] = "step",
                 hidden: Sequence[int] = (128, 128, 128), act: str = "swish", spectral_norm: bool = True):
        if target not in ("step", "state"):
            raise ValueError(f"target must be 'step' or 'state', got {target!r}")
        super().__init__(conditional, STATE_DIM, hidden, act, spectral_norm)
        self.target = target

    def loss(self, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Mean squared error of the prediction."""
        return nn.functional.mse_loss(self(y), target)


class GaussianDynamics(_Regressor):
    """N(mean(y), diag(exp(log_var(y)))) over the normalized step, trained by negative log
    likelihood. The log variance is kept between learned bounds by softplus (PETS), which start at
    [-10, 0.5] and are pulled together by ``0.01 * (max - min)`` in the loss."""

    def __init__(self, conditional: bool, hidden: Sequence[int] = (128, 128, 128), act: str = "swish",
                 spectral_norm: bool = True):
        super().__init__(conditional, 2 * STATE_DIM, hidden, act, spectral_norm)
        self.max_log_var = nn.Parameter(torch.full((STATE_DIM,), 0.5))
        self.min_log_var = nn.Parameter(torch.full((STATE_DIM,), -10.0))

    def mean_log_var(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicted mean and (bounded) log variance of the step."""
        mean, raw = super().forward(y).chunk(2, dim=-1)
        log_var = self.max_log_var - nn.functional.softplus(self.max_log_var - raw)
        return mean, self.min_log_var + nn.functional.softplus(log_var - self.min_log_var)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """The predicted mean step."""
        return self.mean_log_var(y)[0]

    def sample(self, y: torch.Tensor) -> torch.Tensor:
        """A step drawn from the predicted Gaussian."""
        mean, log_var = self.mean_log_var(y)
        return mean + (0.5 * log_var).exp() * torch.randn_like(mean)

    def loss(self, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Gaussian negative log likelihood per dimension (plus the bounds' pull)."""
        mean, log_var = self.mean_log_var(y)
        nll = 0.5 * ((target - mean) ** 2 * (-log_var).exp() + log_var + math.log(2 * math.pi)).mean()
        return nll + 0.01 * (self.max_log_var - self.min_log_var).mean()


class WhitenedTransitionEnergy(nn.Module):
    """``E(u | y) = |u|^2 / 2 + g(u, y)``: a transition energy over the step whitened by a trained,
    frozen Gaussian base, ``u = (step - mean(y)) / std(y)``.

    With ``g = 0`` this is the base itself (its samples are ``N(0, I)`` in ``u``); the learned
    correction ``g`` (a :class:`TransitionEnergy`) adds what a Gaussian cannot hold, such as several
    modes. Working in ``u`` gives every coordinate the scale of its conditional spread, so one
    Langevin step size fits them all, and fresh chains start from the base's own samples.
    """

    def __init__(self, base: GaussianDynamics, hidden: Sequence[int] = (128, 128, 128), act: str = "swish",
                 spectral_norm: bool = True):
        super().__init__()
        self.base = base.eval().requires_grad_(False)
        self.conditional = base.conditional
        self.correction = TransitionEnergy(base.conditional, hidden=hidden, act=act, spectral_norm=spectral_norm)
        self.in_dim = STATE_DIM

    def train(self, mode: bool = True) -> WhitenedTransitionEnergy:
        super().train(mode)
        self.base.eval()  # frozen: its spectral norms do not move either
        return self

    def forward(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * u.square().sum(-1) + self.correction(u, y)

    def energy_and_input_grad(self, u: torch.Tensor, y: torch.Tensor | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """E and dE/du without autograd (the correction's hand-written backward pass, plus u)."""
        e, g = self.correction.energy_and_input_grad(u, y)
        return e + 0.5 * u.square().sum(-1), g + u

    def whiten(self, step: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """u of normalized steps given their conditions."""
        mean, log_var = self.base.mean_log_var(y)
        return (step - mean) * (-0.5 * log_var).exp()

    def unwhiten(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Normalized steps from u given their conditions."""
        mean, log_var = self.base.mean_log_var(y)
        return mean + (0.5 * log_var).exp() * u
