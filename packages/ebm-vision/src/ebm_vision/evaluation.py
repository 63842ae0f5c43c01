"""The evaluation experiments behind ``apps/ood_eval``, ``apps/robustness`` and ``apps/likelihood``
(sections 4.3, 4.4, A.3, A.4): load a model trained by ``apps/image_generate`` or train a small
one through the shared training API, evaluate, and write ``results.json`` and PNGs."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ebm_core import LangevinSampler, SupervisedConfig, Trainer, TrainerConfig, lowest_energy_class, seed_everything
from ebm_core.checks import finite_stage
from ebm_core.seeding import torch_generator
from ebm_run import check_memory, package_versions, recorded_config, start_run_folder, write_json_atomic
from torch import nn

from .experiment import RECORDED_PACKAGES, check_checkpoint_shape, load_splits
from .image_energy import (
    ImageEnergyConfig,
    build_energy,
    energy_from_payload,
    payload_config,
    payload_seed,
    read_model_file,
    save_image_energy,
)
from .likelihood import (
    PAPER_LIKELIHOOD,
    PAPER_SENSITIVITY,
    LikelihoodConfig,
    check_ais_cost,
    jittered_ais,
    likelihood_bounds,
    plot_likelihood,
    validate_ais,
)
from .ood import (
    PAPER_OOD_CIFAR10,
    default_real_sets,
    evaluate_ood,
    load_ood_images,
    plot_relative_energy_histograms,
    synthetic_ood_sets,
)
from .robustness import (
    BASELINE_TRAINING,
    RefineConfig,
    RobustnessConfig,
    plot_robustness,
    robustness_curves,
    train_energy_classifier,
)
from .training import (
    TRAINING_PRESETS,
    ImageDataConfig,
    ImageTrainingConfig,
    for_trainer,
    image_training,
    recipe_sections,
    train_image_energy,
    with_overrides,
)

# ------------------------------------------------------------------------ shared
CLASSIFIER_KIND = "cross-entropy classifier"  # the robustness baseline's model file says so in its extra


@dataclass
class Prepared:
    """An evaluation's model and data: ``energy`` is None until :func:`train_model` has trained it
    (a ``--checkpoint``'s is loaded by :func:`prepare_inputs`)."""

    energy: nn.Module | None
    energy_config: ImageEnergyConfig
    training: ImageTrainingConfig  # what trains the model when there is no checkpoint
    seed: int  # the held-out split's seed (a checkpoint's own, where it records one)
    train: Any  # the training data (Dataset or tensors)
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    note: str
    info: dict[str, Any]


def prepare_inputs(
    training: ImageTrainingConfig, data_dir: str | Path, seed: int, checkpoint: str | Path | None = None,
    payload: dict[str, Any] | None = None,
) -> Prepared:
    """Everything an evaluation reads, checked before its run folder is made: the model file
    ``checkpoint`` (``payload``: its contents when the caller has read them already), loaded, and the
    data split of ``training.data`` as ``apps/image_generate`` makes it (MNIST without train files and
    ``holdout_from_test``: the test split minus ``eval_images`` held-out images). Without a checkpoint
    the energy is left to :func:`train_model`."""
    info: dict[str, Any] = {}
    energy = None
    ecfg = training.model
    if checkpoint is not None:
        payload = payload if payload is not None else read_model_file(checkpoint)
        if (payload.get("extra") or {}).get("kind") == CLASSIFIER_KIND:
            raise ValueError(f"{checkpoint} is the cross-entropy baseline that apps/robustness trains beside the "
                             "EBM, not an EBM; give the EBM's model.pt (e.g. OUT/model/model.pt)")
        check_checkpoint_shape(payload_config(payload), training.data.dataset, checkpoint)
        energy, ecfg = energy_from_payload(payload, training.training.device)
        ckpt_seed = payload_seed(payload)
        if ckpt_seed is not None and ckpt_seed != seed:
            info["split_seed_note"] = f"held-out split uses the checkpoint's seed {ckpt_seed}, not --seed {seed}"
            seed = ckpt_seed
        training = dataclasses.replace(training, model=ecfg)
        info["checkpoint"] = str(checkpoint)
    train, eval_x, eval_y, note = load_splits(training.data, ecfg.conditional, data_dir, seed)
    if tuple(eval_x.shape[1:]) != ecfg.shape:
        raise ValueError(f"the model takes images {ecfg.shape} but {training.data.dataset} has "
                         f"{tuple(eval_x.shape[1:])}")
    return Prepared(energy, ecfg, training, seed, train, eval_x, eval_y, note, info)


def train_model(prep: Prepared, out: Path, resume: bool = False, quiet: bool = False) -> Prepared:
    """``prep`` with its energy: the checkpoint's, or one trained into ``out/model`` with
    ``train_image_energy`` (after the run folder is made)."""
    if prep.energy is None:
        t0 = time.perf_counter()
        training = prep.training
        tc = dataclasses.replace(training, training=dataclasses.replace(training.training, seed=prep.seed,
                                                                        quiet=quiet))
        energy, trainer = train_image_energy(tc, prep.train, out / "model", resume=resume)
        prep = dataclasses.replace(prep, energy=energy, info={**prep.info, "training": {
            "steps": trainer.step, "recoveries": trainer.recoveries, "seconds": time.perf_counter() - t0,
            "last": trainer.history[-1] if trainer.history else None,
            "model_file": str(out / "model" / "model.pt")}})
    prep.energy.eval()
    return prep


def _model_settings(config: Any, checkpoint: str | Path | None) -> dict[str, Any]:
    """What a ``--resume`` of an evaluation must keep: the model's data split, network, sampler and
    training, and the seed (the evaluation's own settings may change)."""
    return {**{k: dataclasses.asdict(getattr(config, k)) for k in ("data", "model", "sampler", "training")},
            "checkpoint": checkpoint, "seed": config.seed}


def _finish(out: Path, results: dict[str, Any], t0: float) -> dict[str, Any]:
    results["wall_seconds"] = time.perf_counter() - t0
    results["figures"] = sorted(p.name for p in out.glob("*.png"))
    write_json_atomic(out / "results.json", results)
    return results




# ----------------------------------------------------------------------- OOD
def _held_out(recipe: ImageTrainingConfig, **data: Any) -> dict[str, Any]:
    """:func:`recipe_sections` of a training recipe as the evaluations use it: with the ``data`` fields
    given, held out from the test split where the train files are absent (as image_generate's MNIST presets)."""
    return recipe_sections(recipe, holdout_from_test=True, **data)


@dataclass(frozen=True)
class OODEvaluation:
    """``ood_images`` images per OOD set; ``real_sets``: names from ``ebm_vision.ood.REAL_SETS`` loaded
    from ``--ood-data-dir`` (else ``--data-dir``); none named: ``ood.default_real_sets``
    (Fashion-MNIST for an MNIST model, where found)."""

    ood_images: int = 1000
    real_sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class OODEvalConfig:
    """The model scored (trained from its data, model, sampler and training sections without a
    ``--checkpoint``) and the OOD sets it is scored on."""

    data: ImageDataConfig = field(default_factory=lambda: _held_out(TRAINING_PRESETS["mnist_eval"])["data"])
    model: ImageEnergyConfig = field(default_factory=lambda: TRAINING_PRESETS["mnist_eval"].model)
    sampler: LangevinSampler = field(default_factory=lambda: TRAINING_PRESETS["mnist_eval"].sampler)
    training: TrainerConfig = field(default_factory=lambda: TRAINING_PRESETS["mnist_eval"].training)
    evaluation: OODEvaluation = field(default_factory=OODEvaluation)
    seed: int = 0


OOD_PRESETS: dict[str, OODEvalConfig] = {
    "mnist": OODEvalConfig(),
    "tiny": OODEvalConfig(**_held_out(TRAINING_PRESETS["tiny"], eval_images=200, train_limit=1000),
                          evaluation=OODEvaluation(ood_images=100)),
    # Figure 10: unconditional CIFAR-10 model against SVHN, Textures, CIFAR-100 and the synthetic sets.
    "cifar10": OODEvalConfig(**_held_out(TRAINING_PRESETS["cifar10_uncond"], eval_images=10_000),
                             evaluation=OODEvaluation(ood_images=10_000, real_sets=("svhn", "textures", "cifar100"))),
}
OOD_PRESETS["fashion_mnist"] = OODEvalConfig(  # the mnist preset on Fashion-MNIST; MNIST's test images as outliers
    data=dataclasses.replace(OODEvalConfig().data, dataset="fashion_mnist"))
OOD_PRESETS["paper"] = OOD_PRESETS["cifar10"]  # the paper's main OOD result (Figure 10)


def run_ood_eval(
    config: OODEvalConfig, out: str | Path, data_dir: str | Path, checkpoint: str | Path | None = None,
    ood_data_dir: str | Path | None = None, resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """AUROC of ``-E(x)`` per OOD set and their mean (Figure 10), histograms (Figure 11)."""
    t0 = time.perf_counter()
    ev = config.evaluation
    prep = prepare_inputs(image_training(config), data_dir, config.seed, checkpoint)
    shape = prep.energy_config.shape
    folders = ({name: Path(ood_data_dir or data_dir) for name in ev.real_sets} if ev.real_sets
               else default_real_sets(config.data.dataset, ood_data_dir or data_dir))
    check_memory(f"{ev.ood_images:,} images per OOD set of {tuple(shape)}",
                 (len(folders) + 5) * ev.ood_images * math.prod(shape) * 4)
    real = {name: load_ood_images(name, folder, shape, ev.ood_images, config.seed)
            for name, folder in folders.items()}  # before training: a missing or damaged set fails fast
    out = Path(out)
    start_run_folder(out, "ood_eval", resume, settings=_model_settings(config, checkpoint))
    prep = train_model(prep, out, resume, quiet)
    seed_everything(config.seed)
    k = prep.energy_config.num_classes
    sets = {**synthetic_ood_sets(prep.eval_x, ev.ood_images, seed=config.seed), **real}
    device = next(prep.energy.parameters()).device
    model = str(checkpoint) if checkpoint is not None else "the trained model"
    res = evaluate_ood(prep.energy, prep.eval_x.to(device), {n: v.to(device) for n, v in sets.items()}, k,
                       model=model)
    score = "-min_c E(x, c)" if k else "-E(x)"
    plot_relative_energy_histograms(res["scores"], out / "relative_energy_histograms.png",
                                    f"{config.data.dataset}: {score} relative to the held-out test images", score)
    import numpy as np

    results = {
        "auroc": res["auroc"], "mean_auroc": res["mean_auroc"],
        "score": "-E(x)" if not k else "-min_c E(x, c)",
        "mean_score": {n: float(np.mean(s)) for n, s in res["scores"].items()},
        "paper_cifar10": PAPER_OOD_CIFAR10,
        "data": prep.note, "num_in_distribution": int(prep.eval_x.shape[0]),
        "num_ood_per_set": {n: int(v.shape[0]) for n, v in sets.items()},
        "real_sets": sorted(real) or "none found (synthetic sets only)",
        **prep.info, "config": recorded_config(config), "seed": config.seed,
        "versions": package_versions(*RECORDED_PACKAGES),
    }
    return _finish(out, results, t0)


# ----------------------------------------------------------------- robustness
@dataclass(frozen=True)
class RobustnessTraining:
    """The training of the two models attacked: the EBM's (``ebm``) and the cross-entropy baseline's,
    the same network trained on the same images (``classifier``)."""

    ebm: TrainerConfig = field(default_factory=lambda: TRAINING_PRESETS["mnist_eval"].training)
    classifier: SupervisedConfig = field(default_factory=lambda: dataclasses.replace(BASELINE_TRAINING, steps=300))


@dataclass(frozen=True)
class RobustnessExperimentConfig:
    """A conditional EBM and a cross-entropy classifier of the same network, attacked alike
    (``evaluation``: the budgets, attacks and images of the accuracy-vs-eps curves)."""

    data: ImageDataConfig = field(default_factory=lambda: _held_out(TRAINING_PRESETS["mnist_eval"])["data"])
    model: ImageEnergyConfig = field(default_factory=lambda: TRAINING_PRESETS["mnist_eval"].model)
    sampler: LangevinSampler = field(default_factory=lambda: TRAINING_PRESETS["mnist_eval"].sampler)
    training: RobustnessTraining = field(default_factory=RobustnessTraining)
    evaluation: RobustnessConfig = field(default_factory=lambda: RobustnessConfig(
        linf_eps=(0.0, 0.1, 0.2, 0.3), l2_eps=(0.0, 1.5, 3.0), num_images=200, bpda_images=50))
    seed: int = 0


def _robustness(recipe: ImageTrainingConfig, classifier: SupervisedConfig, curves: RobustnessConfig,
                **data: Any) -> RobustnessExperimentConfig:
    """A robustness preset: the EBM of ``recipe`` and the baseline trained with ``classifier``."""
    sections = _held_out(recipe, **data)
    return RobustnessExperimentConfig(**{**sections, "training": RobustnessTraining(sections["training"], classifier)},
                                      evaluation=curves)


# Budgets in 1/255 units, as the reference code's (eps / 255; its defaults: L-inf 8, L2 40).
_CIFAR_CURVES = RobustnessConfig(
    linf_eps=tuple(e / 255 for e in (0, 2, 4, 8, 16, 24, 32)), l2_eps=tuple(e / 255 for e in (0, 10, 20, 40, 60, 80)),
    num_images=1000, batch_size=100,
)
ROBUSTNESS_PRESETS: dict[str, RobustnessExperimentConfig] = {
    "mnist": RobustnessExperimentConfig(),
    "tiny": _robustness(
        TRAINING_PRESETS["tiny"], dataclasses.replace(BASELINE_TRAINING, steps=150, batch_size=32),
        RobustnessConfig(linf_eps=(0.0, 0.3), l2_eps=(0.0, 3.0), pgd_steps=3, num_images=8, batch_size=8,
                         refine=RefineConfig(sampler=LangevinSampler(steps=2))),
        eval_images=200, train_limit=1000,
    ),
    # Figure 8: conditional CIFAR-10 ResNet32, refinement with the training sampler's step.
    "cifar10": _robustness(TRAINING_PRESETS["cifar10_cond"],
                           dataclasses.replace(BASELINE_TRAINING, steps=20_000, batch_size=128), _CIFAR_CURVES,
                           eval_images=10_000),
}
ROBUSTNESS_PRESETS["paper"] = ROBUSTNESS_PRESETS["cifar10"]  # the paper's robustness result (Figure 8)


def run_robustness(
    config: RobustnessExperimentConfig, out: str | Path, data_dir: str | Path, checkpoint: str | Path | None = None,
    resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """Accuracy-vs-eps curves (Figure 8) for the EBM (with and through refinement) and the baseline."""
    t0 = time.perf_counter()
    prep = prepare_inputs(image_training(config, config.training.ebm), data_dir, config.seed, checkpoint)
    k = prep.energy_config.num_classes
    if k < 2:
        who = checkpoint if checkpoint is not None else "the preset's model"
        raise ValueError(f"robustness needs a class-conditional model (num_classes >= 2); {who} is unconditional")
    if config.evaluation.num_images > prep.eval_x.shape[0]:
        raise ValueError(f"{config.evaluation.num_images:,} images to attack, {prep.eval_x.shape[0]:,} held out "
                         "(at most that many)")
    out = Path(out)
    start_run_folder(out, "robustness", resume, settings=_model_settings(config, checkpoint))
    prep = train_model(prep, out, resume, quiet)
    device = next(prep.energy.parameters()).device

    # the cross-entropy baseline: the same network, trained on the same images
    clf = build_energy(prep.energy_config).to(device)
    clf_path = out / "classifier" / "model.pt"
    t_clf = time.perf_counter()
    clf_config = dataclasses.replace(config.training.classifier, seed=config.seed, quiet=quiet, device=str(device))
    clf_settings = {"kind": CLASSIFIER_KIND, "energy": dataclasses.asdict(prep.energy_config),
                    "classifier": dataclasses.asdict(dataclasses.replace(clf_config, quiet=False, device="any")),
                    # what decides its training images: the data, the held-out split and its seed, the limit
                    "data": [config.data.dataset, prep.note, prep.info.get("split_seed_note")],
                    "eval_images": config.data.eval_images, "train_limit": config.data.train_limit}
    saved = read_model_file(clf_path, map_location=device) if resume and clf_path.exists() else None
    if saved is not None and saved["extra"] == clf_settings:  # reused only under unchanged settings
        clf, _ = energy_from_payload(saved, device)
    else:
        from .experiment import _train_tensor

        # at most the images the classifier can draw (steps x batch), not the whole training set
        tx, ty = _train_tensor(prep.train, clf_config.steps * clf_config.batch_size, config.seed)
        seed_everything(config.seed)
        train_energy_classifier(clf, tx, ty, k, clf_config)
        save_image_energy(clf, prep.energy_config, clf_path, extra=clf_settings)
    clf_seconds = time.perf_counter() - t_clf

    # refinement with the model's own Langevin step settings, 10 steps (4.3)
    curves_cfg = config.evaluation
    sampler = dataclasses.replace(config.sampler, steps=curves_cfg.refine.sampler.steps, check_finite=True)
    curves_cfg = dataclasses.replace(curves_cfg, refine=dataclasses.replace(curves_cfg.refine, sampler=sampler))
    x, y = prep.eval_x[: curves_cfg.num_images].to(device), prep.eval_y[: curves_cfg.num_images].to(device)
    seed_everything(config.seed)
    bs = curves_cfg.batch_size
    clean = {"ebm_no_refinement": (lowest_energy_class(prep.energy, x, k, bs) == y).float().mean().item(),
             "classifier": (lowest_energy_class(clf, x, k, bs) == y).float().mean().item()}
    with finite_stage(f"{checkpoint or 'the trained model'}, attacks through the Langevin refinement"):
        curves = robustness_curves(prep.energy, clf, x, y, k, curves_cfg, quiet=quiet)
    plot_robustness(curves, curves_cfg, str(out / "robustness.png"))
    results = {
        "accuracy": curves, "eps": {"linf": list(curves_cfg.linf_eps), "l2": list(curves_cfg.l2_eps)},
        "clean_accuracy": {**clean, "ebm_refined": curves["ebm"]["linf"][0] if curves_cfg.linf_eps[0] == 0 else None},
        "attack": {"pgd_steps": curves_cfg.pgd_steps, "random_start": True, "step": "2.5 eps / steps",
                   "refine_steps": sampler.steps, "refine_radius": curves_cfg.refine.radius,
                   "eot_samples": curves_cfg.eot_samples},
        "paper": "CIFAR-10 conditional EBM, clean accuracy 49.6%; Figure 8 curves (no table in the paper)",
        "num_images": int(x.shape[0]), "bpda_images": min(curves_cfg.bpda_images or x.shape[0], x.shape[0]),
        "data": prep.note, "classifier_seconds": clf_seconds,
        **prep.info, "config": recorded_config(config), "seed": config.seed,
        "versions": package_versions(*RECORDED_PACKAGES),
    }
    return _finish(out, results, t0)


# ----------------------------------------------------------------- likelihood
def _uncond(cfg: ImageTrainingConfig) -> ImageTrainingConfig:
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_classes=0))


def _cpu_likelihood() -> dict[str, Any]:
    """The CPU default's sections: the ``mnist`` recipe's network (unconditional) and sampler, 150 steps."""
    return _held_out(with_overrides(_uncond(TRAINING_PRESETS["mnist"]), steps=150))


@dataclass(frozen=True)
class LikelihoodEvaluation:
    """The models bounded and how: the replay-buffer model, the PCD ablation (``pcd``; Figure 23)
    and, with ``sweep``, models at the L2 coefficients ``l2_sweep`` and Langevin step sizes
    ``step_sweep`` (Figure 25), each otherwise trained as the replay-buffer model; ``likelihood``:
    the AIS settings, model temperatures and number of held-out images bounded."""

    likelihood: LikelihoodConfig = field(default_factory=lambda: LikelihoodConfig(
        ais=jittered_ais(num_chains=32, num_temperatures=400), temperatures=(1e-3, 3e-4, 1e-4), curve=(100, 200)))
    pcd: bool = True
    l2_sweep: tuple[float, ...] = (0.01, 0.1, 1.0)
    step_sweep: tuple[float, ...] = (10.0, 100.0, 1000.0)
    sweep: bool = True


@dataclass(frozen=True)
class LikelihoodExperimentConfig:
    """Unconditional continuous-MNIST models (the replay-buffer model trained from the data, model,
    sampler and training sections; the others vary it, see :func:`variants`) and their AIS bounds.

    The replay-buffer and PCD models are bounded at every temperature of ``evaluation.likelihood``
    (the best trusted one is reported, as the paper chose the temperature of highest likelihood);
    the sweep's models at the replay-buffer model's chosen temperature when one of its bounds is
    trusted, else at every temperature too. The CPU models, 150 steps each, are
    nearly flat at T = 1 (mean test energy ~0.6 below uniform noise's), hence the low temperatures."""

    data: ImageDataConfig = field(default_factory=lambda: _cpu_likelihood()["data"])
    model: ImageEnergyConfig = field(default_factory=lambda: _cpu_likelihood()["model"])
    sampler: LangevinSampler = field(default_factory=lambda: _cpu_likelihood()["sampler"])
    training: TrainerConfig = field(default_factory=lambda: _cpu_likelihood()["training"])
    evaluation: LikelihoodEvaluation = field(default_factory=LikelihoodEvaluation)
    seed: int = 0

    def __post_init__(self) -> None:
        num_test = self.evaluation.likelihood.num_test
        if num_test > self.data.eval_images:  # the bounds are taken on the held-out images
            raise ValueError(f"evaluation.likelihood.num_test ({num_test} test images, --test-images) exceeds "
                             f"data.eval_images ({self.data.eval_images}), the held-out images the bounds are "
                             "taken on")


LIKELIHOOD_PRESETS: dict[str, LikelihoodExperimentConfig] = {
    "mnist": LikelihoodExperimentConfig(),
    "tiny": LikelihoodExperimentConfig(
        **_held_out(_uncond(TRAINING_PRESETS["tiny"]), eval_images=200, train_limit=1000),
        evaluation=LikelihoodEvaluation(
            LikelihoodConfig(ais=dataclasses.replace(LikelihoodConfig().ais, num_chains=8, num_temperatures=3,
                                                     final_transitions=1), num_test=50, num_validation=50,
                             curve=(1, 2)),
            l2_sweep=(0.1, 1.0), step_sweep=(10.0,))),
    # Figures 23 and 25 at the paper's scale: the reference MNIST net, 10,000 AIS chains.
    "paper": LikelihoodExperimentConfig(
        # the whole MNIST test set held out (it used to hold out 2,000 and bound only those)
        **_held_out(dataclasses.replace(
            _uncond(TRAINING_PRESETS["mnist"]), model=ImageEnergyConfig("mnist", 0, 1, 28),
            training=dataclasses.replace(TRAINING_PRESETS["mnist"].training, steps=30_000, checkpoint_every=1000)),
            eval_images=10_000),
        evaluation=LikelihoodEvaluation(LikelihoodConfig(
            ais=jittered_ais(num_chains=10_000, num_temperatures=1000), curve=(250, 500),
            temperatures=(1.0, 0.1, 0.01, 1e-3, 3e-4, 1e-4), num_test=10_000))),
}


def variants(config: LikelihoodExperimentConfig) -> dict[str, ImageTrainingConfig]:
    """The trained models: name -> training config. The base model (L2 1, step 10) is shared by
    the replay-buffer row and both sweeps."""
    base, ev = image_training(config), config.evaluation
    t, s = base.training, base.sampler
    out = {"replay_buffer": base}
    if ev.pcd:
        # persistent chains: no buffer replay; each chain continues from its own last state
        out["pcd"] = dataclasses.replace(base, training=dataclasses.replace(
            t, replay_prob=0.0, buffer_size=t.batch_size, buffer_uint8=False))
    if ev.sweep:
        for a in ev.l2_sweep:
            if a != t.objective.l2_coeff:
                obj = dataclasses.replace(t.objective, l2_coeff=a)
                out[f"l2_{a:g}"] = dataclasses.replace(base, training=dataclasses.replace(t, objective=obj))
        for st in ev.step_sweep:
            if st != s.step_size:
                out[f"step_{st:g}"] = dataclasses.replace(base, sampler=dataclasses.replace(s, step_size=st))
    return out


def sweep_names(config: LikelihoodExperimentConfig) -> set[str]:
    """The names of the sensitivity sweep's models among ``variants(config)`` (Figure 25)."""
    no_sweep = dataclasses.replace(config, evaluation=dataclasses.replace(config.evaluation, sweep=False))
    return set(variants(config)) - set(variants(no_sweep))


def paper_bounds(name: str) -> list[float] | None:
    """The paper's (lower, upper) bounds in nats for a variant of ``variants`` (Figure 23 for
    ``replay_buffer`` / ``pcd``, Figure 25 for ``l2_<a>`` / ``step_<s>``), None where it has none."""
    table = {**PAPER_LIKELIHOOD, **{f"l2_{a:g}": v for a, v in PAPER_SENSITIVITY["l2_coeff"].items()},
             **{f"step_{st:g}": v for st, v in PAPER_SENSITIVITY["step_size"].items()}}
    ref = table.get(name)
    return None if ref is None else list(ref)


def _hold_out_validation(train: Any, n: int, seed: int) -> tuple[Any, torch.Tensor | None]:
    """The last ``n`` training images, dequantized with ``seed``, as the validation images the model
    temperature is chosen on, and the training data without them (None, and the data whole, for 0). A
    ``--checkpoint`` trained elsewhere takes them from the held-out images instead (:func:`run_likelihood`)."""
    from .data import DequantizedImages, dequantize

    if n == 0:
        return train, None
    if not isinstance(train, DequantizedImages) or n >= len(train):
        raise ValueError(f"evaluation.likelihood.num_validation: {n:,} validation images leave none of the "
                         f"{len(train):,} training images to train on")
    labels = None if train.labels is None else train.labels[:-n]
    held = dequantize(train.images[-n:], torch_generator(seed, "likelihood validation images"))
    return DequantizedImages(train.images[:-n], labels), held


def _train_variant(name: str, cfg: ImageTrainingConfig, train: Any, out: Path, resume: bool
                   ) -> tuple[nn.Module, dict[str, Any]]:
    """Train one variant through ebm-core's Trainer; PCD chains start from the previous step's
    negatives (the buffer holds exactly one batch, in order, and is never replayed)."""
    t0 = time.perf_counter()
    model_dir = out / "models" / name
    if name != "pcd":
        energy, trainer = train_image_energy(cfg, train, model_dir, resume=resume)
    else:
        energy = build_energy(cfg.model)
        holder: dict[str, Any] = {}

        def persistent(x_pos: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
            buf = holder["trainer"].buffer
            if buf.size == x_pos.shape[0]:
                return buf.latest(buf.size)
            low, high = cfg.sampler.clamp or (0.0, 1.0)
            return low + (high - low) * torch.rand_like(x_pos)

        trainer = Trainer(energy, cfg.sampler, for_trainer(train, cfg.model.conditional), cfg.training,
                          init_fn=persistent, out_dir=model_dir)
        holder["trainer"] = trainer
        if resume:
            trainer.resume()
        trainer.train()
        energy.eval()
        save_image_energy(energy, cfg.model, model_dir / "model.pt", extra={"training": dataclasses.asdict(cfg)})
    last = trainer.history[-1] if trainer.history else None
    return energy.eval(), {"steps": trainer.step, "recoveries": trainer.recoveries, "last": last,
                           "seconds": time.perf_counter() - t0}


def run_likelihood(
    config: LikelihoodExperimentConfig, out: str | Path, data_dir: str | Path, checkpoint: str | Path | None = None,
    resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """AIS bounds (nats) on continuous MNIST for each trained variant, beside Figures 23 and 25.
    With ``checkpoint`` only that (unconditional) model is evaluated."""
    t0 = time.perf_counter()
    ev = config.evaluation
    for k in (ev.likelihood.ais.num_temperatures, *ev.likelihood.curve):  # a day and the memory: checked first
        check_ais_cost(dataclasses.replace(ev.likelihood.ais, num_temperatures=k), config.model.shape)
    payload = read_model_file(checkpoint) if checkpoint is not None else None  # read once
    if payload is not None:
        check_checkpoint_shape(payload_config(payload), config.data.dataset, checkpoint)
    ckpt_seed = payload_seed(payload) if payload is not None else None
    split_seed = config.seed if ckpt_seed is None else ckpt_seed
    train, eval_x, _, note = load_splits(config.data, config.model.conditional, data_dir, split_seed)
    n_val, n_test = ev.likelihood.num_validation, ev.likelihood.num_test
    if checkpoint is None:
        train, val_x = _hold_out_validation(train, n_val, split_seed)
    else:  # a model trained elsewhere may have seen every training image: held-out images beyond the test ones
        if n_val and eval_x.shape[0] < n_test + n_val:
            raise ValueError(f"--checkpoint: choosing the temperature on {n_val:,} held-out images besides the "
                             f"{n_test:,} test images needs data.eval_images >= {n_test + n_val:,} (now "
                             f"{eval_x.shape[0]:,}); or set evaluation.likelihood.num_validation=0")
        val_x = eval_x[n_test:n_test + n_val] if n_val else None
    device = config.training.device
    models: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
    if checkpoint is not None:
        energy, ecfg = energy_from_payload(payload, device)
        if ecfg.num_classes:
            raise ValueError("the likelihood needs an unconditional model (num_classes=0); "
                             f"{checkpoint} is conditional on {ecfg.num_classes} classes")
        models["checkpoint"] = (energy, {"file": str(checkpoint)})
    out = Path(out)
    start_run_folder(out, "likelihood", resume, settings={  # every input checked: the run starts
        **_model_settings(config, checkpoint), "pcd": ev.pcd, "step_sweep": ev.step_sweep})
    if checkpoint is None:
        for name, cfg in variants(config).items():
            tc = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, seed=config.seed, quiet=quiet))
            seed_everything(config.seed)
            models[name] = _train_variant(name, tc, train, out, resume)
    sweep = sweep_names(config) if checkpoint is None else set()
    validation = []
    if ev.likelihood.validate:  # the AIS setting on energies of the images' shape with a known log Z
        seed_everything(config.seed)
        validation = validate_ais(ev.likelihood.ais, eval_x.shape[1:], ev.likelihood.max_relative_gap, device,
                                  ev.likelihood.validation_chains, quiet=quiet)
    rows = []
    for name, (energy, info) in models.items():
        seed_everything(config.seed)
        t1 = time.perf_counter()
        lk = ev.likelihood
        base = next((r for r in rows if r["name"] == "replay_buffer"), None)
        if name in sweep and base is not None and base["trusted"]:  # the sweep: at the base model's T
            lk = dataclasses.replace(lk, temperatures=(base["temperature"],))
        b = likelihood_bounds(energy, eval_x, lk, device=device, name=name, validation=validation, x_val=val_x,
                              quiet=quiet)
        rows.append({"name": name, **b, "paper": paper_bounds(name), "ais_seconds": time.perf_counter() - t1,
                     "training": info})
    plot_likelihood(rows, str(out / "likelihood_bounds.png"), "continuous MNIST, AIS bounds per model")
    results = {
        "bounds_nats": {r["name"]: [r["lower_nats"], r["upper_nats"]] for r in rows},
        "trusted": {r["name"]: r["trusted"] for r in rows},
        "ais_validation": validation,
        "bracket_vs_num_temperatures": {r["name"]: r["bracket_vs_num_temperatures"] for r in rows},
        "models": rows, "paper_figure23": PAPER_LIKELIHOOD,
        "paper_figure25": {k: {str(a): v for a, v in d.items()} for k, d in PAPER_SENSITIVITY.items()},
        "data": note + " (continuous: (q + U(0, 1)) / 256)", "num_test": rows[0]["num_test"] if rows else 0,
        "config": recorded_config(config), "seed": config.seed, "versions": package_versions(*RECORDED_PACKAGES),
    }
    return _finish(out, results, t0)


__all__ = [
    "prepare_inputs", "train_model", "OODEvaluation", "OODEvalConfig", "OOD_PRESETS", "run_ood_eval",
    "RobustnessTraining", "RobustnessExperimentConfig", "ROBUSTNESS_PRESETS", "run_robustness",
    "LikelihoodEvaluation", "LikelihoodExperimentConfig", "LIKELIHOOD_PRESETS", "variants", "paper_bounds",
    "run_likelihood",
]
