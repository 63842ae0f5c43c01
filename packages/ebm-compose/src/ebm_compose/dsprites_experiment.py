"""Section 7 end to end on dSprites: concept EBMs, joint sampling from their sum, zero-shot
cross-product generalization against a joint conditional baseline, quantitative scores."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ebm_core import seed_everything
from ebm_core.checks import check_count, check_positive, check_seed_range
from ebm_core.model_file import load_if_same_settings, save_with_settings
from ebm_core.seeding import child_seed, numpy_generator, torch_generator
from ebm_run import seed_interval, start_run_folder, write_json_atomic
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
    CONCEPT_LATENTS,
    CONCEPTS,
    LATENT_SIZES,
    DSprites,
    concept_columns,
    cross_product_split,
    encode_labels,
    grid_size,
    index_to_latents,
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

    def __post_init__(self) -> None:
        concept_columns(self.concepts)  # known concepts
        if len(set(self.concepts)) != len(self.concepts) or len(self.concepts) < 2:
            raise ValueError(f"DSpritesData.concepts must name at least two different concepts to compose, "
                             f"got {self.concepts}")


@dataclass(frozen=True)
class DSpritesTraining(ConceptOptimization):
    """Every concept EBM's optimization, plus: the cross-product models' steps, each joint concept
    model's own steps, the KL fine-tuning of the summed energy, and the latent predictor's training."""

    cross_steps: int | None = None  # training steps of the cross-product models (None: steps)
    joint_steps: tuple[tuple[str, int], ...] = ()  # (concept, steps): a joint concept model's own training steps
    finetune_steps: int = 1000
    kl_coeff: float = 1.0
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    workers: int = 1  # > 1: the concept models and baselines train side by side in that many processes, 1 thread each

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count(self.workers, "DSpritesTraining.workers")


@dataclass(frozen=True)
class DSpritesEvaluation:
    """What is sampled and scored, for each of ``seeds`` seeds (``seed`` to ``seed + seeds - 1``): ``eval_samples``
    reported latents per method; ``validation_samples`` other latents (disjoint from the reported ones) on
    which each composed sum's weight is chosen among ``weight_candidates`` (the first concept's energy
    weight, the others 1; ties go to the earlier candidate); the cross-product experiments run."""

    eval_samples: int = 512
    validation_samples: int = 128
    weight_candidates: tuple[float, ...] = (1.0,)
    cross_experiments: tuple[str, ...] = CROSS_EXPERIMENTS
    seeds: int = 3

    def __post_init__(self) -> None:
        check_count(self.eval_samples, "DSpritesEvaluation.eval_samples")
        check_count(self.validation_samples, "DSpritesEvaluation.validation_samples")
        if not self.weight_candidates:
            raise ValueError("DSpritesEvaluation.weight_candidates names no weight")
        for w in self.weight_candidates:
            check_positive(w, "DSpritesEvaluation.weight_candidates")
        unknown = [c for c in self.cross_experiments if c not in CROSS_EXPERIMENTS]
        if unknown:
            raise ValueError(f"DSpritesEvaluation.cross_experiments: unknown {unknown}; "
                             f"choose from {', '.join(CROSS_EXPERIMENTS)}")
        if len(set(self.cross_experiments)) != len(self.cross_experiments):
            raise ValueError(f"DSpritesEvaluation.cross_experiments names one twice: {self.cross_experiments}")
        if len(set(self.weight_candidates)) != len(self.weight_candidates):
            raise ValueError(f"DSpritesEvaluation.weight_candidates names one twice: {self.weight_candidates}")
        check_count(self.seeds, "DSpritesEvaluation.seeds")


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
        concepts, steps = self.data.concepts, self.training.joint_steps
        if not {c for c, _ in steps} <= set(concepts):
            raise ValueError(f"training.joint_steps names concepts outside {concepts}: {steps}")
        check_seed_range(self.seed, self.evaluation.seeds, "DSpritesComposeConfig")

    @property
    def concept_training(self) -> ConceptTrainingConfig:
        """The training of each concept EBM, as the library's config."""
        return concept_training_config(self.training, self.sampler, self.model)

    def concept_steps(self, concept: str) -> int:
        """Training steps of the joint experiment's model of ``concept``."""
        return dict(self.training.joint_steps).get(concept, self.training.steps)

    @property
    def joint_budget(self) -> int:
        """The joint baseline's training steps: the sum of the joint concept models' steps."""
        return sum(self.concept_steps(c) for c in self.data.concepts)

    @property
    def cross_concept_steps(self) -> int:
        """Training steps of each cross-product concept model."""
        return self.training.cross_steps if self.training.cross_steps is not None else self.training.steps

    @property
    def cross_budget(self) -> int:
        """A cross-product baseline's training steps: its two concept models' steps plus the KL fine-tuning's."""
        return 2 * self.cross_concept_steps + self.training.finetune_steps


