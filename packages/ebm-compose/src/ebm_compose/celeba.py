"""CelebA attributes through torchvision's loader, and a clearly labelled synthetic stand-in.

CelebA cannot be downloaded by this package: put the files torchvision expects under
``DATA_DIR/celeba/`` (``--data-dir DATA_DIR``). The synthetic set draws simple face-like
images in which each attribute toggles one visible feature; it exists so that the pipeline
(training, composition, scoring) can be run and tested without the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CELEBA_FILES = (
    "img_align_celeba/", "list_attr_celeba.txt", "identity_CelebA.txt", "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt", "list_eval_partition.txt",
)
CELEBA_ATTRIBUTES = ("Young", "Male", "Smiling", "Wavy_Hair")


@dataclass
class AttributeData:
    """Images (N, 3, R, R) in [0, 1] with binary attributes (N, K) (long) named ``names``."""

    x: torch.Tensor
    attributes: torch.Tensor
    names: tuple[str, ...]
    source: str


def _missing(root: Path) -> list[str]:
    return [f for f in CELEBA_FILES if not (root / f.rstrip("/")).exists()]


def load_celeba(
    data_dir: str | Path, attributes: tuple[str, ...] = CELEBA_ATTRIBUTES, image_size: int = 64,
    split: str = "train", max_images: int | None = None,
) -> AttributeData:
    """CelebA through ``torchvision.datasets.CelebA`` (no download): centre crop 140, resize to
    ``image_size``; the chosen attributes as 0/1. Raises FileNotFoundError naming missing files."""
    root = Path(data_dir)
    missing = _missing(root / "celeba")
    if missing:
        raise FileNotFoundError(
            f"CelebA files not found under {root / 'celeba'}: missing {', '.join(missing)}. Download them "
            "(e.g. from the CelebA site or Google Drive) into DATA_DIR/celeba/ and pass --data-dir DATA_DIR, "
            "or run with --synthetic to see the pipeline on generated images."
        )
    import torchvision
    from torchvision import transforms

    tf = transforms.Compose([transforms.CenterCrop(140), transforms.Resize(image_size), transforms.ToTensor()])
    try:
        ds = torchvision.datasets.CelebA(str(root), split=split, target_type="attr", transform=tf, download=False)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted. You can use download=True"
        raise ValueError(
            f"CelebA files under {root / 'celeba'} are there but fail torchvision's checks (the md5 sums of "
            "the list_*.txt / identity_CelebA.txt files, or the img_align_celeba/ folder of images): damaged, "
            "incomplete or another version; download them again"
        ) from err
    unknown = [a for a in attributes if a not in ds.attr_names]
    if unknown:
        raise ValueError(f"unknown CelebA attributes {unknown}; valid names: {ds.attr_names[:40]}")
    cols = [ds.attr_names.index(a) for a in attributes]
    n = len(ds) if max_images is None else min(max_images, len(ds))
    xs, ys = [], []
    for i in range(n):
        img, attr = ds[i]
        xs.append(img)
        ys.append(attr[cols])
    return AttributeData(torch.stack(xs), torch.stack(ys).long(), tuple(attributes), f"celeba:{root}")


def synthetic_attributes(
    n: int, attributes: tuple[str, ...] = CELEBA_ATTRIBUTES, image_size: int = 16, seed: int = 0,
) -> AttributeData:
    """SYNTHETIC face-like RGB images (not CelebA). Up to 4 attributes, each toggling a feature:
    1st: dark (1) or light grey (0) hair; 2nd: a dark beard band on the lower face; 3rd: a wide red
    mouth (1) or a small dark one (0); 4th: a wavy (1) or straight (0) hairline. Attributes are
    independent fair coins; face tone, background and pixel noise vary at random."""
    if not 1 <= len(attributes) <= 4:
        raise ValueError(f"the synthetic set supports 1 to 4 attributes, got {len(attributes)}")
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, size=(n, 4))
    a[:, len(attributes):] = 0
    r = image_size
    yy, xx = np.meshgrid((np.arange(r) + 0.5) / r, (np.arange(r) + 0.5) / r, indexing="ij")
    bg = rng.uniform(0.3, 0.9, size=(n, 3))
    img = np.broadcast_to(bg[:, :, None, None], (n, 3, r, r)).copy()
    face = ((xx - 0.5) / 0.34) ** 2 + ((yy - 0.55) / 0.42) ** 2 <= 1.0
    tone = rng.uniform(0.75, 1.0, size=(n, 1)) * np.array([[0.95, 0.75, 0.6]])
    img = np.where(face[None, None], tone[:, :, None, None], img)
    hair_colour = np.where(a[:, :1] == 1, np.array([[0.15, 0.1, 0.05]]), np.array([[0.8, 0.8, 0.8]]))
    edge = 0.32 + np.where(a[:, 3:4] == 1, 0.06 * np.sin(2 * np.pi * 3 * xx.reshape(1, -1)), 0.0)
    hair = (yy.reshape(1, -1) < edge).reshape(n, r, r) & (np.abs(xx - 0.5) < 0.45)[None]
    img = np.where(hair[:, None], hair_colour[:, :, None, None], img)
    beard = face[None] & (yy[None] > 0.72) & (a[:, 1, None, None] == 1)
    img = np.where(beard[:, None], np.array([0.25, 0.18, 0.12])[None, :, None, None], img)
    for eye_x in (0.38, 0.62):
        eye = (np.abs(xx - eye_x) < 0.05) & (np.abs(yy - 0.47) < 0.04)
        img = np.where(eye[None, None], 0.05, img)
    mouth_wide = (np.abs(xx - 0.5) < 0.17) & (np.abs(yy - 0.64) < 0.045)
    mouth_small = (np.abs(xx - 0.5) < 0.07) & (np.abs(yy - 0.64) < 0.03)
    smile = np.where(a[:, 2, None, None] == 1, mouth_wide[None], mouth_small[None])
    colour = np.where(a[:, 2:3] == 1, np.array([[0.9, 0.1, 0.1]]), np.array([[0.2, 0.05, 0.05]]))
    img = np.where(smile[:, None], colour[:, :, None, None], img)
    img = np.clip(img + rng.normal(0, 0.03, size=img.shape), 0, 1)
    return AttributeData(
        torch.from_numpy(img).float(), torch.from_numpy(a[:, : len(attributes)]).long(), tuple(attributes),
        "synthetic (generated face-like images, NOT CelebA)",
    )
