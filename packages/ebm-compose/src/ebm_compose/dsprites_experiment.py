"""Section 7 end to end on dSprites: concept EBMs, joint sampling from their sum, zero-shot
cross-product generalization against a joint conditional baseline, quantitative scores."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ebm_core import seed_everything
from ebm_core.model_file import load_if_same_settings, save_with_settings
from ebm_core.seeding import child_seed, numpy_generator, torch_generator
from ebm_run import start_run_folder, write_json_atomic
from torch import nn

from .concepts import (
    ConceptNetwork,
    ConceptOptimization,
    ConceptSampler,
    ConceptTrainingConfig,
    concept_energy,
    concept_training_config,
    finetune_sum,
    init_chains,
    sample,
    train_energy,
)
from .dsprites import (
    CONCEPTS,
    DSprites,
    concept_columns,
    cross_product_split,
    encode_labels,
    load_dsprites,
    sample_latents,
    to_tensor,
)
from .evaluation import LatentPredictor, PredictorConfig, score_samples, train_latent_predictor
from .io import closing_entries, run_settings, save_generated, save_image_rows
from .model_files import ConceptSpec, save_concept_energy

CROSS_EXPERIMENTS = ("size_position", "shape_position")


@dataclass(frozen=True)
class DSpritesData:
    """Which images: ``image_size`` < 64 average-pools the 64 x 64 images (CPU runs); ``train_images``
    for the joint experiment; the ``concepts`` each joint model conditions on; ``position_stride``
    thins the positions of the cross-product sets."""

    image_size: int = 64
    train_images: int = 200_000
    concepts: tuple[str, ...] = CONCEPTS
    position_stride: int = 1


@dataclass(frozen=True)
class DSpritesTraining(ConceptOptimization):
    """Every concept EBM's optimization, plus: the cross-product models' steps, each joint concept
    model's own steps, the KL fine-tuning of the summed energy, and the latent predictor's training."""

    cross_steps: int | None = None  # training steps of the cross-product models (None: steps)
    joint_steps: tuple[tuple[str, int], ...] = ()  # (concept, steps): a joint concept model's own training steps
    finetune_steps: int = 1000
    kl_coeff: float = 1.0
    predictor: PredictorConfig = field(default_factory=PredictorConfig)


@dataclass(frozen=True)
class DSpritesEvaluation:
    """What is sampled and scored: ``eval_samples`` per method, the weight of each concept energy in
    the joint sum (None: all 1), and the cross-product experiments run."""

    eval_samples: int = 512
    joint_weights: tuple[float, ...] | None = None
    cross_experiments: tuple[str, ...] = CROSS_EXPERIMENTS


@dataclass(frozen=True)
class DSpritesComposeConfig:
    """The dSprites composition experiment (section 7)."""

    data: DSpritesData = field(default_factory=DSpritesData)
    model: ConceptNetwork = field(default_factory=ConceptNetwork)
    sampler: ConceptSampler = field(default_factory=ConceptSampler)  # reference: 20 rounds at generation
    training: DSpritesTraining = field(default_factory=DSpritesTraining)
    evaluation: DSpritesEvaluation = field(default_factory=DSpritesEvaluation)
    seed: int = 0

    def __post_init__(self) -> None:
        concepts, w, steps = self.data.concepts, self.evaluation.joint_weights, self.training.joint_steps
        if w is not None and len(w) != len(concepts):
            raise ValueError(f"evaluation.joint_weights needs one weight per concept {concepts}, got {w}")
        if not {c for c, _ in steps} <= set(concepts):
            raise ValueError(f"training.joint_steps names concepts outside {concepts}: {steps}")

    @property
    def concept_training(self) -> ConceptTrainingConfig:
        """The training of each concept EBM, as the library's config."""
        return concept_training_config(self.training, self.sampler, self.model)


