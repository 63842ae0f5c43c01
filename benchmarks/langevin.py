"""Langevin sampling speed: ebm_core's LangevinSampler vs a plain reference loop.

The reference loop is what one writes without thinking about speed: x requires grad,
``torch.autograd.grad`` at every step, the parameters still require grad, and spectral norm is
recomputed (power iteration included, training mode) at every forward. Both use the same step
rule (noise, element-wise gradient clip, step, clamp to [0, 1]; A.11 / reference settings).

Prints samples x steps per second of both, on
  (a) an MLP energy ``MLPEnergy(62, hidden=(128, 128, 128))``, batch 128, and
  (b) the paper's conditional ResNet32 (32x32x3), batch 128,
with the ratio ours / reference, for the eager sampler (on the ResNet also in channels-last memory
format) and for ``LangevinSampler(compile=True)``
(MLP by default; its compile is timed apart and left out); then this machine's float32 matmul FLOP/s and the share of
it that each ResNet loop reaches (FLOPs of one forward + input gradient counted with
``torch.utils.flop_counter``). Runs are interleaved (ref, ours, ref, ours ...), after warmups;
the best of the repeats is reported (robust to other load on the machine).

    uv run python benchmarks/langevin.py [--quick] [--device cpu|cuda] [--threads N] [--profile]
        [--skip-resnet] [--no-compile] [--compile-resnet]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable

import torch
from ebm_core import LangevinSampler, MLPEnergy
from ebm_vision import ResNet32
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def reference_langevin(energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None, s: LangevinSampler) -> torch.Tensor:
    """The plain loop: same step rule as LangevinSampler, none of its savings."""
    x = x0.detach().clone()
    for _ in range(s.steps):
        x = x + s.noise_std * torch.randn_like(x)
        x = x.detach().requires_grad_(True)
        e = energy(x, y)
        (g,) = torch.autograd.grad(e.sum(), x)
        g = g.clamp(-s.grad_clip, s.grad_clip)
        x = (x - s.step_size * g).clamp(s.clamp[0], s.clamp[1])
    return x.detach()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def compare(
    name: str, energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None, steps: int, warmup_steps: int,
    repeats: int, device: torch.device, compiled: bool = False, channels_last: bool = False,
) -> dict[str, float]:
    """Samples x steps per second of the loops (best of interleaved repeats).

    With ``compiled`` the ``LangevinSampler(compile=True)`` path runs too; its first chain
    (the compile) is timed apart and left out of the comparison. With ``channels_last`` (images) the
    eager sampler also runs on a copy of the energy and chains in channels-last memory format.
    """
    energy.train()  # as inside Trainer: spectral norm does its power iteration at each forward
    loops: dict[str, Callable[[], object]] = {
        "reference": lambda: reference_langevin(energy, x0, y, LangevinSampler(steps=steps)),
        "ours": lambda: LangevinSampler(steps=steps).run(energy, x0, y),
    }
    reference_langevin(energy, x0, y, LangevinSampler(steps=warmup_steps))
    LangevinSampler(steps=warmup_steps).run(energy, x0, y)
    compile_s = float("nan")
    if compiled:
        compile_s = timed(lambda: LangevinSampler(steps=warmup_steps, compile=True).run(energy, x0, y), device)
        LangevinSampler(steps=warmup_steps, compile=True).run(energy, x0, y)
        loops["compiled"] = lambda: LangevinSampler(steps=steps, compile=True).run(energy, x0, y)
    if channels_last:
        energy_cl = copy.deepcopy(energy).to(memory_format=torch.channels_last)
        x_cl = x0.contiguous(memory_format=torch.channels_last)
        LangevinSampler(steps=warmup_steps).run(energy_cl, x_cl, y)
        loops["channels_last"] = lambda: LangevinSampler(steps=steps).run(energy_cl, x_cl, y)
    times: dict[str, list[float]] = {key: [] for key in loops}
    for _ in range(repeats):
        for key, fn in loops.items():
            times[key].append(timed(fn, device))
    work = x0.shape[0] * steps
    rate = {key: work / min(t) for key, t in times.items()}
    print(f"[{name}] batch {x0.shape[0]}, {steps} steps, {repeats} repeats (best)")
    print(f"  reference loop                  : {rate['reference']:12.1f} samples*steps/s")
    print(f"  LangevinSampler (eager)         : {rate['ours']:12.1f} samples*steps/s")
    if compiled:
        print(f"  LangevinSampler(compile=True)   : {rate['compiled']:12.1f} samples*steps/s"
              f"  (first chain, compile included: {compile_s:.1f} s, not in the timing)")
    if channels_last:
        print(f"  LangevinSampler, channels-last  : {rate['channels_last']:12.1f} samples*steps/s")
    print(f"  RATIO ours/reference ({name}), eager   : {rate['ours'] / rate['reference']:.2f}x")
    if channels_last:
        print(f"  RATIO ours/reference ({name}), channels-last: {rate['channels_last'] / rate['reference']:.2f}x")
    if compiled:
        print(f"  RATIO ours/reference ({name}), compiled: {rate['compiled'] / rate['reference']:.2f}x")
    out = {**rate, "ratio": rate["ours"] / rate["reference"], "compile_s": compile_s}
    if compiled:
        out["ratio_compiled"] = rate["compiled"] / rate["reference"]
    return out


def matmul_flops(device: torch.device, n: int, repeats: int) -> float:
    """FLOP/s of a large float32 matmul (best of ``repeats``)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = min(timed(lambda: a @ b, device) for _ in range(repeats))
    return 2.0 * n**3 / best


