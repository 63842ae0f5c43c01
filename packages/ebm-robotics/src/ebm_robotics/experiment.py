"""The section-5 experiment end to end: data, four models, rollouts, Frechet distance, figures."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ebm_core import package_versions, save_figure, seed_everything, write_json_atomic

from .dataset import TrajectoryData, load_trajectories, make_transitions
from .generate import GenerationConfig, generate_trajectories
from .rollouts import (
    ZeroEnergy,
    ebm_step,
    fc_step,
    frechet_per_step,
    no_change_step,
    one_step_mse,
    rollout_states,
)
from .scaling import TransitionScaler
from .shards import read_manifest
from .training import DynamicsTrainingConfig, train_ebm, train_fc

# versions written to results.json
RECORDED_PACKAGES = ("torch", "numpy", "mujoco", "gymnasium", "gymnasium-robotics", "ebm-core", "ebm-robotics")

MODELS = ("ebm_uncond", "fc_uncond", "ebm_cond", "fc_cond")
CONTROLS = {
    "noise_only_chain": "the EBMs' rollout chain on a zero energy (initial and Langevin noise only)",
    "stay_at_start": "every state kept at s_0",
    "training_trajectories": "as many true training trajectories as test ones: the metric's noise floor",
}
PAPER_FRECHET_MEAN = {"ebm_uncond": 5.96, "fc_uncond": 33.28, "ebm_cond": 8.97, "fc_cond": 19.75}
FRAME_STEPS = (0, 20, 40, 80, 100)


@dataclass(frozen=True)
class HandRolloutConfig:
    """Scale of the experiment. Paper: 200,000 trajectories of 100 steps, 90/10 split."""

    num_trajectories: int = 1000
    horizon: int = 100
    policy: str = "finger_gait"
    workers: int = 2
    shard_size: int = 50
    training: DynamicsTrainingConfig = field(default_factory=DynamicsTrainingConfig)
    seed: int = 0
    render: bool = True


PRESETS: dict[str, HandRolloutConfig] = {
    "default": HandRolloutConfig(),
    "paper": HandRolloutConfig(
        num_trajectories=200_000, workers=max(os.cpu_count() or 1, 1), shard_size=1000,
        training=DynamicsTrainingConfig(steps=100_000, lr=1e-4, checkpoint_every=5000),
    ),
    "tiny": HandRolloutConfig(
        num_trajectories=20, horizon=10, workers=1, shard_size=10,
        training=DynamicsTrainingConfig(steps=20, batch_size=32, buffer_size=256, checkpoint_every=10),
    ),
}




def prepare_data(config: HandRolloutConfig, data_dir: Path, quiet: bool) -> TrajectoryData:
    """Generate (or finish generating: shards are resumable) and load the trajectories.

    A directory already holding the complete dataset of these settings (``manifest.json``, or the
    part manifests of several machines) is loaded as it is; one holding trajectories of other
    settings (another seed, size or policy) is an error, never silently reused."""
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"trajectory folder {data_dir} is a file; give a folder (--data-dir)")
    gen = GenerationConfig(
        num_trajectories=config.num_trajectories, horizon=config.horizon, seed=config.seed,
        policy=config.policy, shard_size=config.shard_size, workers=config.workers,
    )
    if not _complete(data_dir, gen):
        generate_trajectories(gen, data_dir, quiet=quiet)  # resumes; refuses data of other settings
    return load_trajectories(data_dir)


def _complete(data_dir: Path, gen: GenerationConfig) -> bool:
    """Whether ``data_dir`` holds the whole dataset of ``gen``; raises if it holds another one."""
    try:
        manifest = read_manifest(data_dir)
    except FileNotFoundError:
        return False
    if manifest["config"] != gen.data_fields():
        raise ValueError(
            f"{str(data_dir)!r} holds trajectories generated with {manifest['config']}, not "
            f"{gen.data_fields()}; use another --data-dir directory or the same settings"
        )
    if not manifest["complete"] and not (data_dir / "manifest.json").exists():  # merged from part manifests
        raise ValueError(
            f"{str(data_dir)!r} holds the part manifests of a generation over several machines, not all "
            "finished: finish each machine's part (generate_trajectories(..., machine_index=k, num_machines=n))"
        )
    return bool(manifest["complete"])  # complete data are used whatever simulator versions made them


def plot_fd_curve(
    per_step: dict[str, list[float]], path: Path, controls: dict[str, list[float]] | None = None
) -> None:
    """Figure 13 analogue: Frechet distance over rollout steps, unconditional and conditional
    (controls, if given, as thin grey lines on both panels)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
    for ax, kind in zip(axes, ("uncond", "cond")):
        for name, style in (("ebm", "-"), ("fc", "--")):
            values = per_step[f"{name}_{kind}"]
            ax.plot(range(1, len(values) + 1), values, style, label=f"{name.upper()} ({kind}itional)")
        for (cname, values), style in zip((controls or {}).items(), (":", "-.", "-")):
            ax.plot(range(1, len(values) + 1), values, style, color="grey", lw=1, label=cname.replace("_", " "))
        ax.set_xlabel("rollout step")
        ax.set_ylabel("Frechet distance")
        ax.set_title(("Unconditional" if kind == "uncond" else "Action-conditional") + " hand dynamics")
        ax.legend()
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


