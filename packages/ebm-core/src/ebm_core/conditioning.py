"""Turning a condition ``y`` (class index, one-hot, or continuous vector) into per-sample vectors."""

from __future__ import annotations

import weakref

import torch
from torch import nn

INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def class_indices(y: torch.Tensor | None, batch: int, num_classes: int) -> bool:
    """Checks a class condition and says its kind: True for class indices ``(B,)`` (an integer
    dtype), False for one-hot / soft labels ``(B, num_classes)`` (floating)."""
    if y is None:
        raise ValueError(f"this energy is class-conditional ({num_classes} classes): pass y")
    if y.dtype in INDEX_DTYPES:
        if y.shape != (batch,):
            raise ValueError(f"class labels y must have shape ({batch},), got {tuple(y.shape)}")
        return True
    if not y.is_floating_point():
        raise ValueError(f"class labels y must be integer indices or float one-hot rows, got dtype {y.dtype}")
    if y.shape != (batch, num_classes):
        hint = " (class indices must be an integer dtype, e.g. y.long())" if y.shape == (batch,) else ""
        raise ValueError(f"one-hot labels y must have shape ({batch}, {num_classes}), got {tuple(y.shape)}{hint}")
    return False


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
        self._range_message = f"class labels y must lie in [0, {num_classes})"
        self._checked: tuple[weakref.ref[torch.Tensor], int] | None = None  # the last label tensor checked

    def __getstate__(self) -> dict:
        """Pickling (``torch.save`` of a whole model) leaves out the weak reference to the last labels."""
        return {**self.__dict__, "_checked": None}

    def _check_range(self, y: torch.Tensor) -> None:
        """Class indices in [0, num_classes): a negative one would silently pick a class from the end.
        Checked once per label tensor (a Langevin chain passes the same ``y`` at every step); on a
        GPU the check is queued (``torch._assert_async``), so it costs no host sync."""
        if torch.compiler.is_compiling():
            if y.device.type in ("cpu", "cuda"):
                torch._assert_async(((y >= 0) & (y < self.num_classes)).all(), self._range_message)
            return
        try:
            key = (weakref.ref(y), y._version)
        except RuntimeError:  # inference tensors carry no version counter: check every time
            key = None
        if key is not None and self._checked is not None and self._checked[0]() is y and self._checked[1] == key[1]:
            return
        if y.device.type == "cuda":
            torch._assert_async(((y >= 0) & (y < self.num_classes)).all(), self._range_message)
        elif y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(f"{self._range_message}, got values in [{int(y.min())}, {int(y.max())}]")
        self._checked = key

    def forward(self, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        if self.num_classes:
            if class_indices(y, batch, self.num_classes):
                self._check_range(y)
                return self.table[y.long()]
            return y.to(self.table.dtype) @ self.table
        if self.cond_dim:
            if y is None or y.shape != (batch, self.cond_dim):
                got = None if y is None else tuple(y.shape)
                raise ValueError(f"continuous condition y must have shape ({batch}, {self.cond_dim}), got {got}")
            return self.table + self.proj(y.to(self.table.dtype))
        if y is not None:
            raise ValueError("this energy is unconditional: y must be None")
        return self.table.expand(batch, -1)