PRESETS: dict[str, DSpritesComposeConfig] = {
    "paper": DSpritesComposeConfig(),
    # CPU default: 32x32, the two concepts whose composition the latent predictor scores reliably,
    # sin/cos label features (raw labels are ignored by models trained this briefly), small nets.
    "default": DSpritesComposeConfig(
        data=DSpritesData(image_size=32, train_images=20_000, concepts=("scale", "position"), position_stride=2),
        model=ConceptNetwork(channels=(16, 32, 64, 64), hidden=64, label_frequencies=4),
        sampler=ConceptSampler(langevin_steps=10, sample_steps=60),
        # a whole-grid scale model trained 300 steps over-shoots mass (empty images at scale 0.5, several
        # blobs at 1.0): it trains 900 steps, and in the joint sum its energy counts a quarter (README)
        training=DSpritesTraining(
            steps=300, batch_size=32, lr=2e-3, buffer_size=2000, checkpoint_every=100,
            joint_steps=(("scale", 900),), finetune_steps=40,
            predictor=PredictorConfig(train_images=20_000, steps=1500, batch_size=128),
        ),
        evaluation=DSpritesEvaluation(eval_samples=256, joint_weights=(0.25, 1.0)),
    ),
    "tiny": DSpritesComposeConfig(
        data=DSpritesData(image_size=16, train_images=300, concepts=("scale", "position"), position_stride=8),
        model=ConceptNetwork(channels=(8, 8, 8), hidden=8, label_frequencies=2),
        sampler=ConceptSampler(langevin_steps=2, sample_steps=2),
        training=DSpritesTraining(
            steps=4, batch_size=8, lr=1e-3, buffer_size=64, checkpoint_every=2, joint_steps=(("scale", 6),),
            finetune_steps=2, predictor=PredictorConfig(train_images=200, steps=5, batch_size=16),
        ),
        evaluation=DSpritesEvaluation(eval_samples=6, joint_weights=(0.25, 1.0)),
    ),
}


