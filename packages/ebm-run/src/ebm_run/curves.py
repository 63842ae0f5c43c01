"""``training_curves.png``: the curves of every model a run trained, read from its metrics.jsonl logs."""

from __future__ import annotations

import os
from pathlib import Path

from ebm_core.scalar_log import last_run

from .records import save_figure

MAX_LEGEND = 16  # lines named in the legend; a run with more models draws them unnamed
PANELS = (("loss", "loss"), ("energies", ("e_pos", "e_neg")), ("gradient norm", "grad_norm"))


def plot_training_curves(out: str | Path) -> Path | None:
    """Plot loss, energies of data and samples, and gradient norm against the step for every
    ``metrics.jsonl`` under the run folder ``out`` (one line per trained model, named by its folder);
    writes ``out/training_curves.png`` and returns its path (None when nothing was logged)."""
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 draws it
        return None
    out = Path(out)
    runs = {str(log.parent.relative_to(out)) or ".": last_run(log.read_text().splitlines())
            for log in sorted(out.rglob("metrics.jsonl"))}
    runs = {name: rows for name, rows in runs.items() if rows}
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = [(title, keys) for title, keys in PANELS
              if any(k in rows[0] for rows in runs.values() for k in ([keys] if isinstance(keys, str) else keys))]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for name, rows in runs.items():
            for key in [keys] if isinstance(keys, str) else keys:
                points = [(r["step"], r[key]) for r in rows if key in r]
                if points:
                    label = name if isinstance(keys, str) else f"{name} {key}"
                    ax.plot(*zip(*points), label=label, lw=1.2, ls="-" if key != "e_neg" else "--")
        ax.set_title(title)
        ax.set_xlabel("step")
        if title == "gradient norm":
            ax.set_yscale("log")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if 1 < len(labels) <= MAX_LEGEND:
        axes[0][0].legend(fontsize=7, loc="best")
    elif len(labels) > MAX_LEGEND:  # a legend this long would not fit: say what the lines are instead
        axes[0][0].set_title(f"loss ({len(runs)} models; names in each metrics.jsonl's folder)")
    fig.tight_layout()
    return save_figure(fig, out / "training_curves.png", dpi=100)
