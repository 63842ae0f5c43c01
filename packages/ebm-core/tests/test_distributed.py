"""The Trainer under ``torchrun``: two CPU processes (gloo) stay in step and write their own files."""

import json
import os
import subprocess
import sys
import textwrap

import torch

WORKER = textwrap.dedent(
    """
    import dataclasses, json, math, sys
    from pathlib import Path
    import torch
    import torch.distributed as dist
    from ebm_core import LangevinSampler, MLPEnergy, Trainer, TrainerConfig, average_gradients

    out = Path(sys.argv[1])
    centres = torch.tensor([[1.5 * math.cos(k * math.pi / 4), 1.5 * math.sin(k * math.pi / 4)] for k in range(8)])
    g = torch.Generator().manual_seed(0)
    x = centres[torch.randint(0, 8, (512,), generator=g)] + 0.1 * torch.randn(512, 2, generator=g)
    torch.manual_seed(1000 + int(__import__("os").environ["RANK"]))  # different initial weights per rank
    energy = MLPEnergy(2, hidden=(32, 32), spectral_norm=False)
    init = [p.detach().clone() for p in energy.parameters()]
    sampler = LangevinSampler(steps=5, step_size=0.1, noise_std=0.01, grad_clip=None, clamp=(-2.0, 2.0))
    cfg = TrainerConfig(steps=20, batch_size=32, lr=1e-3, checkpoint_every=10, log_every=1, quiet=True,
                        buffer_size=200)
    trainer = Trainer(energy, sampler, (x, None), cfg, out_dir=out)
    trainer.train()
    rank = dist.get_rank()
    torch.save({"params": [p.detach() for p in energy.parameters()], "init": init}, out / f"params{rank}.pt")

    # gradient averaging on its own: rank r holds gradient r + 1
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.full((3,), float(rank + 1))
    average_gradients([p])
    (out / f"grad{rank}.json").write_text(json.dumps(p.grad.tolist()))
    dist.destroy_process_group()
    """
)


def test_two_process_training_keeps_ranks_identical(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(script), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    r0, r1 = (torch.load(out / f"params{r}.pt") for r in (0, 1))
    # rank 0's weights are broadcast at the start and gradients averaged: the ranks end bit-identical ...
    for a, b in zip(r0["params"], r1["params"]):
        assert torch.equal(a, b)
    # ... although rank 1 started from other weights, and training moved them
    assert any(not torch.equal(a, b) for a, b in zip(r0["init"], r1["init"]))
    assert any(not torch.allclose(a, b) for a, b in zip(r0["params"], r0["init"]))

    # the mean of the ranks' gradients (1 and 2), not their sum
    assert json.loads((out / "grad0.json").read_text()) == [1.5] * 3
    assert json.loads((out / "grad1.json").read_text()) == [1.5] * 3

    # each rank checkpoints its own replay buffer; only rank 0 logs metrics
    assert (out / "checkpoint.pt").exists() and (out / "checkpoint.rank1.pt").exists()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 20, len(lines)