def _repeat_to(x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    reps = -(-n // x.shape[0])
    return x.repeat(reps, 1, 1, 1)[:n], y.repeat(reps, 1)[:n]


class _Run:
    """State shared by the parts of one run: data source, output folder, settings."""

    def __init__(self, config: DSpritesComposeConfig, out: Path, data: DSprites, resume: bool, quiet: bool):
        self.config, self.out, self.data, self.resume, self.quiet = config, out, data, resume, quiet
        self.image_size = config.data.image_size
        self.image_shape = (1, self.image_size, self.image_size)
        self.concept_training = config.concept_training
        self.histories: dict[str, list[dict[str, float]]] = {}

    def tensors(self, latents: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return to_tensor(self.data.images_for(latents), self.image_size), encode_labels(latents)

    def train(self, name: str, concepts: tuple[str, ...], x: torch.Tensor, y: torch.Tensor,
              steps: int | None = None) -> nn.Module:
        """Train (or resume) the energy ``name`` on its own named seed stream of the run."""
        cfg = self.concept_training
        x, y = _repeat_to(x, y, max(x.shape[0], cfg.batch_size))
        seed = child_seed(self.config.seed, name)
        seed_everything(seed)  # initial weights from the model's own seed, whatever ran before
        energy = concept_energy(concepts, self.image_size, cfg)
        energy, hist = train_energy(
            energy, x, y, cfg, seed=seed, out_dir=self.out / "checkpoints" / name, resume=self.resume,
            quiet=self.quiet, steps=steps,
        )
        self.histories[name] = hist
        net = self.config.model
        spec = ConceptSpec("dsprites", concepts, concept_columns(concepts), self.image_size, net.channels, net.hidden,
                           net.label_frequencies)
        save_concept_energy(energy, spec, self.out / "models" / f"{name}.pt", extra={"seed": seed})
        return energy

    def predictor(self) -> LatentPredictor:
        path = self.out / "checkpoints" / "latent_predictor.pt"
        model, seed = LatentPredictor(self.image_size), child_seed(self.config.seed, "latent predictor")
        settings = {"kind": "latent predictor", "image_size": self.image_size,
                    "predictor": dataclasses.asdict(self.config.training.predictor), "seed": seed,
                    "data": self.data.source}
        if self.resume and load_if_same_settings(model, settings, path, "latent predictor weights"):
            return model.eval()  # reused only if made with these settings and data
        model = train_latent_predictor(self.data, self.image_size, self.config.training.predictor, seed, self.quiet)
        save_with_settings(model, settings, path)
        return model

    def generate(self, energies: list[nn.Module], x0: torch.Tensor, y: torch.Tensor, mode: str,
                 weights: tuple[float, ...] | None = None) -> torch.Tensor:
        sampler = self.config.sampler.generation
        device = next(energies[0].parameters()).device
        w = list(weights) if weights is not None else None
        return sample(energies, x0.to(device), y.to(device), sampler, mode=mode, weights=w).cpu()


def run_joint(run: _Run, predictor: LatentPredictor) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Figure 15: one EBM per latent, sampled jointly from the sum; baseline E(x | all latents)."""
    cfg, concepts = run.config, run.config.data.concepts
    w, n_eval = cfg.evaluation.joint_weights, cfg.evaluation.eval_samples
    x, y = run.tensors(sample_latents(cfg.data.train_images, numpy_generator(cfg.seed, "joint training latents")))
    steps = dict(cfg.training.joint_steps)
    models = {c: run.train(f"joint_{c}", (c,), x, y, steps.get(c)) for c in concepts}
    baseline = run.train("joint_baseline", tuple(concepts), x, y)

    eval_latents = sample_latents(n_eval, numpy_generator(cfg.seed, "joint evaluation latents"))
    gt, y_eval = run.tensors(eval_latents)
    x0 = init_chains(n_eval, run.image_shape, torch_generator(cfg.seed, "joint chains"))
    seed_everything(cfg.seed, "joint sampling")  # Langevin noise: the same whether models were trained or resumed
    samples: dict[str, torch.Tensor] = {"ground_truth": gt}
    samples["sum_in_turn"] = run.generate(list(models.values()), x0, y_eval, "in_turn", w)
    samples["sum_gradient"] = run.generate(list(models.values()), x0, y_eval, "sum", w)
    if w is not None and any(v != 1.0 for v in w):
        samples["sum_gradient_equal_weights"] = run.generate(list(models.values()), x0, y_eval, "sum")
    samples["joint_baseline"] = run.generate([baseline], x0, y_eval, "sum")
    for c, m in models.items():
        samples[f"{c}_only"] = run.generate([m], x0, y_eval, "sum")
    metrics = {k: score_samples(predictor, v, eval_latents, gt, tuple(concepts)) for k, v in samples.items()}
    return metrics, samples


def run_cross_product(
    run: _Run, name: str, predictor: LatentPredictor, cache: dict[str, nn.Module],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Figure 16: independent energies on two training sets, their sum (before and after KL
    fine-tuning on both sets) and a joint conditional baseline on the union, sampled at
    held-out combinations only."""
    cfg = run.config
    split = cross_product_split(name, cfg.data.position_stride)
    ca, cb = split["concepts_a"], split["concepts_b"]
    xa, ya = run.tensors(split["train_a"])
    xb, yb = run.tensors(split["train_b"])
    n = max(xa.shape[0], xb.shape[0], cfg.training.batch_size)
    xa, ya = _repeat_to(xa, ya, n)
    xb, yb = _repeat_to(xb, yb, n)
    steps = cfg.training.cross_steps
    key_a, key_b = f"cross_{'_'.join(ca)}_{name}", "cross_position_D2"
    if key_a not in cache:
        cache[key_a] = run.train(key_a, ca, xa, ya, steps)
    if key_b not in cache:
        cache[key_b] = run.train(key_b, cb, xb, yb, steps)
    ea, eb = cache[key_a], cache[key_b]
    x_union, y_union = torch.cat([xa, xb]), torch.cat([ya, yb])
    baseline = run.train(f"cross_baseline_{name}", tuple(ca) + tuple(cb), x_union, y_union, steps)
    tuned, hist = finetune_sum(
        [ea, eb], x_union, y_union, run.concept_training, child_seed(cfg.seed, f"cross_finetune_{name}"),
        steps=cfg.training.finetune_steps, kl_coeff=cfg.training.kl_coeff,
        out_dir=run.out / "checkpoints" / f"cross_finetune_{name}", resume=run.resume, quiet=run.quiet,
    )
    run.histories[f"cross_finetune_{name}"] = hist

    rng = numpy_generator(cfg.seed, f"cross evaluation latents {name}")
    held = split["held_out"]
    latents = held[rng.choice(len(held), size=min(cfg.evaluation.eval_samples, len(held)), replace=False)]
    gt, y_eval = run.tensors(latents)
    x0 = init_chains(latents.shape[0], run.image_shape, torch_generator(cfg.seed, f"cross chains {name}"))
    seed_everything(cfg.seed, f"cross sampling {name}")
    samples = {
        "ground_truth": gt,
        "sum": run.generate([ea, eb], x0, y_eval, "in_turn"),
        "sum_finetuned": run.generate(list(tuned.energies), x0, y_eval, "in_turn"),
        "joint_baseline": run.generate([baseline], x0, y_eval, "sum"),
        f"{'_'.join(ca)}_only": run.generate([ea], x0, y_eval, "sum"),
        f"{'_'.join(cb)}_only": run.generate([eb], x0, y_eval, "sum"),
    }
    concepts = tuple(ca) + tuple(cb)
    metrics = {k: score_samples(predictor, v, latents, gt, concepts) for k, v in samples.items()}
    info = {
        "concepts": list(concepts), "n_train_a": int(len(split["train_a"])), "n_train_b": int(len(split["train_b"])),
        "n_held_out_combinations": int(len(held)), "n_evaluated": int(latents.shape[0]), "metrics": metrics,
    }
    return info, samples


def run_dsprites_compose(
    config: DSpritesComposeConfig, out_dir: str | Path, data_dir: str | Path | None = None,
    resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """Run joint composition and the cross-product experiments; write ``results.json``,
    ``joint_samples.png``, ``cross_product.png`` and checkpoints under ``out_dir``."""
    t0 = time.perf_counter()
    data = load_dsprites(data_dir)  # checked before the run folder is made
    out = Path(out_dir)
    start_run_folder(out, "dsprites_compose", resume, settings=run_settings(config, "predictor"),
                     outputs=("samples.npz", "results.json"))
    seed_everything(config.seed)
    run = _Run(config, out, data, resume, quiet)
    predictor = run.predictor()
    joint, joint_samples = run_joint(run, predictor)
    size, n_eval = config.data.image_size, config.evaluation.eval_samples
    show = min(8, n_eval)
    save_image_rows({k: v[:show] for k, v in joint_samples.items()}, out / "joint_samples.png",
                    "joint sampling: each row conditioned on the latents of the ground-truth row")
    generated = {f"joint: {k}": v for k, v in joint_samples.items() if k != "ground_truth"}
    cross: dict[str, Any] = {}
    cross_rows: dict[str, torch.Tensor] = {}
    cache: dict[str, nn.Module] = {}
    for name in config.evaluation.cross_experiments:
        cross[name], s = run_cross_product(run, name, predictor, cache)
        for k in ("ground_truth", "joint_baseline", "sum", "sum_finetuned"):
            cross_rows[f"{name}: {k}"] = s[k][:show]
        generated |= {f"{name}: {k}": v for k, v in s.items() if k != "ground_truth"}
    if cross_rows:
        save_image_rows(cross_rows, out / "cross_product.png", "zero-shot cross-product generalization (held out)")
    results = {
        "experiment": "dsprites_compose (Du & Mordatch 2019, section 7, Figures 15-16)",
        "data": run.data.source,
        "image_size": size,
        "reduced_resolution": size < 64,
        "note": (f"images average-pooled from 64x64 to {size}x{size} for a CPU run"
                 if size < 64 else "full 64x64 resolution"),
        "joint": {"concepts": list(config.data.concepts), "n_train": config.data.train_images,
                  "n_evaluated": n_eval, "metrics": joint},
        "cross_product": cross,
        "samples": save_generated(generated, out / "samples.npz"),
        "final_losses": {k: (h[-1]["loss"] if h else None) for k, h in run.histories.items()},
        **closing_entries(config, {k: f"models/{k}.pt" for k in run.histories
                                   if (out / "models" / f"{k}.pt").exists()}, t0),
    }
    write_json_atomic(out / "results.json", results)
    return results


def summary_table(results: dict[str, Any]) -> str:
    """Plain-text tables of the main metrics."""
    cols = ("position_error", "scale_error", "rotation_error_deg", "shape_accuracy", "pixel_mse", "satisfies_all")
    lines = []
    blocks = [("joint", results["joint"]["metrics"])]
    blocks += [(f"cross: {k} (held out)", v["metrics"]) for k, v in results["cross_product"].items()]
    for title, metrics in blocks:
        lines.append(title)
        lines.append(f"  {'method':<28}" + "".join(f"{c:>20}" for c in cols))
        for method, m in metrics.items():
            lines.append(f"  {method:<28}" + "".join(f"{m[c]:>20.3f}" for c in cols))
    return "\n".join(lines)
