"""The paper's image energies (A.10, Figure 28; reference settings "Energy networks").

Every network maps ``(x, y=None) -> (B,)``: ``x`` is a ``(B, C, H, W)`` image batch in ``[0, 1]``,
``y`` a class index ``(B,)``, a one-hot ``(B, num_classes)``, a continuous ``(B, cond_dim)``
vector, or None for unconditional models (``num_classes=0`` and ``cond_dim=0``). Built only
from ebm-core blocks: spectrally normalized convs, the conditional ``ResBlock`` (per-class
input biases and output gains) and the paper's activations.
"""

from __future__ import annotations

from collections.abc import Sequence

from ebm_core import ResNetEnergy, StridedConvEnergy

# ResNetEnergy (ebm-core, shared with ebm-compose's CelebA energy) is the base of the residual nets here.


class ResNet32(ResNetEnergy):
    """Conditional CIFAR-10 net (Figure 28a): 128 ch, blocks 128, 128, 256 (down), 256, 256 (down), 256."""

    def __init__(self, num_classes: int = 10, act: str = "leaky_relu", in_channels: int = 3, cond_dim: int = 0):
        blocks = [(128, False), (128, False), (256, True), (256, False), (256, True), (256, False)]
        super().__init__(blocks, 128, in_channels, num_classes, cond_dim, act)


class ResNet32Large(ResNetEnergy):
    """Unconditional CIFAR-10 net (Figure 28b): 128/256/512 channels, 8 blocks, dropout 0.5 in blocks."""

    def __init__(
        self, num_classes: int = 0, act: str = "leaky_relu", in_channels: int = 3, cond_dim: int = 0,
        dropout: float = 0.5,
    ):
        blocks = [(128, False), (128, False), (256, True), (256, False),
                  (512, True), (512, False), (512, True), (512, False)]
        super().__init__(blocks, 128, in_channels, num_classes, cond_dim, act, dropout)


class ResNet32Wider(ResNetEnergy):
    """ResNet32 with W, 2W, 4W channels (reference: W=192 on CIFAR-10, W=256 on ImageNet32)."""

    def __init__(
        self, width: int = 192, num_classes: int = 0, act: str = "leaky_relu", in_channels: int = 3,
        cond_dim: int = 0,
    ):
        w = width
        blocks = [(w, False), (w, False), (2 * w, True), (2 * w, False), (4 * w, True), (4 * w, False)]
        super().__init__(blocks, w, in_channels, num_classes, cond_dim, act)


class ResNet128(ResNetEnergy):
    """Conditional ImageNet 128x128 net: 64 -> 128 -> 256 -> 512 -> 512 channels, each block
    halving the resolution (128 -> 4); 1000 classes. The reference trains it with ``act="swish"``."""

    def __init__(self, num_classes: int = 1000, act: str = "leaky_relu", in_channels: int = 3, cond_dim: int = 0):
        blocks = [(64, True), (128, True), (256, True), (512, True), (512, True)]
        super().__init__(blocks, 64, in_channels, num_classes, cond_dim, act)


class MNISTEnergy(StridedConvEnergy):
    """MNIST net (reference settings): 4x4 stride-2 convs with 64, 64, 128, 256 channels, a dense
    layer of 128, then linear -> 1, each conv conditioned by an input bias and output gain
    (ebm-core's :class:`StridedConvEnergy`)."""

    def __init__(
        self, num_classes: int = 0, act: str = "leaky_relu", in_channels: int = 1, image_size: int = 28,
        cond_dim: int = 0, channels: Sequence[int] = (64, 64, 128, 256), hidden: int = 128,
    ):
        super().__init__(in_channels, image_size, channels, hidden, num_classes, cond_dim, act)
