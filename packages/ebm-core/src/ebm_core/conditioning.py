"""Turning a condition ``y`` (class index, one-hot, or continuous vector) into per-sample vectors."""

from __future__ import annotations

import torch
from torch import nn


class ConditionVector(nn.Module):
    """Maps ``y`` to a ``(B, dim)`` vector: the paper's per-class bias / gain (A.10).

    * ``num_classes > 0``: ``y`` is a class index ``(B,)`` (long) or a one-hot / soft label
      ``(B, num_classes)`` (float); one learned vector per class.
    * ``cond_dim > 0``: ``y`` is a continuous ``(B, cond_dim)`` vector, mapped linearly.
    * neither: unconditional; one learned vector shared by all samples (``y`` must be None).
    """

    def __init__(self, dim: int, num_classes: int = 0, cond_dim: int = 0, init: float = 0.0):
        super().__init__()
        if num_classes and cond_dim:
            raise ValueError("give num_classes (discrete labels) or cond_dim (continuous), not both")
        self.dim, self.num_classes, self.cond_dim = dim, num_classes, cond_dim
        rows = num_classes if num_classes else 1
        self.table = nn.Parameter(torch.full((rows, dim), float(init)))
        self.proj = nn.Linear(cond_dim, dim, bias=False) if cond_dim else None
        if self.proj is not None:
            nn.init.zeros_(self.proj.weight)

    def _check_labels(self, y: torch.Tensor) -> None:
        """Class indices in [0, num_classes): a negative one would silently pick a class from the end.
        On an accelerator (or while compiling) the check is queued, so it costs no host sync."""
        ok = ((y >= 0) & (y < self.num_classes)).all()
        msg = f"class labels y must lie in [0, {self.num_classes})"
        if y.device.type == "cpu" and not torch.compiler.is_compiling():
            if not ok:
                raise ValueError(f"{msg}, got values in [{int(y.min())}, {int(y.max())}]")
        else:
            torch._assert_async(ok, msg)

    def forward(self, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        if self.num_classes:
            if y is None:
                raise ValueError(f"this energy is class-conditional ({self.num_classes} classes): pass y")
            if y.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
                if y.shape != (batch,):
                    raise ValueError(f"class labels y must have shape ({batch},), got {tuple(y.shape)}")
                self._check_labels(y)
                return self.table[y.long()]
            if y.shape != (batch, self.num_classes):
                raise ValueError(
                    f"one-hot labels y must have shape ({batch}, {self.num_classes}), got {tuple(y.shape)}"
                )
            return y.to(self.table.dtype) @ self.table
        if self.cond_dim:
            if y is None or y.shape != (batch, self.cond_dim):
                got = None if y is None else tuple(y.shape)
                raise ValueError(f"continuous condition y must have shape ({batch}, {self.cond_dim}), got {got}")
            return self.table + self.proj(y.to(self.table.dtype))
        if y is not None:
            raise ValueError("this energy is unconditional: y must be None")
        return self.table.expand(batch, -1)
