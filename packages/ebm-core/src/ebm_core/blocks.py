"""The paper's conditional residual block (A.10, Figure 28; reference settings)."""

from __future__ import annotations

import torch
from torch import nn

from .conditioning import ConditionVector
from .layers import activation, shrink_sn_conv2d, sn_conv2d


class ResBlock(nn.Module):
    """h = act(conv(x + b1)); h = g * conv(h + b2); out = act(pool(h + skip(x))).

    ``b1``, ``b2`` are per-class (or continuous-label, or learned plain) input biases, ``g`` an
    output gain initialized at 1. The second conv starts near zero and is only ever shrunk by
    its spectral norm; ``skip`` is a spectrally normalized 3x3 conv when channels change.
    Downsampling is 2x2 average pooling (the paper found it better than strided convs).
    """

    def __init__(
        self, in_channels: int, out_channels: int, downsample: bool = False,
        act: str = "leaky_relu", num_classes: int = 0, cond_dim: int = 0, dropout: float = 0.0,
    ):
        super().__init__()
        self.conv1 = sn_conv2d(in_channels, out_channels)
        self.conv2 = shrink_sn_conv2d(out_channels, out_channels)
        self.skip = sn_conv2d(in_channels, out_channels) if in_channels != out_channels else None
        self.bias1 = ConditionVector(in_channels, num_classes, cond_dim)
        self.bias2 = ConditionVector(out_channels, num_classes, cond_dim)
        self.gain = ConditionVector(out_channels, num_classes, cond_dim, init=1.0)
        self.act = activation(act)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.downsample = downsample

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        b = x.shape[0]
        h = self.act(self.conv1(x + self.bias1(y, b)[:, :, None, None]))
        h = self.dropout(h)
        h = self.gain(y, b)[:, :, None, None] * self.conv2(h + self.bias2(y, b)[:, :, None, None])
        out = h + (self.skip(x) if self.skip is not None else x)
        if self.downsample:
            out = nn.functional.avg_pool2d(out, 2)
        return self.act(out)
