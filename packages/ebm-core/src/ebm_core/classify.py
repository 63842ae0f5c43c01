"""Classification with a class-conditional energy: ``E(x, c)`` for every class ``c`` and the label
of lowest energy (the paper's EBM classifier: section 4.3 robustness, section 6 Split MNIST)."""

from __future__ import annotations

import torch
from torch import nn

Classes = int | torch.Tensor


def _class_values(classes: Classes, device: torch.device) -> torch.Tensor:
    if isinstance(classes, torch.Tensor):
        values = classes.to(device=device, dtype=torch.long).flatten()
    else:
        values = torch.arange(int(classes), device=device)
    if values.numel() < 1:
        raise ValueError(
            "classification needs a class-conditional energy and at least one class, got "
            f"{classes if not isinstance(classes, torch.Tensor) else 'an empty class tensor'}"
        )
    return values


def repeat_per_class(x: torch.Tensor, classes: Classes) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image once per class: states ``(B * K, ...)`` (image-major) and their labels ``(B * K,)``.

    ``classes``: ``K`` for the classes ``0 .. K-1``, or a tensor of the ``K`` class indices to use."""
    values = _class_values(classes, x.device)
    b, k = x.shape[0], values.numel()
    xs = x.unsqueeze(1).expand(b, k, *x.shape[1:]).reshape(b * k, *x.shape[1:])
    return xs, values.repeat(b)


def class_energies(energy: nn.Module, x: torch.Tensor, classes: Classes) -> torch.Tensor:
    """``E(x, c)`` of every image under every class, shape ``(B, K)``; one forward of ``B * K``
    states, differentiable in ``x`` and the parameters (``-class_energies`` are logits)."""
    xs, ys = repeat_per_class(x, classes)
    return energy(xs, ys).view(x.shape[0], -1)


@torch.no_grad()
def lowest_energy_class(
    energy: nn.Module, x: torch.Tensor, classes: Classes = 10, batch_size: int = 1000
) -> torch.Tensor:
    """``argmin_c E(x, c)`` for each image (section 6), in batches of ``batch_size`` images, with
    the energy in eval mode (restored afterwards); returns class indices ``(N,)`` on ``x``'s device."""
    values = _class_values(classes, x.device)
    was_training = energy.training
    energy.eval()
    try:
        picks = [class_energies(energy, xb, values).argmin(dim=1) for xb in x.split(batch_size)]
    finally:
        energy.train(was_training)
    return values[torch.cat(picks)] if picks else values.new_empty(0)
