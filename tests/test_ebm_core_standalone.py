"""ebm-core installs and works alone: its wheel in a fresh venv with only torch and numpy.

Builds the wheel with ``uv build``, checks its ``Requires-Dist`` (torch and numpy only), creates
a new virtual environment, installs torch and numpy at the versions installed here plus the
wheel, and there trains an ``MLPEnergy`` with ``Trainer`` on 2-D data and samples it, checking
that nothing beyond torch, numpy and their own dependencies is installed or imported.
Takes about 25-30 s on the 2-core machine with uv's cache warm (hard links, no download).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")

pytestmark = pytest.mark.skipif(UV is None, reason="`uv` is not on PATH: it builds the wheel and the fresh venv")

SCRIPT = r'''
import importlib.metadata as md
import importlib.util
import re
import sys

import ebm_core
import torch
from ebm_core import LangevinSampler, MLPEnergy, SumEnergy, Trainer, TrainerConfig

assert "site-packages" in ebm_core.__file__, f"ebm_core imported from {ebm_core.__file__}, not the wheel"
for name in ("tqdm", "scipy", "matplotlib", "sklearn", "pandas", "torchvision", "ebm_vision"):
    assert importlib.util.find_spec(name) is None, f"{name} is importable in the fresh venv"


def closure(roots):
    """Distribution names of roots and everything they require, following requested extras."""
    seen, todo = set(), [(r, ()) for r in roots]
    while todo:
        raw, extras = todo.pop()
        name = re.sub(r"[-_.]+", "-", raw).lower()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in reqs:
            wanted = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", req)
            if wanted is None or wanted.group(1) in extras:
                m = re.match(r"([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?", req)
                todo.append((m.group(1), tuple(sorted(e.strip() for e in (m.group(2) or "").split(",") if e))))
    return {name for name, _ in seen}


allowed = closure(["torch", "numpy", "ebm-core"]) | {"pip"}
installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in md.distributions()}
extra = installed - allowed
assert not extra, f"installed beyond torch, numpy and their dependencies: {sorted(extra)}"

torch.manual_seed(0)
angles = torch.randint(0, 8, (2048,)) * (torch.pi / 4)
data = 1.5 * torch.stack([angles.cos(), angles.sin()], 1) + 0.05 * torch.randn(2048, 2)
energy = MLPEnergy(2, hidden=(32, 32), spectral_norm=False)
sampler = LangevinSampler(steps=10, step_size=0.1, noise_std=0.01, grad_clip=None, clamp=(-2.0, 2.0))
config = TrainerConfig(steps=30, batch_size=64, lr=1e-3, buffer_size=256, quiet=True, log_every=10)
history = Trainer(energy, sampler, (data, None), config).train()
assert len(history) == 3 and all(torch.isfinite(torch.tensor(h["loss"])) for h in history), history
x = sampler(energy, torch.rand(256, 2) * 4 - 2)
assert x.shape == (256, 2) and torch.isfinite(x).all() and x.abs().max() <= 2.0
both = SumEnergy([(energy, None), (energy, None)], weights=[0.5, 0.5])
torch.testing.assert_close(both(x), energy(x))

third_party = set()
for mod in list(sys.modules.values()):
    path = getattr(mod, "__file__", None) or ""
    if "site-packages" in path:
        third_party.add(path.split("site-packages")[1].strip("/\\").split("/")[0].split(".")[0])
print("imported from site-packages:", sorted(third_party))
print("final loss", history[-1]["loss"], "ok")
'''


def _requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_ebm_core_wheel_in_fresh_venv(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    _run([UV, "build", "--wheel", str(ROOT / "packages" / "ebm-core"), "-o", str(tmp_path / "dist")], env=env)
    (wheel,) = (tmp_path / "dist").glob("ebm_core-*.whl")
    names = {re.match(r"[A-Za-z0-9_.\-]+", r).group(0).lower() for r in _requires_dist(wheel)}
    assert names == {"torch", "numpy"}, f"ebm-core must depend on torch and numpy only, Requires-Dist: {names}"

    venv = tmp_path / "venv"
    _run([UV, "venv", "--python", sys.executable, str(venv)], env=env)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pins = [f"{d}=={importlib.metadata.version(d)}" for d in ("torch", "numpy")]
    _run([UV, "pip", "install", "--python", str(python), *pins, str(wheel)], env=env)

    script = tmp_path / "standalone.py"
    script.write_text(SCRIPT)
    proc = _run([str(python), str(script)], cwd=tmp_path, env=env, timeout=600)
    print(proc.stdout)
    assert "ok" in proc.stdout
    imported = proc.stdout.split("imported from site-packages:")[1].splitlines()[0]
    assert "tqdm" not in imported and "scipy" not in imported, imported
