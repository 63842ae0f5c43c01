"""Generating images: from noise, test-time sampling through a buffer of persistent chains with
early label flips (A.2), and one chain's trajectory from noise (Figure 22)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from ebm_core import LangevinSampler
from ebm_core.checks import check_count, check_nonnegative, check_unit_range
from ebm_core.progress import progress
from torch import nn


@dataclass(frozen=True)
class TestTimeSampling:
    """Test-time sampling (A.2): ``rounds`` Langevin chains of ``sampler.steps`` steps run in turn on
    a buffer of persistent chains started from U(0, 1), with noise ``noise_std`` (slightly higher
    than training's 0.005). Conditional models see random labels during the first
    ``flip_rounds`` rounds ("we flip labels of images early on in sampling") and the target
    labels afterwards. ``batch_size`` chains are advanced at a time."""

    __test__ = False  # not a pytest test class

    rounds: int = 10
    noise_std: float = 0.01
    flip_rounds: int = 3
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.rounds < 1 or not 0 <= self.flip_rounds < self.rounds:
            raise ValueError(f"need rounds >= 1 and 0 <= flip_rounds < rounds, got {self.rounds}, {self.flip_rounds}")
        check_count(self.batch_size, "TestTimeSampling.batch_size")
        check_nonnegative(self.noise_std, "TestTimeSampling.noise_std")


def _labels(y: torch.Tensor | int | None, n: int, device: torch.device) -> torch.Tensor | None:
    if y is None:
        return None
    if isinstance(y, int):
        return torch.full((n,), y, dtype=torch.long, device=device)
    if y.shape[0] != n:
        raise ValueError(f"need {n} labels, got {y.shape[0]}")
    return y.to(device)


def sample_from_noise(
    energy: nn.Module, n: int, shape: Sequence[int], sampler: LangevinSampler,
    y: torch.Tensor | int | None = None, device: str | torch.device = "cpu",
) -> torch.Tensor:
    """One Langevin chain of ``sampler.steps`` steps from U(0, 1) for ``n`` images."""
    device = torch.device(device)
    x0 = torch.rand((n, *shape), device=device)
    return sampler(energy, x0, _labels(y, n, device))


def sample_test_time(
    energy: nn.Module, n: int, shape: Sequence[int], sampler: LangevinSampler,
    config: TestTimeSampling = TestTimeSampling(), y: torch.Tensor | int | None = None,
    num_classes: int = 0, device: str | torch.device = "cpu", quiet: bool = True,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    """``n`` samples by test-time sampling (A.2). ``y`` the target labels (conditional models,
    with ``num_classes`` > 0 for the early label flips) or None. ``init`` (n, *shape) starts the
    chains, e.g. from the training replay buffer ("we use a replay buffer to sample images at test
    time"); default U(0, 1)."""
    device = torch.device(device)
    target = _labels(y, n, device)
    if init is not None and tuple(init.shape) != (n, *shape):
        raise ValueError(f"init must have shape {(n, *tuple(shape))}, got {tuple(init.shape)}")
    if init is not None:
        check_unit_range(init, "init")
    chains = init.to(device).clone() if init is not None else torch.rand((n, *shape), device=device)
    run = dataclasses.replace(sampler, noise_std=config.noise_std, record_every=0, record_energies=False)
    bar = progress(config.rounds, desc="sample", disable=quiet)
    for r in range(config.rounds):
        flip = target is not None and num_classes > 0 and r < config.flip_rounds
        labels = torch.randint(0, num_classes, (n,), device=device) if flip else target
        for s in range(0, n, config.batch_size):
            sl = slice(s, s + config.batch_size)
            chains[sl] = run(energy, chains[sl], None if labels is None else labels[sl])
        bar.update(1)
    bar.close()
    return chains


def buffer_init(images: torch.Tensor, labels: torch.Tensor | None, y: torch.Tensor | None, n: int
                ) -> torch.Tensor | None:
    """Initial states for ``n`` test-time chains from a training replay buffer's ``images`` (oldest
    first, as ``ReplayBuffer.latest`` gives them): for a conditional model whose buffer kept each
    sample's label (``labels``), chain ``i`` starts from one of the newest buffer images made under its
    target label ``y[i]``; otherwise from the newest ``n`` images. None where the buffer holds too few
    (fewer than ``n``, or a target class with none): the chains then start from U(0, 1)."""
    if images.shape[0] < n:
        return None
    if labels is None or y is None:
        return images[-n:]
    y = y.to(labels.device)
    init = torch.empty((n, *images.shape[1:]), dtype=images.dtype)
    for c in y.unique().tolist():
        slots = torch.nonzero(y == c).flatten()
        pool = torch.nonzero(labels == c).flatten()
        if pool.numel() == 0:
            return None
        m = slots.numel()
        picks = pool[-m:] if pool.numel() >= m else pool[torch.arange(m) % pool.numel()]
        init[slots.cpu()] = images[picks.cpu()]
    return init


def chain_from_noise(
    energy: nn.Module, n: int, shape: Sequence[int], sampler: LangevinSampler, total_steps: int,
    frames: int = 10, y: torch.Tensor | int | None = None, device: str | torch.device = "cpu",
) -> torch.Tensor:
    """The trajectory of ``n`` chains from noise (Figure 22): ``(frames + 1, n, *shape)`` states,
    the start and then every ``max(total_steps // frames, 1)`` steps (so the chain runs
    ``frames`` times that many steps: ``total_steps`` rounded down to a multiple of ``frames``,
    and at least ``frames``)."""
    every = max(total_steps // frames, 1)
    run = dataclasses.replace(sampler, steps=every * frames, record_every=every)
    device = torch.device(device)
    out = run.run(energy, torch.rand((n, *shape), device=device), _labels(y, n, device))
    return out.chain
