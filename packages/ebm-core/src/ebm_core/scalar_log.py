"""A training run's logged scalars, to watch while it runs: one JSON line per logged step in
``metrics.jsonl`` and, where the ``tensorboard`` package is installed (ebm-run depends on it;
ebm-core alone needs only torch and numpy), the same scalars as TensorBoard event files in
``tensorboard/`` beside it (``uv run tensorboard --logdir runs``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import atomic_path


def _logged_step(line: str) -> float:
    """The step of one metrics.jsonl line; a blank or torn line (a killed write) counts as after every step."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")


def last_run(lines: list[str]) -> list[dict[str, float]]:
    """The rows of the last run logged in these metrics.jsonl lines, steps as ints (a run started
    afresh in the same folder appends to an earlier run's log: its steps start over); torn lines,
    from a killed write, are left out."""
    rows: list[dict[str, float]] = []
    for line in lines:
        try:
            row = json.loads(line)
            step = int(row["step"])
        except (ValueError, KeyError, TypeError):
            continue
        if rows and step <= rows[-1]["step"]:
            rows = []
        rows.append({**row, "step": step})
    return rows


class ScalarLog:
    """Appends rows ``{"step": s, name: value, ...}`` to ``folder/metrics.jsonl`` and to TensorBoard
    under ``tag/name``; :meth:`close` flushes the event files (a later :meth:`write` reopens them)."""

    def __init__(self, folder: str | Path, tag: str = "train"):
        self.folder, self.tag = Path(folder), tag
        self.path = self.folder / "metrics.jsonl"
        self._writer: Any = None

    def write(self, row: dict[str, float]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({k: float(v) for k, v in row.items()}) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            step = int(row["step"])
            for name, value in row.items():
                if name != "step":
                    writer.add_scalar(f"{self.tag}/{name}", float(value), step)

    def _tensorboard(self) -> Any:
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is not installed: metrics.jsonl only
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.folder / "tensorboard"), flush_secs=10)
        return self._writer or None

    def keep_until(self, step: int) -> list[str]:
        """Cut ``metrics.jsonl`` after ``step`` (a resumed or rolled-back run logs those steps again)
        and drop torn lines; returns the lines kept."""
        if not self.path.exists():
            return []
        keep = [line for line in self.path.read_text().splitlines() if _logged_step(line) <= step]
        with atomic_path(self.path) as tmp:  # a kill during the rewrite leaves the old log
            tmp.write_text("".join(line + "\n" for line in keep))
        return keep

    def close(self) -> None:
        if self._writer:
            self._writer.close()
        self._writer = None
