"""The EBM training loop (Algorithm 1), shared by every domain package."""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .batches import BatchStream, Data
from .buffer import ReplayBuffer
from .checkpoint import atomic_torch_save, load_torch_file, refuse_other_settings
from .checks import check_count, check_energy_output, check_positive, check_probability
from .classify import repeat_per_class
from .conditioning import INDEX_DTYPES
from .distributed import any_rank, data_parallel, mean_over_ranks, same_on_every_rank, setup_distributed
from .objective import ObjectiveConfig, contrastive_loss, kl_energy
from .optim import ClippedAdam
from .progress import progress
from .sampler import Sampler
from .scalar_log import ScalarLog, last_run
from .seeding import child_seed, rng_state, seed_everything, set_rng_state
from .snapshots import snapshot_ensemble, weight_average

InitFn = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
Callback = Callable[[int, "Trainer"], None]


class TrainingDiverged(RuntimeError):
    """Raised when training diverged more often than ``max_recoveries`` allows."""


@dataclass(frozen=True)
class TrainerConfig:
    """Training settings; defaults are the paper's (A.11): Adam(1e-4, betas (0, 0.999)) with
    the reference gradient clip, batch 128, a 10,000-sample replay buffer used 95% of the time.

    ``buffer_labels`` stores each negative's condition with it (continuous conditions, e.g. the
    robotics state); otherwise a replayed sample takes its batch slot's label (reference code).
    ``energy_bound``: a step whose energies exceed it in magnitude counts as divergence.
    ``ensemble_size`` > 0 keeps the last N snapshots, one every ``ensemble_every`` steps.
    ``label`` names the run in its progress bar and its "resumed" line (default: the name of
    ``out_dir``, e.g. the model's checkpoint folder, else "train"). ``workers``: DataLoader
    processes reading the data (0: the training process; more for datasets decoded from files).
    """

    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.999)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    buffer_size: int = 10_000
    replay_prob: float = 0.95
    buffer_uint8: bool = False
    buffer_labels: bool = False
    checkpoint_every: int = 500
    log_every: int = 10
    energy_bound: float = 1e4
    max_recoveries: int = 5
    ensemble_size: int = 0
    ensemble_every: int = 100
    seed: int = 0
    quiet: bool = False
    label: str | None = None
    device: str = "cpu"
    workers: int = 0

    def __post_init__(self) -> None:
        for name, minimum in (("steps", 0), ("batch_size", 1), ("buffer_size", 1), ("checkpoint_every", 1),
                              ("log_every", 1), ("max_recoveries", 0), ("ensemble_size", 0),
                              ("ensemble_every", 1), ("seed", 0), ("workers", 0)):
            check_count(getattr(self, name), f"TrainerConfig.{name}", minimum)
        check_positive(self.lr, "TrainerConfig.lr")
        if not isinstance(self.objective, ObjectiveConfig):
            raise ValueError(f"TrainerConfig.objective must be an ObjectiveConfig, got {self.objective!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"TrainerConfig.device: not a torch device: {self.device!r}") from None
        if not self.energy_bound > 0:  # math.inf turns the bound off
            raise ValueError(f"TrainerConfig.energy_bound must be > 0 (inf: no bound), got {self.energy_bound}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"TrainerConfig.betas must be two numbers in [0, 1), got {self.betas}")
        check_probability(self.replay_prob, "TrainerConfig.replay_prob")


# Sampler fields that change how, not what, it samples.
_SAMPLER_RUNTIME_FIELDS = frozenset({"create_graph", "record_every", "record_energies", "compile"})


def _sampler_settings(sampler: Any) -> dict[str, Any] | None:
    """The sampler's settings that define its chains (None for a sampler that is not a dataclass)."""
    if not dataclasses.is_dataclass(sampler):
        return None
    return {k: v for k, v in dataclasses.asdict(sampler).items() if k not in _SAMPLER_RUNTIME_FIELDS}


def uniform_init(low: float = 0.0, high: float = 1.0) -> InitFn:
    """Fresh chains start from U(low, high) of the data's shape (the paper's initialization)."""

    def init(x_pos: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return low + (high - low) * torch.rand_like(x_pos)

    return init


class Trainer:
    """Owns the loop, optimizer, replay buffer, checkpoints, logging, recovery and DDP.

    ``data`` is ``(x, y)`` tensors (``y`` None for unconditional models) or a Dataset.
    ``init_fn(x_pos, y_pos)`` gives fresh initial chain states for a batch (default: uniform on
    the sampler's box). With ``out_dir`` set, checkpoints go to ``out_dir/checkpoint.pt`` and
    metrics to ``out_dir/metrics.jsonl``. ``buffer`` and ``optimizer`` may be passed in to carry
    them from an earlier Trainer of the same energy to this one (continual learning: one Trainer
    per task, one buffer and one optimizer state throughout).
    """

    def __init__(
        self, energy: nn.Module, sampler: Sampler, data: Data,
        config: TrainerConfig = TrainerConfig(), init_fn: InitFn | None = None,
        out_dir: str | Path | None = None, callback: Callback | None = None,
        callback_every: int = 0, buffer: ReplayBuffer | None = None, optimizer: torch.optim.Optimizer | None = None,
    ):
        if not isinstance(energy, nn.Module):
            raise TypeError(f"Trainer: energy must be an nn.Module mapping (x, y) to (B,), got {type(energy).__name__}")
        if not isinstance(config, TrainerConfig):
            raise TypeError(f"Trainer: config must be a TrainerConfig, got {type(config).__name__}")
        if not isinstance(sampler, Sampler):
            raise TypeError(f"Trainer: sampler must be a Sampler (e.g. LangevinSampler), got {type(sampler).__name__}")
        keeps_graph = dataclasses.is_dataclass(sampler) and hasattr(sampler, "create_graph")
        if config.objective.kl_coeff and not keeps_graph:
            raise ValueError("Trainer: the KL term (objective.kl_coeff > 0) needs a sampler with create_graph "
                             f"(LangevinSampler); {type(sampler).__name__} has none")
        self.config = config
        self.device = torch.device(config.device)
        self.rank, self.world_size = setup_distributed(self.device)
        # rank 0 runs on the run's seed, every other rank on its own named child stream
        self._stream_names: tuple[str | int, ...] = ("rank", self.rank) if self.rank else ()
        seed_everything(config.seed, *self._stream_names)
        self.energy = energy.to(self.device)
        self.sampler = sampler
        # every rank draws the same epoch order and reads its own slice of each global batch
        self.stream = BatchStream(data, config.batch_size, child_seed(config.seed), config.workers, self.rank,
                                  self.world_size)
        x_probe, y_probe = self.stream.peek(2)
        self._check_batch(x_probe, y_probe)
        self._classes, self._class_position = self._class_term(data, y_probe)
        if init_fn is None:
            box = getattr(sampler, "clamp", None)
            init_fn = uniform_init(*box) if box is not None else (lambda x, y: torch.randn_like(x))
        self.init_fn = init_fn
        self.model = data_parallel(self.energy, self.device)  # the loss's forward; chains use self.energy
        label_shape = tuple(y_probe.shape[1:]) if (config.buffer_labels and y_probe is not None) else None
        self.buffer = buffer if buffer is not None else ReplayBuffer(
            x_probe.shape[1:], capacity=config.buffer_size, replay_prob=config.replay_prob,
            uint8=config.buffer_uint8, label_shape=label_shape,
            label_dtype=y_probe.dtype if y_probe is not None else torch.long, device=self.device,
        )
        self.optimizer = (
            optimizer if optimizer is not None
            else ClippedAdam(self.energy.parameters(), lr=config.lr, betas=config.betas)
        )
        self.out_dir = Path(out_dir) if out_dir is not None else None
        # what rank 0 logs: metrics.jsonl and TensorBoard files in out_dir (ebm_core.scalar_log)
        self._scalars = ScalarLog(self.out_dir) if (self.out_dir is not None and self.rank == 0) else None
        self.label = config.label or (self.out_dir.name if self.out_dir is not None else "train")
        self.callback, self.callback_every = callback, callback_every
        self.step = 0
        self.recoveries = 0
        self.history: list[dict[str, float]] = []
        self.snapshots: deque[dict[str, torch.Tensor]] = deque(maxlen=max(config.ensemble_size, 1))
        self._good = self._state()

    # ----------------------------------------------------------------- checks
    def _check_batch(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        if x.dim() < 2:
            raise ValueError(f"training data x must be (N, ...) with a feature dimension, got rows of shape "
                             f"{tuple(x.shape[1:])} (one value per example: reshape to (N, 1))")
        if not x.is_floating_point():
            raise ValueError(f"training data x must be floating point, got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError("training data x contains NaN or inf")
        with torch.no_grad():
            e = self.energy(x.to(self.device), None if y is None else y.to(self.device))
        check_energy_output(e, x, "the energy")

    def _class_term(self, data: Data, y: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The classes of the objective's class term and a lookup label -> position among them
        (None, None without the term); the labels must be class indices, and (tensor data) all
        among the classes."""
        objective = self.config.objective
        if not objective.class_coeff:
            return None, None
        if y is None or y.dtype not in INDEX_DTYPES or y.dim() != 1:
            got = "no labels" if y is None else f"labels of dtype {y.dtype}, shape {tuple(y.shape)}"
            raise ValueError(f"Trainer: the class term (objective.class_coeff > 0) needs class indices y of shape "
                             f"(N,) as labels, got {got}")
        classes = torch.tensor(objective.classes, device=self.device)
        position = torch.full((int(classes.max()) + 1,), -1, dtype=torch.long, device=self.device)
        position[classes] = torch.arange(classes.numel(), device=self.device)
        if isinstance(data, tuple) and data[1] is not None:
            labels = data[1].long()
            outside = sorted(set(labels.unique().tolist()) - set(objective.classes))
            if outside:
                raise ValueError(f"Trainer: labels {outside[:5]} of the training data are not among the class "
                                 f"term's classes {objective.classes}")
        return classes, position

    # ------------------------------------------------------------ state / io
    @property
    def checkpoint_path(self) -> Path | None:
        if self.out_dir is None:
            return None
        name = "checkpoint.pt" if self.rank == 0 else f"checkpoint.rank{self.rank}.pt"
        return self.out_dir / name

    def _state(self) -> dict[str, Any]:
        return copy.deepcopy({
            "step": self.step,
            "model": self.energy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict(),
            "stream": self.stream.state_dict(),
            "rng": rng_state(),
            "snapshots": list(self.snapshots),
            "recoveries": self.recoveries,
            "config": dataclasses.asdict(self.config),
            "sampler": _sampler_settings(self.sampler),
        })

    def _load_state(self, state: dict[str, Any]) -> None:
        self.step = state["step"]
        self.energy.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.stream.load_state_dict(state["stream"])
        set_rng_state(state["rng"])
        self.snapshots.clear()
        self.snapshots.extend(state["snapshots"])
        self.recoveries = state["recoveries"]

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Write the full training state atomically (model, optimizer, buffer, RNG, step)."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: give one or construct the Trainer with out_dir")
        state = self._state()
        atomic_torch_save(state, path)
        self._good = state
        return path

    def resume(self, path: str | Path | None = None) -> bool:
        """Continue from a checkpoint (default ``out_dir/checkpoint.pt``). Returns False if none."""
        path = Path(path) if path is not None else self.checkpoint_path
        found = path is not None and path.exists()
        if self.world_size > 1:  # every rank resumes, at one step, or none does
            same_on_every_rank(int(found), "whether a checkpoint exists")
        if not found:
            return False
        # On the CPU: RNG states must be CPU tensors (set_rng_state refuses others); the model,
        # optimizer and buffer copy to their device.
        state = load_torch_file(path, "checkpoint")
        self._check_same_settings(state, path)
        try:
            self._load_state(state)
        except RuntimeError as e:  # load_state_dict: missing keys or other shapes
            raise ValueError(
                f"checkpoint {str(path)!r} does not fit this energy (written for another architecture or "
                f"preset?); use a new output folder or the settings it was written with. {e}"
            ) from e
        self._good = state
        if self.world_size > 1:
            same_on_every_rank(self.step, "the step to resume at")
        logged = self._truncate_metrics()
        # the diagnostics up to the checkpoint (those kept in memory, else the logged ones), so that
        # history[-1] is its last step
        self.history = [h for h in self.history if h["step"] <= self.step] or last_run(logged)
        if not self.config.quiet and self.rank == 0:
            print(f"{self.label}: resumed at step {self.step} from {path}", file=sys.stderr, flush=True)
        return True

    def _check_same_settings(self, state: dict[str, Any], path: Path) -> None:
        """Refuse to continue a run made with other training or sampler settings (a changed step
        count, device, logging or checkpoint cadence is fine)."""
        saved = {f"config.{k}": v for k, v in state.get("config", {}).items()}
        now = {f"config.{k}": v for k, v in dataclasses.asdict(self.config).items()}
        if state.get("sampler") is not None and _sampler_settings(self.sampler) is not None:
            saved.update({f"sampler.{k}": v for k, v in state["sampler"].items()})
            now.update({f"sampler.{k}": v for k, v in _sampler_settings(self.sampler).items()})
        rows = state["stream"].get("n", self.stream.n) if "stream" in state else self.stream.n
        extra = [f"training examples: {rows} -> {self.stream.n}"] if rows != self.stream.n else []
        refuse_other_settings(saved, now, path, extra)  # the saved epoch order indexes the data it was made for

    def _truncate_metrics(self) -> list[str]:
        """Cut metrics.jsonl after the current step (and drop torn lines); returns the lines kept."""
        return self._scalars.keep_until(self.step) if self._scalars is not None else []

    # ------------------------------------------------------------ training
    def negatives(
        self, x_pos: torch.Tensor, y_pos: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, Any]:
        """Initial states from the buffer (or fresh), then the sampler: x- of Algorithm 1."""
        fresh = self.init_fn(x_pos, y_pos)
        x0, y0, _ = self.buffer.sample(x_pos.shape[0], fresh, y_pos)
        sampler = self.sampler
        if self.config.objective.kl_coeff:
            sampler = dataclasses.replace(sampler, create_graph=True)
        out = sampler.run(self.energy, x0, y0)
        return out.x, y0, out

    def train_step(self) -> dict[str, float]:
        """One step of Algorithm 1; returns the diagnostics."""
        x_pos, y_pos = self.stream.next()
        x_pos = x_pos.to(self.device)
        y_pos = y_pos.to(self.device) if y_pos is not None else None
        x_neg_graph, y_neg, out = self.negatives(x_pos, y_pos)
        x_neg = x_neg_graph.detach()
        e_kl = kl_energy(self.energy, x_neg_graph, y_neg) if self.config.objective.kl_coeff else None
        logits = targets = None
        if self._classes is None:
            y_all = torch.cat([y_pos, y_neg]) if y_pos is not None else None
            e = self.model(torch.cat([x_pos, x_neg]), y_all)
            e_pos, e_neg = e[: x_pos.shape[0]], e[x_pos.shape[0] :]
        else:  # one forward: every positive under every class (its own among them), then the negatives
            xs, ys = repeat_per_class(x_pos, self._classes)
            e = self.model(torch.cat([xs, x_neg]), torch.cat([ys, y_neg.long()]))
            logits = -e[: xs.shape[0]].view(x_pos.shape[0], -1)
            targets = self._class_position[y_pos.long()]
            e_pos, e_neg = -logits.gather(1, targets[:, None]).squeeze(1), e[xs.shape[0] :]
        loss, diag = contrastive_loss(e_pos, e_neg, self.config.objective, e_kl, logits, targets)
        diag["grad_abs"] = out.grad_abs_mean
        bad = not torch.isfinite(loss).item() or e.detach().abs().max().item() > self.config.energy_bound
        if any_rank(bad, self.device):
            diag["diverged"] = 1.0
            return diag
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under torchrun, DistributedDataParallel averages the ranks' gradients
        grads = [p.grad for p in self.energy.parameters() if p.grad is not None]
        diag["grad_norm"] = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])) if grads else 0.0
        diag["lr"] = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.buffer.add(x_neg, y_neg if self.buffer.labels is not None else None)
        return diag

    def _recover(self, diag: dict[str, float]) -> None:
        self.recoveries += 1
        if self.recoveries > self.config.max_recoveries:
            raise TrainingDiverged(
                f"training diverged at step {self.step} (loss {diag.get('loss')}, E+ {diag.get('e_pos')}, "
                f"E- {diag.get('e_neg')}) after {self.config.max_recoveries} roll-backs; try a smaller "
                "step size or learning rate, or a larger l2_coeff"
            )
        recoveries = self.recoveries
        self._load_state(self._good)
        self.recoveries = recoveries
        self._truncate_metrics()  # the rolled-back steps are trained (and logged) again
        seed_everything(self.config.seed, *self._stream_names, "recovery", recoveries)

    def train(self, steps: int | None = None) -> list[dict[str, float]]:
        """Train until ``steps`` (default ``config.steps``) total steps; returns this call's history."""
        total = steps if steps is not None else self.config.steps
        cfg = self.config
        self.energy.train()
        bar = progress(total, initial=self.step, desc=self.label, disable=cfg.quiet or self.rank != 0)
        history: list[dict[str, float]] = []
        t0 = time.perf_counter()
        try:
            while self.step < total:
                diag = self.train_step()
                if diag.get("diverged"):
                    before = self.step
                    self._recover(diag)
                    history = [h for h in history if h["step"] <= self.step]
                    bar.update(self.step - before)
                    continue
                self.step += 1
                bar.update(1)
                diag["step"] = self.step
                if cfg.ensemble_size and self.step % cfg.ensemble_every == 0:
                    self.snapshots.append(copy.deepcopy(self.energy.state_dict()))
                if self.step % cfg.log_every == 0 or self.step == total:
                    diag["grad_norm"] = float(diag["grad_norm"])  # read back only when logged: no sync per step
                    diag["seconds"] = time.perf_counter() - t0
                    diag = mean_over_ranks(diag, self.device)  # under torchrun: the global batch's figures
                    history.append(diag)
                    bar.set_postfix(loss=f"{diag['loss']:.3g}", gap=f"{diag['gap']:.3g}")
                    self._log(diag)
                if self.step % cfg.checkpoint_every == 0 or self.step == total:
                    if self.out_dir is not None:
                        self.save_checkpoint()
                    else:
                        self._good = self._state()
                if self.callback is not None and self.callback_every and self.step % self.callback_every == 0:
                    self.callback(self.step, self)
        finally:  # also when training stops on an error: the logged events are flushed
            bar.close()
            if self._scalars is not None:
                self._scalars.close()
        self.history.extend(history)
        return history

    def _log(self, diag: dict[str, float]) -> None:
        if self._scalars is not None:
            self._scalars.write(diag)

    # ------------------------------------------------------------ ensemble
    def ensemble_energy(self) -> nn.Module:
        """Energy averaged over the kept snapshots (historical ensemble, A.2); the live model if none."""
        return snapshot_ensemble(self.energy, list(self.snapshots))

    def averaged_energy(self) -> nn.Module:
        """One model with the mean of the kept snapshots' weights (:func:`ebm_core.weight_average`);
        a copy of the live model if none."""
        return weight_average(self.energy, list(self.snapshots))