PRESETS: dict[str, DSpritesComposeConfig] = {
    "paper": DSpritesComposeConfig(),
    # CPU default: 32x32, the two concepts whose composition the latent predictor scores reliably,
    # sin/cos label features (raw labels are ignored by models trained this briefly), small nets.
    "default": DSpritesComposeConfig(
        data=DSpritesData(image_size=32, train_images=20_000, concepts=("scale", "position"), position_stride=2),
        model=ConceptNetwork(channels=(16, 32, 64, 64), hidden=64, label_frequencies=4),
        sampler=ConceptSampler(langevin_steps=10, sample_steps=60),
        # a whole-grid scale model trained 300 steps over-shoots mass (empty images at scale 0.5, several
        # blobs at 1.0): it trains 900 steps (README)
        training=DSpritesTraining(
            steps=300, batch_size=32, lr=2e-3, buffer_size=2000, checkpoint_every=100,
            joint_steps=(("scale", 900),), finetune_steps=40,
            predictor=PredictorConfig(train_images=20_000, steps=1500, batch_size=128), workers=2,
        ),
        evaluation=DSpritesEvaluation(eval_samples=256, validation_samples=128,
                                      weight_candidates=(1.0, 0.5, 0.25, 2.0)),
    ),
    "tiny": DSpritesComposeConfig(
        data=DSpritesData(image_size=16, train_images=300, concepts=("scale", "position"), position_stride=8),
        model=ConceptNetwork(channels=(8, 8, 8), hidden=8, label_frequencies=2),
        sampler=ConceptSampler(langevin_steps=2, sample_steps=2),
        training=DSpritesTraining(
            steps=4, batch_size=8, lr=1e-3, buffer_size=64, checkpoint_every=2, joint_steps=(("scale", 6),),
            finetune_steps=2, predictor=PredictorConfig(train_images=200, steps=5, batch_size=16),
        ),
        evaluation=DSpritesEvaluation(eval_samples=6, validation_samples=4, weight_candidates=(1.0, 0.25), seeds=2),
    ),
}


