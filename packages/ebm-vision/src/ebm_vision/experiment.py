"""The image-generation experiment behind ``apps/image_generate``: train (or load) an image EBM,
then generation, scores, restoration and mode evaluation (sections 4.1-4.2) into ``results.json``
and PNGs."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ebm_core import LangevinSampler, ObjectiveConfig, TrainerConfig, seed_everything
from ebm_core.checks import check_positive, finite_stage
from ebm_core.model_file import load_if_same_settings, save_with_settings
from ebm_core.seeding import torch_generator
from ebm_run import (
    check_memory,
    package_versions,
    recorded_config,
    save_samples,
    shared_idx_dir,
    start_run_folder,
    write_json_atomic,
)
from torch import nn

from . import plots
from .data import holdout_split, image_shape, load_dataset, load_images
from .image_energy import ImageEnergyConfig, energy_from_payload, payload_config, read_model_file
from .modes import cross_class, energies, energy_gap, nearest_neighbours
from .restoration import RestorationConfig, run_restoration
from .sampling import TestTimeSampling, buffer_init, chain_from_noise, sample_from_noise, sample_test_time
from .scores import (
    DomainClassifier,
    ReferenceClassifier,
    classifier_accuracy,
    domain_fid,
    extract,
    inception_scores,
    inception_weights_file,
    per_class_accuracy,
    train_domain_classifier,
)
from .training import TRAINING_PRESETS, ImageDataConfig, image_training, recipe_sections, train_image_energy

RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "ebm-core", "ebm-vision")  # versions written to results.json
SAMPLE_COPIES = 8  # the arrays of generated images held at once (single, ensemble, one chain, init, grads ...)
MAX_CROSS_CLASS_TARGETS = 10  # target classes in the cross-class panel (ImageNet: 10 spread over the 1000)


DATA_DIR_DEFAULT = ("default: the shared MNIST folder for MNIST presets ($EBM_MNIST_DIR, else "
                    "shared/data/mnist beside the checkout), the shared Fashion-MNIST folder for Fashion-MNIST "
                    "($EBM_FASHION_MNIST_DIR, else shared/data/fashion-mnist), else data")


def default_data_dir(dataset: str) -> Path:
    """The apps' ``--data-dir`` default for the config's ``dataset`` (:data:`DATA_DIR_DEFAULT`): ebm-run's
    ``shared_mnist_dir()`` for ``mnist``, ``shared_fashion_mnist_dir()`` for ``fashion_mnist``, when it
    exists, else ``data``."""
    shared = shared_idx_dir(dataset) if dataset in ("mnist", "fashion_mnist") else None
    return shared if shared is not None and shared.is_dir() else Path("data")


@dataclass(frozen=True)
class ImageGenerateEvaluation:
    """What the experiment measures after training: ``num_samples`` generated images by test-time
    sampling (``test_time``), restoration (``restoration``) of ``restoration_images`` held-out images,
    a domain classifier trained for ``classifier_steps`` steps on the first ``classifier_images``
    training images (None: as many as the domain FID's reference images, at least 5,000; a CNN apart
    from the EBM: it scores the class of conditional samples and gives the domain FID's features),
    for a conditional model with ``reference_classifier_steps`` > 0 also an independent
    :class:`ReferenceClassifier` on ``reference_classifier_images`` training images at learning rate
    ``reference_classifier_lr`` (the judge of conditional samples), energy histograms of
    ``histogram_images`` images, nearest neighbours of ``neighbour_samples`` samples, cross-class
    conversion of ``cross_class_sources`` images and a chain strip of ``strip_frames`` frames.
    ``split``: the held-out images all of this is measured on, ``test`` (the reported figures) or
    ``validation`` (held-out training images, where settings are chosen; see :func:`load_splits`).
    ``single_model``: the weights of the single model everything but the ensemble's samples comes
    from, ``last`` (the last training step's) or ``average`` (the mean of the weights of the kept
    ensemble snapshots, ``ebm_core.weight_average``; the last weights' samples are then scored too)."""

    test_time: TestTimeSampling = field(default_factory=TestTimeSampling)
    restoration: RestorationConfig = field(default_factory=RestorationConfig)
    num_samples: int = 500
    restoration_images: int = 200
    classifier_steps: int = 400
    classifier_images: int | None = None
    reference_classifier_steps: int = 0
    reference_classifier_images: int = 60_000
    reference_classifier_lr: float = 3e-3
    histogram_images: int = 1000
    neighbour_samples: int = 10
    cross_class_sources: int = 5
    strip_frames: int = 10
    split: str = "test"
    single_model: str = "last"

    def __post_init__(self) -> None:
        if self.split not in ("test", "validation"):
            raise ValueError(f"evaluation.split must be 'test' or 'validation', got {self.split!r}")
        if self.single_model not in ("last", "average"):
            raise ValueError(f"evaluation.single_model must be 'last' or 'average', got {self.single_model!r}")
        check_positive(self.reference_classifier_lr, "evaluation.reference_classifier_lr")


@dataclass(frozen=True)
class ImageGenerateConfig:
    """One run of the experiment: the image EBM's data, model, sampler and training (an
    :class:`ImageTrainingConfig`'s sections, see :func:`image_training`) and its evaluation."""

    data: ImageDataConfig = field(default_factory=lambda: TRAINING_PRESETS["mnist"].data)
    model: ImageEnergyConfig = field(default_factory=lambda: TRAINING_PRESETS["mnist"].model)
    sampler: LangevinSampler = field(default_factory=lambda: TRAINING_PRESETS["mnist"].sampler)
    training: TrainerConfig = field(default_factory=lambda: TRAINING_PRESETS["mnist"].training)
    evaluation: ImageGenerateEvaluation = field(default_factory=ImageGenerateEvaluation)
    seed: int = 0


PRESETS: dict[str, ImageGenerateConfig] = {
    # The MNIST recipe trained 1,000 steps with the class term (cross-entropy over the ten class energies,
    # weight 1) and L2 coefficient 0.1; test-time chains start from the training buffer's samples of
    # their own class and run one round (chosen on validation images: README, "Conditional MNIST").
    "mnist": ImageGenerateConfig(
        **{**recipe_sections(TRAINING_PRESETS["mnist"], holdout_from_test=True),
           "training": dataclasses.replace(TRAINING_PRESETS["mnist"].training, steps=1000,
                                           objective=ObjectiveConfig(l2_coeff=0.1, class_coeff=1.0,
                                                                     classes=tuple(range(10))))},
        evaluation=ImageGenerateEvaluation(TestTimeSampling(rounds=1, flip_rounds=0), RestorationConfig(rounds=3),
                                           num_samples=1000, reference_classifier_steps=2000,
                                           single_model="average")),
    "tiny": ImageGenerateConfig(
        **recipe_sections(TRAINING_PRESETS["tiny"], train_limit=1000, holdout_from_test=True, eval_images=200),
        evaluation=ImageGenerateEvaluation(TestTimeSampling(rounds=2, flip_rounds=1), num_samples=100,
                                           restoration_images=20, classifier_steps=20, reference_classifier_steps=5,
                                           histogram_images=100, neighbour_samples=4, cross_class_sources=2,
                                           strip_frames=4, single_model="average")),
    **{name: ImageGenerateConfig(**recipe_sections(TRAINING_PRESETS[name], eval_images=10_000),
                                 evaluation=ImageGenerateEvaluation(num_samples=50_000, restoration_images=1000,
                                                                    classifier_steps=3000))
       for name in ("cifar10_uncond", "cifar10_cond", "imagenet32_cond", "imagenet128_cond")},
}
PRESETS["fashion_mnist"] = dataclasses.replace(  # the mnist preset on Fashion-MNIST's 60,000 + 10,000 images
    PRESETS["mnist"], data=dataclasses.replace(PRESETS["mnist"].data, dataset="fashion_mnist"))
PRESETS["paper"] = PRESETS["cifar10_cond"]  # the paper's main results (Table 1, Figures 5-8): conditional CIFAR-10




def _device(name: str) -> str:
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return name


def _first(ds: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[i] for i in range(min(n, len(ds)))]
    return torch.stack([it[0] for it in items]), torch.stack([torch.as_tensor(it[1]) for it in items])


def load_splits(data: ImageDataConfig, conditional: bool, data_dir: str | Path, seed: int, split: str = "test"
                ) -> tuple[Any, torch.Tensor, torch.Tensor, str]:
    """``(train_data, eval_x, eval_y, note)`` of ``data``: the training data (dequantized tensors or a
    Dataset, labels kept even for an unconditional model: the domain classifier needs them;
    ``train_image_energy`` drops them for the Trainer; ImageNet 128's Dataset yields them only when
    ``conditional``) and dequantized held-out images with labels (held out and dequantized with ``seed``).

    ``split="validation"``: the held-out images are the last ``data.eval_images`` of the training split
    (``train_limit`` then counts from the first of the rest) and the test files are not read: where
    settings are chosen. ``"test"``: ``data.eval_images`` test images, for the reported figures."""
    from .data import DequantizedImages, dequantize

    if split not in ("test", "validation"):
        raise ValueError(f"the evaluation split must be 'test' or 'validation', got {split!r}")
    name = data.dataset
    if name == "imagenet128":
        if split == "validation":
            raise ValueError("imagenet128: a validation split of the training folder is not offered; "
                             "use the test split")
        train = load_dataset(name, "train", data_dir, conditional=conditional, limit=data.train_limit)
        ex, ey = _first(load_dataset(name, "test", data_dir, conditional=True), data.eval_images)
        return train, ex, ey, "ImageNet 128x128 train / val ImageFolder"
    try:
        if split == "validation":
            tx, ty = load_images(name, "train", data_dir)
            tx, ty, ex, ey = _carve_validation(tx, ty, data, f"{name} train split")
            note = (f"{name} train split: {tx.shape[0]} training images, its last {ex.shape[0]} held out for "
                    "validation (test images not read)")
        else:
            tx, ty = load_images(name, "train", data_dir, data.train_limit)
            ex, ey = load_images(name, "test", data_dir, data.eval_images)
            note = f"{name} train split ({tx.shape[0]} images); {ex.shape[0]} test images held out"
    except FileNotFoundError:
        if not data.holdout_from_test or any(Path(data_dir).rglob("train*")):
            raise  # no fallback when some train files are there: a damaged set is named, not skipped
        x, y = load_images(name, "test", data_dir)
        if data.eval_images >= x.shape[0]:
            raise ValueError(f"the {name} train files are absent under {data_dir}, and holding out "
                             f"{data.eval_images} of its {x.shape[0]} test images would leave none to train on; "
                             "put the train files there (--data-dir)") from None
        (tx, ty), (ex, ey) = holdout_split(x, y, data.eval_images, seed=seed)
        if split == "validation":  # the held-out test images stay unread; validation comes from the rest
            tx, ty, ex, ey = _carve_validation(tx, ty, data, f"the {tx.shape[0]:,} test-split training images")
        elif data.train_limit is not None:
            if data.train_limit > tx.shape[0]:
                raise ValueError(f"{data.train_limit:,} training images asked for; without the train files "
                                 f"{tx.shape[0]:,} test-split images are left to train on") from None
            tx, ty = tx[: data.train_limit], ty[: data.train_limit]
        note = (f"{name} train files absent: trained on {tx.shape[0]} test-split images, "
                f"{ex.shape[0]} other {'of them for validation' if split == 'validation' else 'test images'} "
                "held out")
    train = DequantizedImages(tx, ty)
    g = torch.Generator().manual_seed(seed)
    return train, dequantize(ex, g), ey, note


def _carve_validation(tx: torch.Tensor, ty: torch.Tensor, data: ImageDataConfig, what: str
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(train_x, train_y, validation_x, validation_y)``: the last ``data.eval_images`` of ``tx`` held out,
    then the first ``data.train_limit`` of the rest."""
    n, rest = data.eval_images, tx.shape[0] - data.eval_images
    if rest < 1:
        raise ValueError(f"holding out {n:,} validation images of {what} ({tx.shape[0]:,}) leaves none to train on")
    limit = rest if data.train_limit is None else data.train_limit
    if limit > rest:
        raise ValueError(f"{limit:,} training images asked for; {what} hold {rest:,} beside the {n:,} "
                         "validation images")
    return tx[:limit], ty[:limit], tx[rest:], ty[rest:]


def _train_tensor(train: Any, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first ``n`` training images as one float tensor (dequantized with ``seed``) and their labels."""
    from .data import DequantizedImages, dequantize

    if isinstance(train, DequantizedImages):
        labels = None if train.labels is None else train.labels[:n]
        return dequantize(train.images[:n], torch_generator(seed, "training images")), labels
    items = [train[i] for i in range(min(n, len(train)))]
    if isinstance(items[0], (tuple, list)):
        return torch.stack([it[0] for it in items]), torch.stack([torch.as_tensor(it[1]) for it in items])
    return torch.stack(items), None




def check_checkpoint_shape(ecfg: ImageEnergyConfig, dataset: str, checkpoint: str | Path) -> None:
    """A ``ValueError`` naming both shapes when the model in ``checkpoint`` takes other images than ``dataset``."""
    want = image_shape(dataset)
    if tuple(ecfg.shape) != want:
        raise ValueError(f"--checkpoint {checkpoint} takes images {tuple(ecfg.shape)} but the preset's dataset "
                         f"{dataset} has {want}; pass the --preset the model was trained with")


def cross_class_targets(num_classes: int, limit: int = MAX_CROSS_CLASS_TARGETS) -> torch.Tensor:
    """The target classes of the cross-class panel: all of them up to ``limit``, else ``limit`` evenly spread."""
    if num_classes <= limit:
        return torch.arange(num_classes)
    return torch.linspace(0, num_classes - 1, limit).round().long()


def run_image_generate(
    config: ImageGenerateConfig, out: str | Path, data_dir: str | Path = "data", checkpoint: str | Path | None = None,
    resume: bool = False, inception_weights: str | Path | None = None, quiet: bool = False,
) -> dict[str, Any]:
    """Train (or load ``checkpoint``), evaluate, and write ``out/results.json`` and the PNGs."""
    t0 = time.perf_counter()
    # every input is checked before the run folder is made
    if inception_weights is not None:
        inception_weights_file(inception_weights)  # a wrong path is refused now, not after training
    ev, tc = config.evaluation, image_training(config)
    check_memory(f"{ev.num_samples:,} generated images of {tuple(tc.model.shape)}",
                 SAMPLE_COPIES * ev.num_samples * math.prod(tc.model.shape) * 4)
    device = _device(tc.training.device)
    tc = dataclasses.replace(tc, training=dataclasses.replace(tc.training, device=device, seed=config.seed,
                                                              quiet=quiet, label=tc.training.label or "energy"))
    if checkpoint is not None:  # read and built once; a model for other images fails here, before the data
        payload = read_model_file(checkpoint)
        check_checkpoint_shape(payload_config(payload), tc.data.dataset, checkpoint)
        last, ecfg = energy_from_payload(payload, device)
        ensemble, _ = energy_from_payload(payload, device, ensemble=True)
        snapshots = len(payload["snapshots"])
    train, eval_x, eval_y, note = load_splits(config.data, config.model.conditional, data_dir, config.seed,
                                              ev.split)
    if checkpoint is None and tc.training.batch_size > len(train):
        raise ValueError(f"batch size {tc.training.batch_size:,} exceeds the {len(train):,} training images")
    k_model = (ecfg if checkpoint is not None else tc.model).num_classes
    labels = [t for t in (getattr(train, "labels", None), eval_y) if isinstance(t, torch.Tensor) and t.numel()]
    top = max(int(t.max()) for t in labels) if labels else -1
    if k_model and top >= k_model:  # a class-conditional model must have a class for every label of the data
        where = f"--checkpoint {checkpoint}" if checkpoint is not None else "model.num_classes"
        raise ValueError(f"the data's labels run to {top} ({top + 1} classes) but the model has {k_model} classes "
                         f"({where})")
    out = Path(out)
    start_run_folder(out, "image_generate", resume, settings={  # what a --resume must keep
        "training": dataclasses.asdict(image_training(config)), "checkpoint": checkpoint,
        "classifier_steps": ev.classifier_steps, "seed": config.seed, "eval_split": ev.split},
        outputs=("samples.npz", "results.json"))
    results: dict[str, Any] = {"data": note, "eval_split": ev.split, "seed": config.seed,
                               "versions": package_versions(*RECORDED_PACKAGES),
                               "config": recorded_config(config)}

    # ---------------------------------------------------------------- train or load
    t_train = time.perf_counter()
    buffer_images = buffer_labels = None
    if checkpoint is not None:
        results["checkpoint"] = str(checkpoint)
    else:
        last, trainer = train_image_energy(tc, train, out, resume=resume)
        if trainer.rank != 0:
            return {}
        ecfg = tc.model
        ensemble = trainer.ensemble_energy().eval()
        snapshots = len(trainer.snapshots)
        results["training"] = {"steps": trainer.step, "recoveries": trainer.recoveries,
                               "last": trainer.history[-1] if trainer.history else None}
        buffer_images = trainer.buffer.latest(trainer.buffer.size).float().cpu()
        if trainer.buffer.labels is not None and config.model.conditional:  # those images' labels, oldest first
            buffer_labels = trainer.buffer.latest_labels(trainer.buffer.size).cpu()
    results["train_seconds"] = time.perf_counter() - t_train
    last.eval()
    averaged = ev.single_model == "average" and snapshots > 0
    if averaged:  # the same snapshots as the ensemble's, one model: checkpoint or trainer alike
        energy = (energy_from_payload(payload, device, average=True)[0] if checkpoint is not None
                  else trainer.averaged_energy())
    else:
        energy = last
    results["single_model"] = (f"the mean of the weights of the last {snapshots} snapshots" if averaged else
                               "the last weights" + (" (no snapshots to average)" if ev.single_model == "average"
                                                     else ""))
    model_name = str(checkpoint) if checkpoint is not None else "the trained model"
    tc = dataclasses.replace(tc, sampler=dataclasses.replace(tc.sampler, check_finite=True))  # no NaN image scored
    shape, k = ecfg.shape, ecfg.num_classes

    # ---------------------------------------------------------------- domain classifier
    seed_everything(config.seed)
    t_eval = time.perf_counter()
    n_ref = max(min(ev.num_samples, config.data.eval_images), ev.histogram_images, 5000)
    ref_x, ref_y = _train_tensor(train, n_ref, config.seed)  # training images: classifier, baselines, neighbours
    clf = judge = None
    if ref_y is not None:
        n_cls = max(k, int(ref_y.max()) + 1)
        base = {"data": note, "in_channels": shape[0], "num_classes": n_cls, "seed": config.seed,
                "eval_images": config.data.eval_images, "train_limit": config.data.train_limit}

        def classifier(reference: bool, steps: int, images: int, path: Path,
                       lr: float = 1e-3) -> tuple[nn.Module, dict[str, Any]]:
            """Load (on --resume, made with these settings) or train and save one classifier of the
            training images; its settings with its accuracy on the held-out images."""
            settings = {**base, "kind": "reference classifier" if reference else "domain classifier",
                        "images": images, "steps": steps, "lr": lr}
            model = (ReferenceClassifier if reference else DomainClassifier)(shape[0], n_cls)
            if resume and load_if_same_settings(model, settings, path, f"{settings['kind']} weights"):
                model.eval()
            else:
                x, y = (ref_x[:images], ref_y[:images]) if images <= ref_x.shape[0] else \
                    _train_tensor(train, images, config.seed)
                model = train_domain_classifier(x, y, steps, lr=lr, num_classes=n_cls, seed=config.seed,
                                                quiet=quiet, reference=reference)
                save_with_settings(model, settings, path)
            return model, {**settings, "held_out_accuracy": classifier_accuracy(model, eval_x, eval_y)}

        clf, clf_info = classifier(False, ev.classifier_steps, min(ev.classifier_images or n_ref, len(train)),
                                   out / "classifier.pt")
        results[f"classifier_{ev.split}_accuracy"] = clf_info["held_out_accuracy"]
        if k and ev.reference_classifier_steps:  # the independent judge of conditional samples
            judge, judge_info = classifier(True, ev.reference_classifier_steps,
                                           min(ev.reference_classifier_images, len(train)),
                                           out / "reference_classifier.pt", ev.reference_classifier_lr)
            results[f"reference_classifier_{ev.split}_accuracy"] = judge_info["held_out_accuracy"]
    seed_everything(config.seed, "generation")  # the same stream whether the classifier was trained or loaded

    def to_cpu(fn):
        return lambda x: fn(x.cpu())

    # ---------------------------------------------------------------- generation
    n = ev.num_samples
    y_gen = (torch.arange(n) % k).to(device) if k else None
    init = buffer_init(buffer_images, buffer_labels, y_gen, n) if buffer_images is not None else None
    results["test_time_init"] = ("uniform noise" if init is None else "the training replay buffer's newest samples "
                                 "of each target class" if buffer_labels is not None else
                                 "the training replay buffer's newest samples")
    with finite_stage(f"{model_name}, test-time sampling"):
        single = sample_test_time(energy, n, shape, tc.sampler, ev.test_time, y_gen, k, device, quiet, init).cpu()
        ens = sample_test_time(ensemble, n, shape, tc.sampler, ev.test_time, y_gen, k, device, quiet, init).cpu()
        one_chain = sample_from_noise(energy, n, shape, tc.sampler, y_gen, device).cpu()
        compared = {"test_time_sampling_last_weights": sample_test_time(
            last, n, shape, tc.sampler, ev.test_time, y_gen, k, device, quiet, init).cpu()} if averaged else {}
    if k:  # one row of (up to) 10 samples per class
        yc = y_gen.cpu()
        order = torch.cat([torch.nonzero(yc == c).flatten()[:10] for c in range(min(k, 10))])
    else:
        order = torch.arange(min(n, 100))
    save_samples(out / "samples.npz", single, y_gen)  # the set the FID and the class accuracy score
    results["samples"] = {"file": "samples.npz", "n": n, "per_class": n // k if k else None,
                          "what": "the single model's test-time samples (the set scored below): images uint8 "
                                  "N x C x H x W, labels int64 (-1: unconditional); np.load(path)"}
    plots.save_grid(single[order], out / "samples.png")
    plots.save_grid(ens[order], out / "samples_ensemble.png")
    plots.save_grid(one_chain[order], out / "samples_one_chain.png")
    if buffer_images is not None:
        plots.save_grid(buffer_images[-100:], out / "replay_buffer.png")
    with finite_stage(f"{model_name}, chain strip"):
        strip = chain_from_noise(energy, min(k or 8, 10), shape, tc.sampler,
                                 tc.sampler.steps * ev.test_time.rounds, ev.strip_frames,
                                 torch.arange(min(k or 8, 10)).to(device) if k else None, device)
    plots.save_chain_strip(strip.cpu(), out / "chain_strip.png")

    # ---------------------------------------------------------------- scores
    scores: dict[str, Any] = {}
    if clf is not None:
        feats = to_cpu(clf.features)
        noise = torch.rand(n, *shape)
        m = min(n, eval_x.shape[0])
        scores["domain_fid"] = {
            "note": "Frechet distance on the penultimate features of a small classifier trained on the "
                    "training images; NOT comparable to Inception FID",
            "reference": f"{eval_x.shape[0]} held-out real images",
            "real_train_images": domain_fid(eval_x, ref_x[:m], feats),
            "uniform_noise": domain_fid(eval_x, noise, feats),
            "one_chain_from_noise": domain_fid(eval_x, one_chain, feats),
            "test_time_sampling": domain_fid(eval_x, single, feats),
            "test_time_sampling_ensemble": domain_fid(eval_x, ens, feats),
            **{name: domain_fid(eval_x, images, feats) for name, images in compared.items()},
        }
        if buffer_images is not None:
            scores["domain_fid"]["training_replay_buffer"] = domain_fid(eval_x, buffer_images[-n:], feats)
        if k:
            yc = y_gen.cpu()
            def class_scores(model: nn.Module, info: dict[str, Any], name: str) -> dict[str, Any]:
                return {
                    "classifier": f"{name} (a CNN apart from the EBM, no shared weights) trained {info['steps']} "
                                  f"steps on {info['images']:,} training images; {ev.split} accuracy "
                                  f"{info['held_out_accuracy']:.4f}",
                    f"classifier_{ev.split}_accuracy": info["held_out_accuracy"],
                    "test_time_sampling": classifier_accuracy(model, single, yc),
                    "test_time_sampling_per_class": per_class_accuracy(model, single, yc),
                    "test_time_sampling_ensemble": classifier_accuracy(model, ens, yc),
                    "one_chain_from_noise": classifier_accuracy(model, one_chain, yc),
                    **{name: classifier_accuracy(model, images, yc) for name, images in compared.items()},
                }

            scores["conditional_accuracy"] = {
                "note": "share of samples the classifier assigns to the class they were generated for",
                **class_scores(clf, clf_info, "DomainClassifier")}
            if judge is not None:
                scores["conditional_accuracy"]["reference_classifier"] = class_scores(
                    judge, judge_info, "ReferenceClassifier")
    else:
        scores["domain_fid"] = "skipped: the training data carry no labels for the domain classifier"
    scores["inception"] = inception_scores(  # Table 4 reports both the single model and the ensemble
        eval_x, {"test_time_sampling": single, "test_time_sampling_ensemble": ens}, inception_weights)
    results["scores"] = scores

    # ---------------------------------------------------------------- restoration (Figure 5)
    r = ev.restoration_images
    rx, ry = eval_x[:r].to(device), (eval_y[:r].to(device) if k else None)
    classify = (lambda x: extract(clf, x.cpu())) if clf is not None else None
    with finite_stage(f"{model_name}, restoration"):
        metrics, images = run_restoration(energy, rx, ry, tc.sampler, ev.restoration, classify, config.seed)
    results["restoration"] = metrics
    show = slice(0, 10)
    rows = [rx[show]]
    for task in ("salt_and_pepper", "inpainting", "ground_truth"):
        corrupted, restored = images[task]
        rows += [corrupted[show], restored[show]] if task != "ground_truth" else [restored[show]]
    plots.save_rows([row.cpu() for row in rows], out / "restoration.png")

    # ---------------------------------------------------------------- cross-class (Figures 6, 19)
    if k:
        src = eval_x[: ev.cross_class_sources].to(device)
        classes = cross_class_targets(k)
        with finite_stage(f"{model_name}, cross-class sampling"):
            panel = cross_class(energy, src, k, tc.sampler, rounds=ev.restoration.rounds, targets=classes).cpu()
        plots.save_cross_class(src.cpu(), panel, out / "cross_class.png")
        results["cross_class_targets"] = classes.tolist()
        if clf is not None:
            targets = classes.repeat(src.shape[0])
            results["cross_class_target_accuracy"] = classifier_accuracy(clf, panel.flatten(0, 1), targets)

    # ---------------------------------------------------------------- energies, neighbours
    h = ev.histogram_images
    e_train = energies(energy, ref_x[:h].to(device), None if ref_y is None or not k else ref_y[:h].to(device))
    e_test = energies(energy, eval_x[:h].to(device), eval_y[:h].to(device) if k else None)
    plots.save_energy_histogram(e_train, e_test, out / "energy_histogram.png")
    results["energy_train_vs_test"] = energy_gap(e_train, e_test)
    s = ev.neighbour_samples
    pick = order[:: max(len(order) // s, 1)][:s]  # spread over the classes
    d, idx = nearest_neighbours(single[pick], ref_x)
    d_real, _ = nearest_neighbours(eval_x[:s], ref_x)
    plots.save_neighbours(single[pick], ref_x[idx], out / "nearest_neighbours.png")
    results["nearest_neighbour_l2"] = {"samples_mean": float(d[:, 0].mean()),
                                       "held_out_real_mean": float(d_real[:, 0].mean()),
                                       "searched_train_images": ref_x.shape[0]}
    results["eval_seconds"] = time.perf_counter() - t_eval
    results["wall_seconds"] = time.perf_counter() - t0
    results["figures"] = sorted(p.name for p in out.glob("*.png"))
    write_json_atomic(out / "results.json", results)
    return results


def summary(results: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [results.get("data", "")]
    fid = results.get("scores", {}).get("domain_fid")
    if isinstance(fid, dict):
        lines.append("domain FID (lower is better): " + ", ".join(
            f"{k} {v:.2f}" for k, v in fid.items() if isinstance(v, float)))
    acc = results.get("scores", {}).get("conditional_accuracy")
    if acc:
        lines.append(f"samples classified as their label: {acc['test_time_sampling']:.1%}")
    for name, sc in results.get("scores", {}).get("inception", {}).items():
        lines.append(f"{name}: Inception score {sc['inception_score']}, FID {sc['fid']}")
    for task, m in results.get("restoration", {}).items():
        extra = f", class changed {m['class_changed']:.1%}" if "class_changed" in m else ""
        lines.append(f"{task}: MSE {m['mse_before']:.4f} -> {m['mse_after']:.4f}, "
                     f"PSNR {m['psnr_before']:.1f} -> {m['psnr_after']:.1f} dB{extra}")
    return "\n".join(lines)
