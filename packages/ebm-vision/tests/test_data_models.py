"""Datasets (real MNIST test set, dequantization, missing files) and model files."""

from pathlib import Path

import pytest
import torch
from ebm_vision import (
    DATASETS,
    ImageEnergyConfig,
    build_energy,
    dequantize,
    holdout_split,
    load_dataset,
    load_image_energy,
    load_images,
    quantize,
    save_image_energy,
)

MNIST_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist"


def test_dequantize_range_and_inverse():
    q = torch.arange(256, dtype=torch.uint8).repeat(40)
    x = dequantize(q)
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() < 1
    assert torch.equal(quantize(x), q)  # each level maps into its own 1/256 bin
    assert not torch.equal(dequantize(q), x)  # fresh noise on every read
    with pytest.raises(ValueError, match="uint8"):
        dequantize(x)


def test_real_mnist_test_set():
    images, labels = load_images("mnist", "test", MNIST_DIR)
    assert images.shape == (10_000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.min() == 0 and labels.max() == 9 and labels[:3].tolist() == [7, 2, 1]
    ds = load_dataset("mnist", "test", MNIST_DIR, limit=5)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and 0 <= x.min() and x.max() < 1 and int(y) == 7
    assert load_dataset("mnist", "test", MNIST_DIR, conditional=False, limit=5)[0].shape == (1, 28, 28)
    (tr, _), (ho, _) = holdout_split(images[:100], labels[:100], 20)
    assert tr.shape[0] == 80 and ho.shape[0] == 20


@pytest.mark.parametrize("name", DATASETS)
def test_missing_files_name_them(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="--data-dir") as err:
        load_dataset(name, "train", tmp_path)
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize("arch", ["mnist", "resnet32"])
def test_model_file_round_trip(tmp_path, arch):
    torch.manual_seed(0)
    cfg = ImageEnergyConfig(arch=arch, num_classes=10, in_channels=1, image_size=28 if arch == "mnist" else 32)
    energy = build_energy(cfg).eval()
    other = build_energy(cfg).eval()
    path = save_image_energy(energy, cfg, tmp_path / "m.pt", snapshots=[energy.state_dict(), other.state_dict()])
    loaded, cfg2 = load_image_energy(path)
    assert cfg2 == cfg
    x, y = torch.rand(4, *cfg.shape), torch.arange(4)
    assert torch.allclose(loaded(x, y), energy(x, y))
    ens, _ = load_image_energy(path, ensemble=True)
    assert torch.allclose(ens(x, y), 0.5 * (energy(x, y) + other(x, y)), atol=1e-6)
    (tmp_path / "bad.pt").write_bytes(b"")
    torch.save({"x": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not an ebm-vision model file"):
        load_image_energy(tmp_path / "bad.pt")