def _repeat_to(x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    reps = -(-n // x.shape[0])
    return x.repeat(reps, 1, 1, 1)[:n], y.repeat(reps, 1)[:n]


# What each row of the tables is: one method per row, its treatment stated.
METHOD_NOTES = {
    "ground_truth": "the true renders of the requested latents (the latent predictor's floor)",
    "sum": "sum of the concept energies, one Langevin step per concept in turn, no KL fine-tuning; the first "
           "concept's weight chosen per seed on validation latents (weights)",
    "sum_kl": "the same sum after training.finetune_steps KL fine-tuning steps (A.8; cross-product experiments "
              "only); weight chosen per seed on validation latents",
    "joint_baseline": "one conditional EBM on all the concepts' labels, trained baseline_steps steps: the concept "
                      "models' steps together (cross-product experiments: plus the KL fine-tuning's)",
    "<concept>_only": "one concept model alone",
    "comparisons": "satisfies_all of a composed row minus that of the best single concept model (the better of "
                   "the two on each seed's reported samples: the stricter comparison) or of the joint baseline, "
                   "per seed, with Student's t interval over seeds",
}


@dataclass(frozen=True)
class _Job:
    """One model of a seed to train: its name in the run, the concepts it conditions on, its training set
    (``"joint"``, or ``"<experiment>:a"`` / ``":b"`` / ``":union"`` of a cross-product experiment), its steps."""

    name: str
    concepts: tuple[str, ...]
    training_set: str
    steps: int


def _joint_jobs(config: DSpritesComposeConfig) -> dict[str, _Job]:
    """The joint experiment's models: one per concept, and ``"baseline"`` with their total steps."""
    jobs = {c: _Job(f"joint_{c}", (c,), "joint", config.concept_steps(c)) for c in config.data.concepts}
    return jobs | {"baseline": _Job("joint_baseline", tuple(config.data.concepts), "joint", config.joint_budget)}


def _cross_jobs(config: DSpritesComposeConfig, name: str) -> dict[str, _Job]:
    """A cross-product experiment's models ``"a"`` and ``"b"`` (D2's position model, the same for both
    experiments) and ``"baseline"`` on their union with both models' steps plus the fine-tuning's."""
    split = cross_product_split(name, config.data.position_stride)
    ca, cb, steps = split["concepts_a"], split["concepts_b"], config.cross_concept_steps
    return {"a": _Job(f"cross_{'_'.join(ca)}_{name}", ca, f"{name}:a", steps),
            "b": _Job("cross_position_D2", cb, f"{name}:b", steps),
            "baseline": _Job(f"cross_baseline_{name}", tuple(ca) + tuple(cb), f"{name}:union", config.cross_budget)}


def _seed_jobs(config: DSpritesComposeConfig) -> list[_Job]:
    """Every model one seed trains, each once."""
    jobs = list(_joint_jobs(config).values())
    for name in config.evaluation.cross_experiments:
        jobs += [j for j in _cross_jobs(config, name).values() if j.name not in {k.name for k in jobs}]
    return jobs


class _Run:
    """State shared by the parts of one run: data source, output folder, settings, the seed being run."""

    def __init__(self, config: DSpritesComposeConfig, out: Path, data: DSprites | None, resume: bool, quiet: bool):
        self.config, self.out, self.data, self.resume, self.quiet = config, out, data, resume, quiet
        self.image_size = config.data.image_size
        self.image_shape = (1, self.image_size, self.image_size)
        self.concept_training = config.concept_training
        self.histories: dict[str, list[dict[str, float]]] = {}
        self.seed = config.seed
        self.models_trained = False  # True once worker processes have trained every model: train() loads them
        self._sets: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def path(self, kind: str, name: str) -> Path:
        """``out/<kind>/seed<N>/<name>``: one folder of checkpoints and of model files per seed."""
        return self.out / kind / f"seed{self.seed}" / name

    def tensors(self, latents: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.data is not None, "a training worker gets its training set with its job"
        return to_tensor(self.data.images_for(latents), self.image_size), encode_labels(latents)

    def give_training_set(self, key: str, x: torch.Tensor, y: torch.Tensor) -> None:
        """Training set ``key`` of the current seed, made elsewhere (a training worker's)."""
        self._sets[(self.seed, key)] = (x, y)

    def training_set(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels of training set ``key`` (see :class:`_Job`) for the current seed."""
        if (self.seed, key) not in self._sets:
            self._sets = {k: v for k, v in self._sets.items() if k[0] == self.seed}  # one seed's sets at a time
            cfg = self.config
            if key == "joint":
                latents = sample_latents(cfg.data.train_images, numpy_generator(self.seed, "joint training latents"))
                self._sets[(self.seed, key)] = self.tensors(latents)
            else:  # the three sets of a cross-product experiment at once
                name = key.split(":")[0]
                split = cross_product_split(name, cfg.data.position_stride)
                xa, ya = self.tensors(split["train_a"])
                xb, yb = self.tensors(split["train_b"])
                n = max(xa.shape[0], xb.shape[0], cfg.training.batch_size)  # both sets equally often
                (xa, ya), (xb, yb) = _repeat_to(xa, ya, n), _repeat_to(xb, yb, n)
                sets = {"a": (xa, ya), "b": (xb, yb), "union": (torch.cat([xa, xb]), torch.cat([ya, yb]))}
                self._sets |= {(self.seed, f"{name}:{part}"): xy for part, xy in sets.items()}
        return self._sets[(self.seed, key)]

    def train(self, job: _Job) -> nn.Module:
        """Train (or resume, or load once trained by a worker) ``job``'s energy on its own named stream of
        the current seed."""
        cfg = self.concept_training
        x, y = self.training_set(job.training_set)
        x, y = _repeat_to(x, y, max(x.shape[0], cfg.batch_size))
        seed = child_seed(self.seed, job.name)
        seed_everything(seed)  # initial weights from the model's own seed, whatever ran before
        energy = concept_energy(job.concepts, self.image_size, cfg)
        energy, hist = train_energy(
            energy, x, y, cfg, seed=seed, out_dir=self.path("checkpoints", job.name),
            resume=self.resume or self.models_trained, quiet=self.quiet or self.models_trained, steps=job.steps,
        )
        self.histories[f"seed{self.seed}/{job.name}"] = hist
        net = self.config.model
        spec = ConceptSpec("dsprites", job.concepts, concept_columns(job.concepts), self.image_size, net.channels,
                           net.hidden, net.label_frequencies)
        save_concept_energy(energy, spec, self.path("models", f"{job.name}.pt"), extra={"seed": seed})
        return energy

    def predictor(self) -> LatentPredictor:
        """The scorer, trained once on ground truth (the run's first seed) and shared by every seed."""
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

    def generate(self, energies: list[nn.Module], x0: torch.Tensor, y: torch.Tensor,
                 weights: tuple[float, ...] | None = None) -> torch.Tensor:
        """Samples of ``energies`` (one: that model alone; several: steps in turn) from ``x0`` for labels ``y``."""
        sampler = self.config.sampler.generation
        device = next(energies[0].parameters()).device
        w = list(weights) if weights is not None else None
        return sample(energies, x0.to(device), y.to(device), sampler, mode="in_turn", weights=w).cpu()


@dataclass(frozen=True)
class _Latents:
    """The latents of one experiment and seed: ``report`` (scored) and ``validation`` (weights chosen), disjoint."""

    report: np.ndarray
    validation: np.ndarray


def _split_latents(pool: np.ndarray | None, n_report: int, n_validation: int, rng: np.random.Generator,
                   concepts: tuple[str, ...]) -> _Latents:
    """Report and validation latents drawn without replacement from the rows of ``pool`` (None: the whole grid):
    the report's first, then validation rows that ask for none of the report's combinations of ``concepts``
    (two rows differing only in a latent no model conditions on are one combination); a pool too small for both
    keeps at least half of it for the report."""
    size = grid_size() if pool is None else len(pool)
    n_validation = min(n_validation, size // 2)
    n_report = min(n_report, size - n_validation)
    order = rng.permutation(size)  # the report rows first, whatever n_validation
    rows = index_to_latents(order) if pool is None else pool[order]
    cols = [c for concept in concepts for c in CONCEPT_LATENTS[concept]]
    keys = np.ravel_multi_index(tuple(rows[:, cols].T), tuple(LATENT_SIZES[c] for c in cols))
    fresh = ~np.isin(keys[n_report:], keys[:n_report])
    return _Latents(report=rows[:n_report], validation=rows[n_report:][fresh][:n_validation])


def _choose_weight(run: _Run, predictor: LatentPredictor, energies: list[nn.Module], latents: np.ndarray,
                   concepts: tuple[str, ...], stream: str) -> tuple[tuple[float, ...], dict[str, float]]:
    """The candidate weight of the first energy (the others 1) whose sum satisfies every concept most often
    on the validation ``latents``; returns the weights and each candidate's validation share."""
    candidates = run.config.evaluation.weight_candidates
    if len(candidates) == 1:  # nothing to choose
        return (candidates[0],) + (1.0,) * (len(energies) - 1), {}
    gt, y = run.tensors(latents)
    x0 = init_chains(latents.shape[0], run.image_shape, torch_generator(run.seed, f"{stream} validation chains"))
    shares: dict[str, float] = {}
    best: tuple[float, ...] = ()
    for w in candidates:
        weights = (w,) + (1.0,) * (len(energies) - 1)
        seed_everything(run.seed, f"{stream} validation sampling")  # the same noise for every candidate
        share = score_samples(predictor, run.generate(energies, x0, y, weights), latents, gt, concepts)["satisfies_all"]
        if not best or share > max(shares.values()):
            best = weights
        shares[str(w)] = share
    return best, shares


def run_joint(run: _Run, predictor: LatentPredictor) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Figure 15 for the current seed: one EBM per latent, sampled jointly from their sum (weight chosen on
    validation latents); baseline E(x | all latents) with the concept models' total training steps."""
    cfg, concepts = run.config, run.config.data.concepts
    jobs = _joint_jobs(cfg)
    models = {c: run.train(jobs[c]) for c in concepts}
    baseline = run.train(jobs["baseline"])

    latents = _split_latents(None, cfg.evaluation.eval_samples, cfg.evaluation.validation_samples,
                             numpy_generator(run.seed, "joint evaluation latents"), tuple(concepts))
    weights, validation = _choose_weight(run, predictor, list(models.values()), latents.validation, concepts, "joint")
    gt, y_eval = run.tensors(latents.report)
    x0 = init_chains(len(latents.report), run.image_shape, torch_generator(run.seed, "joint chains"))
    seed_everything(run.seed, "joint sampling")  # Langevin noise: the same whether models were trained or resumed
    samples: dict[str, torch.Tensor] = {"ground_truth": gt}
    samples["sum"] = run.generate(list(models.values()), x0, y_eval, weights)
    samples["joint_baseline"] = run.generate([baseline], x0, y_eval)
    for c, m in models.items():
        samples[f"{c}_only"] = run.generate([m], x0, y_eval)
    metrics = {k: score_samples(predictor, v, latents.report, gt, tuple(concepts)) for k, v in samples.items()}
    return {"weights": {"sum": list(weights)}, "validation": {"sum": validation}, "metrics": metrics,
            "n_evaluated": len(latents.report), "n_validation": len(latents.validation)}, samples


def run_cross_product(
    run: _Run, name: str, predictor: LatentPredictor, cache: dict[str, nn.Module],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Figure 16 for the current seed: independent energies on two training sets, their sum without and with
    KL fine-tuning on both sets (each with its weight chosen on held-out validation combinations), and a joint
    conditional baseline on the union with the same total budget, scored on other held-out combinations."""
    cfg = run.config
    split = cross_product_split(name, cfg.data.position_stride)
    ca, cb = split["concepts_a"], split["concepts_b"]
    jobs = _cross_jobs(cfg, name)
    for part in ("a", "b"):
        if jobs[part].name not in cache:
            cache[jobs[part].name] = run.train(jobs[part])
    ea, eb = cache[jobs["a"].name], cache[jobs["b"].name]
    baseline = run.train(jobs["baseline"])
    x_union, y_union = run.training_set(jobs["baseline"].training_set)
    tuned, hist = finetune_sum(
        [ea, eb], x_union, y_union, run.concept_training, child_seed(run.seed, f"cross_finetune_{name}"),
        steps=cfg.training.finetune_steps, kl_coeff=cfg.training.kl_coeff,
        out_dir=run.path("checkpoints", f"cross_finetune_{name}"), resume=run.resume, quiet=run.quiet,
    )
    run.histories[f"seed{run.seed}/cross_finetune_{name}"] = hist

    held = split["held_out"]
    concepts = tuple(ca) + tuple(cb)
    latents = _split_latents(held, cfg.evaluation.eval_samples, cfg.evaluation.validation_samples,
                             numpy_generator(run.seed, f"cross evaluation latents {name}"), concepts)
    sums = {"sum": [ea, eb], "sum_kl": list(tuned.energies)}
    chosen = {k: _choose_weight(run, predictor, e, latents.validation, concepts, f"cross {name} {k}")
              for k, e in sums.items()}
    gt, y_eval = run.tensors(latents.report)
    x0 = init_chains(len(latents.report), run.image_shape, torch_generator(run.seed, f"cross chains {name}"))
    seed_everything(run.seed, f"cross sampling {name}")
    samples = {"ground_truth": gt}
    samples |= {k: run.generate(e, x0, y_eval, chosen[k][0]) for k, e in sums.items()}
    samples["joint_baseline"] = run.generate([baseline], x0, y_eval)
    samples[f"{'_'.join(ca)}_only"] = run.generate([ea], x0, y_eval)
    samples[f"{'_'.join(cb)}_only"] = run.generate([eb], x0, y_eval)
    metrics = {k: score_samples(predictor, v, latents.report, gt, concepts) for k, v in samples.items()}
    info = {
        "concepts": list(concepts), "n_train_a": int(len(split["train_a"])), "n_train_b": int(len(split["train_b"])),
        "n_held_out_combinations": int(len(held)), "n_evaluated": len(latents.report),
        "n_validation": len(latents.validation), "weights": {k: list(v[0]) for k, v in chosen.items()},
        "validation": {k: v[1] for k, v in chosen.items()}, "metrics": metrics,
    }
    return info, samples


def _over_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """An experiment's figures over seeds: each method's metrics as means with ``<metric>_ci95`` (Student's t over
    seeds, None for one seed), and each composed sum's ``satisfies_all`` minus the best single concept model's (the
    better of the two on each seed) and minus the joint baseline's, with intervals; ``beats``: the interval of
    the difference lies above 0."""
    methods = per_seed[0]["metrics"]
    metrics: dict[str, dict[str, Any]] = {}
    for method, first in methods.items():
        metrics[method] = {}
        for metric in first:
            values = [s["metrics"][method][metric] for s in per_seed]
            bounds = (0.0, 1.0) if metric.startswith("satisfies") or metric == "shape_accuracy" else (0.0, np.inf)
            metrics[method][metric] = float(np.mean(values))
            metrics[method][f"{metric}_ci95"] = seed_interval(values, bounds)
    singles = [m for m in methods if m.endswith("_only")]
    comparisons: dict[str, Any] = {}
    for composed in [m for m in methods if m.startswith("sum")]:
        for other, label in (("best_single", "best single concept model"), ("joint_baseline", "joint baseline")):
            diffs = []
            for s in per_seed:
                m = s["metrics"]
                best = max(m[x]["satisfies_all"] for x in singles)
                ref = best if other == "best_single" else m[other]["satisfies_all"]
                diffs.append(m[composed]["satisfies_all"] - ref)
            ci = seed_interval(diffs)
            comparisons[f"{composed} - {other}"] = {
                "what": f"satisfies_all of {composed} minus that of the {label}", "mean": float(np.mean(diffs)),
                "ci95": ci, "per_seed": diffs, "beats": bool(ci is not None and ci[0] > 0),
            }
    return {"metrics": metrics, "comparisons": comparisons}


def _one_thread() -> None:
    """A training worker's set-up: one thread, so that the workers share the cores instead of crowding them."""
    torch.set_num_threads(1)


def _train_in_worker(config: DSpritesComposeConfig, out: str, resume: bool, seed: int, job: _Job,
                     x: torch.Tensor, y: torch.Tensor) -> None:
    """In a worker process: train ``job``'s model of ``seed`` on ``(x, y)`` into the run folder (checkpoint and
    model file)."""
    run = _Run(config, Path(out), None, resume, quiet=True)  # no data source: the training set comes with the job
    run.seed = seed
    run.give_training_set(job.training_set, x, y)
    run.train(job)


def _train_side_by_side(run: _Run, seeds: list[int]) -> None:
    """Train every seed's models in ``training.workers`` processes (seed by seed, longest first), each into the
    run folder, where the run's evaluation then loads them (``models_trained``). The training sets are made
    here, once per seed, and sent with each model."""
    from ebm_core.progress import progress
    from ebm_run import run_in_processes

    cfg = run.config
    jobs = sorted(_seed_jobs(cfg), key=lambda j: -j.steps)
    work = [(s, j) for s in seeds for j in jobs]

    def calls() -> Iterator[tuple[Any, ...]]:
        for s, j in work:
            run.seed = s
            yield (cfg, str(run.out), run.resume, s, j, *run.training_set(j.training_set))

    workers = min(cfg.training.workers, len(work))
    desc = f"{len(work)} dSprites models in {workers} processes (training steps)"
    with progress(sum(j.steps for _, j in work), desc=desc, disable=run.quiet) as bar:
        run_in_processes(workers, _train_in_worker, calls(), lambda i, _: bar.update(work[i][1].steps), _one_thread)
    run.models_trained = True


def run_dsprites_compose(
    config: DSpritesComposeConfig, out_dir: str | Path, data_dir: str | Path | None = None,
    resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """Run joint composition and the cross-product experiments for every seed; write ``results.json``,
    ``joint_samples.png`` and ``cross_product.png`` (the first seed's samples), ``samples.npz`` (every seed's)
    and checkpoints under ``out_dir``."""
    t0 = time.perf_counter()
    data = load_dsprites(data_dir)  # checked before the run folder is made
    out = Path(out_dir)
    start_run_folder(out, "dsprites_compose", resume, settings=run_settings(config, "predictor"),
                     outputs=("samples.npz", "results.json"))
    seed_everything(config.seed)
    run = _Run(config, out, data, resume, quiet)
    predictor = run.predictor()
    seeds = [config.seed + k for k in range(config.evaluation.seeds)]
    if config.training.workers > 1:
        _train_side_by_side(run, seeds)
    joint_runs: list[dict[str, Any]] = []
    cross_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in config.evaluation.cross_experiments}
    generated: dict[str, torch.Tensor] = {}
    for seed in seeds:
        run.seed = seed
        joint, joint_samples = run_joint(run, predictor)
        joint_runs.append({"seed": seed} | joint)
        generated |= {f"seed {seed} joint: {k}": v for k, v in joint_samples.items() if k != "ground_truth"}
        cache: dict[str, nn.Module] = {}
        cross_rows: dict[str, torch.Tensor] = {}
        for name in config.evaluation.cross_experiments:
            info, s = run_cross_product(run, name, predictor, cache)
            cross_runs[name].append({"seed": seed} | info)
            generated |= {f"seed {seed} {name}: {k}": v for k, v in s.items() if k != "ground_truth"}
            cross_rows |= {f"{name}: {k}": v[:8] for k, v in s.items() if k in ("ground_truth", "joint_baseline",
                                                                                  "sum", "sum_kl")}
        if seed == seeds[0]:
            save_image_rows({k: v[:8] for k, v in joint_samples.items()}, out / "joint_samples.png",
                            f"joint sampling, seed {seed}: each row conditioned on the latents of the ground-truth row")
            if cross_rows:
                save_image_rows(cross_rows, out / "cross_product.png",
                                f"zero-shot cross-product generalization (held out), seed {seed}")
    size = config.data.image_size
    cross: dict[str, Any] = {}
    for name, runs in cross_runs.items():
        keep = ("concepts", "n_train_a", "n_train_b", "n_held_out_combinations", "n_evaluated", "n_validation")
        budget = {"concept_steps": {c: config.cross_concept_steps for c in runs[0]["concepts"]},
                  "kl_finetuning_steps": config.training.finetune_steps, "baseline_steps": config.cross_budget}
        cross[name] = {k: runs[0][k] for k in keep} | budget | _over_seeds(runs)
        cross[name]["per_seed"] = runs
    results = {
        "experiment": "dsprites_compose (Du & Mordatch 2019, section 7, Figures 15-16)",
        "data": run.data.source,
        "image_size": size,
        "reduced_resolution": size < 64,
        "note": (f"images average-pooled from 64x64 to {size}x{size} for a CPU run"
                 if size < 64 else "full 64x64 resolution"),
        "seeds": seeds,
        "methods": METHOD_NOTES,
        "metric_note": "means over seeds; <metric>_ci95: Student's t 95% interval of the mean over seeds (None for "
                       "one seed); satisfies_all: share of samples meeting every conditioned concept",
        "joint": {"concepts": list(config.data.concepts), "n_train": config.data.train_images,
                  "n_evaluated": joint_runs[0]["n_evaluated"], "n_validation": joint_runs[0]["n_validation"],
                  "concept_steps": {c: config.concept_steps(c) for c in config.data.concepts},
                  "baseline_steps": config.joint_budget}
                 | _over_seeds(joint_runs) | {"per_seed": joint_runs},
        "cross_product": cross,
        "samples": save_generated(generated, out / "samples.npz"),
        "final_losses": {k: (h[-1]["loss"] if h else None) for k, h in run.histories.items()},
        **closing_entries(config, {k: f"models/{k}.pt" for k in run.histories
                                   if (out / "models" / f"{k}.pt").exists()}, t0),
    }
    write_json_atomic(out / "results.json", results)
    return results


def summary_table(results: dict[str, Any]) -> str:
    """Plain-text tables: each method's means over seeds (satisfies_all with its 95% interval), its treatment
    in its name, the weights chosen on validation, then each composed sum against the best single model and
    the joint baseline."""
    cols = ("position_error", "scale_error", "shape_accuracy", "satisfies_all")
    n = len(results["seeds"])
    finetune = results["config"]["training"]["finetune_steps"]
    names = {"sum": "sum (no KL)", "sum_kl": f"sum_kl ({finetune} KL steps)"}
    lines = [f"{n} seed(s); means over seeds, satisfies_all [95% interval over seeds]"]
    blocks = [("joint", results["joint"])]
    blocks += [(f"cross: {k} (held out)", v) for k, v in results["cross_product"].items()]
    for title, block in blocks:
        lines.append(f"{title}: {block['n_evaluated']} scored per seed and method; concept models "
                     f"{block['concept_steps']} steps, joint baseline {block['baseline_steps']}")
        lines.append(f"  {'method':<26}" + "".join(f"{c:>16}" for c in cols) + f"{'95% interval':>18}")
        for method, m in block["metrics"].items():
            ci = m["satisfies_all_ci95"]
            interval = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"
            lines.append(f"  {names.get(method, method):<26}" + "".join(f"{m[c]:>16.3f}" for c in cols)
                         + f"{interval:>18}")
        for composed in block["per_seed"][0]["weights"]:
            chosen = " / ".join(f"{s['weights'][composed][0]:g}" for s in block["per_seed"])
            lines.append(f"  first concept's weight in {composed}, chosen on validation per seed: {chosen}")
        for name, c in block["comparisons"].items():
            ci = c["ci95"]
            interval = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "(one seed: no interval)"
            verdict = "beats" if c["beats"] else "not shown"
            lines.append(f"  {name:<34} {c['mean']:+.3f} {interval} {verdict}")
    return "\n".join(lines)
