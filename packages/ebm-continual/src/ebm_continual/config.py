"""The Split MNIST experiment's config: data / model / sampler / training / evaluation sections, the
presets, and :func:`method_config`, which builds each method's library config from the sections."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ebm_core import LangevinSampler, ObjectiveConfig
from ebm_core.checks import check_count, check_positive, check_seed_range
from ebm_run import MAX_CHAIN_STEPS

from .baselines import AVALANCHE_STRATEGIES, ClassifierConfig
from .data import SPLIT_MNIST_TASKS, VALIDATION_IMAGES
from .ebm import ContinualEBMConfig, ContrastiveEBMConfig
from .vae import VAEConfig

METHODS = ("ebm", "ebm_replay", "ebm_contrastive", "finetune", "ewc", "si", "lwf", "vae", "vae_replay", "joint",
           "ebm_joint")
# What the default run compares: every method but ``ebm_joint`` (the EBM's own upper-bound control,
# as long as the EBM again) and ``vae_replay`` (the control for ``ebm_replay``): ask for them with ``--methods``.
DEFAULT_METHODS = tuple(m for m in METHODS if m not in ("ebm_joint", "vae_replay"))
MAX_SEEDS = 1000
DATA_SOURCES = ("mnist", "torchvision", "demo")
LibraryConfig = ContinualEBMConfig | ContrastiveEBMConfig | ClassifierConfig | VAEConfig  # what a learner takes


@dataclass(frozen=True)
class SplitMNISTData:
    """Which MNIST, and the tasks. ``source``: "mnist" (full MNIST from its idx files, plain or .gz),
    "torchvision" (the same through torchvision's loader), or "demo" (the MNIST test set alone, split
    per digit into 200 eval images and the rest to train on: tests and quick looks). For full MNIST,
    ``validation`` of the 60,000 training images (500 per digit, a fixed draw) are held out as the
    validation set; ``evaluation.split`` says whether they or the 10,000 test images are scored.
    ``train_per_class`` / ``eval_per_class`` keep only the first that many images of each digit.
    ``tasks``: the classes of each task, in order, a partition of the digits 0-9 (default 0/1, 2/3,
    4/5, 6/7, 8/9, the paper's)."""

    source: str = "mnist"
    validation: int = VALIDATION_IMAGES
    train_per_class: int | None = None
    eval_per_class: int | None = None
    tasks: tuple[tuple[int, ...], ...] = SPLIT_MNIST_TASKS

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ValueError(f"SplitMNISTData.source: unknown MNIST source {self.source!r}; choose "
                             f"{' or '.join(map(repr, DATA_SOURCES))}")
        check_count(self.validation, "SplitMNISTData.validation", 0)
        if self.validation % 10:
            raise ValueError(f"SplitMNISTData.validation: {self.validation:,} is not a multiple of 10 (the same "
                             "number of validation images of every digit)")
        if any(isinstance(t, list) for t in self.tasks):  # as --set writes them: [[0, 1], [2, 3], ...]
            object.__setattr__(self, "tasks", tuple(tuple(t) for t in self.tasks))
        if self.validation > 50_000:
            raise ValueError(f"SplitMNISTData.validation: {self.validation:,} of the 60,000 training images would "
                             "leave too few to train on (at most 50,000)")
        for name in ("train_per_class", "eval_per_class"):
            if getattr(self, name) is not None:
                check_count(getattr(self, name), f"SplitMNISTData.{name}")
        digits = [d for task in self.tasks for d in task] if all(isinstance(t, tuple) for t in self.tasks) else None
        if (not self.tasks or digits is None or any(not t for t in self.tasks)
                or any(type(d) is not int for d in digits) or sorted(digits) != list(range(10))):
            raise ValueError(f"SplitMNISTData.tasks must split the digits 0-9 into tasks, each digit in exactly "
                             f"one, e.g. 0,1/2,3/4,5/6,7/8,9; got {format_tasks(self.tasks)}")


def format_tasks(tasks: Any) -> str:
    """Tasks as the command line writes them: ``0,1/2,3/...``."""
    try:
        return "/".join(",".join(str(d) for d in t) for t in tasks)
    except TypeError:
        return repr(tasks)


def parse_tasks(text: str) -> tuple[tuple[int, ...], ...]:
    """``"0,1/2,3/4,5/6,7/8,9"`` -> ``((0, 1), (2, 3), ...)`` (checked by :class:`SplitMNISTData`)."""
    try:
        return tuple(tuple(int(d) for d in part.split(",")) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"{text!r} is not a task order like 0,1/2,3/4,5/6,7/8,9 (digits separated by commas, "
                         "tasks by slashes)") from None


@dataclass(frozen=True)
class SplitMNISTModel:
    """The networks, the same size for every method (2x400 MLPs, section 6). ``hidden``: every
    network's hidden widths (the VAE's encoder and decoder each); ``energy_act``: the activation of
    the two EBMs (the classifiers and the VAE use ReLU); ``spectral_norm``: the EBM's layers (the
    contrastive EBM has none, as in Li et al. 2021); ``label_scale``: the EBM takes its label as
    ``label_scale * one_hot(y)`` (see :class:`ContinualEBMConfig`); ``latent_dim``: the VAE's."""

    hidden: tuple[int, ...] = (400, 400)
    energy_act: str = "swish"
    spectral_norm: bool = True
    label_scale: float = 10.0
    latent_dim: int = 20

    def __post_init__(self) -> None:
        check_count(self.latent_dim, "SplitMNISTModel.latent_dim")


@dataclass(frozen=True)
class EBMTraining:
    """The continual EBM's optimisation: Algorithm 1 for ``steps_per_task`` steps on each task, Adam
    at ``lr``, the objective, and the replay buffer (kept across tasks) that starts the chains;
    ``class_coeff``: the weight of the class term over each task's classes (see :class:`ContinualEBMConfig`)."""

    steps_per_task: int = 300
    batch_size: int = 128
    lr: float = 1e-3
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    buffer_size: int = 10_000
    replay_prob: float = 0.95
    class_coeff: float = 0.0


@dataclass(frozen=True)
class GenerativeReplay:
    """Generative replay (not in the paper) of ``ebm_replay`` and ``vae_replay``: after each task,
    ``per_class`` samples of each of its classes are generated and trained on in later tasks; the
    EBM's are ``rounds`` runs of its sampler from the replay buffer's images (see
    :class:`ContinualEBMConfig`), the VAE's decoded from its prior. Chosen on validation (README)."""

    per_class: int = 2000
    rounds: int = 1

    def __post_init__(self) -> None:
        check_count(self.per_class, "GenerativeReplay.per_class")
        check_count(self.rounds, "GenerativeReplay.rounds")


@dataclass(frozen=True)
class EpochTraining:
    """Epochs of Adam over each task's images (the contrastive EBM, the VAE)."""

    epochs_per_task: int = 20
    batch_size: int = 128
    lr: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("epochs_per_task", "batch_size"):
            check_count(getattr(self, name), f"{type(self).__name__}.{name}")
        check_positive(self.lr, f"{type(self).__name__}.lr")


@dataclass(frozen=True)
class ClassifierTraining(EpochTraining):
    """The discriminative baselines' epochs and their regularisation strengths (see :class:`ClassifierConfig`)."""

    ewc_lambda: float = 5000.0
    si_lambda: float = 1.0
    lwf_alpha: float = 1.0
    lwf_temperature: float = 2.0


@dataclass(frozen=True)
class SplitMNISTTraining:
    """Each method's optimisation, and the device every method trains on."""

    ebm: EBMTraining = field(default_factory=EBMTraining)  # ebm, ebm_replay, ebm_joint
    generative_replay: GenerativeReplay = field(default_factory=GenerativeReplay)  # ebm_replay, vae_replay
    contrastive: EpochTraining = field(default_factory=EpochTraining)  # ebm_contrastive
    classifier: ClassifierTraining = field(default_factory=ClassifierTraining)  # finetune, ewc, si, lwf, joint
    vae: EpochTraining = field(default_factory=EpochTraining)
    device: str = "cpu"
    workers: int = 1  # > 1: the (method, seed) runs go to that many worker processes of one thread each

    def __post_init__(self) -> None:
        check_count(self.workers, "SplitMNISTTraining.workers")


@dataclass(frozen=True)
class SplitMNISTEvaluation:
    """What is compared: ``methods`` (from :data:`METHODS`), each run with ``seeds`` seeds (the first is
    the config's ``seed``); ``vae_importance_samples``: draws of z per estimate of the VAE's ``log p(x | y)``,
    by which it classifies; ``split``: score on the "validation" images (where every choice is made)
    or the "test" images (the reported figure, read once)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: int = 3
    vae_importance_samples: int = 4
    split: str = "test"

    def __post_init__(self) -> None:
        check_count(self.seeds, "SplitMNISTEvaluation.seeds")
        if self.seeds > MAX_SEEDS:
            raise ValueError(f"SplitMNISTEvaluation.seeds: {self.seeds:,} runs of every method; "
                             f"at most {MAX_SEEDS}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"SplitMNISTEvaluation.methods: unknown {unknown}; choose from {', '.join(METHODS)}"
                             if unknown else "SplitMNISTEvaluation.methods names no method")
        repeated = sorted({m for m in self.methods if self.methods.count(m) > 1})
        if repeated:
            raise ValueError(f"SplitMNISTEvaluation.methods names {', '.join(repeated)} twice; each method "
                             "runs once per seed (more seeds: --seeds)")
        check_count(self.vae_importance_samples, "SplitMNISTEvaluation.vae_importance_samples")
        if self.split not in ("validation", "test"):
            raise ValueError(f"SplitMNISTEvaluation.split must be 'validation' or 'test', got {self.split!r}")


@dataclass(frozen=True)
class SplitMNISTConfig:
    """What to run: every method of ``evaluation`` on the data, seeds ``seed`` to ``seed + seeds - 1``.
    ``sampler`` is the EBM's Langevin sampler (the only method that samples)."""

    data: SplitMNISTData = field(default_factory=SplitMNISTData)
    model: SplitMNISTModel = field(default_factory=SplitMNISTModel)
    sampler: LangevinSampler = field(default_factory=lambda: LangevinSampler(steps=20))
    training: SplitMNISTTraining = field(default_factory=SplitMNISTTraining)
    evaluation: SplitMNISTEvaluation = field(default_factory=SplitMNISTEvaluation)
    seed: int = 0

    def __post_init__(self) -> None:
        check_seed_range(self.seed, self.evaluation.seeds, "SplitMNISTConfig")
        if self.data.source == "demo" and self.evaluation.split == "validation":
            raise ValueError("the demo data (the MNIST test set split in two) has no validation set: use data "
                             "source 'mnist' (--data mnist) to evaluate on validation")
        for method in ("ebm", "ebm_replay", "ebm_contrastive", "finetune", "vae_replay"):  # the library
            method_config(method, self)  # configs' own checks, now
        rounds = self.training.generative_replay.rounds
        if rounds * self.sampler.steps > MAX_CHAIN_STEPS:
            raise ValueError(f"training.generative_replay.rounds: {rounds:,} runs of the {self.sampler.steps}-step "
                             f"sampler are {rounds * self.sampler.steps:,} Langevin steps per generated sample, over "
                             f"the limit of {MAX_CHAIN_STEPS:,}")


def _fields(section: Any) -> dict[str, Any]:
    """A section's fields by name (not recursing into nested dataclasses, unlike ``asdict``)."""
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}


