"""Training the section-5 dynamics models: EBMs through ebm-core's Trainer, FC by MSE."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from ebm_core import (
    ClippedAdam,
    LangevinSampler,
    ObjectiveConfig,
    Trainer,
    TrainerConfig,
    atomic_torch_save,
    check_count,
    check_nonnegative,
    check_positive,
    check_probability,
    load_torch_file,
    progress,
)
from torch import nn

from .dataset import Transitions
from .models import FCDynamics, TransitionEnergy, condition
from .scaling import TransitionScaler


def _transition_sampler(noise_std: float) -> LangevinSampler:
    return LangevinSampler(steps=10, step_size=0.2, noise_std=noise_std, grad_clip=None, clamp=(-4.0, 4.0))


@dataclass(frozen=True)
class DynamicsTrainingConfig:
    """Settings shared by the four models.

    From the paper (5.1, A.11): 10 Langevin steps for negatives, Adam betas (0, 0.999) with the
    reference clip, batch 128. The CPU default uses lr 1e-3 for its short runs; the paper preset
    the paper's 1e-4.

    Ours, measured (robotics README): in the normalized step units of :class:`TransitionScaler`
    (every dimension's one-step change has std 1) chains start at s_t plus ``init_std`` units of
    Gaussian noise and take steps of 0.2 without gradient clip, noise 0.05. Negatives come from
    fresh chains (``replay_prob`` 0) and the L2 coefficient is 0.001, because rollouts sample
    every step with a fresh 10-step chain: with the image settings' replay buffer (95%) and L2
    coefficient 1 the energy only learns to nudge long-lived chains, its gap between data and
    samples stays about 1, and a fresh chain barely leaves its initial noise (one-step error
    0.95, predicting no change 1.0). Both remain settings. Rollouts sample at half the training noise
    (``rollout_sampler``, ``rollout_init_std``).
    """

    steps: int = 4000
    batch_size: int = 128
    lr: float = 1e-3
    fc_lr: float = 1e-3
    sampler: LangevinSampler = field(default_factory=lambda: _transition_sampler(0.05))
    init_std: float = 0.5
    rollout_sampler: LangevinSampler = field(default_factory=lambda: _transition_sampler(0.025))
    rollout_init_std: float = 0.25
    l2_coeff: float = 0.001
    buffer_size: int = 10_000
    replay_prob: float = 0.0
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "cpu"  # where the four models train (the rollouts then run on the CPU)

    def __post_init__(self) -> None:
        for name, minimum in (("steps", 1), ("batch_size", 1), ("buffer_size", 1), ("checkpoint_every", 1),
                              ("seed", 0)):
            check_count(getattr(self, name), f"DynamicsTrainingConfig.{name}", minimum)
        for name in ("lr", "fc_lr"):
            check_positive(getattr(self, name), f"DynamicsTrainingConfig.{name}")
        for name in ("init_std", "rollout_init_std"):
            check_nonnegative(getattr(self, name), f"DynamicsTrainingConfig.{name}")
        check_probability(self.replay_prob, "DynamicsTrainingConfig.replay_prob")


def transition_tensors(
    t: Transitions, scaler: TransitionScaler, conditional: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x = normalized step s_t -> s_t+1, y = standardized s_t [+ a_t]) as float32 tensors."""
    s = torch.as_tensor(t.states, dtype=torch.float32)
    s_next = torch.as_tensor(t.next_states, dtype=torch.float32)
    a = torch.as_tensor(t.actions, dtype=torch.float32) if conditional else None
    return scaler.delta(s, s_next), condition(scaler.state(s), a)


def start_near_current_state(init_std: float) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """Fresh chains for s_t+1 start from s_t plus N(0, init_std^2) in step units (0: at s_t)."""

    def init(x_pos: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return init_std * torch.randn_like(x_pos)

    return init


def train_ebm(
    transitions: Transitions, scaler: TransitionScaler, conditional: bool, config: DynamicsTrainingConfig,
    out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
) -> tuple[TransitionEnergy, list[dict[str, float]]]:
    """Train E(s_t+1 | s_t[, a_t]) with ebm-core's Trainer (Algorithm 1)."""
    torch.manual_seed(config.seed)
    energy = TransitionEnergy(conditional)
    data = transition_tensors(transitions, scaler, conditional)
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


def train_fc(
    transitions: Transitions, scaler: TransitionScaler, conditional: bool, config: DynamicsTrainingConfig,
    out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
) -> tuple[FCDynamics, list[dict[str, float]]]:
    """Train the FC baseline by MSE on normalized steps (same steps, batch and optimizer)."""
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model = FCDynamics(conditional).to(device)
    steps, y = (t.to(device) for t in transition_tensors(transitions, scaler, conditional))
    opt = ClippedAdam(model.parameters(), lr=config.fc_lr)
    gen = torch.Generator().manual_seed(config.seed)
    start, history = 0, []
    ckpt = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
    settings = {"fc_lr": config.fc_lr, "batch_size": config.batch_size, "seed": config.seed, "conditional": conditional}
    if resume and ckpt is not None and ckpt.exists():
        state = load_torch_file(ckpt, "checkpoint")  # on the CPU: the generator state stays there
        if state.get("settings", settings) != settings:
            raise ValueError(f"checkpoint {str(ckpt)!r} was written with other settings ({state['settings']}, now "
                             f"{settings}); use a new output folder, or the same settings to resume")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        start, history = state["step"], state["history"]
    label = Path(out_dir).name if out_dir is not None else "fc"
    if start and not quiet:
        print(f"{label}: resumed at step {start} from {ckpt}", file=sys.stderr, flush=True)  # as the Trainer says
    bar = progress(config.steps, initial=start, desc=label, disable=quiet)
    for step in range(start + 1, config.steps + 1):
        idx = torch.randint(0, steps.shape[0], (config.batch_size,), generator=gen).to(device)
        loss = nn.functional.mse_loss(model(y[idx]), steps[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        if step % 25 == 0 or step == config.steps:
            history.append({"step": step, "loss": loss.item()})
        if ckpt is not None and (step % config.checkpoint_every == 0 or step == config.steps):
            atomic_torch_save(
                {"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                 "step": step, "history": history, "settings": settings}, ckpt,
            )
    bar.close()
    return model.cpu(), history
