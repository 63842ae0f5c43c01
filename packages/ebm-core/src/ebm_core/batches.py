"""Reproducible minibatches: a torch ``DataLoader`` over a ``Dataset`` (or ``(x, y)`` tensors),
its batch order drawn from seeded epoch permutations, its position saved exactly."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

Data = tuple[torch.Tensor, torch.Tensor | None] | Dataset
Batch = tuple[torch.Tensor, torch.Tensor | None]


class TensorPairs(Dataset):
    """``(x, y)`` tensors as a torchvision-style Dataset (items ``(x[i], y[i])``, or ``x[i]`` when
    ``y`` is None) whose minibatches are read by one indexing each (``__getitems__``)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None = None):
        if not isinstance(x, torch.Tensor) or (y is not None and not isinstance(y, torch.Tensor)):
            raise ValueError("tensor data must be a tuple (x, y) with y a tensor or None")
        if y is not None and y.shape[0] != x.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> Any:
        return self.x[i] if self.y is None else (self.x[i], self.y[i])

    def __getitems__(self, idx: Sequence[int] | torch.Tensor) -> Batch:
        rows = torch.as_tensor(idx, dtype=torch.long)
        return self.x[rows], (self.y[rows] if self.y is not None else None)


def _already_batched(batch: Batch) -> Batch:
    return batch


def _as_pair(items: list[Any] | Batch) -> Batch:
    """``default_collate`` of a Dataset's items, as ``(x, y)`` (``y`` None for items without labels);
    a tuple is a batch already (a ``Subset`` of :class:`TensorPairs` reads through its ``__getitems__``)."""
    if isinstance(items, tuple):
        return items
    batch = default_collate(items)
    if isinstance(batch, (list, tuple)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


class EpochBatches(Sampler[torch.Tensor]):
    """Endless index batches: per epoch a fresh permutation of the ``n`` items from ``seed``'s
    generator, cut into global batches of ``batch_size * world`` (the rest of the epoch is
    skipped), of which this ``rank`` reads its own ``batch_size`` slice (the role of torch's
    ``DistributedSampler``: every rank draws the same permutation, no item is read twice in an
    epoch); the first ``skip`` batches are passed over (exact resume). Batches are index tensors,
    or lists with ``as_lists`` (for Datasets read item by item)."""

    def __init__(self, n: int, batch_size: int, seed: int, skip: int = 0, as_lists: bool = False,
                 rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed, self.skip, self.as_lists = n, batch_size, seed, skip, as_lists
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[torch.Tensor | list[int]]:
        generator = torch.Generator().manual_seed(self.seed)
        size = self.batch_size * self.world
        per_epoch = self.n // size
        for _ in range(self.skip // per_epoch):
            torch.randperm(self.n, generator=generator)
        first = self.skip % per_epoch
        while True:
            perm = torch.randperm(self.n, generator=generator)
            for k in range(first, per_epoch):
                start = k * size + self.rank * self.batch_size
                batch = perm[start:start + self.batch_size]
                yield batch.tolist() if self.as_lists else batch
            first = 0


class BatchStream:
    """Endless minibatches ``(x, y)`` (``y`` None without labels) of ``data``: ``(x, y)`` tensors
    or a torch ``Dataset`` whose items are ``(x, y)`` or ``x``, read through a ``DataLoader``
    (``workers`` > 0: in that many worker processes). In a job of ``world`` processes each
    ``rank`` reads its slice of global batches of ``batch_size * world``. The order depends only on ``seed``;
    ``state_dict`` holds the batches consumed, so a resumed stream reads exactly the items it would
    have read, with any number of workers. The items are then bit-identical too for a Dataset that
    draws no random numbers (tensors, ``TensorPairs``); one that does (e.g. dequantization noise)
    draws them from torch's global stream with ``workers=0`` (restored on resume by the Trainer's
    checkpoint) but from the workers' own streams with ``workers`` > 0, which a resume restarts."""

    def __init__(self, data: Data, batch_size: int, seed: int = 0, workers: int = 0, rank: int = 0,
                 world: int = 1):
        if isinstance(data, tuple):
            if len(data) != 2:
                raise ValueError("tensor data must be a tuple (x, y) with y a tensor or None")
            data = TensorPairs(*data)
        self.dataset, self.n = data, len(data)  # type: ignore[arg-type]
        if self.n < batch_size * world:
            raise ValueError(f"batch_size {batch_size}{f' x {world} processes' if world > 1 else ''} exceeds the "
                             f"{self.n} training examples")
        self.batch_size, self.seed, self.workers, self.rank, self.world = batch_size, seed, workers, rank, world
        self.batched = isinstance(data, TensorPairs)  # other Datasets' __getitems__ (Subset's) return items
        self.collate = _already_batched if self.batched else _as_pair
        self.consumed = 0
        self._restart()

    def _restart(self) -> None:
        order = EpochBatches(self.n, self.batch_size, self.seed, self.consumed, not self.batched, self.rank, self.world)
        # its own generator: the workers' seeds leave torch's global stream untouched; forkserver: a
        # worker forked from a process whose OpenMP threads already ran can hang
        loader = DataLoader(self.dataset, batch_sampler=order, num_workers=self.workers, collate_fn=self.collate,
                            generator=torch.Generator().manual_seed(self.seed),
                            multiprocessing_context="forkserver" if self.workers else None)
        self._batches = iter(loader)

    def peek(self, count: int) -> Batch:
        """The first ``count`` items, collated as a batch (to check shapes before training)."""
        idx = list(range(min(count, self.n)))
        getitems = getattr(self.dataset, "__getitems__", None)
        return self.collate(getitems(idx) if getitems else [self.dataset[i] for i in idx])

    def next(self) -> Batch:
        self.consumed += 1
        return next(self._batches)

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.consumed, "n": self.n, "batch_size": self.batch_size, "world": self.world}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "batches" not in state:
            raise ValueError("the checkpoint's data position was written by an earlier version of ebm-core "
                             "(a saved permutation); start a new run folder")
        if state.get("world", 1) != self.world:
            n = state.get("world", 1)
            raise ValueError(f"the checkpoint was written by {n} process{'es' if n > 1 else ''}; resume it with as "
                             f"many (torchrun --nproc_per_node), not {self.world}")
        self.consumed = int(state["batches"])
        self._restart()
