"""Sample-quality scores: Inception Score through torchmetrics and FID on torch-fidelity's Inception
features with ebm-core's Frechet distance, from local Inception weights (Table 4), and an offline
*domain* FID on the features of a small classifier trained in the project (not comparable to
Inception FID numbers)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ebm_core import SupervisedConfig, frechet_distance_samples, train_supervised
from ebm_core.checkpoint import load_torch_file
from ebm_core.checks import check_unit_range
from torch import nn

SKIPPED = "skipped: no Inception weights"


# ------------------------------------------------------------------------------ domain FID
class DomainClassifier(nn.Module):
    """Small CNN classifier of a dataset's images (MNIST digits, CIFAR-10 classes; 28x28 or 32x32);
    ``features`` is its penultimate layer (the domain-FID feature extractor)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class RandomShift(nn.Module):
    """While training, translates each image by up to ``pixels`` pixels along each axis (zero
    padding, offsets from torch's generator); the identity in eval mode. Parameter-free."""

    def __init__(self, pixels: int = 2):
        super().__init__()
        self.pixels = pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.pixels == 0:
            return x
        n, c, h, w = x.shape
        p = self.pixels
        padded = nn.functional.pad(x, (p, p, p, p))
        dy, dx = (torch.randint(0, 2 * p + 1, (n, 1), device=x.device) for _ in range(2))
        rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]
        image = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(c, device=x.device)[None, :, None, None]
        return padded[image, channel, rows, cols]


class ReferenceClassifier(nn.Module):
    """A stronger CNN for 28x28 or 32x32 images (two 3x3 convolutions of 32 and of 64 channels, each
    pair then max-pooled, a 256-wide layer), trained on images shifted by up to ``shift`` pixels
    (:class:`RandomShift`): the independent judge of conditional samples (above 99% on MNIST's test
    images), trained apart from the EBM and the domain classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, shift: int = 2):
        super().__init__()
        self.shift = RandomShift(shift)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(64 * 49, 256), nn.ReLU(), nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.shift(x))


def train_domain_classifier(
    x: torch.Tensor, y: torch.Tensor, steps: int = 400, batch_size: int = 128, lr: float = 1e-3,
    num_classes: int = 10, seed: int = 0, quiet: bool = True, reference: bool = False,
) -> nn.Module:
    """Train a :class:`DomainClassifier` (or, with ``reference``, a :class:`ReferenceClassifier`, its
    rate annealed to 0 by a cosine) on float images ``x`` in [0, 1] with labels ``y``: cross-entropy
    through ebm-core's one supervised loop (Adam, epoch permutations from ``seed``)."""
    if not x.is_floating_point():
        raise ValueError(f"x must be float images in [0, 1], got dtype {x.dtype} (uint8 images: divide by 255)")
    check_unit_range(x, "x")
    check_class_labels(x, y)
    torch.manual_seed(seed)
    model = (ReferenceClassifier if reference else DomainClassifier)(x.shape[1], num_classes)
    config = SupervisedConfig(steps=steps, batch_size=min(batch_size, x.shape[0]), lr=lr, seed=seed, quiet=quiet,
                              label="reference classifier" if reference else "domain classifier",
                              lr_schedule="cosine" if reference else "constant")
    train_supervised(model, cross_entropy_loss, (x, y), config)
    return model.eval()


def check_class_labels(x: torch.Tensor, y: torch.Tensor) -> None:
    """``y`` must be one class index per image of ``x``: shape (N,)."""
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must be (N,) class indices, got {tuple(y.shape)} for {x.shape[0]} images")


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """The loss of a classifier ``model`` (logits) for :func:`ebm_core.train_supervised`."""
    return nn.functional.cross_entropy(model(x), y)


