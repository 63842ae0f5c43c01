"""The Shadow hand + cube environment and a fast stepping path.

The environment is gymnasium-robotics' ``HandManipulateBlock-v1``. Its MuJoCo model and data
are reused as they are; :class:`HandCubeSim` only replaces the per-step Python of the gym
wrapper (action checks, goal/reward/observation bookkeeping) by a few in-place numpy operations
followed by ``mujoco.mj_step(model, data, nstep=n_substeps)``.

State (61-D, float64 while simulating, read by joint NAME from ``data.qpos`` / ``data.qvel``):

* ``state[0:24]``  -- the 24 hand hinge joint angles in the order of :data:`HAND_JOINT_NAMES`;
* ``state[24:27]`` -- cube position (x, y, z) in metres, world frame (free joint ``object:joint``);
* ``state[27:31]`` -- cube orientation quaternion (w, x, y, z) of the same free joint;
* ``state[31:55]`` -- the 24 hand joint velocities (rad/s), same order;
* ``state[55:61]`` -- the cube's free-joint velocity: linear (world frame, m/s), then angular
  (body frame, rad/s).

Positions and velocities together are the Markov state of the hand and cube: with the actuators'
controls (which have no internal state: position servos, no activation dynamics) they determine
the next state. (MuJoCo's solver warm start is the one other input; it changes results by
round-off only. :meth:`HandCubeSim.save_physics` keeps it too, for exact branching.)

Action (20-D, in [-1, 1]): one command per actuator, in the order of
:data:`ACTUATOR_NAMES`. As in the env (``relative_control=False``, the default of
``HandManipulateBlock-v1``) ``ctrl = center + action * half_range`` clipped to the actuator's
ctrl range, i.e. -1/+1 ask for the joint's lower/upper limit and 0 for its mid-range.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from .shards import ACTION_DIM, POSITION_DIM, STATE_DIM  # defined once, beside the trajectory files' layout

# gymnasium-robotics prints a notice about its Adroit environments (not used here) on import,
# once per generation worker; keep it out of the output.
with contextlib.redirect_stderr(io.StringIO()):
    import gymnasium_robotics

# gymnasium-robotics (1.4.x) reads and writes joints in utils/mujoco_utils.py by comparing
# ``model.jnt_type[i] == mujoco.mjtJoint.mjJNT_FREE``; from mujoco 3.12 on that compare is False for
# every joint (the enum no longer equals the integer array's entries), so the hand env asserts. The
# four joint accessors are replaced by ones that compare the integer values: the same spans of
# ``qpos`` / ``qvel`` on every mujoco version (tests/test_env_policy.py checks them against the
# joints' addresses and the library's own functions where those still work).
_QPOS_WIDTH = {int(mujoco.mjtJoint.mjJNT_FREE): 7, int(mujoco.mjtJoint.mjJNT_BALL): 4,
               int(mujoco.mjtJoint.mjJNT_SLIDE): 1, int(mujoco.mjtJoint.mjJNT_HINGE): 1}
_QVEL_WIDTH = {int(mujoco.mjtJoint.mjJNT_FREE): 6, int(mujoco.mjtJoint.mjJNT_BALL): 3,
               int(mujoco.mjtJoint.mjJNT_SLIDE): 1, int(mujoco.mjtJoint.mjJNT_HINGE): 1}


def joint_span(model: mujoco.MjModel, name: str, velocity: bool = False) -> slice:
    """The slice of ``data.qpos`` (or, with ``velocity``, ``data.qvel``) that joint ``name`` holds."""
    joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint == -1:
        raise ValueError(f"joint {name!r} is not part of the model")
    start = int((model.jnt_dofadr if velocity else model.jnt_qposadr)[joint])
    return slice(start, start + (_QVEL_WIDTH if velocity else _QPOS_WIDTH)[int(model.jnt_type[joint])])


def _get_joint_qpos(model: mujoco.MjModel, data: mujoco.MjData, name: str) -> np.ndarray:
    return data.qpos[joint_span(model, name)].copy()


def _get_joint_qvel(model: mujoco.MjModel, data: mujoco.MjData, name: str) -> np.ndarray:
    return data.qvel[joint_span(model, name, velocity=True)].copy()


def _fit(span: slice, value: Any, name: str) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64).reshape(-1)
    if value.size != span.stop - span.start:
        raise ValueError(f"joint {name!r} takes {span.stop - span.start} values, got {value.size}")
    return value


def _set_joint_qpos(model: mujoco.MjModel, data: mujoco.MjData, name: str, value: Any) -> None:
    span = joint_span(model, name)
    data.qpos[span] = _fit(span, value, name)


def _set_joint_qvel(model: mujoco.MjModel, data: mujoco.MjData, name: str, value: Any) -> None:
    span = joint_span(model, name, velocity=True)
    data.qvel[span] = _fit(span, value, name)


def _lift_joint_type_compares() -> None:
    from gymnasium_robotics.utils import mujoco_utils

    mujoco_utils.get_joint_qpos, mujoco_utils.get_joint_qvel = _get_joint_qpos, _get_joint_qvel
    mujoco_utils.set_joint_qpos, mujoco_utils.set_joint_qvel = _set_joint_qpos, _set_joint_qvel


_lift_joint_type_compares()

ENV_ID = "HandManipulateBlock-v1"
N_SUBSTEPS = 20

HAND_JOINT_NAMES: tuple[str, ...] = (
    "robot0:WRJ1", "robot0:WRJ0",
    "robot0:FFJ3", "robot0:FFJ2", "robot0:FFJ1", "robot0:FFJ0",
    "robot0:MFJ3", "robot0:MFJ2", "robot0:MFJ1", "robot0:MFJ0",
    "robot0:RFJ3", "robot0:RFJ2", "robot0:RFJ1", "robot0:RFJ0",
    "robot0:LFJ4", "robot0:LFJ3", "robot0:LFJ2", "robot0:LFJ1", "robot0:LFJ0",
    "robot0:THJ4", "robot0:THJ3", "robot0:THJ2", "robot0:THJ1", "robot0:THJ0",
)  # fmt: skip
"""The 24 hand hinge joints, in the order they occupy ``state[0:24]``."""

ACTUATOR_NAMES: tuple[str, ...] = (
    "robot0:A_WRJ1", "robot0:A_WRJ0",
    "robot0:A_FFJ3", "robot0:A_FFJ2", "robot0:A_FFJ1",
    "robot0:A_MFJ3", "robot0:A_MFJ2", "robot0:A_MFJ1",
    "robot0:A_RFJ3", "robot0:A_RFJ2", "robot0:A_RFJ1",
    "robot0:A_LFJ4", "robot0:A_LFJ3", "robot0:A_LFJ2", "robot0:A_LFJ1",
    "robot0:A_THJ4", "robot0:A_THJ3", "robot0:A_THJ2", "robot0:A_THJ1", "robot0:A_THJ0",
)  # fmt: skip
"""The 20 actuators, in the order of the action vector (the model's actuator order)."""

CUBE_JOINT_NAME = "object:joint"
CUBE_POS = slice(24, 27)
CUBE_QUAT = slice(27, 31)
HAND_VEL = slice(31, 55)
CUBE_VEL = slice(55, 61)
_PHYSICS = mujoco.mjtState.mjSTATE_INTEGRATION  # everything mj_step reads: qpos, qvel, ctrl, warm start, time


def make_env(**kwargs: Any) -> gym.Env:
    """``gym.make("HandManipulateBlock-v1", **kwargs)`` after registering gymnasium-robotics."""
    gym.register_envs(gymnasium_robotics)
    return gym.make(ENV_ID, **kwargs)


def state_indices(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``data.qpos`` (31) and ``data.qvel`` (30) of the state, looked up by joint name."""
    qpos: list[int] = []
    qvel: list[int] = []
    for name in HAND_JOINT_NAMES:
        joint = model.joint(name)
        if int(model.jnt_type[joint.id]) != int(mujoco.mjtJoint.mjJNT_HINGE):
            raise ValueError(f"expected joint {name!r} to be a hinge joint")
        qpos.append(int(model.jnt_qposadr[joint.id]))
        qvel.append(int(model.jnt_dofadr[joint.id]))
    cube = model.joint(CUBE_JOINT_NAME)
    if int(model.jnt_type[cube.id]) != int(mujoco.mjtJoint.mjJNT_FREE):
        raise ValueError(f"expected joint {CUBE_JOINT_NAME!r} to be a free joint")
    qpos.extend(range(int(model.jnt_qposadr[cube.id]), int(model.jnt_qposadr[cube.id]) + 7))
    qvel.extend(range(int(model.jnt_dofadr[cube.id]), int(model.jnt_dofadr[cube.id]) + 6))
    return np.asarray(qpos, dtype=np.intp), np.asarray(qvel, dtype=np.intp)


def _block(index: np.ndarray) -> slice | None:
    """The slice equal to ``index`` when it is contiguous (read through a view, no gather)."""
    if np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return None


@dataclass(frozen=True)
class ActuatorMap:
    """Where each actuator's joint sits in the 61-D state, and its control range.

    An actuator of a coupled finger joint (``*J1``, a tendon over J1 and J0) measures the sum of
    both angles. ``position(state)`` / ``velocity(state)`` give every actuator's joint position
    and velocity in action units (-1 / +1: the ends of its control range), so a policy written
    in action units can read the state it acts on.
    """

    center: np.ndarray  # (20,) centre of each actuator's ctrl range
    half_range: np.ndarray  # (20,)
    joint: np.ndarray  # (20,) index into state[0:24] of each actuator's joint
    coupled: np.ndarray  # (20,) index of the J0 joint added to it, or -1

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> ActuatorMap:
        cm = _control_map(model)
        joint = np.asarray([HAND_JOINT_NAMES.index(n.replace(":A_", ":")) for n in ACTUATOR_NAMES], dtype=np.intp)
        coupled = np.full(ACTION_DIM, -1, dtype=np.intp)
        for f in ("FF", "MF", "RF", "LF"):
            coupled[ACTUATOR_NAMES.index(f"robot0:A_{f}J1")] = HAND_JOINT_NAMES.index(f"robot0:{f}J0")
        return cls(center=cm.center, half_range=cm.half_range, joint=joint, coupled=coupled)

    def _sum(self, values: np.ndarray) -> np.ndarray:
        out = values[self.joint]
        has = self.coupled >= 0
        out[has] += values[self.coupled[has]]
        return out

    def position(self, state: np.ndarray) -> np.ndarray:
        """Each actuator's joint position in action units (20,)."""
        return (self._sum(state[:24]) - self.center) / self.half_range

    def velocity(self, state: np.ndarray) -> np.ndarray:
        """Each actuator's joint velocity in action units per second (20,)."""
        return self._sum(state[HAND_VEL]) / self.half_range


@dataclass(frozen=True)
class _ControlMap:
    """Precomputed action -> ctrl mapping of the env's ``_set_action``."""

    center: np.ndarray  # (20,) absolute-control centre of each ctrl range
    half_range: np.ndarray  # (20,)
    low: np.ndarray
    high: np.ndarray
    relative_qpos: np.ndarray  # (20,) qpos index of each actuator's joint (relative control)
    coupled: tuple[tuple[int, int], ...]  # (actuator index, J0 qpos index) added for *J1


def _control_map(model: mujoco.MjModel) -> _ControlMap:
    names = tuple(model.actuator(i).name for i in range(model.nu))
    if names != ACTUATOR_NAMES:
        raise ValueError(f"expected actuators {ACTUATOR_NAMES}, the model has {names}")
    ctrlrange = np.asarray(model.actuator_ctrlrange, dtype=np.float64)
    low, high = ctrlrange[:, 0].copy(), ctrlrange[:, 1].copy()
    relative_qpos = np.asarray(
        [model.jnt_qposadr[model.joint(n.replace(":A_", ":")).id] for n in names], dtype=np.intp
    )
    coupled = tuple(
        (names.index(f"robot0:A_{f}J1"), int(model.jnt_qposadr[model.joint(f"robot0:{f}J0").id]))
        for f in ("FF", "MF", "RF", "LF")
    )
    return _ControlMap(
        center=(low + high) / 2.0,
        half_range=(high - low) / 2.0,
        low=low,
        high=high,
        relative_qpos=relative_qpos,
        coupled=coupled,
    )


class HandCubeSim:
    """The hand+cube env with a fast ``step`` that bypasses the gym wrapper.

    ``reset`` goes through the env (random initial cube pose, settling steps); ``step`` writes
    the controls exactly as the env's ``_set_action`` does and calls ``mujoco.mj_step`` with the
    env's number of substeps on the env's own ``model``/``data``. ``step_gym`` is the reference
    path through ``env.step``; both give bit-identical states.
    """

    def __init__(self, env: gym.Env | None = None) -> None:
        self.env = env if env is not None else make_env()
        base = self.env.unwrapped
        self.model: mujoco.MjModel = base.model
        self.data: mujoco.MjData = base.data
        self.n_substeps = int(base.n_substeps)
        self.relative_control = bool(base.relative_control)
        self.qpos_index, self.qvel_index = state_indices(self.model)
        self._qpos_block, self._qvel_block = _block(self.qpos_index), _block(self.qvel_index)
        self._ctrl = _control_map(self.model)
        self.actuators = ActuatorMap.from_model(self.model)
        self._buf = np.empty(ACTION_DIM, dtype=np.float64)
        self._physics_size = mujoco.mj_stateSize(self.model, _PHYSICS)

    @property
    def dt(self) -> float:
        """Seconds of simulated time per step."""
        return float(self.model.opt.timestep) * self.n_substeps

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset through the env (random cube pose from ``seed``); returns the 61-D state."""
        self.env.reset(seed=seed)
        return self.get_state()

    def get_state(self, out: np.ndarray | None = None) -> np.ndarray:
        """The current 61-D state (float64: positions, then velocities), written into ``out`` if given."""
        if out is None:
            out = np.empty(STATE_DIM, dtype=np.float64)
        for src, block, index, dst in ((self.data.qpos, self._qpos_block, self.qpos_index, out[:POSITION_DIM]),
                                       (self.data.qvel, self._qvel_block, self.qvel_index, out[POSITION_DIM:])):
            dst[...] = src[block] if block is not None else src[index]
        return out

    def set_ctrl(self, action: np.ndarray) -> None:
        """Write ``action`` (20,) into ``data.ctrl`` exactly as the env's ``_set_action``."""
        buf, cm = self._buf, self._ctrl
        np.clip(action, -1.0, 1.0, out=buf)  # env.step clips to the action space first
        np.multiply(buf, cm.half_range, out=buf)
        if self.relative_control:
            center = self.data.qpos[cm.relative_qpos]
            for act, j0 in cm.coupled:
                center[act] += self.data.qpos[j0]
            buf += center
        else:
            buf += cm.center
        np.clip(buf, cm.low, cm.high, out=self.data.ctrl)

    def step(self, action: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Fast path: apply ``action`` for one env step; returns the new 61-D state."""
        if np.shape(action) != (ACTION_DIM,):
            raise ValueError(f"expected an action of shape ({ACTION_DIM},), got {np.shape(action)}")
        self.set_ctrl(action)
        mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
        return self.get_state(out)

    def step_gym(self, action: np.ndarray) -> np.ndarray:
        """Reference path through ``env.step``; returns the new 61-D state."""
        self.env.step(action)
        return self.get_state()

    def set_state(self, state: np.ndarray) -> None:
        """Set hand joints and cube from a 61-D state (positions and velocities) and run mj_forward
        (for rendering a state; :meth:`restore_physics` restores a simulation exactly)."""
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (STATE_DIM,):
            raise ValueError(f"expected a state of shape ({STATE_DIM},), got {state.shape}")
        self.data.qpos[self.qpos_index] = state[:POSITION_DIM]
        self.data.qvel[self.qvel_index] = state[POSITION_DIM:]
        mujoco.mj_forward(self.model, self.data)

    def save_physics(self) -> np.ndarray:
        """The whole simulator state (``mj_getState``, ``mjSTATE_INTEGRATION``: positions, velocities,
        controls, the solver's warm start, time): restoring it replays the future bit for bit."""
        saved = np.empty(self._physics_size)
        mujoco.mj_getState(self.model, self.data, saved, _PHYSICS)
        return saved

    def restore_physics(self, saved: np.ndarray) -> None:
        """Return the simulator to a state taken by :meth:`save_physics` (``mj_setState``)."""
        mujoco.mj_setState(self.model, self.data, saved, _PHYSICS)

    def close(self) -> None:
        """Close the underlying env."""
        self.env.close()


def cube_rotation_deg(quat_a: np.ndarray, quat_b: np.ndarray) -> np.ndarray:
    """Angle in degrees of the rotation between two cube orientations (..., 4) -> (...)."""
    a = np.asarray(quat_a, dtype=np.float64)
    b = np.asarray(quat_b, dtype=np.float64)
    cos = np.abs(np.sum(a * b, axis=-1)) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(2.0 * np.arccos(np.clip(cos, 0.0, 1.0)))


def cube_dropped(states: np.ndarray, min_z: float = 0.1) -> np.ndarray:
    """Whether the cube's centre went below ``min_z`` metres in a trajectory (..., T+1, 61).

    The palm is at z = 0.14 and the resting cube at z ~= 0.18; a cube that falls off the hand
    ends on the floor at z ~= 0.025.
    """
    return np.asarray(states)[..., CUBE_POS][..., 2].min(axis=-1) < min_z
