"""End to end: `uv run apps/likelihood --preset tiny` trains the variants, bounds them with AIS."""

import json
import math

from app_runner import call_app, run_app
from ebm_vision.evaluation import paper_bounds

APP = "likelihood"


def test_likelihood_tiny_end_to_end_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = run_app(APP, "--preset", "tiny", "--out", str(out), "--quiet", "--model-temperatures", "1", "0.5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    r = json.loads((out / "results.json").read_text())
    assert set(r["bounds_nats"]) == {"replay_buffer", "pcd", "l2_0.1"}  # l2 1.0 / step 10 are the base model
    assert all(math.isfinite(v) for b in r["bounds_nats"].values() for v in b)
    assert r["num_test"] == 50
    # each row carries the paper's bounds for that variant, and the app prints them beside ours
    assert {m["name"]: m["paper"] for m in r["models"]} == {n: paper_bounds(n) for n in r["bounds_nats"]}
    assert f"{paper_bounds('pcd')[0]:.0f} / {paper_bounds('pcd')[1]:.0f}" in proc.stdout
    assert all(m["training"]["steps"] == 6 for m in r["models"])
    assert (out / "likelihood_bounds.png").stat().st_size > 10_000
    assert "pcd" in proc.stdout
    # replay buffer and PCD are bounded at both temperatures; the sweep's model at the replay model's choice
    rows = {m["name"]: m for m in r["models"]}
    assert [t["temperature"] for t in rows["pcd"]["per_temperature"]] == [1.0, 0.5]
    base = rows["replay_buffer"]
    want = [base["temperature"]] if base["trusted"] else [1.0, 0.5]  # all of them if the base T is not trusted
    assert [t["temperature"] for t in rows["l2_0.1"]["per_temperature"]] == want
    assert r["trusted"] == {n: m["trusted"] for n, m in rows.items()}
    # the AIS setting checked on known log Z first; the tiny setting (3 temperatures) fails, so nothing is trusted
    assert [v["name"] for v in r["ais_validation"]] == ["gaussian", "mixture_of_4"]
    assert not any(v["passed"] for v in r["ais_validation"]) and not any(r["trusted"].values())
    assert all("known-Z" in m["distrust"] for m in rows.values())
    for m in rows.values():  # T chosen on held-out training images; the test images bounded once, in bits too
        assert m["temperature_chosen_on"] == "50 validation images" and len(m["bits_per_dim"]) == 2
        assert m["bits_per_dim"][0] <= m["bits_per_dim"][1] or m["upper_nats"] < m["lower_nats"]
    assert set(r["bracket_vs_num_temperatures"]) == set(rows)
    model = out / "models" / "replay_buffer" / "model.pt"

    # one model file: the same AIS run (same seed) gives the same bounds
    again = run_app(APP, "--preset", "tiny", "--checkpoint", str(model), "--out", str(tmp_path / "ckpt"), "--quiet",
                    "--model-temperatures", "1", "0.5")
    assert again.returncode == 0, again.stderr[-3000:]
    r2 = json.loads((tmp_path / "ckpt" / "results.json").read_text())
    assert r2["bounds_nats"] == {"checkpoint": r["bounds_nats"]["replay_buffer"]}
    assert [c["num_temperatures"] for c in base["bracket_vs_num_temperatures"]] == [1, 2, 3]  # the tiny curve
    assert "replay_buffer not trusted: the AIS setting failed the known-Z validation" in proc.stdout

    # --temperatures K runs the convergence curve at K/4 and K/2 beside K
    scaled = run_app(APP, "--preset", "tiny", "--checkpoint", str(model), "--out", str(tmp_path / "k8"), "--quiet",
                     "--temperatures", "8")
    assert scaled.returncode == 0, scaled.stderr[-3000:]
    r3 = json.loads((tmp_path / "k8" / "results.json").read_text())
    assert [c["num_temperatures"] for c in r3["bracket_vs_num_temperatures"]["checkpoint"]] == [2, 4, 8]


def test_conditional_checkpoint_is_rejected(tmp_path):
    from ebm_vision import ImageEnergyConfig, build_energy, save_image_energy

    cfg = ImageEnergyConfig("mnist", 10, 1, 28, mnist_channels=(8, 8, 8, 8), mnist_hidden=8)
    path = save_image_energy(build_energy(cfg), cfg, tmp_path / "cond.pt")
    proc = call_app(APP, "--preset", "tiny", "--checkpoint", str(path), "--out", str(tmp_path / "x"), "--quiet")
    assert proc.returncode != 0 and "unconditional" in proc.stderr
