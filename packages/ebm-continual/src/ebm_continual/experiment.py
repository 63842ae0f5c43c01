"""Section 6 / Table 1 end to end: every method on Split MNIST over seeds, results.json, table, figure."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ebm_core import seed_everything
from ebm_core.atomic import atomic_path
from ebm_core.checkpoint import plain_settings
from ebm_run import check_memory, package_versions, save_figure, seed_interval, start_run_folder, write_json_atomic

from .baselines import AvalancheLearner, JointLearner
from .config import SplitMNISTConfig, format_tasks, method_config
from .data import MNISTSplit, split_tasks
from .ebm import ContinualEBM, ContrastiveEBM
from .protocol import ContinualLearner, Cumulative, run_protocol
from .vae import VAEClassifier

RECORDED_PACKAGES = ("torch", "numpy", "avalanche-lib", "ebm-core", "ebm-continual")  # versions written to results.json

LABELS = {
    "ebm": "EBM (ours, Langevin negatives)",
    "ebm_replay": "EBM with generative replay of its own samples (not in the paper)",
    "ebm_joint": "EBM, joint training (the EBM's upper bound)",
    "ebm_contrastive": "EBM, contrastive (Li et al. 2021)",
    "finetune": "Fine-tuning", "ewc": "EWC", "si": "SI", "lwf": "LwF", "vae": "VAE (generative classifier)",
    "vae_replay": "VAE with generative replay of its own samples (not in the paper)",
    "joint": "Joint training (upper bound)",
}
# Class-incremental Split MNIST, 2x400 MLPs: the paper's Table 1 (EWC, SI, LwF, VAE, EBM; the
# discriminative methods quoted from Hsu et al. 2018) and the no-replay contrastive EBM of Li et al. 2021.
PAPER_ACCURACY = {"ebm": 64.99, "ebm_contrastive": 53.12, "ewc": 19.80, "si": 19.67, "lwf": 24.17, "vae": 40.04}


def make_learner(method: str, config: SplitMNISTConfig, seed: int, quiet: bool = True,
                 checkpoint_dir: Path | None = None) -> ContinualLearner:
    sub = method_config(method, config)  # refuses an unknown method
    if method in ("ebm", "ebm_replay"):
        return ContinualEBM(sub, seed=seed, quiet=quiet, checkpoint_dir=checkpoint_dir)
    if method == "ebm_joint":
        return Cumulative(ContinualEBM(sub, seed=seed, quiet=quiet, checkpoint_dir=checkpoint_dir))
    if method == "ebm_contrastive":
        return ContrastiveEBM(sub, seed=seed, quiet=quiet)
    if method in ("vae", "vae_replay"):
        return VAEClassifier(sub, seed=seed, quiet=quiet)
    if method == "joint":
        return JointLearner(sub, seed=seed, quiet=quiet)
    return AvalancheLearner(method, sub, seed=seed, quiet=quiet)


def run_settings(method: str, config: SplitMNISTConfig, data: MNISTSplit) -> dict[str, Any]:
    """What decides one (method, seed) run's result, as JSON values: the method's own config
    (:func:`method_config`, without the device) and the data. Stored with each finished run;
    ``--resume`` reuses a run only when its stored settings equal the current ones."""
    cfg = {k: v for k, v in dataclasses.asdict(method_config(method, config)).items() if k != "device"}
    settings = {"method": method, "config": cfg, "data": data.description, "tasks": config.data.tasks,
                "n_train": len(data.y_train), "n_eval": len(data.y_eval)}
    return plain_settings(settings)  # tuples -> lists, as read back from a file


# About the seconds of one run of each method at the default preset on full MNIST, one thread (the Avalanche
# baselines ~20): the worker pool starts the longest first.
EBM_METHODS = ("ebm", "ebm_replay", "ebm_joint")  # checkpointed per task, each writing a model file
RELATIVE_COST = {"ebm_joint": 240, "ebm_replay": 210, "ebm": 200, "vae_replay": 115, "vae": 80, "joint": 33,
                 "ebm_contrastive": 22}


def _one_run(config: SplitMNISTConfig, data: MNISTSplit, tasks: list, out: Path, method: str, seed: int,
             resume: bool, quiet: bool) -> dict[str, Any]:
    """One (method, seed) run of the protocol; its record (accuracy, accuracy matrix, confusion, seconds,
    settings, model file) is written to ``out/runs/<method>_seed<seed>.json`` and returned."""
    settings = run_settings(method, config, data)
    seed_everything(seed)
    ckpt = out / "checkpoints" / method / f"seed{seed}" if method in EBM_METHODS else None
    if ckpt is not None:
        stored = ckpt / "settings.json"
        if ckpt.exists() and (not resume or not stored.exists() or json.loads(stored.read_text()) != settings):
            shutil.rmtree(ckpt)  # checkpoints of other settings (or a fresh run): never mixed in
        write_json_atomic(stored, settings)
    learner = make_learner(method, config, seed, quiet=quiet, checkpoint_dir=ckpt)
    res = run_protocol(learner, tasks)
    rec = {"seed": seed, "accuracy": res.final_accuracy, "matrix": res.matrix, "confusion": res.confusion,
           "seconds": res.seconds, "settings": settings}
    ebm = learner.learner if isinstance(learner, Cumulative) else learner
    if isinstance(ebm, ContinualEBM):  # the trained energy after the last task, as a model file
        model = Path("models") / f"{method}_seed{seed}.pt"
        ebm.save(out / model, extra={"method": method, "seed": seed, "accuracy": res.final_accuracy})
        rec["model"] = str(model)
    write_json_atomic(out / "runs" / f"{method}_seed{seed}.json", rec)
    return rec


_WORKER: dict[str, Any] = {}  # in a worker process: the data and its tasks, received once


def _worker_setup(data: MNISTSplit, task_classes: tuple[tuple[int, ...], ...]) -> None:
    """A worker's set-up: one thread (the workers share the cores), the data and its tasks."""
    import torch

    torch.set_num_threads(1)
    _WORKER["data"], _WORKER["tasks"] = data, split_tasks(data, task_classes)


