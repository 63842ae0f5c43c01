"""Policies that drive the hand: a Markov finger gait with random discrete choices, and the
paper's share of uniformly random actions.

A policy maps a 61-D state (positions and velocities, see :mod:`ebm_robotics.env`) to a 20-D
action in [-1, 1]. It gets a fresh ``np.random.Generator`` through ``reset`` at the start of each
trajectory (or branch) and is then called once per step. The default policy is *Markov*: its action
depends only on the current state and on randomness drawn fresh at each step, so the distribution
of futures given a recorded state is well defined (and can be sampled again from that state).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .env import ACTION_DIM, ActuatorMap

DEFAULT_POLICY = "markov_gait"
RANDOM_ACTION_PROB = 0.25  # the paper: every 4th action is random; here each one is, with this probability

# The gait's independent choices: one direction per group of actuators that move together
# (indices into ACTUATOR_NAMES): the two wrist joints, each finger's abduction, each finger's
# flexion (J2 with the coupled J1/J0 tendon), the little finger's metacarpal, each thumb joint
# (thumb J1 and J0 flex together).
GAIT_GROUPS: tuple[tuple[int, ...], ...] = (
    (0,), (1,),  # wrist
    (2,), (3, 4),  # first finger: abduction, flexion
    (5,), (6, 7),  # middle finger
    (8,), (9, 10),  # ring finger
    (11,), (12,), (13, 14),  # little finger: metacarpal, abduction, flexion
    (15,), (16,), (17,), (18, 19),  # thumb
)  # fmt: skip


@runtime_checkable
class Policy(Protocol):
    """``reset(rng)`` once per trajectory, then ``policy(state) -> action`` once per step."""

    def reset(self, rng: np.random.Generator) -> None: ...

    def __call__(self, state: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class GaitConfig:
    """Settings of :class:`MarkovGaitPolicy` (action units: 1 = half an actuator's range).

    ``lead``: how far ahead of a joint's current position its target is set, in its direction of
    travel; ``switch_prob``: the chance per step that a moving group reverses; ``rest_speed``: below
    this speed (action units per second) a group counts as at rest and picks a direction afresh.
    """

    lead: float = 0.5
    switch_prob: float = 0.05
    rest_speed: float = 0.5

    def __post_init__(self) -> None:
        if not (self.lead > 0 and 0.0 <= self.switch_prob <= 1.0 and self.rest_speed >= 0):
            raise ValueError(f"expected lead > 0, switch_prob in [0, 1], rest_speed >= 0; got {self}")


class MarkovGaitPolicy:
    """A finger gait whose only memory is the physical state: each group of joints
    (:data:`GAIT_GROUPS`) keeps moving the way it moves now, and makes a discrete random choice.

    At each step, for each group: if it moves faster than ``rest_speed`` it keeps its direction
    with probability ``1 - switch_prob`` and reverses otherwise; at rest (at a joint limit, or at
    the start) it picks up or down with equal odds. Its actuators' targets are then set ``lead``
    action units beyond their current positions in that direction. The direction is read from
    the joint velocities of the state, so the policy is Markov in the 61-D state, and the future
    from any state branches into distinct modes (which way each finger goes, and when it turns).
    """

    def __init__(self, actuators: ActuatorMap, config: GaitConfig | None = None) -> None:
        self.actuators = actuators
        self.config = config if config is not None else GaitConfig()
        self._rng = np.random.default_rng(0)
        self._members = [np.asarray(g, dtype=np.intp) for g in GAIT_GROUPS]

    def reset(self, rng: np.random.Generator) -> None:
        """Draw this trajectory's choices from ``rng``."""
        self._rng = rng

    def __call__(self, state: np.ndarray) -> np.ndarray:
        """The action for ``state``: targets ``lead`` ahead of each joint in its chosen direction."""
        c = self.config
        position = self.actuators.position(state)
        velocity = self.actuators.velocity(state)
        coin = self._rng.random(len(self._members))
        direction = np.empty(ACTION_DIM)
        for g, members in enumerate(self._members):
            v = velocity[members].sum()
            if abs(v) < c.rest_speed:
                direction[members] = 1.0 if coin[g] < 0.5 else -1.0
            else:
                direction[members] = np.sign(v) * (-1.0 if coin[g] < c.switch_prob else 1.0)
        return np.clip(position + c.lead * direction, -1.0, 1.0)


class UniformRandomPolicy:
    """Uniformly random actions in [-1, 1]^20."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator) -> None:
        """Use ``rng`` for this trajectory's actions."""
        self._rng = rng

    def __call__(self, state: np.ndarray) -> np.ndarray:
        """A uniform random action."""
        return self._rng.uniform(-1.0, 1.0, ACTION_DIM)


class WithRandomActions:
    """The paper's data rule, made Markov: each action is replaced, with probability ``prob``,
    by a uniformly random one (the paper replaces every 4th action, by a clock; a clock is a
    hidden state). The wrapped policy is still called at every step, so its draws do not depend
    on which steps were replaced. ``reset(rng)`` gives it and the random actions independent
    child generators of ``rng``."""

    def __init__(self, policy: Policy, prob: float = RANDOM_ACTION_PROB) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"expected a probability in [0, 1], got {prob}")
        self.policy = policy
        self.prob = prob
        self._rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator) -> None:
        """Reset the wrapped policy and the random-action generator."""
        policy_rng, self._rng = rng.spawn(2)
        self.policy.reset(policy_rng)

    def __call__(self, state: np.ndarray) -> np.ndarray:
        """The wrapped policy's action, or a uniform random one with probability ``prob``."""
        action = self.policy(state)
        if self._rng.random() < self.prob:
            action = self._rng.uniform(-1.0, 1.0, ACTION_DIM)
        return action


