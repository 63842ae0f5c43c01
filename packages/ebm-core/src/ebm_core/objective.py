"""Training objective: contrastive maximum likelihood (eq. 2) + alpha * L2 of energies (3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .checks import check_nonnegative
from .sampling_context import frozen_parameters


@dataclass(frozen=True)
class ObjectiveConfig:
    """``loss``: "ml" (eq. 2), "softplus" (softplus(E+ - E-)), "logsumexp" (self-normalized
    weights on negatives). ``l2_coeff`` is alpha (1 in the paper); ``kl_coeff`` weights the KL
    term of A.8 (0: off, as in all the paper's recipes except composition fine-tuning)."""

    loss: Literal["ml", "softplus", "logsumexp"] = "ml"
    l2_coeff: float = 1.0
    kl_coeff: float = 0.0

    def __post_init__(self) -> None:
        if self.loss not in ("ml", "softplus", "logsumexp"):
            raise ValueError(f"loss must be 'ml', 'softplus' or 'logsumexp', got {self.loss!r}")
        check_nonnegative(self.l2_coeff, "ObjectiveConfig.l2_coeff")
        check_nonnegative(self.kl_coeff, "ObjectiveConfig.kl_coeff")


def contrastive_loss(
    e_pos: torch.Tensor, e_neg: torch.Tensor, config: ObjectiveConfig = ObjectiveConfig(),
    e_kl: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss from energies of positives (data) and negatives (samples), and diagnostics.

    ``e_kl``: energies of chain end-points that still carry the graph through the chain,
    evaluated with frozen parameters (see :func:`kl_energy`).
    """
    for name, e in (("e_pos", e_pos), ("e_neg", e_neg)):
        if e.dim() != 1:  # (B, 1) against (B,) would broadcast to (B, B)
            raise ValueError(f"{name} must be one energy per sample, shape (B,), got {tuple(e.shape)}")
    if config.loss == "ml":
        main = e_pos.mean() - e_neg.mean()
    elif config.loss == "softplus":
        pairs = e_pos - e_neg if e_pos.shape == e_neg.shape else e_pos.mean() - e_neg
        main = nn.functional.softplus(pairs).mean()
    else:
        weights = torch.softmax(-e_neg.detach(), dim=0)
        main = e_pos.mean() - (weights * e_neg).sum()
    loss = main + config.l2_coeff * ((e_pos**2).mean() + (e_neg**2).mean())
    diag = {
        "e_pos": e_pos.detach().mean().item(),
        "e_neg": e_neg.detach().mean().item(),
        "gap": (e_neg.detach().mean() - e_pos.detach().mean()).item(),
    }
    if e_kl is not None and config.kl_coeff:
        kl = e_kl.mean()
        loss = loss + config.kl_coeff * kl
        diag["kl"] = kl.detach().item()
    diag["loss"] = loss.detach().item()
    return loss, diag


def kl_energy(energy: nn.Module, x_chain: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """E-bar(x~) of A.8: the energy with parameters held constant, gradient only through the chain."""
    with frozen_parameters(energy):
        return energy(x_chain, y)
