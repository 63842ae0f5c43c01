"""The paper's continual EBM (section 6, A.7) and the contrastive EBM of Li et al. 2021.

Training (A.7): Algorithm 1 on each task in turn. Positives are the current task's images with
their labels; negatives are Langevin samples conditioned on the same labels (so only the current
task's classes are pushed up), started from a replay buffer of past negatives that persists across
tasks. Prediction: the label of lowest energy over all classes.

Generative replay (not in the paper; ``generated_per_class`` > 0): after each task the model
generates samples of that task's classes (chains started from the replay buffer's images, run under
each class's label), and every later task trains on them as positives beside its own images, as in
Shin et al. 2017's deep generative replay, with the EBM as its own generator: no image of an
earlier task is kept.

The loop is ebm-core's :class:`~ebm_core.Trainer` (sampler, objective, clipped Adam, buffer,
divergence roll-back): one Trainer per task over that task's data, with the replay buffer and the
optimizer carried from one task's Trainer to the next (a Trainer builds fresh ones; continual
learning needs them to persist, as in a single run of Algorithm 1 whose data stream changes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ebm_core import (
    ClippedAdam,
    LangevinSampler,
    MLPEnergy,
    ObjectiveConfig,
    ReplayBuffer,
    SupervisedConfig,
    Trainer,
    TrainerConfig,
    class_energies,
    lowest_energy_class,
    train_supervised,
)
from ebm_core.checks import check_count, check_nonnegative, check_positive, check_probability, check_widths
from ebm_core.model_file import module_from_model_file, read_model_file, save_model_file
from ebm_core.seeding import child_seed, seed_everything
from torch import nn

from .data import Task


@dataclass(frozen=True)
class ContinualEBMConfig:
    """Settings of the continual EBM. Network: 2 hidden layers of 400 units (section 6); sampler,
    objective, optimizer and buffer: the paper's A.11 settings unless overridden.

    ``label_scale``: the label enters the network as ``label_scale * one_hot(y)`` concatenated to
    the image (how E(x, y) takes y is not stated in the paper; this is our choice). With spectral
    norm the first layer's label columns have norm at most 1 while an MNIST digit has norm about 9,
    so at 1 the label moves the hidden units little; 10 gives it the image's weight.

    ``class_coeff`` (0: off, the paper) adds ebm-core's class term (``ObjectiveConfig.class_coeff``) over
    the classes of the task being learned: the cross-entropy of ``softmax(-E(x, c))`` over the task's
    classes for its images, which teaches the energy margins between them that eq. 2 alone does not.

    ``generated_per_class`` (0: off, the paper) turns on generative replay: after each task,
    that many samples of each of its classes, each a chain of ``generation_rounds`` runs of the
    sampler under the class's label started from a random image of the replay buffer, are kept and
    trained on as positives (with their labels) in every later task. One round keeps them as
    varied as the buffer; more rounds pull them towards a few prototypes (README)."""

    hidden: tuple[int, ...] = (400, 400)
    act: str = "swish"
    spectral_norm: bool = True
    label_scale: float = 1.0
    steps_per_task: int = 1000
    batch_size: int = 128
    lr: float = 1e-4
    sampler: LangevinSampler = field(default_factory=LangevinSampler)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    buffer_size: int = 10_000
    replay_prob: float = 0.95
    class_coeff: float = 0.0
    generated_per_class: int = 0
    generation_rounds: int = 1
    num_classes: int = 10
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps_per_task", "batch_size", "buffer_size", "num_classes", "generation_rounds"):
            check_count(getattr(self, name), f"ContinualEBMConfig.{name}")
        check_count(self.generated_per_class, "ContinualEBMConfig.generated_per_class", 0)
        check_nonnegative(self.class_coeff, "ContinualEBMConfig.class_coeff")
        check_widths(self.hidden, "ContinualEBMConfig.hidden")
        check_positive(self.lr, "ContinualEBMConfig.lr")
        check_positive(self.label_scale, "ContinualEBMConfig.label_scale")
        check_probability(self.replay_prob, "ContinualEBMConfig.replay_prob")


def make_energy(config: ContinualEBMConfig, in_dim: int = 784) -> nn.Module:
    """E(x, y): an MLP on the image concatenated with the one-hot label (scaled by
    ``config.label_scale`` when that is not 1)."""
    mlp = MLPEnergy(
        in_dim, hidden=config.hidden, num_classes=config.num_classes, act=config.act,
        spectral_norm=config.spectral_norm,
    )
    return mlp if config.label_scale == 1.0 else LabelScaledEnergy(mlp, config.label_scale)


class LabelScaledEnergy(nn.Module):
    """``E(x, y) = mlp(x, scale * one_hot(y))``: a class-conditional :class:`~ebm_core.MLPEnergy` whose
    label input is ``scale`` times the one-hot instead of the one-hot."""

    def __init__(self, mlp: MLPEnergy, scale: float):
        super().__init__()
        if not mlp.num_classes:
            raise ValueError("LabelScaledEnergy needs a class-conditional MLPEnergy (num_classes > 0)")
        self.mlp, self.scale = mlp, float(scale)

    def _label(self, y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.scale * nn.functional.one_hot(y.long(), self.mlp.num_classes).to(dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.mlp(x, self._label(y, x.dtype))

    def energy_and_input_grad(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The MLP's hand-written (E, dE/dx): the Langevin sampler's fast path."""
        return self.mlp.energy_and_input_grad(x, self._label(y, x.dtype))


