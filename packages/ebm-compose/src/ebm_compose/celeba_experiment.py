"""A.9 on CelebA: attribute-conditional EBMs trained independently, combined by summed energies,
scored by an attribute classifier (share of samples that show every requested attribute)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ebm_core import LangevinSampler, SupervisedConfig, seed_everything, train_supervised
from ebm_core.model_file import load_if_same_settings, save_with_settings
from ebm_core.seeding import child_seed, torch_generator
from ebm_run import start_run_folder, write_json_atomic
from torch import nn

from .celeba import CELEBA_ATTRIBUTES, AttributeData, load_celeba, synthetic_attributes
from .concepts import (
    ConceptOptimization,
    ConceptSampler,
    ConceptTrainingConfig,
    check_concept_settings,
    concept_training_config,
    init_chains,
    sample,
    train_energy,
)
from .io import closing_entries, run_settings, save_generated, save_image_rows
from .model_files import ConceptSpec, build_concept_energy, save_concept_energy
from .networks import ColumnCondition, PlainCNN


@dataclass(frozen=True)
class CelebAData:
    """Which images: the ``attributes`` (one EBM each), their size and how many to train on."""

    attributes: tuple[str, ...] = CELEBA_ATTRIBUTES
    image_size: int = 64
    train_images: int = 100_000


@dataclass(frozen=True)
class AttributeNetwork:
    """The widths of each attribute EBM (:class:`AttributeEnergy`, a residual network)."""

    channels: tuple[int, ...] = (64, 128, 256)

    def __post_init__(self) -> None:
        check_concept_settings(self)


@dataclass(frozen=True)
class CelebATraining(ConceptOptimization):
    """Every attribute EBM's optimization, plus the attribute classifier's steps (Adam 1e-3, batch 64)."""

    classifier_steps: int = 3000


@dataclass(frozen=True)
class CelebAEvaluation:
    """What is sampled and scored: each combination (attribute -> requested value 0/1, two or more
    each) with ``eval_samples`` samples per method."""

    combinations: tuple[tuple[tuple[str, int], ...], ...] = (
        (("Male", 1), ("Smiling", 1)), (("Young", 1), ("Wavy_Hair", 1)), (("Male", 0), ("Wavy_Hair", 1)),
        (("Young", 0), ("Male", 1), ("Smiling", 1)),
    )
    eval_samples: int = 256


@dataclass(frozen=True)
class CelebAComposeConfig:
    """The CelebA composition experiment (A.9)."""

    data: CelebAData = field(default_factory=CelebAData)
    model: AttributeNetwork = field(default_factory=AttributeNetwork)
    sampler: ConceptSampler = field(default_factory=lambda: ConceptSampler(
        langevin_steps=60, sample_steps=60, step_size=10.0))
    training: CelebATraining = field(default_factory=CelebATraining)
    evaluation: CelebAEvaluation = field(default_factory=CelebAEvaluation)
    seed: int = 0

    def __post_init__(self) -> None:
        names = self.data.attributes
        for combo in self.evaluation.combinations:
            if len(combo) < 2 or any(a not in names or v not in (0, 1) for a, v in combo):
                raise ValueError(f"each combination needs >= 2 of {names} with values 0/1, got {combo}")

    @property
    def concept_training(self) -> ConceptTrainingConfig:
        """The training of each attribute EBM, as the library's config (its network widths unused:
        the energies are built from :func:`attribute_spec`)."""
        return concept_training_config(self.training, self.sampler)


PRESETS: dict[str, CelebAComposeConfig] = {
    "paper": CelebAComposeConfig(),
    "default": CelebAComposeConfig(
        data=CelebAData(attributes=("Male", "Smiling", "Wavy_Hair"), image_size=16, train_images=4000),
        model=AttributeNetwork(channels=(16, 32, 32)),
        sampler=ConceptSampler(langevin_steps=10, sample_steps=30, step_size=50.0),
        training=CelebATraining(steps=250, batch_size=32, lr=1e-3, buffer_size=2000, checkpoint_every=50,
                                classifier_steps=300),
        evaluation=CelebAEvaluation(
            combinations=((("Male", 1), ("Smiling", 1)), (("Male", 0), ("Wavy_Hair", 1)),
                          (("Smiling", 1), ("Wavy_Hair", 1)), (("Male", 1), ("Smiling", 0), ("Wavy_Hair", 1))),
            eval_samples=64,
        ),
    ),
    "tiny": CelebAComposeConfig(
        data=CelebAData(attributes=("Male", "Smiling"), image_size=8, train_images=64),
        model=AttributeNetwork(channels=(8,)),
        sampler=ConceptSampler(langevin_steps=2, sample_steps=2, step_size=50.0),
        training=CelebATraining(steps=3, batch_size=8, lr=1e-3, buffer_size=32, checkpoint_every=2,
                                classifier_steps=3),
        evaluation=CelebAEvaluation(combinations=((("Male", 1), ("Smiling", 1)),), eval_samples=4),
    ),
}


def attribute_spec(index: int, config: CelebAComposeConfig) -> ConceptSpec:
    """The concept energy E(x | attribute ``index`` absent/present), reading its column of the
    attribute vector."""
    return ConceptSpec("attribute", (config.data.attributes[index],), (index,), config.data.image_size,
                       config.model.channels)


def attribute_energy(index: int, config: CelebAComposeConfig) -> ColumnCondition:
    """An untrained :func:`attribute_spec` energy."""
    return build_concept_energy(attribute_spec(index, config))


def train_attribute_classifier(data: AttributeData, steps: int, seed: int, quiet: bool = False) -> PlainCNN:
    """Multi-label attribute classifier (binary cross-entropy) on the training images, through
    ebm-core's one supervised loop (Adam 1e-3, batches of 64)."""
    torch.manual_seed(seed)
    model = PlainCNN(3, data.x.shape[-1], len(data.names), channels=(32, 64, 64))
    config = SupervisedConfig(steps=steps, batch_size=min(64, data.x.shape[0]), lr=1e-3, seed=seed, quiet=quiet,
                              label="attribute classifier")
    train_supervised(model, lambda m, x, y: nn.functional.binary_cross_entropy_with_logits(m(x), y),
                     (data.x, data.attributes.float()), config)
    return model.eval()


