"""Every GPU preset trains on data in its dataset's real file format, with the preset's own network and
sampler (steps, batch and image counts cut down; ImageNet 32's wide net narrowed): the code path a GPU
run takes, minus the scale."""

import dataclasses
import pickle

import numpy as np
import pytest
import torch
from ebm_vision.data import load_cifar, load_dataset, load_imagenet32
from ebm_vision.experiment import PRESETS, load_splits
from ebm_vision.image_energy import build_energy
from ebm_vision.training import image_training, train_image_energy, with_overrides
from PIL import Image


def fake_files(root, rng) -> None:
    """CIFAR-10 python pickles, downsampled-ImageNet pickles, an ImageFolder of 128-px-plus images."""
    c = root / "cifar-10-batches-py"
    c.mkdir(parents=True)
    for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (6, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, 6))}
        (c / n).write_bytes(pickle.dumps(batch))
    (c / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    for n in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        labels = [1, 1000] if n == "val_data" else list(rng.integers(1, 1001, 2))  # the files count from 1
        batch = {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": labels}
        (root / n).write_bytes(pickle.dumps(batch))
    for split in ("train", "val"):
        for wnid in ("n01440764", "n01443537"):
            (root / split / wnid).mkdir(parents=True)
            for i in range(2):
                img = rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)
                Image.fromarray(img).save(root / split / wnid / f"{i}.png")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu_data")
    fake_files(root, np.random.default_rng(0))
    return root


def test_cifar_batches_load_as_images_and_labels(data_dir, tmp_path):
    images, labels = load_cifar(data_dir, "train")  # five batches of 6
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8 and labels.shape == (30,)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    row = np.arange(3072) % 256  # channel-major: 1,024 red values, then green, then blue
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.stack([row, row[::-1]]).astype(np.uint8),
                                                      "labels": [3, 9]}))
    images, labels = load_cifar(tmp_path, "test")
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [3, 9]
    assert images[0, 1, 0, 5] == 5 and images[0, 0, 0, 1] == 1 and images[1, 2, 31, 31] == 0


def test_imagenet32_labels_count_from_zero(data_dir):
    images, labels = load_imagenet32(data_dir, "test")  # the val_data file
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [0, 999]


def test_imagenet128_limit_spreads_over_the_class_sorted_tree(data_dir):
    full = load_dataset("imagenet128", "train", data_dir)  # 2 classes x 2 images, sorted by class
    assert [int(full[i][1]) for i in range(len(full))] == [0, 0, 1, 1]
    part = load_dataset("imagenet128", "train", data_dir, limit=2)  # the front would be class 0 only
    assert len(part) == 2 and sorted(int(part[i][1]) for i in range(2)) == [0, 1]
    assert part[0][0].shape == (3, 128, 128)
    assert len(load_dataset("imagenet128", "train", data_dir, limit=10)) == 4


@pytest.mark.parametrize("preset", ["cifar10_uncond", "cifar10_cond", "imagenet32_cond", "imagenet128_cond"])
def test_gpu_preset_trains_on_its_file_format(preset, data_dir, tmp_path):
    config = with_overrides(PRESETS[preset], steps=1, batch_size=2, langevin_steps=1, quiet=True)
    if config.model.arch == "resnet32_wider":  # 60M weights at width 256: ~1 min a step here; same net at 32
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, width=32))
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, train_limit=8, eval_images=2))
    training = image_training(config)
    train, eval_x, eval_y, _ = load_splits(config.data, config.model.conditional, data_dir, config.seed)
    c, s = training.model.in_channels, training.model.image_size
    assert eval_x.shape == (2, c, s, s) and 0 <= eval_x.min() and eval_x.max() <= 1
    assert int(eval_y.max()) < max(training.model.num_classes, 10)

    torch.manual_seed(training.training.seed)  # train_image_energy seeds the initial weights the same way
    initial = [p.detach().clone() for p in build_energy(training.model).parameters()]
    energy, trainer = train_image_energy(training, train)  # no out_dir: the big checkpoints are not the point
    assert trainer.step == 1 and all(np.isfinite(h["loss"]) for h in trainer.history)
    assert any(not torch.equal(a, b) for a, b in zip(initial, energy.parameters()))
    y = eval_y if training.model.num_classes else None
    with torch.no_grad():
        e = energy(eval_x, y)
    assert e.shape == (2,) and torch.isfinite(e).all()
