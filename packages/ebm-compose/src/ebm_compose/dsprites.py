"""dSprites: the official ``.npz`` loader and a built-in renderer of the same factor grid.

The grid (Higgins et al., 2017; paper section 7): 3 shapes (square, ellipse, heart) x 6 scales
in [0.5, 1] x 40 orientations in [0, 2 pi) x 32 x 32 positions in [0, 1], 64 x 64 binary
images. Latents are integer class indices in the column order ``LATENT_NAMES``.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

NPZ_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
LATENT_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
LATENT_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)
IMAGE_SIZE = 64
# Renderer geometry, in pixels of the 64 x 64 canvas: the centre moves over [12.8, 51.2] and a
# scale-1 square is 20 px wide (close to the official images; the factor grid is identical).
_CENTRE_LOW, _CENTRE_RANGE, _HALF_EXTENT = 12.8, 38.4, 10.0


def grid_size() -> int:
    """Number of images in the full factor grid (737,280)."""
    return int(np.prod(LATENT_SIZES))


def index_to_latents(index: np.ndarray) -> np.ndarray:
    """Flat grid indices -> (N, 5) latent classes (row-major in ``LATENT_NAMES`` order, as the npz)."""
    return np.stack(np.unravel_index(np.asarray(index, dtype=np.int64), LATENT_SIZES), axis=1)


def latents_to_index(latents: np.ndarray) -> np.ndarray:
    """(N, 5) latent classes -> flat grid indices (the row of that image in the official npz)."""
    latents = np.asarray(latents, dtype=np.int64)
    return np.ravel_multi_index(tuple(latents.T), LATENT_SIZES)


def check_latents(latents: np.ndarray) -> np.ndarray:
    latents = np.asarray(latents)
    if latents.ndim != 2 or latents.shape[1] != 5:
        raise ValueError(f"latents must have shape (N, 5) = {LATENT_NAMES}, got {latents.shape}")
    if (latents < 0).any() or (latents >= np.array(LATENT_SIZES)).any():
        raise ValueError(f"latent classes must lie in [0, {LATENT_SIZES}) per column")
    return latents.astype(np.int64)


def render(latents: np.ndarray) -> np.ndarray:
    """Render (N, 5) latent classes to (N, 64, 64) uint8 binary images, deterministically.

    A pixel is on when its centre lies inside the shape: the unit square, an ellipse with
    semi-axes (1, 0.5), or the heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, scaled, rotated
    anticlockwise by the orientation and centred at the position (pos_x: column, pos_y: row).
    """
    latents = check_latents(latents)
    n = latents.shape[0]
    out = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    grid = np.arange(IMAGE_SIZE, dtype=np.float64) + 0.5
    rows, cols = np.meshgrid(grid, grid, indexing="ij")
    for start in range(0, n, 1024):
        lat = latents[start : start + 1024]
        shape, scale = lat[:, 0], SCALES[lat[:, 1]]
        theta = ORIENTATIONS[lat[:, 2]]
        cx = _CENTRE_LOW + _CENTRE_RANGE * POSITIONS[lat[:, 3]]
        cy = _CENTRE_LOW + _CENTRE_RANGE * POSITIONS[lat[:, 4]]
        half = (_HALF_EXTENT * scale)[:, None, None]
        dx = (cols[None] - cx[:, None, None]) / half
        dy = (rows[None] - cy[:, None, None]) / half
        c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        u = c * dx - s * dy  # rotate by -theta in image coordinates (y down = anticlockwise on screen)
        v = s * dx + c * dy
        inside = np.zeros(u.shape, dtype=bool)
        for k in range(3):
            sel = shape == k
            if not sel.any():
                continue
            uk, vk = u[sel], v[sel]
            if k == 0:
                inside[sel] = np.maximum(np.abs(uk), np.abs(vk)) <= 1.0
            elif k == 1:
                inside[sel] = uk**2 + (vk / 0.5) ** 2 <= 1.0
            else:
                hx, hy = 1.15 * uk, -1.15 * vk + 0.1
                inside[sel] = (hx**2 + hy**2 - 1) ** 3 - hx**2 * hy**3 <= 0.0
        out[start : start + 1024] = inside
    return out


def to_tensor(images: np.ndarray, resolution: int = IMAGE_SIZE) -> torch.Tensor:
    """(N, 64, 64) binary images -> (N, 1, R, R) float in [0, 1] (2x2... average pooling if R < 64)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().unsqueeze(1)
    if resolution != IMAGE_SIZE:
        if IMAGE_SIZE % resolution:
            raise ValueError(f"resolution must divide {IMAGE_SIZE}, got {resolution}")
        x = torch.nn.functional.avg_pool2d(x, IMAGE_SIZE // resolution)
    return x


@dataclass
class DSprites:
    """A source of dSprites images by latents: the built-in renderer or the official npz."""

    images: np.ndarray | None = None  # (737280, 64, 64) uint8 when loaded from the npz
    source: str = "renderer"

    def images_for(self, latents: np.ndarray) -> np.ndarray:
        """(N, 64, 64) uint8 binary images of the given latent classes."""
        latents = check_latents(latents)
        if self.images is None:
            return render(latents)
        return np.asarray(self.images[latents_to_index(latents)], dtype=np.uint8)


def load_dsprites(data_dir: str | Path | None = None) -> DSprites:
    """The official dataset from ``data_dir/NPZ_NAME`` when ``data_dir`` is given, else the renderer."""
    if data_dir is None:
        return DSprites()
    path = Path(data_dir) / NPZ_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"dSprites file not found: expected {path}. Download {NPZ_NAME} from "
            "https://github.com/deepmind/dsprites-dataset into --data-dir, or omit --data-dir to use "
            "the built-in renderer of the same factor grid."
        )
    try:
        with np.load(path, allow_pickle=False) as f:  # only the array keys: the file's metadata is a pickle
            images = f["imgs"]
            classes = f["latents_classes"]
    except PermissionError:
        raise
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{path} cannot be read as the dSprites .npz (a damaged or cut-off download?): {e}") from e
    if images.shape != (grid_size(), IMAGE_SIZE, IMAGE_SIZE) or classes.shape != (grid_size(), 6):
        raise ValueError(f"{path}: expected imgs (737280, 64, 64) and latents_classes (737280, 6), "
                         f"got {images.shape} and {classes.shape}")
    if not np.array_equal(latents_to_index(classes[:, 1:]), np.arange(grid_size())):
        raise ValueError(f"{path}: images are not in the row-major order of the factor grid")
    return DSprites(images=images, source=str(path))


