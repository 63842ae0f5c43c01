"""Offscreen rendering of 61-D hand+cube states, and PNG grids comparing trajectories.

Headless Linux needs an offscreen GL backend chosen BEFORE mujoco is first imported:
``import ebm_robotics`` sets ``MUJOCO_GL=egl`` on Linux when the variable is unset, mujoco is not
imported yet and libEGL is installed (Mesa's EGL works on CPU). Set ``MUJOCO_GL`` yourself
(``egl``, ``osmesa``, ``glfw``) to override it; note that naming a backend whose library is
missing makes ``import mujoco`` itself fail. When no backend works, :class:`HandRenderer` raises
:class:`RenderingUnavailableError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from ebm_run import save_figure

from .env import STATE_DIM, HandCubeSim

TARGET_GEOM_GROUP = 2  # the env's translucent goal cube lives in geom group 2; we hide it


class RenderingUnavailableError(RuntimeError):
    """No offscreen OpenGL backend could be created (catch it and skip the figure)."""


@dataclass(frozen=True)
class CameraConfig:
    """A free camera placed near the hand (world frame, metres / degrees) and the image size."""

    lookat: tuple[float, float, float] = (1.0, 0.9, 0.16)
    distance: float = 0.33
    azimuth: float = 110.0
    elevation: float = -35.0
    width: int = 256
    height: int = 256


class HandRenderer:
    """Renders states of the hand+cube model with its own env copy (use as a context manager)."""

    def __init__(self, camera: CameraConfig | None = None) -> None:
        self.camera_config = camera if camera is not None else CameraConfig()
        c = self.camera_config
        self.sim = HandCubeSim()
        self.sim.reset(seed=0)
        model = self.sim.model
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), c.width)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), c.height)
        try:
            self._renderer = mujoco.Renderer(model, height=c.height, width=c.width)
        except Exception as e:  # backends fail with many exception types
            self.sim.close()
            raise RenderingUnavailableError(
                f"offscreen rendering unavailable (MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r}): "
                f"{type(e).__name__}: {e}"
            ) from e
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._camera.lookat[:] = c.lookat
        self._camera.distance = c.distance
        self._camera.azimuth = c.azimuth
        self._camera.elevation = c.elevation
        self._option = mujoco.MjvOption()
        self._option.geomgroup[TARGET_GEOM_GROUP] = 0

    def render(self, state: np.ndarray) -> np.ndarray:
        """An (H, W, 3) uint8 image of one 61-D state (positions and velocities; the image shows the positions)."""
        self.sim.set_state(state)
        self._renderer.update_scene(self.sim.data, camera=self._camera, scene_option=self._option)
        return self._renderer.render().copy()

    def close(self) -> None:
        """Free the GL context and the env."""
        self._renderer.close()
        self.sim.close()

    def __enter__(self) -> HandRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render_states(states: np.ndarray, camera: CameraConfig | None = None) -> list[np.ndarray]:
    """Images (H, W, 3) uint8 of states (K, 61); raises RenderingUnavailableError without GL."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != STATE_DIM:
        raise ValueError(f"expected states of shape (K, {STATE_DIM}), got {states.shape}")
    with HandRenderer(camera) as r:
        return [r.render(s) for s in states]


def save_state_grid(
    path: str | Path,
    rows: Mapping[str, np.ndarray],
    timesteps: Sequence[int],
    camera: CameraConfig | None = None,
) -> Path:
    """Save a PNG grid: one row per named trajectory (T+1, 61), one column per timestep.

    E.g. ``rows={"ground truth": s, "FC": s_fc, "EBM": s_ebm}``. Written to a temporary file,
    then renamed. Raises RenderingUnavailableError without GL, ValueError on bad shapes.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not rows or not timesteps:
        raise ValueError("expected at least one row and one timestep")
    for name, s in rows.items():
        s = np.asarray(s)
        if (
            s.ndim != 2
            or s.shape[1] != STATE_DIM
            or max(timesteps) >= s.shape[0]
            or min(timesteps) < 0
        ):
            raise ValueError(
                f"row {name!r}: expected states (T+1, {STATE_DIM}) covering timesteps "
                f"{list(timesteps)}, "
                f"got shape {s.shape}"
            )
    with HandRenderer(camera) as r:
        images = {name: [r.render(np.asarray(s)[t]) for t in timesteps] for name, s in rows.items()}
    n_rows, n_cols = len(rows), len(timesteps)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(2.0 * n_cols + 0.8, 2.0 * n_rows), squeeze=False
    )
    for i, (name, imgs) in enumerate(images.items()):
        for j, img in enumerate(imgs):
            ax = axes[i][j]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {timesteps[j]}", fontsize=9)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
