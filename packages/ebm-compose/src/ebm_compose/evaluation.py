"""Scoring generated dSprites images with a latent predictor trained on ground truth.

The paper shows only pictures (Figures 15-16); here a CNN trained on ground-truth renders
predicts (scale, shape, position, rotation) of each sample, and each sample is compared with
the ground-truth render of its requested latents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from ebm_core import SupervisedConfig, train_supervised
from torch import nn

from .dsprites import ORIENTATIONS, POSITIONS, SCALES, DSprites, sample_latents, to_tensor
from .networks import PlainCNN

# Success thresholds of one concept (for "satisfies the concept"): about 3 of the 32 position
# steps, one of the 6 scale steps, 10 degrees of rotation (modulo the square's 90 degrees).
POSITION_TOL, SCALE_TOL, ROTATION_TOL_DEG = 0.1, 0.1, 10.0


@dataclass(frozen=True)
class PredictorConfig:
    """Training of the latent predictor on ground-truth renders."""

    train_images: int = 20_000
    steps: int = 1500
    batch_size: int = 128
    lr: float = 2e-3


class LatentPredictor(nn.Module):
    """CNN (batch-normalized) -> scale (1), shape logits (3), position (2), (cos 4 theta, sin 4 theta) (2).

    Rotation is predicted as 4 theta, which is well defined for the square's 90-degree symmetry;
    rotation errors are therefore measured modulo 90 degrees for every shape."""

    def __init__(self, image_size: int):
        super().__init__()
        self.net = PlainCNN(1, image_size, 8, batch_norm=True)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(x)
        return {"scale": out[:, 0], "shape": out[:, 1:4], "position": out[:, 4:6], "rot4": out[:, 6:8]}


def _targets(latents: np.ndarray) -> dict[str, torch.Tensor]:
    theta = ORIENTATIONS[latents[:, 2]]
    return {
        "scale": torch.from_numpy(SCALES[latents[:, 1]]).float(),
        "shape": torch.from_numpy(latents[:, 0]).long(),
        "position": torch.from_numpy(np.stack([POSITIONS[latents[:, 3]], POSITIONS[latents[:, 4]]], 1)).float(),
        "rot4": torch.from_numpy(np.stack([np.cos(4 * theta), np.sin(4 * theta)], 1)).float(),
    }


def train_latent_predictor(
    data: DSprites, image_size: int, config: PredictorConfig, seed: int, quiet: bool = False,
) -> LatentPredictor:
    """Fit the predictor on ``config.train_images`` ground-truth images drawn from the whole grid,
    through ebm-core's one supervised loop (Adam, cosine-annealed rate)."""
    latents = sample_latents(config.train_images, np.random.default_rng(seed))
    x = to_tensor(data.images_for(latents), image_size)
    t = _targets(latents)
    targets = torch.cat([t["scale"][:, None], t["shape"][:, None].float(), t["position"], t["rot4"]], dim=1)
    torch.manual_seed(seed)
    model = LatentPredictor(image_size)
    training = SupervisedConfig(steps=config.steps, batch_size=min(config.batch_size, x.shape[0]), lr=config.lr,
                                lr_schedule="cosine", seed=seed, quiet=quiet, label="latent predictor")
    train_supervised(model, _predictor_loss, (x, targets), training)
    return model.eval()


def _predictor_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Weighted sum over the latents; ``targets`` columns: scale, shape, position (2), rot4 (2)."""
    assert targets is not None
    p = model(x)
    return (30 * nn.functional.mse_loss(p["scale"], targets[:, 0])
            + nn.functional.cross_entropy(p["shape"], targets[:, 1].long())
            + 10 * nn.functional.mse_loss(p["position"], targets[:, 2:4])
            + nn.functional.mse_loss(p["rot4"], targets[:, 4:6]))


@torch.no_grad()
def score_samples(
    predictor: LatentPredictor, samples: torch.Tensor, latents: np.ndarray, ground_truth: torch.Tensor,
    concepts: tuple[str, ...],
) -> dict[str, float]:
    """Metrics of samples generated for ``latents``: position error (Euclidean, in units of the
    [0, 1] position range), scale error, rotation error (degrees, modulo 90), shape accuracy,
    pixel MSE to the ground-truth render, and the share satisfying every concept in ``concepts``."""
    p = {k: v.float() for k, v in predictor(samples.float()).items()}
    t = _targets(latents)
    pos_err = (p["position"] - t["position"]).norm(dim=1)
    scale_err = (p["scale"] - t["scale"]).abs()
    angle = torch.atan2(p["rot4"][:, 1], p["rot4"][:, 0]) - torch.atan2(t["rot4"][:, 1], t["rot4"][:, 0])
    rot_err = torch.atan2(angle.sin(), angle.cos()).abs() / 4 * 180 / math.pi
    shape_ok = p["shape"].argmax(1) == t["shape"]
    ok = {
        "position": pos_err < POSITION_TOL, "scale": scale_err < SCALE_TOL,
        "rotation": rot_err < ROTATION_TOL_DEG, "shape": shape_ok,
    }
    every = torch.ones_like(pos_err, dtype=torch.bool)
    for c in concepts:
        every &= ok[c]
    out = {
        "position_error": pos_err.mean().item(),
        "scale_error": scale_err.mean().item(),
        "rotation_error_deg": rot_err.mean().item(),
        "shape_accuracy": shape_ok.float().mean().item(),
        "pixel_mse": (samples.float() - ground_truth.float()).pow(2).mean().item(),
        "satisfies_all": every.float().mean().item(),
    }
    for c in concepts:
        out[f"satisfies_{c}"] = ok[c].float().mean().item()
    return out
