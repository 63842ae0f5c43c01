"""Energy networks and the latent / attribute predictors used to score samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from ebm_core import ResNetEnergy, StridedConvEnergy
from ebm_core.layers import check_image
from torch import nn


class DSpritesEnergy(StridedConvEnergy):
    """The reference dSprites net: 4x4 stride-2 convs with 32, 64, 128, 128, 128 channels, a dense
    layer of 128, then linear -> 1; swish. Each conv is conditioned on the continuous label
    (``cond_dim`` > 0) by an input bias and output gain (ebm-core's :class:`StridedConvEnergy`).

    ``label_frequencies`` = K > 0 (not in the reference code, which uses K = 0) conditions on
    ``[y, sin(2^k pi y), cos(2^k pi y)]`` for k < K instead of ``y``: with the raw label the gains and
    biases are linear in, e.g., the position, and a briefly trained model ignores it (the CPU preset)."""

    def __init__(
        self, cond_dim: int = 0, image_size: int = 64, in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128, 128, 128), hidden: int = 128, act: str = "swish",
        label_frequencies: int = 0,
    ):
        if label_frequencies < 0:
            raise ValueError(f"label_frequencies must be >= 0, got {label_frequencies}")
        super().__init__(in_channels, image_size, channels, hidden, 0, cond_dim * (1 + 2 * label_frequencies), act)
        self.label_frequencies = label_frequencies

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_frequencies and y is not None:
            feats = [y]
            for k in range(self.label_frequencies):
                feats += [torch.sin((2**k * math.pi) * y), torch.cos((2**k * math.pi) * y)]
            y = torch.cat(feats, dim=1)
        return super().forward(x, y)


class ColumnCondition(nn.Module):
    """A concept energy: passes the columns ``columns`` of a full label vector to ``energy``.

    All concept models of an experiment then take the same label, so that a ``SumEnergy`` of
    them with ``pass_y=True`` is trained and sampled with one label per image (section 7).

    ``as_index=True`` (one column): the column itself is passed, e.g. a class index ``(B,)``.
    """

    def __init__(self, energy: nn.Module, columns: Sequence[int], as_index: bool = False):
        super().__init__()
        if as_index and len(columns) != 1:
            raise ValueError("as_index=True needs exactly one column")
        self.energy, self.as_index = energy, as_index
        self.register_buffer("columns", torch.as_tensor(list(columns), dtype=torch.long), persistent=False)
        self._columns = tuple(int(c) for c in columns)  # on the host: checked without a device sync

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None or y.dim() != 2:
            raise ValueError(f"a concept energy needs the label matrix y of shape (B, L), got "
                             f"{None if y is None else tuple(y.shape)}")
        if y.shape[1] <= max(self._columns):
            raise ValueError(f"this concept reads label columns {list(self._columns)}, but y has only "
                             f"{y.shape[1]} columns (pass the full label matrix)")
        picked = y.index_select(1, self.columns.to(y.device))
        return self.energy(x, picked[:, 0] if self.as_index else picked)


class AttributeEnergy(ResNetEnergy):
    """Attribute-conditional image energy for CelebA (A.9): ebm-core's residual energy with one
    downsampling block per entry of ``channels``, per-class bias and gain (2 classes: attribute
    absent / present), global sum pool, linear."""

    def __init__(self, image_size: int = 32, channels: Sequence[int] = (32, 64, 64), act: str = "leaky_relu"):
        super().__init__([(c, True) for c in channels], channels[0], in_channels=3, num_classes=2, act=act,
                         image_size=image_size)
        self.register_load_state_dict_pre_hook(_rename_old_head)


def _rename_old_head(module: nn.Module, state_dict: dict, prefix: str, *args: object) -> None:
    """Files written before AttributeEnergy became a ResNetEnergy name its final linear ``out``."""
    for name in ("weight", "bias"):
        old = f"{prefix}out.{name}"
        if old in state_dict and f"{prefix}head.{name}" not in state_dict:
            state_dict[f"{prefix}head.{name}"] = state_dict.pop(old)


class PlainCNN(nn.Module):
    """Small classifier / regressor CNN (no spectral norm): 3x3 convs, stride 2, then linear;
    ``batch_norm`` adds batch normalization after each conv."""

    def __init__(
        self, in_channels: int, image_size: int, outputs: int, channels: Sequence[int] = (32, 64, 128),
        batch_norm: bool = False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width, size = in_channels, image_size
        for c in channels:
            layers.append(nn.Conv2d(width, c, 3, stride=2, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.SiLU())
            width, size = c, (size - 1) // 2 + 1
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(width * size * size, 256), nn.SiLU(), nn.Linear(256, outputs))
        self.in_channels, self.image_size = in_channels, image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, self.in_channels, self.image_size)
        return self.head(self.features(x))