@torch.no_grad()
def extract(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``fn`` applied batch-wise to ``x`` without gradients, concatenated on the CPU."""
    return torch.cat([fn(x[i : i + batch_size]).cpu() for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def classifier_accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((extract(classifier, x).argmax(1) == y.cpu()).float().mean())


def per_class_accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The share of the images of each class present in ``y`` that ``classifier`` assigns to it."""
    hit = extract(classifier, x).argmax(1) == y.cpu()
    return {str(c): float(hit[y.cpu() == c].float().mean()) for c in sorted(set(y.tolist()))}


def domain_fid(
    real: torch.Tensor, fake: torch.Tensor, features: Callable[[torch.Tensor], torch.Tensor],
) -> float:
    """Frechet distance between Gaussian fits of ``features`` of real and generated images
    (ebm-core's ``frechet_distance_samples``): the FID recipe with a domain feature extractor."""
    return frechet_distance_samples(extract(features, real), extract(features, fake))


# --------------------------------------------------------------------------- Inception IS/FID
def _to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    q = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return q.expand(-1, 3, -1, -1) if q.shape[1] == 1 else q


def read_inception_weights(weights: str | Path) -> dict[str, torch.Tensor]:
    """The Inception weights (torch-fidelity's ``pt_inception-2015-12-05-6726825d.pth``) as a state
    dict, read with ``weights_only=True``: a run refuses a missing, damaged or crafted file (one-line
    error naming it) before it trains, and no code in the file runs."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"Inception weights {weights} not found (torch-fidelity's "
                                "pt_inception-2015-12-05-6726825d.pth); pass --inception-weights PATH")
    state = load_torch_file(weights, "Inception weights")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"Inception weights {weights} is not a state dict of tensors "
                         "(torch-fidelity's pt_inception-2015-12-05-6726825d.pth)")
    return state


def inception_weights_file(weights: str | Path) -> Path:
    """The Inception weights file, checked by :func:`read_inception_weights` and by building the network
    on it (so that a run refuses a wrong path or a state dict of another network before it trains)."""
    try:
        import torch_fidelity  # noqa: F401  (the network the weights are for)
    except ImportError:  # without the extra, the weights are only read and checked to be tensors
        read_inception_weights(weights)
        return Path(weights)
    try:
        _inception_networks(weights)
    except (RuntimeError, KeyError, TypeError, AssertionError) as e:  # the network refused the tensors
        first = " ".join(str(e).split()) or type(e).__name__
        raise ValueError(f"Inception weights {weights} do not fit torch-fidelity's InceptionV3: {first[:200]}"
                         ) from None
    return Path(weights)


def _inception_networks(weights: str | Path) -> tuple[nn.Module, nn.Module]:
    """torchmetrics' Inception (pool features, unbiased logits) on the checked weights. torch-fidelity
    unpickles its weights file without ``weights_only``, so it is handed a copy that this function wrote
    from the tensors alone, never the user's file."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    state = read_inception_weights(weights)
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "pt_inception.pth"
        torch.save(state, plain)
        features = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(plain))
        logits = NoTrainInceptionV3("inception-v3-compat", ["logits_unbiased"], str(plain))
    return features, logits


def inception_scores(
    real: torch.Tensor, fake: torch.Tensor | Mapping[str, torch.Tensor], weights: str | Path | None = None,
    extractor: nn.Module | None = None, batch_size: int = 100, splits: int = 10,
) -> dict[str, Any]:
    """Inception Score of ``fake`` (torchmetrics) and FID between ``real`` and ``fake`` (images in
    [0, 1]): the Inception pool features (torch-fidelity's network through torchmetrics) go into
    ebm-core's ``frechet_distance_samples``, the one Frechet distance of the project. ``fake`` may be
    a mapping {name: images} (e.g. the single model and the historical ensemble of Table 4): the
    network is loaded and ``real`` is embedded once, and the result is {name: scores}. ``weights`` is
    a local torch-fidelity Inception file (``pt_inception-2015-12-05-6726825d.pth``); ``extractor``
    replaces Inception by any module mapping uint8 (B, 3, H, W) images to (B, D) logits/features
    (tests). Without either, both scores are ``"skipped: no Inception weights"`` (nothing is downloaded)."""
    fakes = dict(fake) if isinstance(fake, Mapping) else {"": fake}
    check_unit_range(real, "real")
    for name, images in fakes.items():
        check_unit_range(images, f"fake {name}".strip())
    if weights is None and extractor is None:
        skipped = {name: {"inception_score": SKIPPED, "fid": SKIPPED} for name in fakes}
        return skipped if isinstance(fake, Mapping) else skipped[""]
    from torchmetrics.image.inception import InceptionScore

    features: nn.Module
    logits: nn.Module
    if extractor is None:
        features, logits = _inception_networks(weights)
    else:
        features = logits = extractor

    def embed(x: torch.Tensor, inc: InceptionScore | None = None) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, x.shape[0], batch_size):
                q = _to_uint8_rgb(x[i : i + batch_size].cpu())
                out.append(features(q).double())
                if inc is not None:
                    inc.update(q)
        return torch.cat(out).numpy()

    real_f = embed(real)
    results: dict[str, Any] = {}
    for name, images in fakes.items():
        inc = InceptionScore(feature=logits, splits=splits)
        fake_f = embed(images, inc)
        is_mean, is_std = inc.compute()
        results[name] = {"inception_score": float(is_mean), "inception_score_std": float(is_std),
                         "fid": frechet_distance_samples(real_f, fake_f)}
    return results if isinstance(fake, Mapping) else results[""]
