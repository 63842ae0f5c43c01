"""Datasets (real MNIST test set, missing files) and model files; dequantization: ebm-core's tests."""

import dataclasses
from pathlib import Path

import pytest
import torch
from ebm_vision import (
    DATASETS,
    ImageEnergyConfig,
    build_energy,
    holdout_split,
    load_dataset,
    load_image_energy,
    load_images,
    save_image_energy,
)
from ebm_vision.data import shared_mnist_dir

MNIST_DIR = shared_mnist_dir()


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
    avg, _ = load_image_energy(path, average=True)  # one model with the snapshots' mean weights
    key = next(k for k, v in energy.state_dict().items() if v.is_floating_point() and v.dim() > 1)
    assert torch.allclose(avg.state_dict()[key], 0.5 * (energy.state_dict()[key] + other.state_dict()[key]))
    assert not torch.allclose(avg(x, y), loaded(x, y), atol=1e-4)
    with pytest.raises(ValueError, match="not both"):
        load_image_energy(path, ensemble=True, average=True)
    (tmp_path / "bad.pt").write_bytes(b"")
    torch.save({"x": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt is not a model file of format 'ebm-vision/image-energy/v1'"):
        load_image_energy(tmp_path / "bad.pt")
    torch.save({"optimizer": {}, "energy": energy.state_dict()}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="a training checkpoint: give the model file written beside it"):
        load_image_energy(tmp_path / "checkpoint.pt")


def test_checkpoint_for_other_images_is_a_clear_error_before_loading_data(tmp_path):
    from ebm_vision.experiment import PRESETS, run_image_generate

    cfg = ImageEnergyConfig("mnist", 10, 3, 32, mnist_channels=(8, 8, 8, 8), mnist_hidden=8)  # CIFAR-shaped
    path = save_image_energy(build_energy(cfg), cfg, tmp_path / "cifar.pt")
    with pytest.raises(ValueError, match=r"\(3, 32, 32\).*mnist has \(1, 28, 28\).*--preset"):
        run_image_generate(PRESETS["tiny"], tmp_path / "out", data_dir=tmp_path / "no_data", checkpoint=path)


def test_default_data_dir_and_paper_presets():
    from ebm_vision.evaluation import OOD_PRESETS, ROBUSTNESS_PRESETS
    from ebm_vision.experiment import PRESETS, default_data_dir

    for preset in ("mnist", "tiny"):  # the folder follows the config's data set, not the preset's name
        assert default_data_dir(PRESETS[preset].data.dataset) == (MNIST_DIR if MNIST_DIR.is_dir() else Path("data"))
    assert default_data_dir(PRESETS["paper"].data.dataset) == default_data_dir("cifar10") == Path("data")
    assert PRESETS["paper"].data.dataset == "cifar10" and PRESETS["paper"].model.conditional
    assert OOD_PRESETS["paper"] == OOD_PRESETS["cifar10"]
    assert ROBUSTNESS_PRESETS["paper"] == ROBUSTNESS_PRESETS["cifar10"]


def test_every_experiment_config_has_the_six_sections_built_from_its_training_recipe():
    from ebm_vision import (
        IMAGE_GENERATE_PRESETS,
        LIKELIHOOD_PRESETS,
        OOD_PRESETS,
        ROBUSTNESS_PRESETS,
        TRAINING_PRESETS,
        image_training,
    )

    for presets in (IMAGE_GENERATE_PRESETS, OOD_PRESETS, ROBUSTNESS_PRESETS, LIKELIHOOD_PRESETS):
        for config in presets.values():
            assert [f.name for f in dataclasses.fields(config)] == [
                "data", "model", "sampler", "training", "evaluation", "seed"]
            assert all(dataclasses.is_dataclass(getattr(config, f)) for f in ("data", "model", "sampler", "training",
                                                                              "evaluation"))
    # the EBM an experiment trains is its recipe, with the experiment's own data split
    tiny = TRAINING_PRESETS["tiny"]
    assert image_training(IMAGE_GENERATE_PRESETS["tiny"]) == dataclasses.replace(tiny, data=dataclasses.replace(
        tiny.data, train_limit=1000, holdout_from_test=True, eval_images=200))
    robust = ROBUSTNESS_PRESETS["cifar10"]
    recipe = TRAINING_PRESETS["cifar10_cond"]
    assert image_training(robust, robust.training.ebm) == dataclasses.replace(recipe, data=dataclasses.replace(
        recipe.data, holdout_from_test=True, eval_images=10_000))
    assert robust.training.classifier.steps == 20_000


def test_unconditional_runs_keep_labels_for_evaluation_but_train_without():
    from ebm_vision.experiment import PRESETS, load_splits
    from ebm_vision.training import for_trainer

    data = dataclasses.replace(PRESETS["tiny"].data, eval_images=20, train_limit=50)
    train, _, eval_y, _ = load_splits(data, False, MNIST_DIR, seed=0)  # an unconditional model's split
    assert train.labels is not None and eval_y.shape == (20,)
    assert for_trainer(train, conditional=False).labels is None and for_trainer(train, True) is train
    assert isinstance(for_trainer(train, False)[0], torch.Tensor)  # items are images alone


def test_the_validation_split_holds_out_the_last_training_images_and_never_reads_the_test_files(tmp_path):
    import shutil

    from ebm_vision.experiment import PRESETS, load_splits

    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):  # the test files are not there
        shutil.copy(Path(MNIST_DIR) / name, tmp_path / name)
    data = dataclasses.replace(PRESETS["mnist"].data, eval_images=500, train_limit=1000)
    train, vx, vy, note = load_splits(data, True, tmp_path, seed=0, split="validation")
    images, labels = load_images("mnist", "train", tmp_path)
    assert torch.equal(train.images, images[:1000]) and torch.equal(train.labels, labels[:1000])
    assert torch.equal(vy, labels[-500:]) and vx.shape == (500, 1, 28, 28)
    assert ((vx - images[-500:].float() / 256) * 256).abs().max() < 1.0 + 1e-4  # the same images, dequantized
    assert "last 500 held out for validation" in note
    with pytest.raises(FileNotFoundError, match="t10k"):  # the test split does read them
        load_splits(data, True, tmp_path, seed=0, split="test")
    with pytest.raises(ValueError, match="59,500 beside the 500 validation images"):
        load_splits(dataclasses.replace(data, train_limit=59_600), True, tmp_path, seed=0, split="validation")