@torch.no_grad()
def attribute_scores(classifier: PlainCNN, x: torch.Tensor, requested: dict[int, int]) -> dict[str, float]:
    """Share of samples whose predicted attributes match each requested value, and all of them."""
    pred = (classifier(x) > 0).long()
    every = torch.ones(x.shape[0], dtype=torch.bool)
    out: dict[str, float] = {}
    for col, value in requested.items():
        ok = pred[:, col] == value
        out[f"attr{col}"] = ok.float().mean().item()
        every &= ok
    out["all"] = every.float().mean().item()
    return out


def run_celeba_compose(
    config: CelebAComposeConfig, out_dir: str | Path, data_dir: str | Path | None = None,
    synthetic: bool = False, resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """Train one EBM per attribute, combine two or more by summed energies, score; write
    ``results.json``, ``combinations.png`` and checkpoints under ``out_dir``."""
    t0 = time.perf_counter()
    names, size, n_eval, n_train = (tuple(config.data.attributes), config.data.image_size,
                                    config.evaluation.eval_samples, config.data.train_images)
    if synthetic:
        data = synthetic_attributes(n_train, names, size, config.seed)
        held = synthetic_attributes(n_eval * 4, names, size, child_seed(config.seed, "held-out images"))
    else:
        if data_dir is None:
            raise FileNotFoundError("CelebA needs --data-dir DATA_DIR (files under DATA_DIR/celeba/) or --synthetic")
        data = load_celeba(data_dir, names, size, "train", n_train)
        held = load_celeba(data_dir, names, size, "test", n_eval * 4)
    out = Path(out_dir)
    start_run_folder(out, "celeba_compose", resume,  # every input checked: the run starts
                     settings={"source": data.source, **run_settings(config, "classifier_steps")},
                     outputs=("samples.npz", "results.json"))
    seed_everything(config.seed)

    clf_path = out / "checkpoints" / "attribute_classifier.pt"
    classifier = PlainCNN(3, size, len(names), channels=(32, 64, 64))
    clf_seed = child_seed(config.seed, "attribute classifier")
    clf_settings = {"kind": "attribute classifier", "attributes": list(names), "image_size": size,
                    "steps": config.training.classifier_steps, "seed": clf_seed, "data": data.source,
                    "train_images": n_train}
    if resume and load_if_same_settings(classifier, clf_settings, clf_path, "attribute classifier weights"):
        classifier.eval()  # reused only if made with these settings and data
    else:
        classifier = train_attribute_classifier(data, config.training.classifier_steps, clf_seed, quiet)
        save_with_settings(classifier, clf_settings, clf_path)
    with torch.no_grad():
        clf_acc = ((classifier(held.x) > 0).long() == held.attributes).float().mean(0)

    models: dict[str, nn.Module] = {}
    final_losses: dict[str, float | None] = {}
    for i, name in enumerate(names):
        energy, hist = train_energy(
            attribute_energy(i, config), data.x, data.attributes, config.concept_training,
            seed=child_seed(config.seed, f"attr_{name}"),
            out_dir=out / "checkpoints" / f"attr_{name}", resume=resume, quiet=quiet,
        )
        models[name] = energy
        save_concept_energy(energy, attribute_spec(i, config), out / "models" / f"attr_{name}.pt")
        final_losses[name] = hist[-1]["loss"] if hist else None

    sampler: LangevinSampler = config.sampler.generation
    device = torch.device(config.training.device)
    combos: dict[str, Any] = {}
    rows: dict[str, torch.Tensor] = {}
    generated: dict[str, torch.Tensor] = {}
    for k, combo in enumerate(config.evaluation.combinations):
        requested = {names.index(a): v for a, v in combo}
        label = " & ".join(f"{a}={v}" for a, v in combo)
        y = torch.zeros(n_eval, len(names), dtype=torch.long)
        for col, v in requested.items():
            y[:, col] = v
        x0 = init_chains(n_eval, (3, size, size), torch_generator(config.seed, "chains", k))
        runs = {"sum": [models[a] for a, _ in combo]} | {f"{a}_only": [models[a]] for a, _ in combo}
        scores: dict[str, dict[str, float]] = {}
        seed_everything(config.seed, "sampling", k)
        for method, energies in runs.items():
            s = sample(energies, x0.to(device), y.to(device), sampler, mode="in_turn").cpu()
            generated[f"{label}: {method}"] = s
            sc = attribute_scores(classifier, s, requested)
            scores[method] = {"all_requested": sc["all"]} | {a: sc[f"attr{names.index(a)}"] for a, _ in combo}
            if method == "sum":
                rows[label] = s[:8]
        match = torch.ones(held.x.shape[0], dtype=torch.bool)
        for col, v in requested.items():
            match &= held.attributes[:, col] == v
        if match.any():
            sc = attribute_scores(classifier, held.x[match], requested)
            scores["real_images_with_these_attributes"] = {"all_requested": sc["all"]}
        combos[label] = scores
    title = "samples of summed attribute energies"
    save_image_rows(rows, out / "combinations.png", f"{title}\n(trained on synthetic images, NOT CelebA)" if synthetic
                    else title)
    results = {
        "experiment": "celeba_compose (Du & Mordatch 2019, A.9, Figure 27)",
        "data": data.source,
        "synthetic": synthetic,
        "attributes": list(names),
        "image_size": size,
        "classifier_accuracy_held_out": {a: clf_acc[i].item() for i, a in enumerate(names)},
        "combinations": combos,
        "samples": save_generated(generated, out / "samples.npz"),
        "final_losses": final_losses,
        **closing_entries(config, {a: f"models/attr_{a}.pt" for a in names}, t0),
    }
    write_json_atomic(out / "results.json", results)
    return results


def summary_table(results: dict[str, Any]) -> str:
    """Share of samples showing every requested attribute, per combination and method."""
    lines = [f"data: {results['data']}", f"  {'combination':<44}{'method':<26}{'all requested':>14}"]
    for label, scores in results["combinations"].items():
        for method, s in scores.items():
            lines.append(f"  {label:<44}{method:<26}{s['all_requested']:>14.3f}")
    return "\n".join(lines)
