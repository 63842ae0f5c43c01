"""A trained hand dynamics model as one reusable artifact: the network, its state scaler and (for
an EBM) the Langevin sampler of its rollouts, saved as one ebm-core model file and loaded back with
one call.

>>> dynamics = LearnedDynamics.load("OUT/models/ebm_cond.pt")     # doctest: +SKIP
>>> s_next = dynamics.next_state(s, a)                             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from ebm_core import LangevinSampler
from ebm_core.checkpoint import plain_settings
from ebm_core.model_file import config_from, module_from_model_file, read_model_file, save_model_file
from torch import nn

from .models import DynamicsModelConfig, WhitenedTransitionEnergy
from .rollouts import NextState, baseline_next_state, ebm_next_state
from .scaling import TransitionScaler
from .training import BASELINES, make_baseline, make_energy

FORMAT = "ebm-robotics/hand-dynamics/v2"  # v2: the networks' settings (DynamicsModelConfig) under "model"
Family = Literal["ebm", "fc", "fc_paper", "gaussian"]
FAMILIES: tuple[str, ...] = ("ebm", *BASELINES)
_SAMPLER_FIELDS = ("steps", "step_size", "noise_std", "grad_clip", "clamp", "temperature", "compile")


@dataclass(frozen=True)
class DynamicsSpec:
    """What a saved dynamics model is: its ``family`` (``"ebm"`` or a baseline), whether it is
    action-conditional, its networks' settings (``model``: widths, activation, spectral norm and, for
    an EBM, its energy, ``"plain"`` or ``"whitened"``), and for an EBM the rollout sampler's settings
    and the chains' initial spread (``init_std``, in step units)."""

    family: Family
    conditional: bool
    model: DynamicsModelConfig = field(default_factory=DynamicsModelConfig)
    sampler: dict[str, Any] | None = None
    init_std: float = 1.0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"DynamicsSpec.family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if not isinstance(self.conditional, bool):
            raise ValueError(f"DynamicsSpec.conditional must be true or false, got {self.conditional!r}")
        if isinstance(self.model, dict):  # as read back from a file
            object.__setattr__(self, "model", config_from(DynamicsModelConfig, self.model))
        if not isinstance(self.model, DynamicsModelConfig):
            raise ValueError(f"DynamicsSpec.model must be a DynamicsModelConfig, got {type(self.model).__name__}")
        if isinstance(self.init_std, bool) or not isinstance(self.init_std, (int, float)) \
                or not 0.0 <= self.init_std < float("inf"):
            raise ValueError(f"DynamicsSpec.init_std must be a finite number >= 0, got {self.init_std!r}")
        if self.family == "ebm":
            if not isinstance(self.sampler, dict) or set(self.sampler) != set(_SAMPLER_FIELDS):
                raise ValueError(f"an EBM's DynamicsSpec.sampler must give exactly {', '.join(_SAMPLER_FIELDS)}")
            object.__setattr__(self, "sampler", plain_settings(self.sampler))  # as read back from a file
            self.langevin()  # LangevinSampler checks the values

    def langevin(self) -> LangevinSampler:
        """The rollout sampler of an EBM."""
        assert self.sampler is not None
        s = dict(self.sampler)
        s["clamp"] = tuple(s["clamp"]) if s["clamp"] is not None else None
        return LangevinSampler(**s)


def build_network(spec: DynamicsSpec) -> nn.Module:
    """An untrained network of ``spec`` (an EBM with a whitened energy holds its Gaussian base)."""
    if spec.family != "ebm":
        return make_baseline(spec.family, spec.conditional, spec.model)
    base = make_baseline("gaussian", spec.conditional, spec.model) if spec.model.energy == "whitened" else None
    return make_energy(spec.conditional, spec.model, base)


class _Artifact(nn.Module):
    """The saved module: the network and the scaler, so one state dict holds both."""

    def __init__(self, network: nn.Module, scaler: TransitionScaler):
        super().__init__()
        self.network, self.scaler = network, scaler


