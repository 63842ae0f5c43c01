"""DDP through torchrun: 2 CPU processes (gloo) against 1 process with the same global batch."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ebm_core import LangevinSampler, MLPEnergy, Trainer, TrainerConfig
from ebm_core.supervised import SupervisedConfig, train_supervised
from torch import nn

# Negatives that depend on the positives only (no noise, no replay): a 2-process run and a
# 1-process run then see the same global batches and the same negatives, so their parameters
# must agree up to float summation order.
SAMPLER = LangevinSampler(steps=2, step_size=0.05, noise_std=0.0, grad_clip=None, clamp=(-3.0, 3.0))
TRAINER = TrainerConfig(steps=6, batch_size=8, lr=1e-2, replay_prob=0.0, buffer_size=64, log_every=1,
                        checkpoint_every=3, quiet=True)
SUPERVISED = SupervisedConfig(steps=6, batch_size=8, lr=1e-2, log_every=1, checkpoint_every=3, quiet=True)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 2, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0]]) + 0.1 * torch.randn(96, 1, generator=g)


def linear_loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A loss that reads the model's weights instead of calling it (DDP must still average it)."""
    return ((x @ m.weight.T + m.bias - y) ** 2).mean()


def train_both(out: Path | None, batch_size: int) -> dict[str, torch.Tensor]:
    """The EBM and the supervised model after their runs (model inits from seed 0 on rank 0)."""
    rank = int(os.environ.get("RANK", "0"))
    torch.manual_seed(rank)  # other inits on other ranks: DDP must start them all from rank 0's
    energy = MLPEnergy(2, hidden=(16, 16))
    linear = nn.Linear(2, 1)
    x, y = data()
    cfg = dataclasses.replace(TRAINER, batch_size=batch_size)
    Trainer(energy, SAMPLER, (x, None), cfg, init_fn=lambda xp, yp: -xp,
            out_dir=out / "ebm" if out else None).train()
    train_supervised(linear, linear_loss, (x, y), dataclasses.replace(SUPERVISED, batch_size=batch_size),
                     out_dir=out / "linear" if out else None, distributed=True)
    return {"ebm": torch.cat([p.detach().flatten() for p in energy.parameters()]),
            "linear": torch.cat([p.detach().flatten() for p in linear.parameters()])}


def resume_ebm(out: Path) -> bool:
    """The EBM's Trainer of :func:`train_both`, resumed from ``out`` (it must agree across the ranks)."""
    x, _ = data()
    trainer = Trainer(MLPEnergy(2, hidden=(16, 16)), SAMPLER, (x, None), dataclasses.replace(TRAINER, steps=9),
                      init_fn=lambda xp, yp: -xp, out_dir=out / "ebm")
    return trainer.resume()


RESUME_SCRIPT = """
import os, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_distributed import resume_ebm
try:
    print("RESUMED", resume_ebm(Path({out!r})), flush=True)
except ValueError as e:  # each rank writes its own file (their stdout lines can interleave)
    Path({out!r}, "refused.rank" + os.environ["RANK"]).write_text(str(e))
    os._exit(3)
os._exit(0)
"""

SCRIPT = """
import os, sys, torch, torch.distributed as dist
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_distributed import train_both
params = train_both(Path({out!r}), batch_size=8)
gathered = {{k: [torch.zeros_like(v) for _ in range(2)] for k, v in params.items()}}
for k, v in params.items():
    dist.all_gather(gathered[k], v)
if dist.get_rank() == 0:
    torch.save(gathered, {result!r})
from ebm_core.distributed import together
def fail_on_rank_1():
    if dist.get_rank() == 1:
        raise ValueError("rank 1 fails")
try:  # one rank fails: every rank stops, none waits
    together(fail_on_rank_1, 2, torch.device("cpu"))
    outcome = "went on"
except Exception as e:
    outcome = f"{{type(e).__name__}}: {{e}}"
Path({out!r}, f"together.rank{{dist.get_rank()}}").write_text(outcome)
dist.barrier()
dist.destroy_process_group()
sys.stdout.flush()
os._exit(0)  # skip teardown: under load gloo's threads can abort there after the work is saved
"""


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    script, result, out = tmp_path / "ddp.py", tmp_path / "result.pt", tmp_path / "run"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), result=str(result)))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", str(script)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = torch.load(result)
    torch.manual_seed(0)
    one = train_both(tmp_path / "one", batch_size=16)  # one process, the same global batch of 16
    for name in ("ebm", "linear"):
        a, b = two[name]
        assert torch.equal(a, b), name  # the ranks stay identical
        assert torch.allclose(a, one[name], rtol=1e-4, atol=1e-5), (name, (a - one[name]).abs().max())
    # each rank checkpoints its own replay buffer; the supervised model is checkpointed by rank 0 only;
    # only rank 0 logs
    assert (out / "ebm" / "checkpoint.pt").exists() and (out / "ebm" / "checkpoint.rank1.pt").exists()
    assert sorted(p.name for p in (out / "linear").glob("checkpoint*")) == ["checkpoint.pt"]
    assert len((out / "ebm" / "metrics.jsonl").read_text().splitlines()) == 6
    assert len((out / "linear" / "metrics.jsonl").read_text().splitlines()) == 6
    for name in ("ebm", "linear"):  # the logged figures are the global batch's, not rank 0's half
        rows = [[json.loads(line) for line in (run / name / "metrics.jsonl").read_text().splitlines()]
                for run in (out, tmp_path / "one")]
        for key in ("loss", "e_pos", "e_neg") if name == "ebm" else ("loss",):
            assert [r[key] for r in rows[0]] == pytest.approx([r[key] for r in rows[1]], rel=1e-4, abs=1e-5), key
    assert (out / "together.rank1").read_text() == "ValueError: rank 1 fails"  # its own error
    assert (out / "together.rank0").read_text().startswith("RuntimeError: another rank of this torchrun job failed")
    # a rank whose checkpoint is gone would resume at another step than the others: refused on every rank
    (out / "ebm" / "checkpoint.rank1.pt").unlink()
    script.write_text(RESUME_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out)))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29518", str(script)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode != 0
    for rank in (0, 1):
        assert "the ranks disagree on whether a checkpoint exists" in (out / f"refused.rank{rank}").read_text()


def test_together_in_one_process_runs_the_work_and_raises_its_error():
    from ebm_core.distributed import together

    ran = []
    together(lambda: ran.append(1), 1, torch.device("cpu"))
    assert ran == [1]
    with pytest.raises(ValueError, match="boom"):
        together(lambda: (_ for _ in ()).throw(ValueError("boom")), 1, torch.device("cpu"))
