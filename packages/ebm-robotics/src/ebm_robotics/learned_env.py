"""The learned hand dynamics as a gymnasium environment: ``HandManipulateBlock-v1`` with MuJoCo's
step replaced by a trained model's (``gym.make(LEARNED_ENV_ID, model="OUT/models/ebm_cond.pt")``).

Everything but the step is the real environment's: its observation and action spaces, its reset
(random cube pose, settling) and goal, its reward and success test, its 100-step time limit. A
policy trained here can be run unchanged in the real environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from .env import CUBE_VEL, HAND_JOINT_NAMES, HAND_VEL, HandCubeSim
from .learned_dynamics import LearnedDynamics

LEARNED_ENV_ID = "ebm_robotics/LearnedHandBlock-v0"  # registered when ebm_robotics is imported


def observation_order(sim: HandCubeSim) -> np.ndarray:
    """Indices that turn a 61-D state (hand positions, cube pose, hand velocities, cube velocity)
    into the real environment's ``observation`` vector (hand positions, hand velocities, cube
    velocity, cube pose), with the hand joints in the environment's order."""
    names = [n for n in sim.env.unwrapped._model_names.joint_names if n.startswith("robot")]
    hand = np.array([HAND_JOINT_NAMES.index(n) for n in names])
    return np.concatenate([hand, HAND_VEL.start + hand, np.arange(CUBE_VEL.start, CUBE_VEL.stop),
                           np.arange(len(HAND_JOINT_NAMES), len(HAND_JOINT_NAMES) + 7)])


class LearnedHandEnv(gym.Env):
    """``HandManipulateBlock-v1`` stepped by a :class:`LearnedDynamics` (a file path or the object).

    An action-conditional model follows the actions; an unconditional one samples the next state
    from its marginal (the action is checked but does not steer it). The episode is never
    terminated; the time limit truncates it. ``info["state"]`` is the model's 61-D state.
    """

    metadata = {"render_modes": []}

    def __init__(self, model: str | Path | LearnedDynamics):
        self.dynamics = model if isinstance(model, LearnedDynamics) else LearnedDynamics.load(model)
        self._sim = HandCubeSim()
        self._real = self._sim.env.unwrapped
        self.observation_space = self._sim.env.observation_space
        self.action_space = self._sim.env.action_space
        self._order = observation_order(self._sim)
        self._state = torch.zeros(0)
        self._goal = np.zeros(7)
        self._rng_state = torch.get_rng_state()

    def _observation(self) -> dict[str, np.ndarray]:
        obs = self._state[0].double().numpy()[self._order]
        achieved = obs[-7:].copy()
        return {"observation": obs, "achieved_goal": achieved, "desired_goal": self._goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        state = self._sim.reset(seed=seed)  # the real environment's reset and goal, from the same seed
        self._goal = np.asarray(self._real.goal, dtype=np.float64).ravel().copy()
        self._state = torch.from_numpy(state).float()[None]
        # the model's sampling noise: its own stream, drawn from the env's generator
        gen = torch.Generator().manual_seed(int(self.np_random.integers(2**63)))
        self._rng_state = gen.get_state()
        return self._observation(), {"state": state}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self._state.numel() == 0:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float32)
        if a.shape != self.action_space.shape or not np.isfinite(a).all():
            raise ValueError(f"expected a finite action of shape {self.action_space.shape}, got {a.shape}")
        a = np.clip(a, self.action_space.low, self.action_space.high)  # as the real environment does
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.set_rng_state(self._rng_state)
            actions = torch.from_numpy(a)[None] if self.dynamics.conditional else None
            self._state = self.dynamics.next_state(self._state, actions)
            self._rng_state = torch.get_rng_state()
        obs = self._observation()
        reward = float(self._real.compute_reward(obs["achieved_goal"], self._goal, {}))
        info = {"is_success": float(self._real._is_success(obs["achieved_goal"], self._goal)),
                "state": self._state[0].double().numpy()}
        return obs, reward, False, False, info

    def close(self) -> None:
        self._sim.close()