def _one_run_in_worker(config: SplitMNISTConfig, out: Path, method: str, seed: int, resume: bool,
                       quiet: bool) -> dict[str, Any]:
    """:func:`_one_run` in a worker process, on the data its set-up received."""
    return _one_run(config, _WORKER["data"], _WORKER["tasks"], out, method, seed, resume, quiet)


def run_split_mnist(
    config: SplitMNISTConfig, data: MNISTSplit, out_dir: str | Path, resume: bool = False, quiet: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every method of ``config.evaluation`` for its ``seeds`` seeds; write ``results.json``, ``table.md`` and
    ``accuracy_over_tasks.png`` to ``out_dir``. Each finished (method, seed) run is stored under
    ``out_dir/runs`` with its settings (:func:`run_settings`) and, with ``resume``, not run again
    unless those settings changed (then it is run again, and a changed EBM's checkpoints are
    discarded); the EBM also resumes per task."""
    t0 = time.perf_counter()
    if data.eval_split != config.evaluation.split:
        raise ValueError(f"the data is evaluated on its {data.eval_split} images but evaluation.split is "
                         f"{config.evaluation.split!r}: load it with eval_split={config.evaluation.split!r}")
    tasks = split_tasks(data, config.data.tasks)  # checks the labels before the run folder is made
    if any(m.endswith("_replay") for m in config.evaluation.methods):  # each run keeps its generated samples
        n = config.training.generative_replay.per_class * 10 * data.x_train.shape[1] * 4
        check_memory(f"generative replay's {config.training.generative_replay.per_class:,} samples of each digit "
                     f"in {config.training.workers} worker(s)", n * config.training.workers)
    out = Path(out_dir)
    start_run_folder(out, "split_mnist", resume,  # the rest: per (method, seed) run, rerun when changed
                     settings={"data": data.description, "seed": config.seed})
    say = log or (lambda s: None)
    done: dict[tuple[str, int], dict[str, Any]] = {}
    todo: list[tuple[str, int]] = []
    for method in config.evaluation.methods:
        for k in range(config.evaluation.seeds):
            seed = config.seed + k
            path = out / "runs" / f"{method}_seed{seed}.json"
            if resume and path.exists():
                rec = json.loads(path.read_text())
                settings = run_settings(method, config, data)
                model_missing = method in EBM_METHODS and not (out / str(rec.get("model", ""))).is_file()
                if rec.get("settings") == settings and "confusion" in rec and not model_missing:
                    done[(method, seed)] = rec
                    continue
                why = ("settings differ from" if rec.get("settings") != settings else
                       "no confusion matrix in" if "confusion" not in rec else "no saved model beside")
                say(f"{method} seed {seed}: {why} the stored run {path}; running it again")
            todo.append((method, seed))

    def finished(method: str, seed: int, rec: dict[str, Any]) -> None:
        done[(method, seed)] = rec
        say(f"{method} seed {seed}: {100 * rec['accuracy']:.2f}% ({rec['seconds']:.0f} s)")

    workers = min(config.training.workers, len(todo))
    if workers <= 1:
        for method, seed in todo:
            finished(method, seed, _one_run(config, data, tasks, out, method, seed, resume, quiet))
    else:  # longest runs first, each in a worker process of one thread (the workers' bars share the terminal)
        from ebm_run import run_in_processes

        order = sorted(todo, key=lambda ms: RELATIVE_COST.get(ms[0], 20), reverse=True)
        say(f"{len(order)} runs in {workers} worker processes, longest first")
        run_in_processes(workers, _one_run_in_worker, [(config, out, m, s, resume, quiet) for m, s in order],
                         lambda i, rec: finished(*order[i], rec), _worker_setup, data, config.data.tasks)
    runs = {m: [done[(m, config.seed + k)] for k in range(config.evaluation.seeds)] for m in config.evaluation.methods}
    results = summarize(runs, config, data, tasks)
    results["models"] = {m: [r["model"] for r in recs if "model" in r] for m, recs in runs.items()
                         if any("model" in r for r in recs)}
    results["models_meaning"] = ("each EBM's energy after the last task, per seed: "
                                 "ebm_continual.load_continual_energy(PATH) -> (energy, num_classes)")
    results["wall_seconds"] = time.perf_counter() - t0
    write_json_atomic(out / "results.json", results)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(summary_table(results) + "\n")
    plot_accuracy_over_tasks(results, out / "accuracy_over_tasks.png")
    plot_confusion(results, out / "confusion.png")
    return results


def summarize(runs: dict[str, list[dict[str, Any]]], config: SplitMNISTConfig, data: MNISTSplit,
              tasks: list) -> dict[str, Any]:
    accuracy, per_task, over_tasks, confusion = {}, {}, {}, {}
    for method, recs in runs.items():
        acc = np.array([100 * r["accuracy"] for r in recs])
        accuracy[method] = {"mean": float(acc.mean()), "std": float(acc.std()), "per_seed": acc.tolist(),
                            "ci95": seed_interval(acc, (0.0, 100.0))}
        mats = np.array([r["matrix"] for r in recs]) * 100  # (seeds, after task i, on task j)
        per_task[method] = {"mean": mats.mean(0).tolist(), "std": mats.std(0).tolist()}
        # accuracy over the tasks seen so far after each task (equal weight per task)
        seen = [mats[:, i, : i + 1].mean(1) for i in range(mats.shape[1])]
        over_tasks[method] = [float(s.mean()) for s in seen]
        size = max(len(r["confusion"]) for r in recs)  # seeds may differ in the classes they predicted
        total = np.zeros((size, size), dtype=np.int64)
        for r in recs:
            c = np.asarray(r["confusion"], dtype=np.int64)
            total[: len(c), : len(c)] += c
        confusion[method] = total.tolist()
    return {
        "accuracy": accuracy,
        "per_task_accuracy": per_task,
        "accuracy_seen_tasks": over_tasks,
        "confusion": confusion,
        "paper_accuracy": {m: PAPER_ACCURACY[m] for m in runs if m in PAPER_ACCURACY},
        "tasks": [list(t.classes) for t in tasks],
        "eval_split": data.eval_split,
        "data": {
            "description": data.description, "n_train": len(data.y_train), "n_eval": len(data.y_eval),
            "n_validation": data.n_validation,
            "per_task_train": [len(t.y_train) for t in tasks], "per_task_eval": [len(t.y_eval) for t in tasks],
        },
        "metric": "accuracy (%) over the eval images of all 10 digits after the last task, 10-way prediction, "
                  "no task identity; std over seeds (population); ci95: Student's t interval of the mean over "
                  "seeds (None for one seed)",
        "confusion_note": "confusion[method][true][predicted]: eval images after the last task, summed over seeds",
        "config": dataclasses.asdict(config),
        "seeds": [r["seed"] for r in next(iter(runs.values()))] if runs else [],
        "versions": package_versions(*RECORDED_PACKAGES),
    }


def summary_table(results: dict[str, Any]) -> str:
    """Table-1-style markdown: measured mean (std) beside the published figure."""
    n = len(results["seeds"])
    head = f"{n} seeds, mean [95% interval]" if n > 1 else "1 seed"  # one seed has no spread to show
    split = results.get("eval_split", "test")
    lines = [f"| method | measured accuracy on {split}, {head} (%) | published (%) |", "| --- | --- | --- |"]
    for method, a in results["accuracy"].items():
        paper = results["paper_accuracy"].get(method)
        ci = a.get("ci95")
        measured = f"{a['mean']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{a['mean']:.2f}"
        lines.append(f"| {LABELS.get(method, method)} | {measured} | {'-' if paper is None else f'{paper:.2f}'} |")
    return "\n".join(lines)


def plot_confusion(results: dict[str, Any], path: Path) -> None:
    """One heat map per method: share (%) of each true digit's eval images predicted as each digit,
    after the last task, over all seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(results["confusion"])
    cols = max(1, min(len(methods), 4))
    rows = -(-len(methods) // cols) if methods else 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols + 0.8, 3.2 * rows + 0.4), dpi=110, squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(methods):]:
        ax.axis("off")
    for ax, method in zip(axes.flat, methods):
        counts = np.array(results["confusion"][method], dtype=float)
        share = 100 * counts / np.maximum(counts.sum(1, keepdims=True), 1)
        image = ax.imshow(share, vmin=0, vmax=100, cmap="viridis")
        ax.set_title(f"{method}: {results['accuracy'][method]['mean']:.1f}%", fontsize=8)  # the --methods name
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true digit", fontsize=7)
        ax.set_xticks(range(len(share)))
        ax.set_yticks(range(len(share)))
        ax.tick_params(labelsize=6)
    fig.suptitle("Split MNIST after the last task: where each digit's eval images go", fontsize=9)
    if methods:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8).set_label("% of the digit's eval images", fontsize=7)
    save_figure(fig, path, bbox_inches="tight", pad_inches=0.1)  # the square panels leave the axis labels outside


def plot_accuracy_over_tasks(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    for method, curve in results["accuracy_seen_tasks"].items():
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=LABELS.get(method, method))
    ax.set_xlabel(f"tasks learned ({format_tasks(results['tasks'])})")
    ax.set_ylabel("accuracy on the digits seen so far (%)")
    ax.set_xticks(range(1, len(results["tasks"]) + 1))
    ax.set_ylim(0, 100)
    ax.set_title("Class-incremental Split MNIST")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
