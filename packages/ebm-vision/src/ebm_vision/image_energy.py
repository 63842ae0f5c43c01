"""Build an image energy from a config, and save / load trained ones (with their config).

A model file is ebm-core's (``ebm_core.model_file``): ``{"format", "config", "state_dict",
"snapshots", "extra"}``; ``snapshots`` are the state dicts of the last training snapshots (the
historical ensemble of A.2), possibly empty.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ebm_core import snapshot_ensemble, weight_average
from ebm_core.checks import check_count, check_widths
from ebm_core.model_file import config_from, save_model_file
from ebm_core.model_file import read_model_file as _read_model_file
from torch import nn

from .networks import MNISTEnergy, ResNet32, ResNet32Large, ResNet32Wider, ResNet128

ARCHS = ("mnist", "resnet32", "resnet32_large", "resnet32_wider", "resnet128")
FORMAT = "ebm-vision/image-energy/v1"


@dataclass(frozen=True)
class ImageEnergyConfig:
    """Which energy network, for which images. ``num_classes=0`` is unconditional. ``width`` is
    ResNet32Wider's W (192 CIFAR-10, 256 ImageNet32); ``dropout`` ResNet32Large's (0.5).
    ``mnist_channels`` / ``mnist_hidden`` size the MNIST net (reference: 64, 64, 128, 256 and 128)."""

    arch: str = "mnist"
    num_classes: int = 10
    in_channels: int = 1
    image_size: int = 28
    act: str = "leaky_relu"
    width: int = 192
    dropout: float = 0.5
    mnist_channels: tuple[int, ...] = (64, 64, 128, 256)
    mnist_hidden: int = 128

    def __post_init__(self) -> None:
        object.__setattr__(self, "mnist_channels", tuple(self.mnist_channels))
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        check_count(self.num_classes, "ImageEnergyConfig.num_classes", minimum=0)
        for name in ("in_channels", "image_size", "width", "mnist_hidden"):
            check_count(getattr(self, name), f"ImageEnergyConfig.{name}")
        check_widths(self.mnist_channels, "ImageEnergyConfig.mnist_channels")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ImageEnergyConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images this energy takes."""
        return (self.in_channels, self.image_size, self.image_size)


def build_energy(config: ImageEnergyConfig) -> nn.Module:
    """A freshly initialized energy ``(x, y=None) -> (B,)`` for ``config``."""
    c = config
    if c.arch == "mnist":
        return MNISTEnergy(c.num_classes, c.act, c.in_channels, c.image_size, channels=c.mnist_channels,
                           hidden=c.mnist_hidden)
    if c.arch == "resnet32":
        return ResNet32(c.num_classes, c.act, c.in_channels)
    if c.arch == "resnet32_large":
        return ResNet32Large(c.num_classes, c.act, c.in_channels, dropout=c.dropout)
    if c.arch == "resnet32_wider":
        return ResNet32Wider(c.width, c.num_classes, c.act, c.in_channels)
    return ResNet128(c.num_classes, c.act, c.in_channels)


def save_image_energy(
    energy: nn.Module, config: ImageEnergyConfig, path: str | Path,
    snapshots: list[dict[str, torch.Tensor]] | None = None, extra: dict[str, Any] | None = None,
) -> Path:
    """Write a trained energy, its config and optional ensemble snapshots atomically (an ebm-core
    model file)."""
    return save_model_file(path, FORMAT, dataclasses.asdict(config), energy, snapshots, extra)


def read_model_file(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checked contents of an image-energy model file (``format``, ``config``, ``state_dict``,
    ``snapshots``, ``extra``): read it once, then build with ``energy_from_payload`` and look into
    ``extra``. Everything is checked first (ebm-core's ``read_model_file``: a config
    ``ImageEnergyConfig`` accepts, weights of exactly its network's shapes, compared on the meta
    device); else one ``ValueError`` naming the file."""
    return _read_model_file(path, FORMAT, lambda raw: build_energy(config_from(ImageEnergyConfig, raw)), map_location,
                            hint="; the apps write model.pt, or write one with save_image_energy")


def payload_config(payload: dict[str, Any]) -> ImageEnergyConfig:
    """The ``ImageEnergyConfig`` stored in a model file's contents (checked by :func:`read_model_file`)."""
    return config_from(ImageEnergyConfig, payload["config"])


def payload_seed(payload: dict[str, Any]) -> int | None:
    """The training seed recorded in a model file written by ``train_image_energy`` (None if absent)."""
    try:
        recorded = payload["extra"]["training"]  # an ImageTrainingConfig; older files name the section "trainer"
        return int((recorded["training"] if "training" in recorded else recorded["trainer"])["seed"])
    except (KeyError, TypeError, ValueError):
        return None


def energy_from_payload(
    payload: dict[str, Any], map_location: str | torch.device = "cpu", ensemble: bool = False,
    average: bool = False,
) -> tuple[nn.Module, ImageEnergyConfig]:
    """``(energy, config)`` built from a model file's contents (see ``load_image_energy``)."""
    if ensemble and average:
        raise ValueError("ask for the ensemble or the weight average, not both")
    config = payload_config(payload)
    energy = build_energy(config)
    energy.load_state_dict(payload["state_dict"])
    energy = energy.to(map_location)
    if ensemble:
        energy = snapshot_ensemble(energy, payload["snapshots"])
    elif average:
        energy = weight_average(energy, payload["snapshots"])
    return energy.eval(), config


def load_image_energy(
    path: str | Path, map_location: str | torch.device = "cpu", ensemble: bool = False, average: bool = False,
) -> tuple[nn.Module, ImageEnergyConfig]:
    """``(energy, config)`` from a model file, in eval mode. With stored snapshots, ``ensemble=True``
    gives the mean of their energies (the historical ensemble, A.2), ``average=True`` one model with
    the mean of their weights (``ebm_core.weight_average``); without, the last weights."""
    return energy_from_payload(read_model_file(path, map_location), map_location, ensemble, average)
