"""Every Python code block of every README runs as written (only made small here), and no README,
help text or docstring names a machine path or a file outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", *sorted(ROOT.glob("packages/*/README.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

# What makes a long example small in the test: (the text as the README writes it, what runs here).
# Each must be found in its README, so an edited example cannot silently escape its override.
# ebm-core's 2-D example runs as written (about 40 s): the test checks the figures its README claims.
SMALL = {
    "packages/ebm-compose/README.md": [("ConceptTrainingConfig(steps=300,", "ConceptTrainingConfig(steps=3,"),
                                       ("sample_latents(20_000,", "sample_latents(256,")],
    "packages/ebm-continual/README.md": [("steps_per_task=200", "steps_per_task=2")],
    "packages/ebm-robotics/README.md": [
        ("num_train=18_000, num_validation=1_000, num_test=1_000, horizon=100,",
         "num_train=4, num_validation=2, num_test=2, horizon=10,"),
        ("branch_starts=64, branch_samples=32, branch_horizon=20,",
         "branch_starts=1, branch_samples=2, branch_horizon=5,"),
        ("shard_size=500, workers=8,", "shard_size=2, workers=2,"),
    ],
}


def _examples() -> list:
    cases = []
    for readme in READMES:
        rel = readme.relative_to(ROOT).as_posix()
        for k, code in enumerate(BLOCK.findall(readme.read_text())):
            cases.append(pytest.param(rel, code, id=f"{rel}#{k}"))
    return cases


def _hand_model(folder: Path) -> None:
    """An (untrained) action-conditional hand EBM at the path the robotics example loads."""
    import numpy as np
    import torch
    from ebm_robotics import HandCubeSim, LearnedDynamics, TransitionScaler
    from ebm_robotics.models import GaussianDynamics, WhitenedTransitionEnergy
    from ebm_robotics.training import langevin_at

    sim = HandCubeSim()
    starts = np.stack([sim.reset(seed=k) for k in range(4)])
    sim.close()
    traj = starts[:, None] + 0.01 * np.random.default_rng(0).normal(size=(4, 3, starts.shape[1]))
    torch.manual_seed(0)
    energy = WhitenedTransitionEnergy(GaussianDynamics(True))
    LearnedDynamics.ebm(energy, TransitionScaler.fit(traj), langevin_at(0.5), 1.0).save(folder / "ebm_cond.pt")


@pytest.mark.parametrize("readme, code", _examples())
def test_readme_example_runs(readme, code, tmp_path):
    for written, small in SMALL.get(readme, []):
        if written in code:
            code = code.replace(written, small)
    if "runs/hand/models/ebm_cond.pt" in code:
        (tmp_path / "runs/hand/models").mkdir(parents=True)
        _hand_model(tmp_path / "runs/hand/models")
    (tmp_path / "example.py").write_text(code)
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if readme == "packages/ebm-core/README.md" and "ring(8192)" in code:  # the 2-D example: the figures claimed
        text = proc.stdout
        assert "modes with 6-19% of the samples: 8/8" in text, text
        off = float(re.search(r"off-mode: ([0-9.]+)%", text).group(1))
        mmd = float(re.search(r"MMD\^2 to 4,000 fresh data points: ([0-9.]+)", text).group(1))
        assert off < 10 and mmd < 0.01, text
        assert (tmp_path / "ring_samples.png").stat().st_size > 10_000


def test_every_size_override_still_matches_its_readme():
    for readme, pairs in SMALL.items():
        text = (ROOT / readme).read_text()
        for written, _ in pairs:
            assert written in text, f"{readme} no longer writes {written!r}: update SMALL"


def test_no_machine_path_or_file_outside_the_repository_is_named():
    files = [*READMES, *ROOT.glob("packages/*/src/**/*.py"), *ROOT.glob("apps/*/__main__.py")]
    pattern = re.compile(r"/work/|/tmp/|/root/|/home/|\.\./shared|scratch script")
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files for m in pattern.finditer(p.read_text())]
    assert not found, found
