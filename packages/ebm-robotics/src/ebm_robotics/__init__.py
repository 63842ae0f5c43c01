"""ebm-robotics: Shadow-hand cube trajectories and dynamics EBMs (Du & Mordatch 2019, sec. 5).

Public names are imported lazily (on first attribute access), so that generation worker
processes, which import :mod:`ebm_robotics.generate`, do not pay for torch.
"""

from __future__ import annotations

import ctypes.util as _ctypes_util
import importlib
import os as _os
import sys as _sys
from typing import Any

# Offscreen rendering on headless Linux: mujoco picks its GL backend when first imported, and
# a backend whose library is missing breaks `import mujoco`, so EGL is chosen only if present.
if (
    _sys.platform.startswith("linux")
    and "mujoco" not in _sys.modules
    and "MUJOCO_GL" not in _os.environ
    and _ctypes_util.find_library("EGL")
):
    _os.environ["MUJOCO_GL"] = "egl"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "env": (
        "ACTION_DIM", "ENV_ID", "HAND_JOINT_NAMES", "POSITION_DIM", "STATE_DIM", "ActuatorMap", "HandCubeSim",
        "cube_dropped", "cube_rotation_deg", "make_env",
    ),
    "policy": ("GaitConfig", "MarkovGaitPolicy", "Policy", "WithRandomActions", "load_policy"),
    "generate": ("GenerationConfig", "generate_trajectories", "rollout"),
    "shards": ("merge_manifests", "split_ranges"),
    "dataset": (
        "Branches", "TrajectoryData", "TrajectorySplit", "Transitions", "load_trajectories", "make_transitions",
        "two_mode_trajectories",
    ),
    "scaling": ("TransitionScaler",),
    "learned_dynamics": ("DynamicsSpec", "LearnedDynamics"),
    "learned_env": ("LEARNED_ENV_ID", "LearnedHandEnv"),
    "models": ("DynamicsModelConfig", "FCDynamics", "GaussianDynamics", "TransitionEnergy", "condition"),
    "training": ("DynamicsSamplers", "DynamicsTrainingConfig", "make_baseline", "make_energy", "train_baseline",
                 "train_ebm"),
    "rollouts": ("ZeroEnergy", "baseline_next_state", "ebm_next_state", "no_change", "one_step_mse",
                 "rollout_states"),
    "evaluation": ("branch_scores", "frechet_per_step", "frechet_scores", "multimodality_summary"),
    "experiment": ("EvaluationConfig", "HandRolloutConfig", "PRESETS", "run_hand_rollout", "summary_table"),
    "render": (
        "CameraConfig", "HandRenderer", "RenderingUnavailableError", "render_states",
        "save_state_grid",
    ),
}  # fmt: skip
_LEARNED_ENV = ("ebm_robotics/LearnedHandBlock-v0", "ebm_robotics.learned_env:LearnedHandEnv")


def _register_learned_env() -> None:
    """Make ``gym.make("ebm_robotics/LearnedHandBlock-v0", model=PATH)`` work once the package is
    imported (gymnasium only; the environment's module, and torch, load on ``make``)."""
    import gymnasium

    if _LEARNED_ENV[0] not in gymnasium.registry:
        gymnasium.register(_LEARNED_ENV[0], entry_point=_LEARNED_ENV[1], max_episode_steps=100)


_register_learned_env()
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'ebm_robotics' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