class CallablePolicy:
    """Adapts a plain ``state -> action`` callable (or a TorchScript module) to :class:`Policy`.

    The output is checked (20 finite values) and clipped to [-1, 1].
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], name: str = "callable") -> None:
        self.fn = fn
        self.name = name

    def reset(self, rng: np.random.Generator) -> None:
        """Forward ``rng`` to the wrapped object if it has a ``reset``; else do nothing."""
        reset = getattr(self.fn, "reset", None)
        if callable(reset):
            reset(rng)

    def __call__(self, state: np.ndarray) -> np.ndarray:
        """Call the wrapped policy and validate its action."""
        action = _to_numpy(self.fn(state))
        if action.shape != (ACTION_DIM,) or not np.all(np.isfinite(action)):
            raise ValueError(
                f"policy {self.name!r} must return {ACTION_DIM} finite values, "
                f"got shape {action.shape}"
            )
        return np.clip(action, -1.0, 1.0)


class TorchScriptPolicy:
    """A saved torch module mapping a float32 state tensor (61,) to an action tensor (20,).

    ``.pt2`` files are ``torch.export`` programs (``torch.export.save``); other files are
    TorchScript (``torch.jit.save``).
    """

    def __init__(self, path: str | Path) -> None:
        import torch

        self.path = str(path)
        self._torch = torch
        if self.path.endswith(".pt2"):
            self.module = torch.export.load(self.path).module()
        else:
            self.module = torch.jit.load(self.path, map_location="cpu")
            self.module.eval()

    def reset(self, rng: np.random.Generator) -> None:
        """TorchScript policies are stateless here."""

    def __call__(self, state: np.ndarray) -> np.ndarray:
        """Run the module on ``state`` without gradients."""
        with self._torch.no_grad():
            out = self.module(self._torch.as_tensor(np.asarray(state, dtype=np.float32)))
        return out.detach().cpu().numpy().reshape(-1).astype(np.float64)


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def load_policy(spec: str, actuators: ActuatorMap) -> Policy:
    """Build a policy from a string spec (``actuators``: the model's, for policies in action units).

    * ``"markov_gait"`` -- :class:`MarkovGaitPolicy` with default settings (the default);
    * ``"random"`` -- :class:`UniformRandomPolicy`;
    * a path ending in ``.pt``/``.pth``/``.ts`` (TorchScript) or ``.pt2`` (``torch.export``) --
      a saved module mapping a float32 state (61,) to an action (20,);
    * ``"package.module:attr"`` -- an importable object: a class is instantiated without
      arguments; an object with ``reset`` and ``__call__`` is used as a :class:`Policy`; any
      other callable is treated as ``state -> action``.

    The last two are code, run as they are: a policy is only ever what the caller names here (never
    read from a data folder), and a module must be an installed, dotted module name (a path such as
    ``../x.py:f`` is refused, as is a missing module), each with a one-line ``ValueError``.
    """
    if spec == "markov_gait":
        return MarkovGaitPolicy(actuators)
    if spec == "random":
        return UniformRandomPolicy()
    if spec.endswith((".pt", ".pth", ".ts", ".pt2")) or Path(spec).is_file():
        if not Path(spec).is_file():
            raise FileNotFoundError(
                f"policy file {spec!r} not found (expected a TorchScript or torch.export file)"
            )
        return CallablePolicy(TorchScriptPolicy(spec), name=spec)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        if not _DOTTED_NAME.fullmatch(module_name) or not _DOTTED_NAME.fullmatch(attr):
            raise ValueError(f"policy spec {spec!r}: expected 'package.module:attr' with an installed module's "
                             "dotted name (a file path is not imported)")
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise ValueError(f"policy spec {spec!r}: no installed module {module_name!r}")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as e:
            raise ValueError(f"cannot import module {module_name!r} of policy spec {spec!r}: {e}") from None
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"policy spec {spec!r}: {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        if isinstance(obj, type):
            obj = obj()
        if not callable(obj):
            raise ValueError(f"policy spec {spec!r} does not name a callable")
        return CallablePolicy(obj, name=spec)
    raise ValueError(
        f"unknown policy spec {spec!r}: expected 'markov_gait', 'random', a saved torch module "
        "(.pt/.pth/.ts/.pt2) or 'module:attr'"
    )
