"""Spectrally normalized layers and activations (paper section 3.3, A.10)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


def check_image(x: torch.Tensor, channels: int, size: int | None = None) -> None:
    """Raise a ``ValueError`` unless ``x`` is a ``(B, channels, size, size)`` batch (any H, W if no size)."""
    hw = "H, W" if size is None else f"{size}, {size}"
    if x.dim() != 4 or x.shape[1] != channels or (size is not None and tuple(x.shape[2:]) != (size, size)):
        raise ValueError(f"expected images of shape (B, {channels}, {hw}), got {tuple(x.shape)}")


def activation(name: str) -> nn.Module:
    """The paper's activations: ``"swish"`` (x * sigmoid(x)), ``"leaky_relu"`` (slope 0.2), ``"relu"``."""
    if name == "swish":
        return nn.SiLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"activation must be 'swish', 'leaky_relu' or 'relu', got {name!r}")


def sn_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """Linear layer with torch's spectral-norm parametrization (one power iteration per forward)."""
    return spectral_norm(nn.Linear(in_features, out_features, bias=bias))


def sn_conv2d(
    in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
    padding: int | None = None, bias: bool = True,
) -> nn.Conv2d:
    """Conv2d with torch's spectral-norm parametrization; 'same' padding by default."""
    pad = kernel_size // 2 if padding is None else padding
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=pad, bias=bias)
    return spectral_norm(conv)


class ShrinkOnlySpectralNorm(nn.Module):
    """Parametrization W -> W / max(1, sigma(W)): bounds the spectral norm by 1 but never inflates.

    The reference code uses this for the near-zero-initialized second convolution of each
    residual block (A.10): plain spectral normalization would blow a 1e-10 init up to norm 1.
    """

    def __init__(self, weight: torch.Tensor, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        rows = weight.shape[0]
        cols = weight.numel() // rows
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        u = nn.functional.normalize(torch.randn(rows), dim=0, eps=eps)
        v = nn.functional.normalize(torch.randn(cols), dim=0, eps=eps)
        self.register_buffer("_u", u)
        self.register_buffer("_v", v)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        mat = weight.flatten(1)
        if self.training:
            with torch.no_grad():
                for _ in range(self.n_power_iterations):
                    self._v = nn.functional.normalize(mat.t() @ self._u, dim=0, eps=self.eps)
                    self._u = nn.functional.normalize(mat @ self._v, dim=0, eps=self.eps)
        sigma = torch.dot(self._u, mat @ self._v)
        return weight / torch.clamp(sigma, min=1.0)


def shrink_sn_conv2d(
    in_channels: int, out_channels: int, kernel_size: int = 3, init_std: float = 1e-10,
) -> nn.Conv2d:
    """3x3 conv initialized near zero (std ``init_std``) whose spectral norm is only ever shrunk."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    nn.init.normal_(conv.weight, std=init_std)
    nn.init.zeros_(conv.bias)
    parametrize.register_parametrization(conv, "weight", ShrinkOnlySpectralNorm(conv.weight))
    return conv
