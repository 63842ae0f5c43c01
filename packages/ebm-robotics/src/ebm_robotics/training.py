"""Training the section-5 dynamics models: EBMs through ebm-core's Trainer, the baselines through
ebm-core's one supervised loop."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from ebm_core import LangevinSampler, ObjectiveConfig, SupervisedConfig, Trainer, TrainerConfig, train_supervised
from ebm_core.checks import check_count, check_nonnegative, check_positive, check_probability
from torch import nn

from .dataset import Transitions
from .models import FCDynamics, GaussianDynamics, TransitionEnergy, WhitenedTransitionEnergy, condition
from .scaling import TransitionScaler

BaselineKind = Literal["fc", "fc_paper", "gaussian"]
BASELINES: tuple[BaselineKind, ...] = ("fc", "fc_paper", "gaussian")
UNCOND_ROLLOUT_T = 0.8


STEP_SIZE = 0.05


def langevin_at(temperature: float, steps: int = 20, step_size: float = STEP_SIZE) -> LangevinSampler:
    """Langevin dynamics that samples exp(-E / temperature): noise sqrt(2 * step_size * temperature)
    (temperature 1: the paper's eq. 1, the model's own density), no gradient clip, states within +-4."""
    return LangevinSampler(steps=steps, step_size=step_size, noise_std=math.sqrt(2 * step_size * temperature),
                           grad_clip=None, clamp=(-4.0, 4.0))


@dataclass(frozen=True)
class DynamicsTrainingConfig:
    """Settings shared by the models (every choice made on validation: robotics README, "Choosing the
    recipe").

    From the paper (5.1, A.11): Adam betas (0, 0.999) with the reference clip, batch 128, fresh
    Langevin chains for negatives. The CPU default uses lr 1e-3 for its short runs (the paper preset
    the paper's 1e-4). The baselines train as many steps on the same batches, with plain Adam at
    ``baseline_lr``.

    The default energy is ``"whitened"`` (:class:`WhitenedTransitionEnergy`): written over the step
    whitened by the trained Gaussian baseline, so chains start from the base's own samples
    (``init_std`` 1) and one step size fits every coordinate. Training chains sample the model's
    temperature-1 density (``sampler``: 20 steps of 0.05, noise sqrt(0.1)); the paper's 10 steps and
    fresh chains from noise around s_t (``energy="plain"``) are kept as settings. Rollouts sample every
    step with a fresh chain: ``rollout_sampler`` for unconditional models, ``conditional_rollout_sampler``
    for action-conditional ones (colder: given the actions the future is near-deterministic).
    """

    steps: int = 8000
    batch_size: int = 128
    lr: float = 1e-3
    baseline_lr: float = 3e-4
    sampler: LangevinSampler = field(default_factory=lambda: langevin_at(1.0))
    init_std: float = 1.0
    rollout_sampler: LangevinSampler = field(default_factory=lambda: langevin_at(UNCOND_ROLLOUT_T))
    conditional_rollout_sampler: LangevinSampler = field(default_factory=lambda: langevin_at(0.5))
    rollout_init_std: float = 1.0
    l2_coeff: float = 0.001
    energy: Literal["plain", "whitened"] = "whitened"
    buffer_size: int = 10_000
    replay_prob: float = 0.0
    checkpoint_every: int = 1000
    seed: int = 0
    device: str = "cpu"  # where the models train (the rollouts then run on the CPU)

    def __post_init__(self) -> None:
        for name, minimum in (("steps", 1), ("batch_size", 1), ("buffer_size", 1), ("checkpoint_every", 1),
                              ("seed", 0)):
            check_count(getattr(self, name), f"DynamicsTrainingConfig.{name}", minimum)
        for name in ("lr", "baseline_lr"):
            check_positive(getattr(self, name), f"DynamicsTrainingConfig.{name}")
        for name in ("init_std", "rollout_init_std", "l2_coeff"):
            check_nonnegative(getattr(self, name), f"DynamicsTrainingConfig.{name}")
        check_probability(self.replay_prob, "DynamicsTrainingConfig.replay_prob")
        if self.energy not in ("plain", "whitened"):
            raise ValueError(f"DynamicsTrainingConfig.energy must be 'plain' or 'whitened', got {self.energy!r}")


def transition_tensors(
    t: Transitions, scaler: TransitionScaler, conditional: bool, target: Literal["step", "state"] = "step",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y = standardized s_t [+ a_t]) as float32 tensors; x is the normalized step s_t -> s_t+1
    (``target="step"``) or the standardized s_t+1 (``target="state"``)."""
    s = torch.as_tensor(t.states, dtype=torch.float32)
    s_next = torch.as_tensor(t.next_states, dtype=torch.float32)
    a = torch.as_tensor(t.actions, dtype=torch.float32) if conditional else None
    x = scaler.delta(s, s_next) if target == "step" else scaler.state(s_next)
    return x, condition(scaler.state(s), a)


def start_near_current_state(init_std: float) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """Fresh chains for s_t+1 start from s_t plus N(0, init_std^2) in step units (0: at s_t)."""

    def init(x_pos: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return init_std * torch.randn_like(x_pos)

    return init


def train_ebm(
    transitions: Transitions, scaler: TransitionScaler, conditional: bool, config: DynamicsTrainingConfig,
    out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
    base: GaussianDynamics | None = None,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train E(s_t+1 | s_t[, a_t]) with ebm-core's Trainer (Algorithm 1): a :class:`TransitionEnergy`
    of the normalized step, or with ``config.energy == "whitened"`` a :class:`WhitenedTransitionEnergy`
    over the trained Gaussian ``base`` (of the same conditioning)."""
    torch.manual_seed(config.seed)
    x, y = transition_tensors(transitions, scaler, conditional)
    energy: nn.Module
    if config.energy == "whitened":
        if base is None or base.conditional != conditional:
            raise ValueError("a whitened transition energy needs the trained Gaussian model of the same conditioning")
        energy = WhitenedTransitionEnergy(base)
        with torch.no_grad():
            x = energy.whiten(x, y)
    else:
        energy = TransitionEnergy(conditional)
    data = (x, y)
    cfg = TrainerConfig(
        steps=config.steps, batch_size=config.batch_size, lr=config.lr,
        objective=ObjectiveConfig(l2_coeff=config.l2_coeff), buffer_size=config.buffer_size,
        replay_prob=config.replay_prob, buffer_labels=True, checkpoint_every=config.checkpoint_every,
        log_every=25, seed=config.seed, quiet=quiet, device=config.device,
    )
    init = start_near_current_state(config.init_std)
    trainer = Trainer(energy, config.sampler, data, cfg, init_fn=init, out_dir=out_dir)
    if resume:
        trainer.resume()
    trainer.train()
    return energy.cpu(), trainer.history  # the whole run's, also when resumed


def make_baseline(kind: BaselineKind, conditional: bool) -> nn.Module:
    """An untrained baseline of ``kind`` (see :mod:`ebm_robotics.models`)."""
    if kind == "gaussian":
        return GaussianDynamics(conditional)
    if kind in ("fc", "fc_paper"):
        return FCDynamics(conditional, target="step" if kind == "fc" else "state")
    raise ValueError(f"unknown baseline {kind!r}: expected one of {BASELINES}")


def train_baseline(
    kind: BaselineKind, transitions: Transitions, scaler: TransitionScaler, conditional: bool,
    config: DynamicsTrainingConfig, out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train a baseline (``fc``, ``fc_paper`` or ``gaussian``) by its own loss, with as many steps
    and the same batch size as the EBMs; returns it on the CPU in eval mode, and its history."""
    model = make_baseline(kind, conditional)
    target = "state" if kind == "fc_paper" else "step"
    x, y = transition_tensors(transitions, scaler, conditional, target)
    cfg = SupervisedConfig(
        steps=config.steps, batch_size=config.batch_size, lr=config.baseline_lr,
        checkpoint_every=config.checkpoint_every, seed=config.seed, device=config.device, quiet=quiet,
    )
    history = train_supervised(model, lambda m, target_, cond: m.loss(cond, target_), (x, y), cfg, out_dir, resume)
    return model.cpu().eval(), history


def rollout_sampler(config: DynamicsTrainingConfig, conditional: bool) -> LangevinSampler:
    """The sampler of a model's rollouts: ``conditional_rollout_sampler`` for action-conditional models,
    else ``rollout_sampler``."""
    return config.conditional_rollout_sampler if conditional else config.rollout_sampler
