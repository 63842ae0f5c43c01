"""MLP energy E(x, y) -> (B,) with spectral norm and optional conditioning."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .conditioning import class_indices
from .layers import activation, sn_linear


class MLPEnergy(nn.Module):
    """Energy of a flat vector ``x`` (B, in_dim), optionally conditioned on ``y``.

    Conditioning: ``cond_dim > 0`` concatenates a continuous ``y`` (B, cond_dim) to the input
    (the robotics models condition on the current state and action this way);
    ``num_classes > 0`` concatenates a one-hot of a class index (or a given one-hot).
    Hidden layers are spectrally normalized (section 3.3); the output layer is not by default,
    as in the reference code's head, so energies can take the scale the data asks for.
    """

    def __init__(
        self, in_dim: int, hidden: Sequence[int] = (128, 128, 128), cond_dim: int = 0,
        num_classes: int = 0, act: str = "swish", spectral_norm: bool = True,
        spectral_norm_output: bool = False,
    ):
        super().__init__()
        if num_classes and cond_dim:
            raise ValueError("give num_classes or cond_dim, not both")
        self.in_dim, self.cond_dim, self.num_classes = in_dim, cond_dim, num_classes
        layers: list[nn.Module] = []
        width = in_dim + cond_dim + num_classes
        for h in hidden:
            layers += [sn_linear(width, h) if spectral_norm else nn.Linear(width, h), activation(act)]
            width = h
        out = sn_linear(width, 1) if spectral_norm_output else nn.Linear(width, 1)
        self.net = nn.Sequential(*layers, out)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self._input(x, y)).squeeze(1)

    def energy_and_input_grad(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(E(x, y), dE/dx) by a hand-written backward pass through the layers, without autograd:
        the Langevin sampler's fast path for MLP energies (equal to autograd, tested). ``None``
        for a subclass that redefines ``forward``: the sampler then differentiates that."""
        if type(self).forward is not MLPEnergy.forward:
            return None
        h = self._input(x, y)
        layers = list(self.net)
        hidden = list(zip(layers[:-1:2], layers[1:-1:2]))
        pre = []
        for linear, act in hidden:
            z = torch.addmm(linear.bias, h, linear.weight.t())
            pre.append(z)
            h = act(z)
        out = layers[-1]
        e = torch.addmm(out.bias, h, out.weight.t()).squeeze(1)
        g = out.weight.expand(h.shape[0], -1)
        for (linear, act), z in zip(reversed(hidden), reversed(pre)):
            g = (g * _activation_slope(act, z)) @ linear.weight
        return e, g[:, : self.in_dim]

    def _input(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The network's input: x, with the condition appended; checks shapes."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape (B, {self.in_dim}), got {tuple(x.shape)}")
        parts = [x]
        if self.cond_dim:
            if y is None or y.shape != (x.shape[0], self.cond_dim):
                got = None if y is None else tuple(y.shape)
                raise ValueError(f"y must have shape ({x.shape[0]}, {self.cond_dim}), got {got}")
            parts.append(y.to(x.dtype))
        elif self.num_classes:
            indices = class_indices(y, x.shape[0], self.num_classes)
            onehot = nn.functional.one_hot(y.long(), self.num_classes) if indices else y
            parts.append(onehot.to(x.dtype))
        elif y is not None:
            raise ValueError("this energy is unconditional: y must be None")
        return x if len(parts) == 1 else torch.cat(parts, dim=1)  # no copy when unconditional


def _activation_slope(act: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """d act(z) / dz for the activations of :func:`activation`."""
    if isinstance(act, nn.SiLU):
        s = torch.sigmoid(z)
        return s * (1 + z * (1 - s))
    if isinstance(act, nn.LeakyReLU):
        return torch.where(z > 0, 1.0, act.negative_slope).to(z.dtype)
    if isinstance(act, nn.ReLU):
        return (z > 0).to(z.dtype)
    raise TypeError(f"no hand-written slope for {type(act).__name__}")