def run_hand_rollout(
    config: HandRolloutConfig, out_dir: str | Path, data_dir: str | Path | None = None,
    resume: bool = False, quiet: bool = False,
) -> dict[str, Any]:
    """Run the whole experiment and write ``results.json``, ``fd_curve.png``, frames, checkpoints."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    data = prepare_data(config, Path(data_dir) if data_dir is not None else out / "data", quiet)
    scaler = TransitionScaler.fit(data.states_train)
    transitions = make_transitions(data.states_train, data.actions_train)
    s_test = torch.from_numpy(data.states_test)
    a_test = torch.from_numpy(data.actions_test)
    horizon = data.horizon
    tcfg = dataclasses.replace(config.training, seed=config.seed)

    rollouts: dict[str, torch.Tensor] = {}
    one_step: dict[str, float] = {}
    histories: dict[str, list[dict[str, float]]] = {}
    for name in MODELS:
        conditional = name.endswith("_cond")
        ckpt_dir = out / "checkpoints" / name
        actions = a_test if conditional else None
        if name.startswith("ebm"):
            energy, histories[name] = train_ebm(
                transitions, scaler, conditional, tcfg, out_dir=ckpt_dir, resume=resume, quiet=quiet
            )
            step = ebm_step(energy.eval(), tcfg.rollout_sampler, tcfg.rollout_init_std)
        else:
            model, histories[name] = train_fc(
                transitions, scaler, conditional, tcfg, out_dir=ckpt_dir, resume=resume, quiet=quiet
            )
            step = fc_step(model.eval())
        # evaluation mode: spectral norm stops updating its power iteration, so evaluating the
        # one-step error first leaves the rollouts as they would be without it
        torch.manual_seed(config.seed)
        one_step[name] = one_step_mse(step, scaler, s_test, actions)
        torch.manual_seed(config.seed)
        rollouts[name] = rollout_states(step, scaler, s_test[:, 0], horizon, actions)

    torch.manual_seed(config.seed)
    zero = ZeroEnergy(s_test.shape[-1])
    controls = {
        "noise_only_chain": rollout_states(
            ebm_step(zero, tcfg.rollout_sampler, tcfg.rollout_init_std), scaler, s_test[:, 0], horizon
        ),
        "stay_at_start": s_test[:, :1].expand_as(s_test),
    }
    if data.states_train.shape[0] >= s_test.shape[0]:
        controls["training_trajectories"] = torch.from_numpy(data.states_train[: s_test.shape[0]])
    truth = scaler.state(s_test)
    per_step = {k: frechet_per_step(scaler.state(v), truth) for k, v in rollouts.items()}
    means = {k: float(np.mean(v)) for k, v in per_step.items()}
    control_steps = {k: frechet_per_step(scaler.state(v), truth) for k, v in controls.items()}
    control_means = {k: float(np.mean(v)) for k, v in control_steps.items()}
    plot_fd_curve(per_step, out / "fd_curve.png", control_steps)
    frames_note = "frames skipped (render disabled)"
    if config.render:
        rows = {"ground truth": data.states_test[0], "FC": rollouts["fc_uncond"][0].numpy(),
                "EBM": rollouts["ebm_uncond"][0].numpy()}
        frames_note = render_frames(rows, horizon, out / "frames.png")
    results = {
        "frechet_mean": means,
        "frechet_per_step": per_step,
        "paper_frechet_mean": PAPER_FRECHET_MEAN,
        "frechet_mean_controls": control_means,
        "one_step_mse": one_step,
        "one_step_mse_no_change": one_step_mse(no_change_step, scaler, s_test),
        "controls": CONTROLS,
        "frechet_space": "per-dimension standardized states (training mean/std)",
        "config": dataclasses.asdict(config),
        "n_train": int(data.states_train.shape[0]),
        "n_test": int(data.states_test.shape[0]),
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
    """A printed table of mean Frechet distances beside the paper's, with each model's one-step error."""
    lines = ["model        mean FD (ours)   paper   one-step MSE",
             "-----------  --------------  ------  ------------"]
    for name in MODELS:
        lines.append(f"{name:<11}  {results['frechet_mean'][name]:>14.2f}  {PAPER_FRECHET_MEAN[name]:>6.2f}  "
                     f"{results['one_step_mse'][name]:>12.3f}")
    for name, value in results.get("frechet_mean_controls", {}).items():
        lines.append(f"{name:<16}  {value:>9.2f}       -   (control)")
    return "\n".join(lines)
