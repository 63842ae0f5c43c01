"""Offscreen rendering of states (skipped, with the reason, where no GL backend exists)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from ebm_robotics.env import HandCubeSim
from ebm_robotics.render import (
    CameraConfig,
    HandRenderer,
    RenderingUnavailableError,
    save_state_grid,
)


@pytest.fixture(scope="module")
def states():
    sim = HandCubeSim()
    s = [sim.reset(seed=2).copy()]
    rng = np.random.default_rng(0)
    for _ in range(4):
        s.append(sim.step(rng.uniform(-1, 1, 20)).copy())
    sim.close()
    return np.array(s)


@pytest.fixture(scope="module")
def renderer():
    try:
        r = HandRenderer(CameraConfig(width=96, height=80))
    except RenderingUnavailableError as e:
        pytest.skip(f"no offscreen GL: {e}")
    yield r
    r.close()


def test_render_shows_the_hand_and_cube(renderer, states):
    a = renderer.render(states[0])
    assert a.shape == (80, 96, 3) and a.dtype == np.uint8
    assert a.std() > 10  # not a blank frame
    moved = states[0].copy()
    moved[24] += 0.03  # move the cube 3 cm: the close-up camera must see it
    b = renderer.render(moved)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0
    with pytest.raises(ValueError, match="shape"):
        renderer.render(states[0][:30])


def test_save_state_grid(renderer, states, tmp_path):
    path = save_state_grid(
        tmp_path / "grid.png",
        {"ground truth": states, "FC": states[::-1], "EBM": states},
        timesteps=[0, 2, 4],
        camera=CameraConfig(width=64, height=64),
    )
    assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(ValueError, match="timesteps"):
        save_state_grid(tmp_path / "bad.png", {"x": states}, timesteps=[0, 9])


def test_missing_gl_raises_a_catchable_error():
    code = (
        "from ebm_robotics.render import HandRenderer, RenderingUnavailableError\n"
        "try:\n    HandRenderer()\nexcept RenderingUnavailableError as e:\n"
        "    print('CAUGHT', type(e).__name__)\n"
    )
    env = {**os.environ, "MUJOCO_GL": "glfw", "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if "CAUGHT" not in out.stdout and out.returncode == 0:
        pytest.skip("a display is available here, glfw rendering works")
    assert "CAUGHT RenderingUnavailableError" in out.stdout, out.stderr[-2000:]