def method_config(method: str, config: SplitMNISTConfig) -> LibraryConfig:
    """The library config that ``method``'s learner takes, built from the sections."""
    m, t = config.model, config.training
    if method in ("ebm", "ebm_replay", "ebm_joint"):
        g = t.generative_replay
        replay = dict(generated_per_class=g.per_class, generation_rounds=g.rounds) if method == "ebm_replay" else {}
        return ContinualEBMConfig(hidden=m.hidden, act=m.energy_act, spectral_norm=m.spectral_norm,
                                  label_scale=m.label_scale, sampler=config.sampler, **_fields(t.ebm), **replay,
                                  device=t.device)
    if method == "ebm_contrastive":
        return ContrastiveEBMConfig(hidden=m.hidden, act=m.energy_act, **_fields(t.contrastive), device=t.device)
    if method in ("vae", "vae_replay"):
        replay = dict(generated_per_class=t.generative_replay.per_class) if method == "vae_replay" else {}
        return VAEConfig(hidden=m.hidden, latent_dim=m.latent_dim, **_fields(t.vae), **replay,
                         importance_samples=config.evaluation.vae_importance_samples, device=t.device)
    if method in AVALANCHE_STRATEGIES or method == "joint":
        return ClassifierConfig(hidden=m.hidden, **_fields(t.classifier), device=t.device)
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def with_device(config: SplitMNISTConfig, device: str) -> SplitMNISTConfig:
    """The same configuration on another device (every method's)."""
    return dataclasses.replace(config, training=dataclasses.replace(config.training, device=device))


