"""8-bit images and the paper's dequantization: ``(q + U(0, 1)) / 256`` (A.1 likelihoods, the
replay buffer stored as uint8 in the reference code)."""

from __future__ import annotations

import torch


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> uint8 levels ``floor(256 x)`` clipped to [0, 255] (inverse of :func:`dequantize`)."""
    if not x.is_floating_point():
        raise ValueError(f"quantize expects floating point images in [0, 1], got {x.dtype}")
    return (x * 256).floor().clamp(0, 255).to(torch.uint8)


def dequantize(q: torch.Tensor, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """8-bit images -> floats in [0, 1): ``(q + U(0, 1)) / 256`` (the paper's dequantization)."""
    if q.dtype != torch.uint8:
        raise ValueError(f"dequantize expects uint8 images, got {q.dtype}")
    u = torch.rand(q.shape, generator=generator, dtype=dtype, device=q.device)
    return (q.to(dtype) + u) / 256.0
