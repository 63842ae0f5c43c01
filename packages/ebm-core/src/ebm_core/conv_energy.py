"""Image energies built from ebm-core's layers: the strided conv energy of the reference MNIST and
dSprites nets, and the residual energy of the reference CIFAR / ImageNet nets (A.10, Figure 28)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .blocks import ResBlock
from .conditioning import ConditionVector
from .layers import activation, check_image, sn_conv2d, sn_linear


class StridedConvEnergy(nn.Module):
    """4x4 stride-2 spectrally normalized convs, each seeing ``act(g * conv(h + b))`` with a
    conditional input bias ``b`` and output gain ``g`` (class index, continuous label, or learned
    plain vectors when unconditional), then a dense layer and linear -> 1."""

    def __init__(
        self, in_channels: int, image_size: int, channels: Sequence[int], hidden: int = 128,
        num_classes: int = 0, cond_dim: int = 0, act: str = "swish",
    ):
        super().__init__()
        self.in_channels, self.image_size = in_channels, image_size
        self.num_classes, self.cond_dim = num_classes, cond_dim
        convs, biases, gains = [], [], []
        width, size = in_channels, image_size
        for c in channels:
            convs.append(sn_conv2d(width, c, kernel_size=4, stride=2, padding=1))
            biases.append(ConditionVector(width, num_classes, cond_dim))
            gains.append(ConditionVector(c, num_classes, cond_dim, init=1.0))
            width, size = c, (size + 2 - 4) // 2 + 1
        if size < 1:
            raise ValueError(f"image_size {image_size} is too small for {len(channels)} stride-2 convs")
        self.convs, self.biases, self.gains = nn.ModuleList(convs), nn.ModuleList(biases), nn.ModuleList(gains)
        self.act = activation(act)
        self.dense = sn_linear(width * size * size, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_image(x, self.in_channels, self.image_size)
        b, h = x.shape[0], x
        for conv, bias, gain in zip(self.convs, self.biases, self.gains):
            h = self.act(gain(y, b)[:, :, None, None] * conv(h + bias(y, b)[:, :, None, None]))
        return self.out(self.act(self.dense(h.flatten(1)))).squeeze(1)


class ResNetEnergy(nn.Module):
    """Input conv, a stack of conditional residual blocks (:class:`ResBlock`), then the reference
    head: activation, global SUM pooling over space, linear C -> 1 (no spectral norm).

    ``blocks`` lists ``(channels, downsample)`` per residual block; ``dropout`` is applied inside
    every block (active in training mode only); ``image_size``, if given, is checked on input.
    """

    def __init__(
        self, blocks: Sequence[tuple[int, bool]], stem_channels: int, in_channels: int = 3,
        num_classes: int = 0, cond_dim: int = 0, act: str = "leaky_relu", dropout: float = 0.0,
        image_size: int | None = None,
    ):
        super().__init__()
        if not blocks:
            raise ValueError("a ResNetEnergy needs at least one residual block")
        self.in_channels, self.num_classes, self.cond_dim = in_channels, num_classes, cond_dim
        self.image_size = image_size
        self.stem = sn_conv2d(in_channels, stem_channels)
        layers, width = [], stem_channels
        for channels, down in blocks:
            layers.append(ResBlock(width, channels, downsample=down, act=act, num_classes=num_classes,
                                   cond_dim=cond_dim, dropout=dropout))
            width = channels
        self.blocks = nn.ModuleList(layers)
        self.head_act = activation(act)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_image(x, self.in_channels, self.image_size)
        h = self.stem(x)
        for block in self.blocks:
            h = block(h, y)
        return self.head(self.head_act(h).sum(dim=(2, 3))).squeeze(1)
