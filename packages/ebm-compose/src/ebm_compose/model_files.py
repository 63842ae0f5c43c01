"""Trained concept EBMs as model files: each writes its weights with the spec that rebuilds it (an
ebm-core model file) and loads back with one call, ready to compose with others (section 7)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ebm_core.checks import check_count, check_widths
from ebm_core.model_file import config_from, module_from_model_file, read_model_file, save_model_file

from .networks import AttributeEnergy, ColumnCondition, DSpritesEnergy

FORMAT = "ebm-compose/concept-energy/v1"


@dataclass(frozen=True)
class ConceptSpec:
    """What a concept energy is: its ``network`` (``"dsprites"``: :class:`DSpritesEnergy`, or
    ``"attribute"``: the CelebA :class:`AttributeEnergy`), the label columns it reads (``names``
    says which concepts or attribute they are) and the network's sizes."""

    network: Literal["dsprites", "attribute"]
    names: tuple[str, ...]
    columns: tuple[int, ...]
    image_size: int
    channels: tuple[int, ...]
    hidden: int = 128
    label_frequencies: int = 0

    def __post_init__(self) -> None:
        for name in ("names", "columns", "channels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.network not in ("dsprites", "attribute"):
            raise ValueError(f"ConceptSpec.network must be 'dsprites' or 'attribute', got {self.network!r}")
        if not self.columns or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in self.columns):
            raise ValueError(f"ConceptSpec.columns must be label column indices, got {self.columns}")
        if self.network == "attribute" and len(self.columns) != 1:
            raise ValueError("an attribute energy reads exactly one label column")
        for name in ("image_size", "hidden"):
            check_count(getattr(self, name), f"ConceptSpec.{name}")
        check_count(self.label_frequencies, "ConceptSpec.label_frequencies", minimum=0)
        check_widths(self.channels, "ConceptSpec.channels")


def build_concept_energy(spec: ConceptSpec) -> ColumnCondition:
    """An untrained concept energy of ``spec``."""
    if spec.network == "attribute":
        return ColumnCondition(AttributeEnergy(spec.image_size, spec.channels), spec.columns, as_index=True)
    net = DSpritesEnergy(cond_dim=len(spec.columns), image_size=spec.image_size, channels=spec.channels,
                         hidden=spec.hidden, label_frequencies=spec.label_frequencies)
    return ColumnCondition(net, spec.columns)


def _build(raw: Any) -> ColumnCondition:
    return build_concept_energy(config_from(ConceptSpec, raw))


def save_concept_energy(energy: ColumnCondition, spec: ConceptSpec, path: str | Path,
                        extra: dict[str, Any] | None = None) -> Path:
    """Write a trained concept energy and its spec to ``path`` (an ebm-core model file)."""
    return save_model_file(path, FORMAT, dataclasses.asdict(spec), energy, extra=extra)


def load_concept_energy(path: str | Path) -> tuple[ColumnCondition, ConceptSpec]:
    """``(energy, spec)`` from a model file, in eval mode; the file is checked whole first
    (``ValueError`` naming it)."""
    payload = read_model_file(path, FORMAT, _build, hint="; the compose apps write OUT/models/<model>.pt")
    energy = module_from_model_file(payload, _build)
    assert isinstance(energy, ColumnCondition)
    return energy, config_from(ConceptSpec, payload["config"])
