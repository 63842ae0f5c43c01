"""Strided conv energy of the reference MNIST and dSprites nets (A.10, reference settings)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .conditioning import ConditionVector
from .layers import activation, sn_conv2d, sn_linear


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
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.in_channels, self.image_size, self.image_size):
            s = self.image_size
            raise ValueError(f"expected images of shape (B, {self.in_channels}, {s}, {s}) ({s}x{s} images), "
                             f"got {tuple(x.shape)}")
        b, h = x.shape[0], x
        for conv, bias, gain in zip(self.convs, self.biases, self.gains):
            h = self.act(gain(y, b)[:, :, None, None] * conv(h + bias(y, b)[:, :, None, None]))
        return self.out(self.act(self.dense(h.flatten(1)))).squeeze(1)
