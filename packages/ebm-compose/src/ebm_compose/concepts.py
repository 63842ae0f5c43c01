"""Concept EBMs on dSprites: training through ebm-core's Trainer and composition (section 7), and the
config sections (network, sampler, optimization) the compose experiments build their training from."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ebm_core import LangevinSampler, ObjectiveConfig, SumEnergy, Trainer, TrainerConfig, sample_in_turn
from ebm_core.checks import check_count, check_nonnegative, check_positive, check_unit_range, check_widths
from torch import nn

from .dsprites import concept_columns
from .networks import ColumnCondition, DSpritesEnergy

# The counts among the concept settings, by field name, with their minimum (see check_concept_settings).
_COUNTS = {"steps": 0, "batch_size": 1, "langevin_steps": 0, "sample_steps": 0, "buffer_size": 1, "hidden": 1,
           "label_frequencies": 0, "checkpoint_every": 1}


def check_concept_settings(config: Any) -> None:
    """Check the concept-training settings ``config`` holds (:class:`ConceptTrainingConfig` or one of
    the experiments' sections), each under ``<class>.<field>``: counts, ``lr`` > 0, ``l2_coeff`` >= 0,
    ``channels``, and ``step_size`` / ``noise_std`` / ``grad_clip`` as a ``LangevinSampler`` checks them."""
    owner = type(config).__name__
    names = {f.name for f in dataclasses.fields(config)}
    for name, minimum in _COUNTS.items():
        if name in names:
            check_count(getattr(config, name), f"{owner}.{name}", minimum)
    if "lr" in names:
        check_positive(config.lr, f"{owner}.lr")
    if "l2_coeff" in names:
        check_nonnegative(config.l2_coeff, f"{owner}.l2_coeff")
    if "channels" in names:
        check_widths(config.channels, f"{owner}.channels")
    if "step_size" in names:
        _langevin(config, 0)


def _langevin(config: Any, steps: int) -> LangevinSampler:
    """A chain of ``steps`` steps with ``config``'s step size, noise and clip, clamped to [0, 1]."""
    return LangevinSampler(steps=steps, step_size=config.step_size, noise_std=config.noise_std,
                           grad_clip=config.grad_clip, clamp=(0.0, 1.0))


@dataclass(frozen=True)
class ConceptTrainingConfig:
    """Training of one concept EBM. Reference dSprites settings: 20 Langevin steps of size 500
    with the 0.01 element-wise gradient clip and noise 0.005 in [0, 1], swish, L2 coefficient 1,
    Adam(betas (0, 0.999)) with the reference clip, batch 128, a 10,000-sample buffer."""

    steps: int = 30_000
    batch_size: int = 128
    lr: float = 3e-4
    langevin_steps: int = 20
    step_size: float = 500.0
    noise_std: float = 0.005
    grad_clip: float | None = 0.01
    l2_coeff: float = 1.0
    buffer_size: int = 10_000
    channels: tuple[int, ...] = (32, 64, 128, 128, 128)
    hidden: int = 128
    label_frequencies: int = 0  # > 0: sin/cos features of the label (not in the reference; see DSpritesEnergy)
    checkpoint_every: int = 1000
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_concept_settings(self)

    @property
    def sampler(self) -> LangevinSampler:
        return _langevin(self, self.langevin_steps)


# The sections of the compose experiments' configs, from which each builds its ConceptTrainingConfig.
@dataclass(frozen=True)
class ConceptNetwork:
    """The dSprites concept network (:class:`DSpritesEnergy`): conv widths, dense width, label features."""

    channels: tuple[int, ...] = (32, 64, 128, 128, 128)
    hidden: int = 128
    label_frequencies: int = 0  # > 0: sin/cos features of the label (not in the reference; see DSpritesEnergy)

    def __post_init__(self) -> None:
        check_concept_settings(self)


@dataclass(frozen=True)
class ConceptSampler:
    """The Langevin chains of the concept EBMs, in [0, 1]: ``langevin_steps`` per training chain,
    ``sample_steps`` rounds at generation, both with this step size, noise and gradient clip."""

    langevin_steps: int = 20
    sample_steps: int = 20
    step_size: float = 500.0
    noise_std: float = 0.005
    grad_clip: float | None = 0.01

    def __post_init__(self) -> None:
        check_concept_settings(self)

    @property
    def generation(self) -> LangevinSampler:
        """The sampler of the generation rounds."""
        return _langevin(self, self.sample_steps)


@dataclass(frozen=True)
class ConceptOptimization:
    """The optimization of every concept EBM of an experiment (the experiments' training sections
    add their own settings to it)."""

    steps: int = 30_000
    batch_size: int = 128
    lr: float = 3e-4
    l2_coeff: float = 1.0
    buffer_size: int = 10_000
    checkpoint_every: int = 1000
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_concept_settings(self)


def concept_training_config(
    training: ConceptOptimization, sampler: ConceptSampler, network: ConceptNetwork | None = None,
) -> ConceptTrainingConfig:
    """The :class:`ConceptTrainingConfig` of an experiment's sections (``network`` None: the default
    widths, for energies built from their own spec, e.g. CelebA's)."""
    return ConceptTrainingConfig(
        **{f.name: getattr(training, f.name) for f in dataclasses.fields(ConceptOptimization)},
        langevin_steps=sampler.langevin_steps, step_size=sampler.step_size, noise_std=sampler.noise_std,
        grad_clip=sampler.grad_clip, **(dataclasses.asdict(network) if network is not None else {}),
    )


def concept_energy(
    concepts: tuple[str, ...], image_size: int, config: ConceptTrainingConfig
) -> ColumnCondition:
    """E(x | the given concepts' labels), reading its columns from the full 8-dim label vector."""
    cols = concept_columns(concepts)
    net = DSpritesEnergy(cond_dim=len(cols), image_size=image_size, channels=config.channels, hidden=config.hidden,
                         label_frequencies=config.label_frequencies)
    return ColumnCondition(net, cols)


def train_energy(
    energy: nn.Module, x: torch.Tensor, y: torch.Tensor, config: ConceptTrainingConfig, seed: int,
    out_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
    kl_coeff: float = 0.0, steps: int | None = None,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train ``energy`` on ``(x, y)`` with ebm-core's Trainer (Algorithm 1); ``kl_coeff`` > 0 adds
    the KL term of A.8. With ``resume`` a finished checkpoint in ``out_dir`` is reused."""
    check_unit_range(x, "training images x")
    steps = steps if steps is not None else config.steps
    tcfg = TrainerConfig(
        steps=steps, batch_size=min(config.batch_size, x.shape[0]),  # a batch never larger than the data
        lr=config.lr, objective=ObjectiveConfig(l2_coeff=config.l2_coeff, kl_coeff=kl_coeff),
        buffer_size=config.buffer_size, checkpoint_every=config.checkpoint_every,
        log_every=max(1, min(50, steps // 10)), seed=seed, quiet=quiet, device=config.device,
    )
    trainer = Trainer(energy, config.sampler, (x, y), tcfg, out_dir=out_dir)
    if resume:
        trainer.resume()
    trainer.train()
    trainer.energy.eval()
    return trainer.energy, trainer.history  # the whole run's, also when resumed


def compose(energies: list[nn.Module], weights: list[float] | None = None) -> SumEnergy:
    """The product of experts: sum of concept energies, each reading its columns of one label y."""
    return SumEnergy([(e, None) for e in energies], weights=weights, pass_y=True)


def finetune_sum(
    energies: list[nn.Module], x: torch.Tensor, y: torch.Tensor, config: ConceptTrainingConfig, seed: int,
    steps: int, kl_coeff: float = 1.0, out_dir: str | Path | None = None, resume: bool = False,
    quiet: bool = False,
) -> tuple[SumEnergy, list[dict[str, float]]]:
    """Fine-tune (copies of) the summed energy on the union of the training sets with the KL term
    (section 7, A.8): contrastive loss of the sum plus ``kl_coeff`` * E-bar(chain end)."""
    total = compose([copy.deepcopy(e) for e in energies])
    ft_config = dataclasses.replace(config, steps=steps, checkpoint_every=max(1, min(config.checkpoint_every, steps)))
    total, history = train_energy(total, x, y, ft_config, seed, out_dir, resume, quiet, kl_coeff=kl_coeff)
    return total, history


def init_chains(n: int, image_shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """The reference composition start: 0.5 + 0.5 N(0, 1), clamped to [0, 1]."""
    return (0.5 + 0.5 * torch.randn((n, *image_shape), generator=generator)).clamp(0.0, 1.0)


def sample(
    energies: list[nn.Module], x0: torch.Tensor, y: torch.Tensor, sampler: LangevinSampler,
    mode: str = "in_turn", batch: int = 256, weights: list[float] | None = None,
) -> torch.Tensor:
    """Samples of the composition, in batches: ``"in_turn"`` takes one Langevin step per concept in turn
    (ebm-core's :func:`~ebm_core.sample_in_turn`, the reference code's ``ebm_combine``), ``"sum"`` steps
    on the summed gradient (the sampler on :func:`compose`). ``weights`` scale each concept's energy
    (None: all 1, the reference); in turn, each concept's step then follows its weighted gradient."""
    if mode not in ("in_turn", "sum"):
        raise ValueError(f"mode must be 'in_turn' or 'sum', got {mode!r}")
    if weights is not None and len(weights) != len(energies):
        raise ValueError(f"got {len(weights)} weights for {len(energies)} energies")
    if not isinstance(y, torch.Tensor) or y.shape[0] != x0.shape[0]:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"y must be a tensor of labels, one row per chain ({x0.shape[0]}), got {got}")
    out = []
    for i in range(0, x0.shape[0], batch):
        xb, yb = x0[i : i + batch], y[i : i + batch]
        if mode == "in_turn":
            terms = energies if weights is None else [compose([e], [w]) for e, w in zip(energies, weights)]
            out.append(sample_in_turn(sampler, terms, xb, yb).x)
        else:
            out.append(sampler(compose(energies, weights), xb, yb))
    return torch.cat(out)
