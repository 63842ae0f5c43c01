"""training_curves.png from a run folder's metrics.jsonl logs."""

import json

from ebm_run import plot_training_curves


def _log(path, rows, torn=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text + ('{"step": 9, "lo' if torn else ""))


def test_curves_of_every_logged_model_and_none_without_logs(tmp_path):
    assert plot_training_curves(tmp_path) is None and not (tmp_path / "training_curves.png").exists()
    _log(tmp_path / "checkpoints" / "ebm" / "metrics.jsonl",
         [{"step": s, "loss": 1.0 / s, "e_pos": -s, "e_neg": s, "grad_norm": 0.1 * s} for s in range(1, 6)], torn=True)
    _log(tmp_path / "checkpoints" / "fc" / "metrics.jsonl", [{"step": s, "loss": 2.0 / s} for s in range(1, 6)])
    path = plot_training_curves(tmp_path)
    assert path == tmp_path / "training_curves.png" and path.stat().st_size > 10_000
    from PIL import Image

    width, height = Image.open(path).size
    assert width > 2.5 * height  # three panels side by side: loss, energies, gradient norm


def test_a_run_of_many_models_draws_them_without_a_legend_and_without_a_warning(tmp_path):
    import warnings

    for m in range(40):  # e.g. dsprites_compose over 5 seeds
        _log(tmp_path / "checkpoints" / f"seed{m // 8}" / f"model{m}" / "metrics.jsonl",
             [{"step": s, "loss": m / s} for s in range(1, 4)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "tight layout not applied" would fail here
        path = plot_training_curves(tmp_path)
    assert path is not None and path.stat().st_size > 10_000
