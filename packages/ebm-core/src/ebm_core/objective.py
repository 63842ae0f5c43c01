"""Training objective: contrastive maximum likelihood (eq. 2) + alpha * L2 of energies (3.3), optionally
a classification term over class-conditional energies (not in the paper)."""

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
    term of A.8 (0: off, as in all the paper's recipes except composition fine-tuning).

    ``class_coeff`` (0: off, as in the paper) weights a classification term for class-conditional
    energies: the cross-entropy of ``softmax_c(-E(x+, c))`` over the classes ``classes`` against the
    positives' labels (log p(y | x) of the model, as in JEM, Grathwohl et al. 2020). Eq. 2 alone pushes
    ``E(x+, y)`` down and ``E(x-, y)`` up for one class at a time and never compares a class with
    another on the same image; this term teaches those margins."""

    loss: Literal["ml", "softplus", "logsumexp"] = "ml"
    l2_coeff: float = 1.0
    kl_coeff: float = 0.0
    class_coeff: float = 0.0
    classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.loss not in ("ml", "softplus", "logsumexp"):
            raise ValueError(f"loss must be 'ml', 'softplus' or 'logsumexp', got {self.loss!r}")
        check_nonnegative(self.l2_coeff, "ObjectiveConfig.l2_coeff")
        check_nonnegative(self.kl_coeff, "ObjectiveConfig.kl_coeff")
        check_nonnegative(self.class_coeff, "ObjectiveConfig.class_coeff")
        if not isinstance(self.classes, tuple) or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in self.classes):
            raise ValueError(f"ObjectiveConfig.classes must be a tuple of class indices >= 0, got {self.classes!r}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"ObjectiveConfig.classes repeats a class: {self.classes}")
        if self.class_coeff and len(self.classes) < 2:
            raise ValueError("ObjectiveConfig.class_coeff > 0 needs at least two classes to compare "
                             f"(ObjectiveConfig.classes, e.g. tuple(range(10))), got {self.classes}")


def contrastive_loss(
    e_pos: torch.Tensor, e_neg: torch.Tensor, config: ObjectiveConfig = ObjectiveConfig(),
    e_kl: torch.Tensor | None = None, class_logits: torch.Tensor | None = None,
    class_targets: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss from energies of positives (data) and negatives (samples), and diagnostics.

    ``e_kl``: energies of chain end-points that still carry the graph through the chain,
    evaluated with frozen parameters (see :func:`kl_energy`). ``class_logits``: ``-E(x+, c)`` of
    every positive under every class of ``config.classes``, ``(B, K)``, with ``class_targets`` the
    positions ``(B,)`` of the positives' labels among them (the term of ``config.class_coeff``).
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
    if class_logits is not None and config.class_coeff:
        ce = nn.functional.cross_entropy(class_logits, class_targets)
        loss = loss + config.class_coeff * ce
        diag["class_loss"] = ce.detach().item()
        diag["class_accuracy"] = (class_logits.detach().argmax(1) == class_targets).float().mean().item()
    diag["loss"] = loss.detach().item()
    return loss, diag


def kl_energy(energy: nn.Module, x_chain: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """E-bar(x~) of A.8: the energy with parameters held constant, gradient only through the chain."""
    with frozen_parameters(energy):
        return energy(x_chain, y)
