"""The class-incremental protocol: learn tasks in sequence, test on every task after each one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from ebm_core import lowest_energy_class as lowest_energy_class  # re-exported: the classifier of section 6
from ebm_core.checks import check_unit_range

from .data import Task


class ContinualLearner(Protocol):
    """Anything that learns a task at a time and predicts one of all classes (no task identity)."""

    def learn_task(self, task: Task, task_index: int) -> None: ...

    def predict(self, x: torch.Tensor) -> torch.Tensor: ...


def merge_tasks(tasks: list[Task]) -> Task:
    """One task holding every class and example of ``tasks``, in their order."""
    if not tasks:
        raise ValueError("merge_tasks needs at least one task")
    fields = ("x_train", "y_train", "x_eval", "y_eval")
    classes = tuple(c for t in tasks for c in t.classes)
    return Task(classes, *(torch.cat([getattr(t, name) for t in tasks]) for name in fields))


class Cumulative:
    """Upper-bound control for any learner: at each task it trains on all tasks seen so far
    (cumulative, "joint" training), so nothing can be forgotten for lack of data."""

    def __init__(self, learner: ContinualLearner):
        self.learner = learner
        self.seen: list[Task] = []

    def learn_task(self, task: Task, task_index: int) -> None:
        """Train the wrapped learner on ``task`` merged with every earlier task."""
        self.seen.append(task)
        self.learner.learn_task(merge_tasks(self.seen), task_index)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped learner's prediction."""
        return self.learner.predict(x)


@dataclass(frozen=True)
class ProtocolResult:
    """``matrix[i][j]``: accuracy on task j's eval images after learning task i (all-class prediction);
    ``final_accuracy``: accuracy over the eval images of all tasks after the last task;
    ``confusion[a][b]``: how many of those eval images of class ``a`` were predicted ``b`` then
    (classes ``0 ..`` the largest label or prediction; shows where forgotten classes go)."""

    matrix: list[list[float]]
    final_accuracy: float
    seconds: float
    confusion: list[list[int]]


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float((pred.cpu() == y.cpu()).float().mean()) if len(y) else float("nan")


def confusion_matrix(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[list[int]]:
    """Counts ``[true][predicted]`` over ``num_classes`` classes."""
    flat = y.cpu().long() * num_classes + pred.cpu().long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes).tolist()


def run_protocol(
    learner: ContinualLearner, tasks: list[Task], on_task_end: Callable[[int, list[float]], None] | None = None,
) -> ProtocolResult:
    """Train ``learner`` on ``tasks`` in order; after each, test on every task's eval images
    (flat images in [0, 1], checked before anything is trained)."""
    import time

    for i, task in enumerate(tasks):
        check_unit_range(task.x_train, f"task {i}'s x_train")
        check_unit_range(task.x_eval, f"task {i}'s x_eval")
    t0 = time.perf_counter()
    matrix: list[list[float]] = []
    for i, task in enumerate(tasks):
        learner.learn_task(task, i)
        row = [accuracy(learner.predict(t.x_eval), t.y_eval) for t in tasks]
        matrix.append(row)
        if on_task_end is not None:
            on_task_end(i, row)
    x_all = torch.cat([t.x_eval for t in tasks])  # eval images only: merge_tasks would copy the training sets too
    y_all = torch.cat([t.y_eval for t in tasks])
    pred = learner.predict(x_all)
    # a learner may predict classes no task holds (e.g. all 10 digits on a 2-task run): count those too
    num_classes = 1 + max(max(c for t in tasks for c in t.classes), int(pred.max()) if len(pred) else 0)
    return ProtocolResult(matrix, accuracy(pred, y_all), time.perf_counter() - t0,
                          confusion_matrix(pred, y_all, num_classes))
