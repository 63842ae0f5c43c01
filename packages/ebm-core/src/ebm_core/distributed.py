"""Multi-process training under ``torchrun``: NCCL on GPU, gloo on CPU, through PyTorch's
``DistributedDataParallel``; each rank reads its own slice of every global batch."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group torchrun describes (if any): returns ``(rank, world_size)``."""
    if not launched_by_torchrun():
        return 0, 1
    if device.type == "cuda" and device.index is None:  # "cuda": this process's own GPU, not GPU 0 for all
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def is_distributed() -> bool:
    """True inside a ``torchrun`` job of more than one process (after ``setup_distributed``)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def data_parallel(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` wrapped in ``DistributedDataParallel`` inside a torchrun job (its parameters and
    buffers, spectral-norm vectors included, start from rank 0's; gradients are averaged over the
    ranks in backward), else ``module`` itself. Sample through the unwrapped module."""
    if not is_distributed():
        return module
    if device.type != "cuda":
        return DistributedDataParallel(module)
    return DistributedDataParallel(module, device_ids=[device.index if device.index is not None
                                                       else torch.cuda.current_device()])


def same_on_every_rank(value: int, what: str) -> None:
    """Refuse (``ValueError``) a value that differs between the ranks, e.g. the step each resumed at."""
    if not is_distributed():
        return
    t = torch.tensor([value, -value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if int(t[0].item()) != -int(t[1].item()):
        raise ValueError(f"the ranks disagree on {what} ({-int(t[1].item())} to {int(t[0].item())}): a checkpoint "
                         "of one rank is missing or older than the others'; resume from a folder where every "
                         "rank's checkpoint is of the same step, or start a new --out")


class LossModule(nn.Module):
    """``loss_fn(model, x, y)`` as a module's forward, so that ``DistributedDataParallel`` averages
    the gradients of any loss, also one that calls the model's other methods (e.g. a VAE's ELBO)."""

    def __init__(self, model: nn.Module, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.loss_fn(self.model, x, y)


def mean_over_ranks(row: dict[str, float], device: torch.device) -> dict[str, float]:
    """A log row's values (all but ``step``) averaged over the ranks of a torchrun job, so that it
    shows the global batch, not rank 0's share of it; ``row`` itself outside one. Every rank calls it
    at the same step."""
    if not is_distributed():
        return row
    keys = [k for k in row if k != "step"]
    values = torch.tensor([float(row[k]) for k in keys], device=device, dtype=torch.float64)
    dist.all_reduce(values)
    return {**row, **dict(zip(keys, (values / dist.get_world_size()).tolist()))}


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (so all ranks roll back together)."""
    if not is_distributed():
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def together(work: Callable[[], object], world: int, device: torch.device) -> None:
    """Run ``work`` on this rank; under torchrun every rank then learns whether any failed, and all of
    them stop (the failed one with its error, the others naming it), so none waits at a collective."""
    error: Exception | None = None
    try:
        work()
    except Exception as e:  # raised below, on every rank
        error = e
    if world > 1 and any_rank(error is not None, device):
        raise error or RuntimeError("another rank of this torchrun job failed; its error is in its own output")
    if error is not None:
        raise error
