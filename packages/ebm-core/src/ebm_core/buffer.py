"""Sample replay buffer (section 3.2): a preallocated tensor ring of past negatives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .checks import check_count, check_probability, check_state
from .quantization import dequantize, quantize


class ReplayBuffer:
    """Ring of ``capacity`` past samples (and optionally their labels).

    ``sample(n, fresh)`` starts each chain from a stored sample with probability
    ``replay_prob`` (0.95 in the paper) and from the fresh initial state otherwise. With
    ``uint8=True`` samples in [0, 1] are stored quantized to 256 levels and dequantized on read
    with uniform noise, as the reference code does for images. With ``label_shape`` set, labels
    are stored beside samples and a replayed sample comes back with its own label; without it, a
    replayed sample takes the label of its batch slot (the reference behaviour).
    """

    def __init__(
        self, sample_shape: Sequence[int], capacity: int = 10_000, replay_prob: float = 0.95,
        uint8: bool = False, label_shape: Sequence[int] | None = None,
        label_dtype: torch.dtype = torch.long, dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        check_count(capacity, "capacity")
        check_probability(replay_prob, "replay_prob")
        if not isinstance(sample_shape, Sequence) or not sample_shape or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in sample_shape):
            raise ValueError(f"sample_shape must be a non-empty sequence of sizes >= 1, got {sample_shape!r}")
        self.sample_shape = tuple(sample_shape)
        self.capacity, self.replay_prob, self.uint8, self.dtype = capacity, replay_prob, uint8, dtype
        self.device = torch.device(device)
        store_dtype = torch.uint8 if uint8 else dtype
        self.samples = torch.zeros((capacity, *self.sample_shape), dtype=store_dtype, device=self.device)
        self.labels = (
            torch.zeros((capacity, *label_shape), dtype=label_dtype, device=self.device)
            if label_shape is not None else None
        )
        self.size = 0
        self.ptr = 0

    def __len__(self) -> int:
        return self.size

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        if not self.uint8:
            return x.to(self.dtype)
        return quantize(x)

    def _decode(self, q: torch.Tensor) -> torch.Tensor:
        if not self.uint8:
            return q.clone()
        return dequantize(q, dtype=self.dtype)

    def add(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Store a batch (the oldest entries are overwritten once full)."""
        check_state(x, "x")
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"buffer holds samples of shape {self.sample_shape}, got {tuple(x.shape[1:])}")
        if self.labels is not None:
            if y is None or y.shape[0] != x.shape[0] or tuple(y.shape[1:]) != tuple(self.labels.shape[1:]):
                got = None if y is None else tuple(y.shape)
                raise ValueError(
                    f"this buffer stores labels of shape (B, *{tuple(self.labels.shape[1:])}); got {got}"
                )
        x = x.detach()[-self.capacity:]
        n = x.shape[0]
        idx = (self.ptr + torch.arange(n, device=self.device)) % self.capacity
        self.samples[idx] = self._encode(x.to(self.device))
        if self.labels is not None:
            self.labels[idx] = y.detach()[-self.capacity:].to(self.device, self.labels.dtype)
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def latest(self, n: int) -> torch.Tensor:
        """The ``n`` most recently added samples (fewer if the buffer holds fewer), oldest first, as
        floats (a uint8 buffer's at the centre of each bin, without the dequantization noise)."""
        q = self.samples[self._latest_index(n, "latest(n)")]
        return (q.to(self.dtype) + 0.5) / 256 if self.uint8 else q.clone()

    def latest_labels(self, n: int) -> torch.Tensor | None:
        """The labels of :meth:`latest`'s samples, in the same order (None for a buffer without labels)."""
        return None if self.labels is None else self.labels[self._latest_index(n, "latest_labels(n)")].clone()

    def _latest_index(self, n: int, name: str) -> torch.Tensor:
        check_count(n, name, minimum=0)
        n = min(n, self.size)
        return (self.ptr - n + torch.arange(n, device=self.device)) % self.capacity

    def sample(
        self, n: int, fresh: torch.Tensor | Callable[[int], torch.Tensor],
        fresh_labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Initial states for ``n`` chains: ``(x0, y0, replayed)``, ``replayed`` a (n,) bool mask.

        ``fresh`` is a tensor (n, *sample_shape) or a function n -> such a tensor; ``fresh_labels``
        the batch's labels (the labels of fresh rows, and of replayed rows when labels are not
        stored).
        """
        x = fresh(n) if callable(fresh) else fresh
        if tuple(x.shape) != (n, *self.sample_shape):
            raise ValueError(f"fresh states must have shape {(n, *self.sample_shape)}, got {tuple(x.shape)}")
        x = x.to(self.device, self.dtype).clone()
        y = fresh_labels.clone() if fresh_labels is not None else None
        if self.size == 0:
            return x, y, torch.zeros(n, dtype=torch.bool, device=self.device)
        replayed = torch.rand(n, device=self.device) < self.replay_prob
        k = int(replayed.sum())
        if k:
            idx = torch.randint(0, self.size, (k,), device=self.device)
            x[replayed] = self._decode(self.samples[idx])
            if self.labels is not None:
                if y is None:
                    y = torch.zeros((n, *self.labels.shape[1:]), dtype=self.labels.dtype, device=self.device)
                y[replayed] = self.labels[idx].to(y.dtype)
        return x, y, replayed

    def state_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples[: self.size].clone(),
            "labels": None if self.labels is None else self.labels[: self.size].clone(),
            "ptr": self.ptr, "size": self.size, "capacity": self.capacity,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave; a state of another buffer is refused (``ValueError``)."""
        missing = [k for k in ("capacity", "size", "ptr", "samples", "labels") if k not in state]
        if missing:
            raise ValueError(f"a replay buffer state needs {missing}")
        if tuple(state["samples"].shape[1:]) != self.sample_shape:
            raise ValueError(f"checkpoint buffer samples are {tuple(state['samples'].shape[1:])}, this buffer's "
                             f"{self.sample_shape}")
        if state["capacity"] != self.capacity:
            raise ValueError(f"checkpoint buffer capacity {state['capacity']} != {self.capacity}")
        size = state["size"]
        self.samples[:size] = state["samples"].to(self.device, self.samples.dtype)
        if self.labels is not None and state["labels"] is not None:
            self.labels[:size] = state["labels"].to(self.device, self.labels.dtype)
        self.ptr, self.size = state["ptr"], size