class ContinualEBM:
    """A :class:`~ebm_continual.protocol.ContinualLearner` for any energy ``E(x, y) -> (B,)``.

    Pass your own ``energy`` (an ``nn.Module`` taking images (B, D) in [0, 1] and class indices (B,))
    to run the protocol with it; by default the paper's 2x400 MLP energy. With your own energy the
    config's network settings (``hidden``, ``act``, ``spectral_norm``, ``label_scale``) do not apply:
    the energy decides how it takes ``y``; training, sampling and buffer settings still do.
    """

    def __init__(
        self, config: ContinualEBMConfig = ContinualEBMConfig(), energy: nn.Module | None = None,
        in_dim: int = 784, seed: int = 0, quiet: bool = True, checkpoint_dir: str | Path | None = None,
    ):
        self.config, self.seed, self.quiet, self.in_dim = config, seed, quiet, in_dim
        self.own_energy = energy is not None  # a user's energy: this package cannot rebuild it from a file
        torch.manual_seed(seed)
        self.energy = (energy if energy is not None else make_energy(config, in_dim)).to(config.device)
        self.buffer = ReplayBuffer(
            (in_dim,), capacity=config.buffer_size, replay_prob=config.replay_prob, device=config.device
        )
        self.optimizer = ClippedAdam(self.energy.parameters(), lr=config.lr)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.history: list[list[dict[str, float]]] = []
        # generative replay: the samples generated of each learned class, and their labels
        self.generated: list[tuple[torch.Tensor, torch.Tensor]] = []

    def trainer_config(self, task: Task, task_index: int) -> TrainerConfig:
        c = self.config
        objective = c.objective
        if c.class_coeff and len(task.classes) > 1:  # the task's classes (and those generated for replay)
            objective = dataclasses.replace(objective, classes=tuple(task.classes), class_coeff=c.class_coeff)
        return TrainerConfig(
            steps=c.steps_per_task, batch_size=c.batch_size, lr=c.lr, objective=objective,
            buffer_size=c.buffer_size, replay_prob=c.replay_prob, seed=child_seed(self.seed, "task", task_index),
            quiet=self.quiet, label=f"EBM seed {self.seed} task {task_index}", device=c.device,
            checkpoint_every=max(c.steps_per_task, 1),
            log_every=max(c.steps_per_task // 20, 1),
        )

    def learn_task(self, task: Task, task_index: int) -> None:
        """Algorithm 1 on this task: positives (x, y) of the task (and, with generative replay, the
        samples generated of earlier classes), negatives sampled under the same y."""
        out = self.checkpoint_dir / f"task{task_index}" if self.checkpoint_dir is not None else None
        classes = task.classes
        task = task.with_generated(self.generated)  # its classes: the task's and those generated (class term)
        trainer = Trainer(
            self.energy, self.config.sampler, (task.x_train, task.y_train), self.trainer_config(task, task_index),
            out_dir=out, buffer=self.buffer, optimizer=self.optimizer,  # both persist across tasks
        )
        if out is not None:
            trainer.resume()
        trainer.train()
        self.history.append(trainer.history)  # the task's whole history, also when resumed
        if self.config.generated_per_class:
            self.generated += self.generate(classes, self.config.generated_per_class, task_index)

    def generate(self, classes: tuple[int, ...], n: int, stream: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``n`` samples of each class, with their labels: chains started from random images of the
        replay buffer, ``generation_rounds`` runs of the sampler under the class's label, the energy in
        eval mode. Seeded by the learner's seed and ``stream``, so a resumed run generates the same samples."""
        c = self.config
        if not self.buffer.size:
            raise ValueError("ContinualEBM.generate: the replay buffer is empty (the chains start from its "
                             "images): learn a task first")
        seed_everything(self.seed, "generated", stream)
        pool = self.buffer.latest(self.buffer.size)
        training = self.energy.training
        self.energy.eval()  # spectral norms read, not updated: generating leaves the model as it was
        out = []
        try:
            for label in classes:
                pick = torch.randperm(pool.shape[0]).repeat(-(-n // pool.shape[0]))[:n]
                x, y = pool[pick].to(c.device), torch.full((n,), label, dtype=torch.long, device=c.device)
                for _ in range(c.generation_rounds):
                    x = c.sampler(self.energy, x, y)
                out.append((x.detach().cpu(), y.cpu()))  # kept beside the tasks' images, on the CPU
        finally:
            self.energy.train(training)
        return out

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return lowest_energy_class(self.energy, x.to(self.config.device), self.config.num_classes).cpu()

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the trained energy and the network settings that rebuild it (an ebm-core model
        file; :func:`load_continual_energy` reads it back)."""
        if self.own_energy:
            raise ValueError("ContinualEBM.save: a user's own energy is saved by its owner (its network is "
                             "not one this package builds)")
        spec = {**{k: getattr(self.config, k) for k in NETWORK_FIELDS}, "in_dim": self.in_dim}
        return save_model_file(path, ENERGY_FORMAT, spec, self.energy, extra=extra)


ENERGY_FORMAT = "ebm-continual/energy/v1"
NETWORK_FIELDS = ("hidden", "act", "spectral_norm", "label_scale", "num_classes")


def _build(raw: Any) -> nn.Module:
    if not isinstance(raw, dict) or set(raw) != {*NETWORK_FIELDS, "in_dim"}:
        raise ValueError(f"its config must give exactly {', '.join(NETWORK_FIELDS)} and in_dim")
    fields = {k: raw[k] for k in NETWORK_FIELDS}
    fields["hidden"] = tuple(fields["hidden"]) if isinstance(fields["hidden"], list) else fields["hidden"]
    try:
        check_count(raw["in_dim"], "in_dim")
        return make_energy(ContinualEBMConfig(**fields), raw["in_dim"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"its config is refused ({e})") from None


def load_continual_energy(path: str | Path) -> tuple[nn.Module, int]:
    """``(energy E(x, y), num_classes)`` saved by :meth:`ContinualEBM.save`, in eval mode; the file
    is checked whole first (``ValueError`` naming it). Classify with
    ``ebm_core.lowest_energy_class(energy, x, num_classes)``."""
    payload = read_model_file(path, ENERGY_FORMAT, _build, hint="; split_mnist writes OUT/models/<method>_seed<N>.pt")
    return module_from_model_file(payload, _build), int(payload["config"]["num_classes"])


@dataclass(frozen=True)
class ContrastiveEBMConfig:
    """Li et al. 2021 ("Energy-based models for continual learning"): softmax over the negative
    energies of the current task's classes only, no sampling. Same 2x400 network."""

    hidden: tuple[int, ...] = (400, 400)
    act: str = "swish"
    epochs_per_task: int = 1
    batch_size: int = 128
    lr: float = 1e-3
    num_classes: int = 10
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs_per_task", "batch_size", "num_classes"):
            check_count(getattr(self, name), f"ContrastiveEBMConfig.{name}")
        check_positive(self.lr, "ContrastiveEBMConfig.lr")


class ContrastiveEBM:
    """Learner for the contrastive EBM: cross-entropy of ``-E(x, c)`` over the task's classes ``c``."""

    def __init__(
        self, config: ContrastiveEBMConfig = ContrastiveEBMConfig(), energy: nn.Module | None = None,
        in_dim: int = 784, seed: int = 0, quiet: bool = True,
    ):
        self.config, self.seed, self.quiet = config, seed, quiet
        torch.manual_seed(seed)
        self.energy = energy if energy is not None else MLPEnergy(
            in_dim, hidden=config.hidden, num_classes=config.num_classes, act=config.act, spectral_norm=False
        )
        self.energy.to(config.device)
        self.optimizer = torch.optim.Adam(self.energy.parameters(), lr=config.lr)

    def learn_task(self, task: Task, task_index: int) -> None:
        """Minimise the cross-entropy of ``-E(x, c)`` over the current task's classes (Li et al. 2021).

        ebm-core's supervised loop rather than its :class:`~ebm_core.Trainer`, on purpose: this
        method draws no negative samples (no sampler, no replay buffer, no contrastive ML objective),
        its negatives are the task's other classes at the same ``x``, which is exactly what the
        Trainer's loop is not."""
        c = self.config
        classes = torch.tensor(task.classes, device=c.device)
        remap = {cls: k for k, cls in enumerate(task.classes)}
        target = torch.tensor([remap[int(v)] for v in task.y_train])
        training = SupervisedConfig.for_epochs(c.epochs_per_task, len(target), c.batch_size, quiet=self.quiet,
                                               label=f"ebm_contrastive seed {self.seed} task {task_index}",
                                               seed=child_seed(self.seed, "task", task_index), device=c.device)
        train_supervised(self.energy, lambda m, x, t: nn.functional.cross_entropy(-class_energies(m, x, classes), t),
                         (task.x_train, target), training, optimizer=self.optimizer)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return lowest_energy_class(self.energy, x.to(self.config.device), self.config.num_classes).cpu()


def with_sampler(config: ContinualEBMConfig, **changes: object) -> ContinualEBMConfig:
    """Copy of ``config`` with sampler settings changed, e.g. ``with_sampler(c, steps=20)``."""
    return dataclasses.replace(config, sampler=dataclasses.replace(config.sampler, **changes))
