"""The section-5 experiment end to end: data, the EBMs and three baselines, rollouts, Frechet
distance with paired bootstrap intervals, multimodality against branched true futures, figures."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from ebm_core import seed_everything
from ebm_core.checks import finite_stage
from ebm_core.distributed import setup_distributed, together
from ebm_run import check_memory, package_versions, recorded_config, save_figure, start_run_folder, write_json_atomic

from .dataset import TrajectoryData, TrajectorySplit, load_trajectories, make_transitions
from .env import CUBE_QUAT
from .evaluation import HORIZONS, branch_scores, frechet_scores, interval, multimodality_summary
from .generate import GenerationConfig, generate_trajectories
from .learned_dynamics import LearnedDynamics
from .learned_env import LEARNED_ENV_ID
from .models import DynamicsModelConfig
from .rollouts import ZeroEnergy, ebm_next_state, no_change, one_step_mse, rollout_states
from .scaling import TransitionScaler
from .shards import ACTION_DIM, STATE_DIM, merge_manifests, part_manifest_name, read_manifest
from .training import BASELINES, DynamicsSamplers, DynamicsTrainingConfig, train_baseline, train_ebm

# versions written to results.json
RECORDED_PACKAGES = ("torch", "numpy", "mujoco", "gymnasium", "gymnasium-robotics", "ebm-core", "ebm-robotics")

KINDS = ("uncond", "cond")
FAMILIES = ("ebm", *BASELINES)  # ebm, fc (strong), fc_paper, gaussian
MODELS = tuple(f"{family}_{kind}" for kind in KINDS for family in FAMILIES)
CONTROLS = {
    "noise_only_chain": "the EBMs' rollout chain on a zero energy (initial and Langevin noise only)",
    "stay_at_start": "every state kept at s_0",
    "training_trajectories": "as many true training trajectories as evaluation ones: the metric's noise floor",
}
PAPER_FRECHET_MEAN = {"ebm_uncond": 5.96, "fc_uncond": 33.28, "ebm_cond": 8.97, "fc_cond": 19.75}
FRAME_STEPS = (0, 20, 40, 80, 100)
LABELS = {"ebm": "EBM", "fc": "FC (step)", "fc_paper": "FC (paper)", "gaussian": "Gaussian MLP"}


@dataclass(frozen=True)
class EvaluationConfig:
    """What the models are scored on: ``split`` ("test", read once for the reported figure, or
    "validation", where every choice is made), ``bootstrap`` resamples for the 95% intervals, and the
    ``horizons`` (steps after a branch's start) of the multimodality scores; ``models``: which of
    :data:`MODELS` to train and score (all by default; e.g. only the EBMs while tuning them);
    ``render``: whether to draw the MuJoCo frames (``frames.png``)."""

    split: str = "test"
    bootstrap: int = 200
    horizons: tuple[int, ...] = HORIZONS
    models: tuple[str, ...] = MODELS
    render: bool = True

    def __post_init__(self) -> None:
        if self.split not in ("validation", "test"):
            raise ValueError(f"EvaluationConfig.split must be 'validation' or 'test', got {self.split!r}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(f"EvaluationConfig.models must be distinct names among {', '.join(MODELS)}; "
                             f"got {', '.join(self.models) or 'none'}")
        if not isinstance(self.bootstrap, int) or self.bootstrap < 2:
            raise ValueError(f"EvaluationConfig.bootstrap must be an integer >= 2, got {self.bootstrap!r}")
        if not self.horizons or min(self.horizons) < 1:
            raise ValueError(f"EvaluationConfig.horizons must be steps >= 1, got {self.horizons}")


def default_data() -> GenerationConfig:
    """The CPU default's data: 2,000 training, 500 validation and 1,000 test trajectories of 100
    steps; 64 validation and 64 test start states, each with 32 true continuations of 20 steps."""
    return GenerationConfig(num_train=2000, num_validation=500, num_test=1000, branch_starts=64,
                            branch_samples=32, branch_horizon=20, shard_size=100, workers=2)


@dataclass(frozen=True)
class HandRolloutConfig:
    """The experiment: ``data`` (generated with the run's ``seed``, whatever ``data.seed`` says),
    ``model`` (the EBM's energy and every network's MLP), ``sampler`` (the EBMs' training and rollout
    chains), ``training`` (the optimisation of all models, seeded by ``seed``), ``evaluation``.
    Paper: 200,000 trajectories of 100 steps, 90/10 split."""

    data: GenerationConfig = field(default_factory=default_data)
    model: DynamicsModelConfig = field(default_factory=DynamicsModelConfig)
    sampler: DynamicsSamplers = field(default_factory=DynamicsSamplers)
    training: DynamicsTrainingConfig = field(default_factory=DynamicsTrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        n_eval = getattr(self.data, f"num_{self.evaluation.split}")
        if n_eval < 2:
            raise ValueError(f"evaluation on the {self.evaluation.split} split needs at least 2 of its trajectories "
                             f"(data.num_{self.evaluation.split} = {n_eval})")
        if self.data.branch_starts and self.data.branch_horizon < max(self.evaluation.horizons):
            raise ValueError(f"evaluation.horizons {self.evaluation.horizons} go past the branches' "
                             f"{self.data.branch_horizon} steps")
        if self.data.branch_starts == 1:
            raise ValueError("data.branch_starts must be 0 (no multimodality scores) or at least 2")

    def data_config(self) -> GenerationConfig:
        """The data of this run: ``data`` with the run's seed."""
        return dataclasses.replace(self.data, seed=self.seed)


PRESETS: dict[str, HandRolloutConfig] = {
    "default": HandRolloutConfig(),
    "paper": HandRolloutConfig(
        data=GenerationConfig(num_train=180_000, num_validation=10_000, num_test=10_000, branch_starts=256,
                              shard_size=1000, workers=max(os.cpu_count() or 1, 1)),
        training=DynamicsTrainingConfig(steps=100_000, lr=1e-4, checkpoint_every=5000),
        evaluation=EvaluationConfig(bootstrap=1000),
    ),
    "tiny": HandRolloutConfig(
        data=GenerationConfig(num_train=20, num_validation=6, num_test=6, horizon=10, branch_starts=3,
                              branch_samples=4, branch_horizon=5, shard_size=10, workers=1),
        training=DynamicsTrainingConfig(steps=20, batch_size=32, buffer_size=256, checkpoint_every=10),
        evaluation=EvaluationConfig(bootstrap=50, horizons=(1, 5)),
    ),
}


def diff_key(baseline: str) -> str:
    """The key of ``frechet_diff_ci95`` for a baseline minus its EBM: "uncond" / "cond" for the
    strong FC (the issue's headline comparison), else the baseline's own name."""
    family, kind = baseline.rsplit("_", 1)
    return kind if family == "fc" else baseline


def check_data_dir(data_dir: Path, gen: GenerationConfig, world: int = 1) -> bool:
    """Whether ``data_dir`` holds the whole dataset of ``gen``. Raises (before any work) when it is a
    file, holds trajectories of other settings (never silently reused, never overwritten), or the
    unfinished parts of a generation over another number of machines than ``world`` (the ranks of a
    torchrun job, which finish the parts of as many)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"trajectory folder {data_dir} is a file; give a folder (--data-dir)")
    try:
        manifest = read_manifest(data_dir)
    except FileNotFoundError:
        return False
    if manifest["config"] != gen.data_fields():
        raise ValueError(
            f"{str(data_dir)!r} holds trajectories generated with {manifest['config']}, not "
            f"{gen.data_fields()}; use another --data-dir directory or the same settings"
        )
    if world > 1 and not manifest["complete"] and (data_dir / "manifest.json").exists():
        raise ValueError(f"{str(data_dir)!r} holds an unfinished generation of one process (manifest.json): "
                         "finish it with one process (the same command without torchrun), or use another --data-dir")
    if not manifest["complete"] and not (data_dir / "manifest.json").exists() \
            and not (world > 1 and (data_dir / part_manifest_name(0, world)).is_file()):  # not this job's parts
        raise ValueError(
            f"{str(data_dir)!r} holds the part manifests of a generation over several machines, not all "
            "finished: finish each machine's part (generate_trajectories(..., machine_index=k, num_machines=n))"
        )
    return bool(manifest["complete"])  # complete data are used whatever simulator versions made them


def resume_settings(config: HandRolloutConfig) -> dict[str, Any]:
    """What a ``--resume`` must keep: the data, the networks, the training chains and the training
    (the evaluation and the rollout samplers, used only when scoring, may change)."""
    sampler = {k: v for k, v in dataclasses.asdict(config.sampler).items() if k in ("train", "train_init_std")}
    return {"data": dataclasses.asdict(config.data_config()), "model": dataclasses.asdict(config.model),
            "sampler": sampler, "training": dataclasses.asdict(config.training), "seed": config.seed}


TRAJECTORY_COPIES = 3  # the loaded trajectories, their transitions (s, a, s') and the scaled batches


def check_run_inputs(config: HandRolloutConfig, data_dir: Path, world: int = 1) -> None:
    """What is checked before the run folder is made: the data folder (:func:`check_data_dir`), that
    the trajectories fit in memory, and a worker count the machine can run (at most 4 per core)."""
    gen = config.data_config()
    check_data_dir(data_dir, gen, world)  # refuses data of other settings
    transitions = gen.num_train * gen.horizon
    if config.training.batch_size > transitions:
        raise ValueError(f"batch size {config.training.batch_size:,} exceeds the {transitions:,} training transitions")
    cores = os.cpu_count() or 1
    if gen.workers > 4 * cores:
        raise ValueError(f"{gen.workers} generation workers on a machine with {cores} cores; at most {4 * cores}")
    dims = STATE_DIM + ACTION_DIM
    check_memory(f"{gen.num_trajectories:,} trajectories of {gen.horizon} steps",
                 TRAJECTORY_COPIES * gen.num_trajectories * (gen.horizon + 1) * dims * 4)


def prepare_data(config: HandRolloutConfig, data_dir: Path, quiet: bool, rank: int = 0, world: int = 1
                 ) -> TrajectoryData:
    """Generate (or finish generating: shards are resumable) and load the trajectories. The ``world``
    ranks of a torchrun job each generate their share of the shards (rank k: shards k, k + world, ...;
    ``data_dir`` on a file system they all see), then rank 0 merges their manifests and every rank loads
    the whole dataset; a shard's trajectories depend on its index only, so the data are the same."""
    gen = config.data_config()
    device = torch.device(config.training.device)
    complete = check_data_dir(data_dir, gen, world)
    if world > 1:
        dist.barrier()  # every rank has looked before any writes
    if not complete:
        together(lambda: generate_trajectories(gen, data_dir, machine_index=rank, num_machines=world,
                                               quiet=quiet or rank != 0), world, device)
        if world > 1:  # every rank's shards written (or every rank stops)
            together(lambda: merge_manifests(data_dir) if rank == 0 else None, world, device)
    return load_trajectories(data_dir)



def plot_fd_curve(per_step: dict[str, list[float]], path: Path, controls: dict[str, list[float]]) -> None:
    """Figure 13 analogue: Frechet distance over rollout steps, unconditional and conditional, every
    model, with the controls as thin grey lines."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind in zip(axes, KINDS):
        for family, style in zip(FAMILIES, ("-", "--", ":", "-.")):
            if f"{family}_{kind}" not in per_step:
                continue
            values = per_step[f"{family}_{kind}"]
            ax.plot(range(1, len(values) + 1), values, style, lw=1.8, label=LABELS[family])
        for (cname, values), style in zip(controls.items(), (":", "-.", "-")):
            ax.plot(range(1, len(values) + 1), values, style, color="grey", lw=1, label=cname.replace("_", " "))
        ax.set_xlabel("rollout step")
        ax.set_ylabel("Frechet distance")
        ax.set_yscale("log")
        ax.set_title(("Unconditional" if kind == "uncond" else "Action-conditional") + " hand dynamics")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def rotation_from(q0: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Rotation vectors (degrees, world frame) of the cube's turn from quaternion q0 (w, x, y, z) to
    each q (..., 4): the axis times the angle of q q0^-1."""
    w0, v0 = q0[..., :1], -q0[..., 1:]  # q0^-1 of a unit quaternion
    w, v = q[..., :1], q[..., 1:]
    rel_w = w * w0 - np.sum(v * v0, axis=-1, keepdims=True)
    rel_v = w * v0 + w0 * v + np.cross(v, v0)
    sign = np.where(rel_w < 0, -1.0, 1.0)  # the shorter of the two equal rotations
    rel_w, rel_v = rel_w * sign, rel_v * sign
    norm = np.linalg.norm(rel_v, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(norm, rel_w)
    return np.degrees(angle * rel_v / np.maximum(norm, 1e-12))


def plot_multimodality(true_fan: np.ndarray, fans: dict[str, np.ndarray], path: Path) -> None:
    """For one start state: the cube's rotation (two components of its rotation vector, degrees)
    along each true continuation and each model's sampled futures (unconditional models)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = {"true continuations": true_fan, **fans}
    fig, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels), 3.1), sharex=True, sharey=True)
    for i, (ax, (name, fan)) in enumerate(zip(axes, panels.items())):
        rot = rotation_from(fan[:, :1, CUBE_QUAT], fan[:, :, CUBE_QUAT])  # (K, H+1, 3)
        for path_ in rot:
            ax.plot(path_[:, 0], path_[:, 1], lw=0.8, alpha=0.6, color="black" if i == 0 else f"C{i - 1}")
            ax.plot(path_[-1, 0], path_[-1, 1], ".", ms=4, color="C3")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("rotation about x (deg)")
    axes[0].set_ylabel("rotation about y (deg)")
    fig.suptitle(f"Cube orientation over {true_fan.shape[1] - 1} steps from one start state "
                 f"({true_fan.shape[0]} futures each; dots: the end)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def render_frames(rows: dict[str, np.ndarray], horizon: int, path: Path) -> str:
    """Figure 12 analogue. Returns a one-line note about what happened (never raises for GL)."""
    from .render import RenderingUnavailableError, save_state_grid

    steps = sorted({round(t * horizon / 100) for t in FRAME_STEPS})  # t = 0, 20, 40, 80, 100 at T = 100
    try:
        save_state_grid(path, rows, steps)
    except RenderingUnavailableError as err:
        return f"frames skipped: no offscreen GL backend ({err})"
    return f"frames written to {path.name} at t = {steps}"


def _train_models(config: HandRolloutConfig, transitions, scaler, out: Path, resume: bool, quiet: bool,
                  save: bool = True):
    """Train each model of ``config.evaluation.models`` (checkpoints in ``out/checkpoints/<name>``) and,
    with ``save`` (rank 0 of a torchrun job, which trains every model on all its ranks together), save
    it, with its scaler and rollout sampler, as ``out/models/<name>.pt`` (:class:`LearnedDynamics`);
    returns (name, next-state function, history) in the order of the names. A whitened EBM is trained
    after the Gaussian model of its kind, its base (trained here even when not asked for)."""
    names, tcfg, model, samplers = config.evaluation.models, config.training, config.model, config.sampler
    common = {"model": model, "seed": config.seed}
    checkpoints = out / "checkpoints"
    trained: dict[str, tuple] = {}
    bases: dict[str, torch.nn.Module] = {}
    whitened = model.energy == "whitened"
    order = sorted(names, key=lambda n: n.startswith("ebm_"))  # baselines first: the EBMs may need a base
    for name in order:
        family, kind = name.rsplit("_", 1)
        conditional = kind == "cond"
        if family == "ebm":
            base = None
            if whitened:
                if f"gaussian_{kind}" not in bases:
                    bases[f"gaussian_{kind}"], _ = train_baseline("gaussian", transitions, scaler, conditional, tcfg,
                                                                  checkpoints / f"gaussian_{kind}", resume, quiet,
                                                                  **common)
                base = bases[f"gaussian_{kind}"]
            energy, history = train_ebm(transitions, scaler, conditional, tcfg, checkpoints / name, resume, quiet,
                                        base=base, samplers=samplers, **common)
            dynamics = LearnedDynamics.ebm(energy, scaler, samplers.for_rollout(conditional), samplers.rollout_init_std,
                                           model)
        else:
            network, history = train_baseline(family, transitions, scaler, conditional, tcfg, checkpoints / name,
                                              resume, quiet, **common)
            bases[name] = network
            dynamics = LearnedDynamics.baseline(family, network, scaler, model)
        if save:
            dynamics.save(out / "models" / f"{name}.pt", extra={"model": name, "seed": config.seed})
        trained[name] = (dynamics.next_state, history)
    return [(name, *trained[name]) for name in names]


def _branch_rollout(next_state, split: TrajectorySplit, conditional: bool) -> torch.Tensor:
    """(m, K, H+1, D) futures from each branch start state: K samples (unconditional models), or the
    K true continuations' actions replayed (conditional models)."""
    b = split.branches
    m, k, h = b.actions.shape[:3]
    s0 = torch.from_numpy(b.states[:, :, 0].reshape(m * k, -1))
    actions = torch.from_numpy(b.actions.reshape(m * k, h, -1)) if conditional else None
    return rollout_states(next_state, s0, h, actions).reshape(m, k, h + 1, -1)


def run_hand_rollout(
    config: HandRolloutConfig, out_dir: str | Path, data_dir: str | Path | None = None,
    resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """Run the whole experiment; write ``results.json``, ``fd_curve.png``, ``multimodality.png``,
    frames and checkpoints to ``out_dir``. Evaluates on ``config.evaluation.split``. Under torchrun the
    ranks split the data generation (:func:`prepare_data`) and train every model together
    (DistributedDataParallel); rank 0 then scores and writes, the others return ``{}``."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    data_path = Path(data_dir) if data_dir is not None else out / "data"
    rank, world = setup_distributed(torch.device(config.training.device))
    check_run_inputs(config, data_path, world)
    # rank 0 cleans (--overwrite) and records the folder; every rank waits for it, or all stop
    together(lambda: start_run_folder(out, "hand_rollout", resume, settings=resume_settings(config)), world,
             torch.device(config.training.device))
    seed_everything(config.seed)
    data = prepare_data(config, data_path, quiet, rank, world)
    scaler = TransitionScaler.fit(data.train.states)
    transitions = make_transitions(data.train.states, data.train.actions)
    ev = data.split(config.evaluation.split)
    s_eval, a_eval = torch.from_numpy(ev.states), torch.from_numpy(ev.actions)
    horizon = data.horizon
    has_branches = len(ev.branches) >= 2

    rollouts: dict[str, torch.Tensor] = {}
    branch_rollouts: dict[str, torch.Tensor] = {}
    one_step: dict[str, float] = {}
    histories: dict[str, list[dict[str, float]]] = {}
    ecfg = config.evaluation
    trained = _train_models(config, transitions, scaler, out, resume, quiet, save=rank == 0)
    if rank != 0:
        return {}
    for name, next_state, histories[name] in trained:
        conditional = name.endswith("_cond")
        actions = a_eval if conditional else None
        with torch.no_grad():
            torch.manual_seed(config.seed)
            with finite_stage(f"{name}, one-step predictions"):
                one_step[name] = one_step_mse(next_state, scaler, s_eval, actions)
            torch.manual_seed(config.seed)
            with finite_stage(f"{name}, rollouts"):
                rollouts[name] = rollout_states(next_state, s_eval[:, 0], horizon, actions)
            if has_branches:
                torch.manual_seed(config.seed)
                with finite_stage(f"{name}, branch futures"):
                    branch_rollouts[name] = _branch_rollout(next_state, ev, conditional)

    torch.manual_seed(config.seed)
    noise_only = ebm_next_state(ZeroEnergy(s_eval.shape[-1]), scaler, config.sampler.rollout,
                                config.sampler.rollout_init_std)
    controls = {
        "noise_only_chain": rollout_states(noise_only, s_eval[:, 0], horizon),
        "stay_at_start": s_eval[:, :1].expand_as(s_eval),
    }
    if len(data.train) >= len(ev):
        controls["training_trajectories"] = torch.from_numpy(data.train.states[: len(ev)])
    truth = scaler.state(s_eval)
    scores = frechet_scores({k: scaler.state(v) for k, v in rollouts.items()}, truth, ecfg.bootstrap, config.seed)
    control_scores = frechet_scores({k: scaler.state(v) for k, v in controls.items()}, truth)
    pairs = [(f"{f}_{k}", f"ebm_{k}") for k in KINDS for f in BASELINES
             if {f"{f}_{k}", f"ebm_{k}"} <= set(ecfg.models)]
    diffs = {diff_key(b): interval(scores.replicates[b] - scores.replicates[e], scores.mean[b] - scores.mean[e])
             for b, e in pairs}
    plot_fd_curve(scores.per_step, out / "fd_curve.png", control_scores.per_step)

    multimodality, multimodality_diffs = {}, {}
    if has_branches:
        true_fans = scaler.state(torch.from_numpy(ev.branches.states))
        bscores = {k: branch_scores(scaler.state(v), true_fans, ecfg.horizons) for k, v in branch_rollouts.items()}
        multimodality, reps = multimodality_summary(bscores, ecfg.bootstrap, config.seed)
        multimodality_diffs = {
            b: {h: interval(reps[b][h] - reps[e][h], multimodality[b]["distance"][h] - multimodality[e]["distance"][h])
                for h in reps[e]} for b, e in pairs}
        fans = {LABELS[f]: branch_rollouts[f"{f}_uncond"][0].numpy() for f in FAMILIES
                if f"{f}_uncond" in branch_rollouts}
        if fans:
            plot_multimodality(ev.branches.states[0], fans, out / "multimodality.png")

    frames_note = "frames skipped (render disabled)"
    if ecfg.render:
        rows = {"ground truth": ev.states[0],
                **{LABELS[f]: rollouts[f"{f}_uncond"][0].numpy() for f in ("fc", "ebm") if f"{f}_uncond" in rollouts}}
        frames_note = render_frames(rows, horizon, out / "frames.png")
    results = {
        "eval_split": ecfg.split,
        "frechet_mean": scores.mean,
        "frechet_ci95": {k: interval(v, scores.mean[k]) for k, v in scores.replicates.items()},
        "frechet_diff_ci95": diffs,
        "frechet_diff_meaning": "baseline minus the EBM of the same kind ('uncond' / 'cond': the strong FC); "
                                "above 0: the EBM is nearer the true states",
        "frechet_per_step": scores.per_step,
        "paper_frechet_mean": PAPER_FRECHET_MEAN,
        "frechet_mean_controls": control_scores.mean,
        "one_step_mse": one_step,
        "one_step_mse_no_change": one_step_mse(no_change, scaler, s_eval),
        "multimodality": multimodality,
        "multimodality_diff_ci95": multimodality_diffs,
        "multimodality_meaning": "energy distance between each start state's true continuations and the model's "
                                 "futures from it, averaged over start states, at h steps; spread_ratio: the "
                                 "model's mean pairwise distance over the true one (1: as spread out as the truth)",
        "controls": CONTROLS,
        "models": {name: f"models/{name}.pt" for name in ecfg.models},
        "models_meaning": "each trained model with its scaler and rollout sampler: LearnedDynamics.load(PATH), "
                          f"or gym.make('{LEARNED_ENV_ID}', model=PATH) to step it as HandManipulateBlock-v1",
        "frechet_space": "per-dimension standardized 61-D states (training mean/std)",
        "bootstrap": {"resamples": ecfg.bootstrap, "items": "evaluation trajectories (Frechet), start states "
                      "(multimodality); one resample shared by all models; 95% interval: the figure plus or "
                      "minus 1.96 bootstrap standard deviations"},
        "config": recorded_config(config),  # whole; data.seed shown as the run's seed, which generated the data
        "n_train": len(data.train),
        "n_validation": len(data.validation),
        "n_test": len(data.test),
        "n_eval": len(ev),
        "n_branch_starts": len(ev.branches),
        "branch_samples": int(ev.branches.states.shape[1]),
        "horizon": horizon,
        "seed": config.seed,
        "wall_seconds": time.perf_counter() - t0,
        "frames": frames_note,
        "final_training_loss": {k: (h[-1]["loss"] if h else None) for k, h in histories.items()},
        "versions": package_versions(*RECORDED_PACKAGES),
    }
    write_json_atomic(out / "results.json", results)
    return results


def summary_table(results: dict[str, Any]) -> str:
    """The printed table: mean Frechet distance with its 95% interval beside the paper's, one-step
    error, the paired differences, and the multimodality scores."""
    ci = results["frechet_ci95"]
    lines = [f"evaluated on the {results['eval_split']} split: {results['n_eval']} trajectories",
             "model              mean FD [95% CI]          paper   one-step MSE",
             "-----------------  ------------------------  ------  ------------"]
    for name in results["frechet_mean"]:
        paper = PAPER_FRECHET_MEAN.get(name)
        lines.append(f"{name:<17}  {results['frechet_mean'][name]:>7.2f} [{ci[name][0]:>6.2f}, {ci[name][1]:>6.2f}]"
                     f"       {'-' if paper is None else f'{paper:.2f}':>6}  {results['one_step_mse'][name]:>12.3f}")
    for name, value in results["frechet_mean_controls"].items():
        lines.append(f"{name:<22}  {value:>7.2f}   (control)")
    lines.append("baseline minus EBM, mean FD [95% CI] (above 0: the EBM is nearer):")
    for key, (lo, hi) in results["frechet_diff_ci95"].items():
        lines.append(f"  {key:<17} [{lo:>7.2f}, {hi:>7.2f}]")
    if results["multimodality"]:
        hs = list(next(iter(results["multimodality"].values()))["distance"])
        lines.append(f"futures from {results['n_branch_starts']} start states x {results['branch_samples']}: "
                     "energy distance to the true ones [95% CI] / spread ratio")
        for name, m in results["multimodality"].items():
            cells = "  ".join(f"h{h} {m['distance'][h]:.2f} [{m['distance_ci95'][h][0]:.2f}, "
                              f"{m['distance_ci95'][h][1]:.2f}] / {m['spread_ratio'][h]:.2f}" for h in hs)
            lines.append(f"  {name:<17} {cells}")
    return "\n".join(lines)