def _build(config: dict[str, Any]) -> _Artifact:
    return _Artifact(build_network(config_from(DynamicsSpec, config)), TransitionScaler())


class LearnedDynamics:
    """A trained dynamics model of the hand and cube: ``next_state(s, a)`` maps raw 61-D states
    (B, 61) and actions (B, 20) (None for an unconditional model) to sampled or predicted next
    states, exactly as the hand experiment's rollouts do (section 5.2). ``network`` must be the one
    ``spec`` describes (same layers and widths), so that the saved file loads back."""

    def __init__(self, spec: DynamicsSpec, network: nn.Module, scaler: TransitionScaler):
        with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the caller's stream
            want = {k: tuple(v.shape) for k, v in build_network(spec).state_dict().items()}
        if {k: tuple(v.shape) for k, v in network.state_dict().items()} != want:
            raise ValueError(f"the {spec.family} network is not the one its spec describes ({spec.model}): give "
                             "the DynamicsModelConfig it was built with")
        self.spec, self.network, self.scaler = spec, network.cpu().eval(), scaler.cpu()
        self.next_state: NextState = (
            ebm_next_state(self.network, self.scaler, spec.langevin(), spec.init_std) if spec.family == "ebm"
            else baseline_next_state(self.network, self.scaler)
        )

    @property
    def conditional(self) -> bool:
        return self.spec.conditional

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the network, the scaler and the spec to ``path`` (an ebm-core model file)."""
        return save_model_file(path, FORMAT, dataclasses.asdict(self.spec), _Artifact(self.network, self.scaler),
                               extra=extra)

    @classmethod
    def load(cls, path: str | Path) -> LearnedDynamics:
        """The model saved at ``path``; the whole file is checked first (``ValueError`` naming it)."""
        payload = read_model_file(path, FORMAT, _build,
                                  hint="; the hand_rollout app writes OUT/models/<model>.pt",
                                  meta=False)  # sizes bounded by DynamicsModelConfig; rendering and meta kernels clash
        artifact = module_from_model_file(payload, _build)
        assert isinstance(artifact, _Artifact)
        return cls(config_from(DynamicsSpec, payload["config"]), artifact.network, artifact.scaler)

    @classmethod
    def ebm(cls, energy: nn.Module, scaler: TransitionScaler, sampler: LangevinSampler,
            init_std: float, model: DynamicsModelConfig | None = None) -> LearnedDynamics:
        """A trained transition EBM with its rollout sampler; ``model``: the settings it was built with
        (by default the default widths, with the energy kind of ``energy``: plain or whitened)."""
        if model is None:
            model = DynamicsModelConfig("whitened" if isinstance(energy, WhitenedTransitionEnergy) else "plain")
        spec = DynamicsSpec("ebm", bool(energy.conditional), model,
                            {k: getattr(sampler, k) for k in _SAMPLER_FIELDS}, init_std)
        return cls(spec, energy, scaler)

    @classmethod
    def baseline(cls, kind: str, network: nn.Module, scaler: TransitionScaler,
                 model: DynamicsModelConfig | None = None) -> LearnedDynamics:
        """A trained baseline (``fc``, ``fc_paper`` or ``gaussian``); ``model``: the settings it was
        built with (default: the default widths)."""
        spec = DynamicsSpec(kind, bool(network.conditional), model or DynamicsModelConfig())  # type: ignore[arg-type]
        return cls(spec, network, scaler)

    @torch.no_grad()
    def rollout(self, s0: torch.Tensor, horizon: int, actions: torch.Tensor | None = None) -> torch.Tensor:
        """(N, horizon+1, 61) states from ``s0`` (N, 61) on the model's own predictions."""
        from .rollouts import rollout_states

        return rollout_states(self.next_state, s0, horizon, actions)
