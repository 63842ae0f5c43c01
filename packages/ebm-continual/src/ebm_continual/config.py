"""The Split MNIST experiment's config: data / model / sampler / training / evaluation sections, the
presets, and :func:`method_config`, which builds each method's library config from the sections."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ebm_core import LangevinSampler, ObjectiveConfig
from ebm_core.checks import check_count, check_positive

from .baselines import AVALANCHE_STRATEGIES, ClassifierConfig
from .ebm import ContinualEBMConfig, ContrastiveEBMConfig
from .vae import VAEConfig

METHODS = ("ebm", "ebm_contrastive", "finetune", "ewc", "si", "lwf", "vae", "joint", "ebm_joint")
# What the default run compares: every method but ``ebm_joint`` (the EBM's own upper-bound control,
# as long as the EBM again; ask for it with ``--methods``).
DEFAULT_METHODS = tuple(m for m in METHODS if m != "ebm_joint")
MAX_SEEDS = 1000
DATA_SOURCES = ("demo", "torchvision")
LibraryConfig = ContinualEBMConfig | ContrastiveEBMConfig | ClassifierConfig | VAEConfig  # what a learner takes


@dataclass(frozen=True)
class SplitMNISTData:
    """Which MNIST. ``source``: "demo" (the MNIST test set split per digit: ``eval_per_class`` held
    out for evaluation, the rest, or the next ``train_per_class``, for training) or "torchvision"
    (full MNIST: 60,000 training images, the 10,000 test images for evaluation; the per-class
    counts apply to the demo split only)."""

    source: str = "demo"
    eval_per_class: int = 200
    train_per_class: int | None = None

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ValueError(f"SplitMNISTData.source: unknown MNIST source {self.source!r}; choose "
                             f"{' or '.join(map(repr, DATA_SOURCES))}")
        check_count(self.eval_per_class, "SplitMNISTData.eval_per_class")
        if self.train_per_class is not None:
            check_count(self.train_per_class, "SplitMNISTData.train_per_class")


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
    at ``lr``, the objective, and the replay buffer (kept across tasks) that starts the chains."""

    steps_per_task: int = 300
    batch_size: int = 128
    lr: float = 1e-3
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    buffer_size: int = 10_000
    replay_prob: float = 0.95


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

    ebm: EBMTraining = field(default_factory=EBMTraining)  # ebm, ebm_joint
    contrastive: EpochTraining = field(default_factory=EpochTraining)  # ebm_contrastive
    classifier: ClassifierTraining = field(default_factory=ClassifierTraining)  # finetune, ewc, si, lwf, joint
    vae: EpochTraining = field(default_factory=EpochTraining)
    device: str = "cpu"


@dataclass(frozen=True)
class SplitMNISTEvaluation:
    """What is compared: ``methods`` (from :data:`METHODS`), each run with ``seeds`` seeds (the first is
    the config's ``seed``); ``vae_importance_samples``: draws of z per estimate of the VAE's ``log p(x | y)``,
    by which it classifies."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: int = 3
    vae_importance_samples: int = 4

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
        for method in ("ebm", "ebm_contrastive", "finetune", "vae"):  # the library configs' own checks, now
            method_config(method, self)


def _fields(section: Any) -> dict[str, Any]:
    """A section's fields by name (not recursing into nested dataclasses, unlike ``asdict``)."""
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}


def method_config(method: str, config: SplitMNISTConfig) -> LibraryConfig:
    """The library config that ``method``'s learner takes, built from the sections."""
    m, t = config.model, config.training
    if method in ("ebm", "ebm_joint"):
        return ContinualEBMConfig(hidden=m.hidden, act=m.energy_act, spectral_norm=m.spectral_norm,
                                  label_scale=m.label_scale, sampler=config.sampler, **_fields(t.ebm), device=t.device)
    if method == "ebm_contrastive":
        return ContrastiveEBMConfig(hidden=m.hidden, act=m.energy_act, **_fields(t.contrastive), device=t.device)
    if method == "vae":
        return VAEConfig(hidden=m.hidden, latent_dim=m.latent_dim, **_fields(t.vae),
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
    "default": SplitMNISTConfig(),
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
        training=_epochs(1, steps_per_task=30, batch_size=64, buffer_size=512),
        evaluation=SplitMNISTEvaluation(methods=("ebm", "finetune", "vae", "joint"), seeds=2,
                                        vae_importance_samples=2),
    ),
}
