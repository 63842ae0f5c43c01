"""Restoration by MCMC (section 4.2, Figure 5): salt-and-pepper decorruption, bottom-half
inpainting (masked sampling: only the masked pixels move), and stability from ground-truth
initialization; MSE / PSNR before and after and the share of images whose class changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from ebm_core import LangevinSampler
from ebm_core.checks import check_count, check_probability, check_unit_range
from torch import nn

TASKS = ("salt_and_pepper", "inpainting", "ground_truth")


@dataclass(frozen=True)
class RestorationConfig:
    """Reference corruption: 5% of pixels set to 0.1 and 5% to 0.9; inpainting replaces the bottom
    half with U(0, 1). Restoration runs ``rounds`` chains of the sampler's steps with the true label."""

    pepper: float = 0.05
    salt: float = 0.05
    pepper_value: float = 0.1
    salt_value: float = 0.9
    rounds: int = 1

    def __post_init__(self) -> None:
        check_count(self.rounds, "RestorationConfig.rounds")
        for name in ("pepper", "salt", "pepper_value", "salt_value"):
            check_probability(getattr(self, name), f"RestorationConfig.{name}")
        if self.pepper + self.salt > 1.0:
            raise ValueError(f"RestorationConfig.pepper + salt must be <= 1, got {self.pepper + self.salt}")


def salt_and_pepper(x: torch.Tensor, config: RestorationConfig = RestorationConfig(),
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a ``pepper`` share of pixel locations (all channels) to ``pepper_value`` and a ``salt``
    share to ``salt_value``."""
    u = torch.rand((x.shape[0], 1, *x.shape[2:]), generator=generator).to(x.device).expand_as(x)
    out = x.clone()
    out[u < config.pepper] = config.pepper_value
    out[(u >= config.pepper) & (u < config.pepper + config.salt)] = config.salt_value
    return out


def bottom_half_mask(x: torch.Tensor) -> torch.Tensor:
    """Boolean mask, True on the bottom half of every image (the pixels inpainting may change)."""
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :, x.shape[2] // 2 :, :] = True
    return mask


def mask_bottom_half(x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(corrupted, mask)``: the bottom half replaced by U(0, 1) noise, and its mask."""
    mask = bottom_half_mask(x)
    noise = torch.rand(x.shape, generator=generator).to(x.device)
    return torch.where(mask, noise, x), mask


def restore(
    energy: nn.Module, x: torch.Tensor, y: torch.Tensor | None, sampler: LangevinSampler,
    mask: torch.Tensor | None = None, rounds: int = 1,
) -> torch.Tensor:
    """``rounds`` Langevin chains from ``x`` under label ``y`` (only ``mask`` pixels move if given)."""
    for _ in range(rounds):
        x = sampler(energy, x, y, mask=mask)
    return x


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).flatten(1).mean(1)


def quality(clean: torch.Tensor, other: torch.Tensor) -> dict[str, float]:
    """Mean per-image MSE and mean per-image PSNR (dB, peak 1) of ``other`` against ``clean``."""
    mse = _mse(clean, other)
    psnr = 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
    return {"mse": float(mse.mean()), "psnr": float(psnr.mean())}


def run_restoration(
    energy: nn.Module, clean: torch.Tensor, y: torch.Tensor | None, sampler: LangevinSampler,
    config: RestorationConfig = RestorationConfig(),
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None, seed: int = 0,
) -> tuple[dict[str, dict[str, float]], dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """All three Figure 5 tasks on ``clean`` test images. Returns ``(metrics, images)``: per task
    MSE/PSNR before and after and, with ``classify`` (images -> logits), the share of images whose
    predicted class differs from the clean image's; ``images[task] = (corrupted, restored)``."""
    check_unit_range(clean, "clean images")
    g = torch.Generator().manual_seed(seed)
    sampler = dataclasses.replace(sampler, record_every=0, record_energies=False)
    base = None if classify is None else classify(clean).argmax(1)
    metrics, images = {}, {}
    for task in TASKS:
        mask = None
        if task == "salt_and_pepper":
            corrupted = salt_and_pepper(clean, config, g)
        elif task == "inpainting":
            corrupted, mask = mask_bottom_half(clean, g)
        else:
            corrupted = clean.clone()
        restored = restore(energy, corrupted, y, sampler, mask, config.rounds)
        before, after = quality(clean, corrupted), quality(clean, restored)
        m = {"mse_before": before["mse"], "mse_after": after["mse"],
             "psnr_before": before["psnr"], "psnr_after": after["psnr"]}
        if classify is not None:
            m["class_changed"] = float((classify(restored).argmax(1) != base).float().mean())
            m["class_changed_before"] = float((classify(corrupted).argmax(1) != base).float().mean())
        metrics[task], images[task] = m, (corrupted, restored)
    return metrics, images
