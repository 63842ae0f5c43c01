"""Training the section-5 dynamics models: EBMs through ebm-core's Trainer, FC by MSE."""

from __future__ import annotations

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
    progress,
)
from torch import nn

from .dataset import Transitions
from .models import FCDynamics, TransitionEnergy, condition
from .scaling import TransitionScaler


@dataclass(frozen=True)
class DynamicsTrainingConfig:
    """Settings shared by the four models. Paper (A.11): 10 Langevin steps for negatives, image
    settings otherwise (Adam betas (0, 0.999) with the reference clip, L2 coefficient 1, replay
    buffer of 10,000 used 95% of the time, batch 128). The CPU default uses lr 1e-3 for its short
    runs; the paper preset uses the paper's 1e-4. Chains start at s_t (a zero step)."""

    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    fc_lr: float = 1e-3
    sampler: LangevinSampler = field(
        default_factory=lambda: LangevinSampler(
            steps=10, step_size=10.0, noise_std=0.005, grad_clip=0.01, clamp=(-4.0, 4.0)
        )
    )
    l2_coeff: float = 1.0
    buffer_size: int = 10_000
    replay_prob: float = 0.95
    checkpoint_every: int = 500
    seed: int = 0


def transition_tensors(
    t: Transitions, scaler: TransitionScaler, conditional: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x = normalized step s_t -> s_t+1, y = standardized s_t [+ a_t]) as float32 tensors."""
    s = torch.as_tensor(t.states, dtype=torch.float32)
    s_next = torch.as_tensor(t.next_states, dtype=torch.float32)
    a = torch.as_tensor(t.actions, dtype=torch.float32) if conditional else None
    return scaler.delta(s, s_next), condition(scaler.state(s), a)


def start_at_current_state(x_pos: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Fresh chains for s_t+1 start from s_t: a zero step."""
    return torch.zeros_like(x_pos)


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
        log_every=25, seed=config.seed, quiet=quiet,
    )
    trainer = Trainer(energy, config.sampler, data, cfg, init_fn=start_at_current_state, out_dir=out_dir)
    if resume:
        trainer.resume()
    history = trainer.train()
    return energy, history


def train_fc(
    transitions: Transitions, scaler: TransitionScaler, conditional: bool, config: DynamicsTrainingConfig,
    out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
) -> tuple[FCDynamics, list[dict[str, float]]]:
    """Train the FC baseline by MSE on normalized steps (same steps, batch and optimizer)."""
    torch.manual_seed(config.seed)
    model = FCDynamics(conditional)
    steps, y = transition_tensors(transitions, scaler, conditional)
    opt = ClippedAdam(model.parameters(), lr=config.fc_lr)
    gen = torch.Generator().manual_seed(config.seed)
    start, history = 0, []
    ckpt = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
    if resume and ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        start, history = state["step"], state["history"]
    bar = progress(config.steps, initial=start, desc="fc", disable=quiet)
    for step in range(start + 1, config.steps + 1):
        idx = torch.randint(0, steps.shape[0], (config.batch_size,), generator=gen)
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
                 "step": step, "history": history}, ckpt,
            )
    bar.close()
    return model, history