def sample_latents(n: int, rng: np.random.Generator, allowed: np.ndarray | None = None) -> np.ndarray:
    """``n`` latent rows drawn uniformly from the full grid, or from the rows of ``allowed``."""
    if allowed is None:
        return index_to_latents(rng.integers(0, grid_size(), size=n))
    return np.asarray(allowed)[rng.integers(0, len(allowed), size=n)]


# ---------------------------------------------------------------- label encodings (reference code)
CONCEPTS = ("scale", "shape", "position", "rotation")
CONCEPT_SLICES = {"scale": slice(0, 1), "shape": slice(1, 4), "position": slice(4, 6), "rotation": slice(6, 8)}
# The latent columns (shape, scale, orientation, x, y) each concept is about.
CONCEPT_LATENTS = {"shape": (0,), "scale": (1,), "rotation": (2,), "position": (3, 4)}
LABEL_DIM = 8


def encode_labels(latents: np.ndarray) -> torch.Tensor:
    """(N, 5) latent classes -> (N, 8) labels as the reference code encodes them: scale (1 value in
    [0.5, 1]), shape one-hot (3), position (x, y) in [0, 1], rotation (cos, sin)."""
    latents = check_latents(latents)
    theta = ORIENTATIONS[latents[:, 2]]
    lab = np.concatenate([
        SCALES[latents[:, 1]][:, None],
        np.eye(3)[latents[:, 0]],
        POSITIONS[latents[:, 3]][:, None], POSITIONS[latents[:, 4]][:, None],
        np.cos(theta)[:, None], np.sin(theta)[:, None],
    ], axis=1)
    return torch.from_numpy(lab).float()


def concept_columns(concepts: tuple[str, ...] | list[str]) -> list[int]:
    """Label columns of the given concepts, in ``CONCEPTS`` order."""
    unknown = set(concepts) - set(CONCEPTS)
    if unknown or not concepts:
        raise ValueError(f"concepts must be a non-empty subset of {CONCEPTS}, got {concepts}")
    cols: list[int] = []
    for name in CONCEPTS:
        if name in concepts:
            sl = CONCEPT_SLICES[name]
            cols.extend(range(sl.start, sl.stop))
    return cols


# ---------------------------------------------------------------- cross-product splits (section 7)
CENTRE = 16  # position class of the centre (value 16/31)


def _grid(shape, scale, orientation, xs, ys) -> np.ndarray:
    mesh = np.meshgrid(shape, scale, orientation, xs, ys, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1).astype(np.int64)


def cross_product_split(name: str, position_stride: int = 1) -> dict[str, np.ndarray]:
    """Training sets and held-out combinations of a zero-shot cross-product experiment.

    D1: squares of every size at the centre; D2: the smallest squares at every position;
    D3: every shape (smallest size) at the centre. Orientation 0 throughout.
    ``"size_position"`` trains on D1 and D2 and holds out larger squares off the centre;
    ``"shape_position"`` trains on D2 and D3 and holds out ellipses / hearts off the centre.
    ``position_stride`` thins the 32 x 32 positions (e.g. 2 -> 16 x 16).
    """
    pos = np.arange(0, 32, position_stride)
    off_centre = _grid([0], [0], [0], pos, pos)
    off_centre = off_centre[(off_centre[:, 3] != CENTRE) | (off_centre[:, 4] != CENTRE)]
    d1 = _grid([0], range(6), [0], [CENTRE], [CENTRE])
    d2 = _grid([0], [0], [0], pos, pos)
    d3 = _grid(range(3), [0], [0], [CENTRE], [CENTRE])
    if name == "size_position":
        held = _grid([0], range(1, 6), [0], pos, pos)
        held = held[(held[:, 3] != CENTRE) | (held[:, 4] != CENTRE)]
        return {"train_a": d1, "train_b": d2, "held_out": held, "concepts_a": ("scale",),
                "concepts_b": ("position",)}
    if name == "shape_position":
        held = _grid([1, 2], [0], [0], pos, pos)
        held = held[(held[:, 3] != CENTRE) | (held[:, 4] != CENTRE)]
        return {"train_a": d3, "train_b": d2, "held_out": held, "concepts_a": ("shape",),
                "concepts_b": ("position",)}
    raise ValueError(f"cross-product experiment must be 'size_position' or 'shape_position', got {name!r}")
