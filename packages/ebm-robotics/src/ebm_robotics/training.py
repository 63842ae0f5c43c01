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
from .models import (
    DynamicsModelConfig,
    FCDynamics,
    GaussianDynamics,
    TransitionEnergy,
    WhitenedTransitionEnergy,
    condition,
)
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
class DynamicsSamplers:
    """The Langevin samplers of the EBMs (every choice made on validation: robotics README, "Choosing
    the recipe").

    ``train`` draws the training negatives from fresh chains started at s_t plus N(0,
    ``train_init_std``^2) in step units (a whitened energy's: ``train_init_std`` times the base's own
    noise, so 1 starts them from the base's samples): by default the model's temperature-1 density,
    20 steps of 0.05, noise sqrt(0.1). Rollouts sample every step with a fresh chain started
    ``rollout_init_std`` out: ``rollout`` for unconditional models (temperature 0.8),
    ``conditional_rollout`` for action-conditional ones (0.5, colder: given the actions the future is
    near-deterministic). The paper's 10 steps and chains from noise around s_t (with
    ``DynamicsModelConfig(energy="plain")``) are kept as settings.
    """

    train: LangevinSampler = field(default_factory=lambda: langevin_at(1.0))
    train_init_std: float = 1.0
    rollout: LangevinSampler = field(default_factory=lambda: langevin_at(UNCOND_ROLLOUT_T))
    conditional_rollout: LangevinSampler = field(default_factory=lambda: langevin_at(0.5))
    rollout_init_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("train_init_std", "rollout_init_std"):
            check_nonnegative(getattr(self, name), f"DynamicsSamplers.{name}")

    def for_rollout(self, conditional: bool) -> LangevinSampler:
        """The sampler of a model's rollouts: ``conditional_rollout`` for action-conditional models, else
        ``rollout``."""
        return self.conditional_rollout if conditional else self.rollout


@dataclass(frozen=True)
class DynamicsTrainingConfig:
    """The optimisation of every model (every choice made on validation: robotics README, "Choosing the
    recipe").

    From the paper (5.1, A.11): Adam betas (0, 0.999) with the reference clip, batch 128, fresh
    Langevin chains for negatives (the replay buffer is there and off, ``replay_prob=0``), an L2
    term of ``l2_coeff`` on both energies. The CPU default uses lr 1e-3 for its short runs (the
    paper preset the paper's 1e-4). The baselines train as many steps on the same batches, with
    plain Adam at ``baseline_lr``. ``device``: where the models train (they come back to the CPU).
    The seed is an argument of :func:`train_ebm` / :func:`train_baseline`.
    """

    steps: int = 8000
    batch_size: int = 128
    lr: float = 1e-3
    baseline_lr: float = 3e-4
    l2_coeff: float = 0.001
    buffer_size: int = 10_000
    replay_prob: float = 0.0
    checkpoint_every: int = 1000
    device: str = "cpu"  # where the models train (the rollouts then run on the CPU)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "buffer_size", "checkpoint_every"):
            check_count(getattr(self, name), f"DynamicsTrainingConfig.{name}", 1)
        for name in ("lr", "baseline_lr"):
            check_positive(getattr(self, name), f"DynamicsTrainingConfig.{name}")
        check_nonnegative(self.l2_coeff, "DynamicsTrainingConfig.l2_coeff")
        check_probability(self.replay_prob, "DynamicsTrainingConfig.replay_prob")


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


def make_energy(conditional: bool, model: DynamicsModelConfig, base: GaussianDynamics | None = None) -> nn.Module:
    """An untrained transition EBM of ``model``: a :class:`TransitionEnergy` of the normalized step, or
    (``model.energy == "whitened"``) a :class:`WhitenedTransitionEnergy` over the Gaussian ``base``
    of the same conditioning."""
    if model.energy == "plain":
        return TransitionEnergy(conditional, **model.mlp())
    if base is None or base.conditional != conditional:
        raise ValueError("a whitened transition energy needs the trained Gaussian model of the same conditioning")
    return WhitenedTransitionEnergy(base, **model.mlp())


def train_ebm(
    transitions: Transitions, scaler: TransitionScaler, conditional: bool, config: DynamicsTrainingConfig,
    out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
    base: GaussianDynamics | None = None, *, model: DynamicsModelConfig = DynamicsModelConfig(),
    samplers: DynamicsSamplers = DynamicsSamplers(), seed: int = 0,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train E(s_t+1 | s_t[, a_t]) of ``model`` (:func:`make_energy`; a whitened one over the trained
    Gaussian ``base``) with ebm-core's Trainer (Algorithm 1), negatives drawn by ``samplers.train``."""
    torch.manual_seed(seed)
    x, y = transition_tensors(transitions, scaler, conditional)
    energy = make_energy(conditional, model, base)
    if isinstance(energy, WhitenedTransitionEnergy):
        with torch.no_grad():
            x = energy.whiten(x, y)
    data = (x, y)
    cfg = TrainerConfig(
        steps=config.steps, batch_size=config.batch_size, lr=config.lr,
        objective=ObjectiveConfig(l2_coeff=config.l2_coeff), buffer_size=config.buffer_size,
        replay_prob=config.replay_prob, buffer_labels=True, checkpoint_every=config.checkpoint_every,
        log_every=25, seed=seed, quiet=quiet, device=config.device,
    )
    init = start_near_current_state(samplers.train_init_std)
    trainer = Trainer(energy, samplers.train, data, cfg, init_fn=init, out_dir=out_dir)
    if resume:
        trainer.resume()
    trainer.train()
    return energy.cpu(), trainer.history  # the whole run's, also when resumed


def make_baseline(kind: BaselineKind, conditional: bool, model: DynamicsModelConfig = DynamicsModelConfig()
                  ) -> nn.Module:
    """An untrained baseline of ``kind`` with ``model``'s MLP (see :mod:`ebm_robotics.models`)."""
    if kind == "gaussian":
        return GaussianDynamics(conditional, **model.mlp())
    if kind in ("fc", "fc_paper"):
        return FCDynamics(conditional, target="step" if kind == "fc" else "state", **model.mlp())
    raise ValueError(f"unknown baseline {kind!r}: expected one of {BASELINES}")


def train_baseline(
    kind: BaselineKind, transitions: Transitions, scaler: TransitionScaler, conditional: bool,
    config: DynamicsTrainingConfig, out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
    *, model: DynamicsModelConfig = DynamicsModelConfig(), seed: int = 0,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train a baseline (``fc``, ``fc_paper`` or ``gaussian``, with ``model``'s MLP) by its own loss,
    with as many steps and the same batch size as the EBMs (under torchrun, every rank of the job
    calls it: DistributedDataParallel); returns it on the CPU in eval mode, and its history."""
    network = make_baseline(kind, conditional, model)
    target = "state" if kind == "fc_paper" else "step"
    x, y = transition_tensors(transitions, scaler, conditional, target)
    cfg = SupervisedConfig(
        steps=config.steps, batch_size=config.batch_size, lr=config.baseline_lr,
        checkpoint_every=config.checkpoint_every, seed=seed, device=config.device, quiet=quiet,
    )
    history = train_supervised(network, lambda m, target_, cond: m.loss(cond, target_), (x, y), cfg, out_dir, resume,
                               distributed=True)  # under torchrun, on all ranks together
    return network.cpu().eval(), history
