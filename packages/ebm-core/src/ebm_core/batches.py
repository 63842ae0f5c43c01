"""Reproducible minibatches: epoch permutations from a seeded generator, checkpointable."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

Data = tuple[torch.Tensor, torch.Tensor | None] | Dataset


class BatchStream:
    """Endless minibatches over ``data``: a tuple ``(x, y)`` of tensors (``y`` may be None) or a
    torch ``Dataset`` whose items are ``(x, y)`` or ``x``. The order depends only on ``seed``,
    and ``state_dict`` captures the position exactly (for bit-identical resume)."""

    def __init__(self, data: Data, batch_size: int, seed: int = 0):
        if isinstance(data, tuple):
            if len(data) != 2 or not isinstance(data[0], torch.Tensor):
                raise ValueError("tensor data must be a tuple (x, y) with y a tensor or None")
            x, y = data
            if y is not None and y.shape[0] != x.shape[0]:
                raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
            self.n = x.shape[0]
        else:
            self.n = len(data)  # type: ignore[arg-type]
        if self.n < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {self.n} training examples")
        self.data, self.batch_size = data, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(self.n, generator=self.generator)
        self.pos = 0

    def _fetch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if isinstance(self.data, tuple):
            x, y = self.data
            return x[idx], (y[idx] if y is not None else None)
        items = default_collate([self.data[int(i)] for i in idx])
        if isinstance(items, (list, tuple)):
            return items[0], items[1] if len(items) > 1 else None
        return items, None

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pos + self.batch_size > self.n:
            self.perm = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return self._fetch(idx)

    def state_dict(self) -> dict[str, Any]:
        return {"perm": self.perm.clone(), "pos": self.pos, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.perm, self.pos = state["perm"].clone(), state["pos"]
        self.generator.set_state(state["generator"])