def step_flops(energy: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> float:
    """FLOPs of one forward + gradient w.r.t. the input (parameters frozen, as in sampling)."""
    energy.eval()
    for p in energy.parameters():
        p.requires_grad_(False)
    try:
        with FlopCounterMode(display=False) as counter:
            xr = x.detach().requires_grad_(True)
            energy(xr, y).sum().backward(inputs=[xr])  # (autograd.grad trips the counter's module hooks)
    finally:
        for p in energy.parameters():
            p.requires_grad_(True)
    return float(counter.get_total_flops())


def profile_sampler(energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None, steps: int) -> None:
    """Where LangevinSampler.run spends its time on this energy (top operators by self time)."""
    from torch.profiler import ProfilerActivity, profile

    energy.train()
    sampler = LangevinSampler(steps=steps)
    sampler.run(energy, x0, y)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        sampler.run(energy, x0, y)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=40))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few steps and repeats (a smoke run)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (CPU)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--resnet-batch", type=int, default=None, help="ResNet batch (default --batch)")
    parser.add_argument("--skip-resnet", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile LangevinSampler.run on the MLP")
    parser.add_argument("--no-compile", action="store_true", help="skip LangevinSampler(compile=True)")
    parser.add_argument("--compile-resnet", action="store_true",
                        help="also time compile=True on the ResNet (minutes of compile on a CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    on_gpu = device.type == "cuda"
    mlp_steps, mlp_repeats = (20, 3) if args.quick else (60, 7)
    res_steps, res_repeats = (1, 1) if args.quick else ((60, 5) if on_gpu else (2, 2))
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if on_gpu else f", {args.threads} thread(s) of "
             f"{os.cpu_count()} cores"))

    mlp = MLPEnergy(62, hidden=(128, 128, 128)).to(device)
    x_mlp = torch.rand(args.batch, 62, device=device)
    compare("MLP", mlp, x_mlp, None, mlp_steps, 5, mlp_repeats, device, compiled=not args.no_compile)
    if args.profile:
        profile_sampler(mlp, x_mlp, None, mlp_steps)
    if args.skip_resnet:
        return

    rb = args.resnet_batch or args.batch
    net = ResNet32(num_classes=10).to(device)
    x_img = torch.rand(rb, 3, 32, 32, device=device)
    y_img = torch.randint(0, 10, (rb,), device=device)
    res = compare("ResNet32", net, x_img, y_img, res_steps, 1, res_repeats, device,
                  compiled=args.compile_resnet and not args.no_compile, channels_last=True)
    flops = step_flops(net, x_img[:2], y_img[:2]) / 2  # per sample and step
    peak = matmul_flops(device, 8192 if on_gpu else 2048, 10 if on_gpu else 3)
    print(f"  one forward + input gradient: {flops / 1e9:.2f} GFLOP per sample")
    print(f"  float32 matmul: {peak / 1e9:.1f} GFLOP/s")
    for name in [key for key in ("reference", "ours", "channels_last", "compiled") if key in res]:
        achieved = res[name] * flops
        print(f"  SHARE of matmul peak, {name:13s}: {achieved / 1e9:8.1f} GFLOP/s = {100 * achieved / peak:5.1f}%")


if __name__ == "__main__":
    main()