def _epochs(n: int, **ebm: Any) -> SplitMNISTTraining:
    """Training with ``n`` epochs per task for the contrastive EBM, the classifiers and the VAE."""
    return SplitMNISTTraining(ebm=EBMTraining(**ebm), contrastive=EpochTraining(n), classifier=ClassifierTraining(n),
                              vae=EpochTraining(n))


PRESETS: dict[str, SplitMNISTConfig] = {
    # CPU default: the epochs of the methods trained by epochs chosen on the validation images (seed 0; README),
    # the (method, seed) runs in 2 worker processes.
    "default": SplitMNISTConfig(training=SplitMNISTTraining(
        contrastive=EpochTraining(5), classifier=ClassifierTraining(5), vae=EpochTraining(10), workers=2)),
    # Full MNIST, 10 seeds, the paper's sampler (60 steps, A.11) and longer training per task.
    "paper": SplitMNISTConfig(
        data=SplitMNISTData(source="torchvision"),
        model=SplitMNISTModel(label_scale=1.0),
        sampler=LangevinSampler(),
        training=_epochs(4, steps_per_task=5000, lr=1e-4),
        evaluation=SplitMNISTEvaluation(seeds=10, vae_importance_samples=16),
    ),
    "tiny": SplitMNISTConfig(
        sampler=LangevinSampler(steps=5),
        training=dataclasses.replace(_epochs(1, steps_per_task=30, batch_size=64, buffer_size=512),
                                     generative_replay=GenerativeReplay(per_class=50)),
        evaluation=SplitMNISTEvaluation(methods=("ebm", "finetune", "vae", "joint"), seeds=2,
                                        vae_importance_samples=2),
    ),
}
