"""The one supervised training loop: minibatches, Adam, checkpoints and exact resume.

Every regression or classification model that is not an energy (baselines, classifiers) trains
through :func:`train_supervised`; energies train through :class:`ebm_core.Trainer`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from .batches import BatchStream, Data
from .checkpoint import atomic_torch_save, load_torch_file, refuse_other_settings
from .checks import check_count, check_nonnegative, check_positive
from .distributed import LossModule, data_parallel, mean_over_ranks, setup_distributed
from .progress import progress
from .scalar_log import ScalarLog
from .seeding import child_seed

LossFn = Callable[[nn.Module, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class SupervisedConfig:
    """Settings of :func:`train_supervised`: ``steps`` minibatches of ``batch_size`` (epoch
    permutations from ``seed``), Adam(``lr``, ``betas``, ``weight_decay``), the rate kept
    (``lr_schedule="constant"``) or annealed to 0 over the run (``"cosine"``); ``workers``:
    DataLoader processes reading the data (0: the training process)."""

    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    checkpoint_every: int = 500
    log_every: int = 25
    seed: int = 0
    device: str = "cpu"
    quiet: bool = False
    label: str | None = None
    workers: int = 0

    def __post_init__(self) -> None:
        for name, minimum in (("steps", 0), ("batch_size", 1), ("checkpoint_every", 1), ("log_every", 1),
                              ("seed", 0), ("workers", 0)):
            check_count(getattr(self, name), f"SupervisedConfig.{name}", minimum)
        check_positive(self.lr, "SupervisedConfig.lr")
        check_nonnegative(self.weight_decay, "SupervisedConfig.weight_decay")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"SupervisedConfig.betas must be two numbers in [0, 1), got {self.betas}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"SupervisedConfig.lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")

    @classmethod
    def for_epochs(cls, epochs: int, examples: int, batch_size: int, **settings: Any) -> SupervisedConfig:
        """Settings for ``epochs`` passes over ``examples`` in minibatches of ``batch_size`` (at most
        the examples): as many steps as the passes take with their last, partial batches
        (``ceil(examples / batch)`` each); every step draws a full batch."""
        check_count(examples, "SupervisedConfig.for_epochs examples")
        batch = min(batch_size, examples)
        return cls(steps=epochs * -(-examples // batch), batch_size=batch, **settings)


def train_supervised(
    model: nn.Module, loss_fn: LossFn, data: Data, config: SupervisedConfig = SupervisedConfig(),
    out_dir: str | Path | None = None, resume: bool = False, optimizer: torch.optim.Optimizer | None = None,
    distributed: bool = False,
) -> list[dict[str, float]]:
    """Minimize ``loss_fn(model, x, y)`` over minibatches of ``data`` (``(x, y)`` tensors or a
    Dataset); returns the logged ``{"step", "loss"}`` rows of the whole run.

    With ``out_dir``, the state (model, optimizer, data order, step, history) is saved to
    ``out_dir/checkpoint.pt`` every ``checkpoint_every`` steps and at the end; ``resume=True``
    continues from it bit for bit, and refuses one written with other settings. The model is
    left on ``config.device`` in training mode. ``optimizer``: one that persists across calls (a
    continual learner's, task after task; its own learning rate applies), instead of a fresh Adam.

    ``distributed=True`` (every rank of a ``torchrun`` job calls it together): the loss runs under
    ``DistributedDataParallel`` (any ``loss_fn``: gradients averaged over the ranks), each rank
    reads its slice of every global batch, rank 0 alone writes the checkpoint and the logs, and a
    resume reads it on every rank. Otherwise (the default, e.g. evaluation code that only rank 0
    runs) it trains in this process alone.
    """
    device = torch.device(config.device)
    rank, world = setup_distributed(device) if distributed else (0, 1)
    torch.manual_seed(child_seed(config.seed, "rank", rank) if rank else config.seed)  # own dropout/noise per rank
    model.to(device).train()
    stream = BatchStream(data, config.batch_size, config.seed, config.workers, rank, world)
    loss_module = data_parallel(LossModule(model, loss_fn), device) if distributed else LossModule(model, loss_fn)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas,
                                     weight_decay=config.weight_decay)
    schedule = None
    if config.lr_schedule == "cosine":  # of this run's steps, also when a resume changes them
        total = max(config.steps, 1)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k, total) / total)))
    ckpt = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None  # rank 0 writes, every rank reads
    scalars = ScalarLog(out_dir) if out_dir is not None and rank == 0 else None  # metrics.jsonl, TensorBoard
    label = config.label or (Path(out_dir).name if out_dir is not None else "train")
    settings = {f"config.{k}": v for k, v in dataclasses.asdict(config).items()}
    step, history = 0, []
    if resume and ckpt is not None and ckpt.exists():
        state = load_torch_file(ckpt, "checkpoint")
        rows = state["stream"].get("n", stream.n)
        extra = [f"training examples: {rows} -> {stream.n}"] if rows != stream.n else []
        refuse_other_settings(state["settings"], settings, ckpt, extra)
        _load(model, optimizer, schedule, stream, state, ckpt)
        step, history = int(state["step"]), list(state["history"])
        if scalars is not None:
            scalars.keep_until(step)  # the steps after the checkpoint are trained (and logged) again
        if not config.quiet and rank == 0:
            print(f"{label}: resumed at step {step} from {ckpt}", file=sys.stderr, flush=True)
    bar = progress(config.steps, initial=step, desc=label, disable=config.quiet or rank != 0)
    try:
        while step < config.steps:
            x, y = stream.next()
            loss = loss_module(x.to(device), y.to(device) if y is not None else None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            step += 1
            bar.update(1)
            if step % config.log_every == 0 or step == config.steps:
                row = {"step": step, "loss": loss.item()}
                history.append(mean_over_ranks(row, device) if distributed else row)  # the global batch's
                bar.set_postfix(loss=f"{history[-1]['loss']:.3g}")
                if scalars is not None:
                    scalars.write({**history[-1], "lr": optimizer.param_groups[0]["lr"]})
            if ckpt is not None and rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
                atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "schedule": schedule.state_dict() if schedule is not None else None,
                                   "stream": stream.state_dict(), "step": step, "history": history,
                                   "settings": settings}, ckpt)
    finally:  # also when training stops on an error: the logged events are flushed
        bar.close()
        if scalars is not None:
            scalars.close()
    return history


def _load(model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Any, stream: BatchStream,
          state: dict[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if schedule is not None:
            schedule.load_state_dict(state["schedule"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise ValueError(f"checkpoint {str(path)!r} does not fit this model: {e}") from e
    stream.load_state_dict(state["stream"])
