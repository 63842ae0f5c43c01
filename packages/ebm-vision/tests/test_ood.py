"""OOD scores and AUROC with known answers, synthetic OOD sets, real-set conversion and errors."""

import pytest
import torch
from ebm_vision.ood import (
    constant_images,
    evaluate_ood,
    interpolated_images,
    load_ood_images,
    ood_scores,
    plot_relative_energy_histograms,
    synthetic_ood_sets,
    to_shape,
)
from torch import nn


class FirstPixel(nn.Module):
    """E(x) = -x[0, 0, 0]: the OOD score -E is the first pixel."""

    def forward(self, x, y=None):
        return -x[:, 0, 0, 0]


class NearestLevel(nn.Module):
    """Conditional: E(x, c) = |x[0, 0, 0] - c / 10|."""

    def forward(self, x, y):
        return (x[:, 0, 0, 0] - y.float() / 10).abs()


def images_with_first_pixel(values):
    x = torch.full((len(values), 1, 4, 4), 0.5)
    x[:, 0, 0, 0] = torch.tensor(values)
    return x


def test_auroc_of_constructed_scores():
    x_in = images_with_first_pixel([0.1, 0.2, 0.3, 0.4])
    sets = {
        "below": images_with_first_pixel([0.0, 0.05]),  # every in-distribution score is higher: 1.0
        "above": images_with_first_pixel([0.9]),  # never higher: 0.0
        "middle": images_with_first_pixel([0.15]),  # 3 of 4 in-distribution scores higher: 0.75
        "tied": images_with_first_pixel([0.2, 0.2]),  # 2 higher, 1 tie (1/2), 1 lower per OOD image: 0.625
    }
    res = evaluate_ood(FirstPixel(), x_in, sets)
    assert res["auroc"] == pytest.approx({"below": 1.0, "above": 0.0, "middle": 0.75, "tied": 0.625})
    assert res["mean_auroc"] == pytest.approx((1.0 + 0.0 + 0.75 + 0.625) / 4)


def test_conditional_score_is_lowest_energy_over_classes():
    x = images_with_first_pixel([0.0, 0.13, 0.46, 0.99])
    s = ood_scores(NearestLevel(), x, num_classes=10)
    assert torch.allclose(s, -torch.tensor([0.0, 0.03, 0.04, 0.09], dtype=torch.float64), atol=1e-6)
    x_far = images_with_first_pixel([0.95, 0.96])  # no class mean near them: lower scores
    assert evaluate_ood(NearestLevel(), images_with_first_pixel([0.2, 0.5]), {"far": x_far}, 10)["auroc"]["far"] == 1


def test_synthetic_sets():
    g = torch.Generator().manual_seed(0)
    c = constant_images(5, (3, 8, 8), g)
    assert c.shape == (5, 3, 8, 8) and (c == c[:, :, :1, :1]).all() and c.min() >= 0 and c.max() <= 1
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2) / 4
    mix = interpolated_images(x, 50, g)
    # every mix is the midpoint of two DIFFERENT images: never an original image
    levels = mix[:, 0, 0, 0] * 4 * 2  # = a + b with a != b in {0, 1, 2, 3}
    assert torch.allclose(levels, levels.round()) and not any(torch.isclose(mix[:, 0, 0, 0], x[:, 0, 0, 0][i]).any()
                                                              for i in (0, 3))
    sets = synthetic_ood_sets(torch.rand(10, 1, 28, 28), 7, seed=1)
    assert set(sets) == {"constant", "uniform", "interpolation"}
    assert all(v.shape == (7, 1, 28, 28) for v in sets.values())
    assert torch.equal(sets["uniform"], synthetic_ood_sets(torch.rand(10, 1, 28, 28), 7, seed=1)["uniform"])


def test_to_shape_converts_colour_and_size():
    q = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    q[:, 1] = 200  # pure green
    grey = to_shape(q, (1, 28, 28))
    assert grey.shape == (2, 1, 28, 28) and grey.dtype == torch.uint8
    assert (grey.float() - 0.587 * 200).abs().max() <= 1
    rgb = to_shape(grey, (3, 32, 32))
    assert rgb.shape == (2, 3, 32, 32) and (rgb[:, 0] == rgb[:, 2]).all()


@pytest.mark.parametrize("name", ["fashion_mnist", "svhn", "textures", "cifar100"])
def test_missing_real_set_names_files_and_data_dir(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_ood_images(name, tmp_path, (1, 28, 28))
    with pytest.raises(ValueError, match="unknown OOD set"):
        load_ood_images("imaginary", tmp_path, (1, 28, 28))


def test_histogram_png(tmp_path):
    res = evaluate_ood(FirstPixel(), torch.rand(40, 1, 4, 4), synthetic_ood_sets(torch.rand(40, 1, 4, 4), 40))
    plot_relative_energy_histograms(res["scores"], tmp_path / "h.png", "test")
    assert (tmp_path / "h.png").stat().st_size > 5000


def test_a_damaged_torchvision_ood_file_is_not_reported_missing(tmp_path):
    import struct

    for folder, name, message in (
            ("FashionMNIST", "fashion_mnist", "header says shape \\(10, 28, 28\\) but the file holds 100 values"),
            ("KMNIST", "kmnist", "kmnist test files under .* are there but damaged or incomplete")):
        raw = tmp_path / folder / "raw"
        raw.mkdir(parents=True)
        (raw / "t10k-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, 10, 28, 28) + bytes(100))  # cut off
        (raw / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, 10) + bytes(10))
        with pytest.raises(ValueError, match=message):
            load_ood_images(name, tmp_path, (1, 28, 28))


def test_nan_scores_stop_the_ood_evaluation_naming_the_model_and_set():
    from ebm_core import NonFiniteError

    class NaNOnBright(nn.Module):
        def forward(self, x, y=None):
            e = -x[:, 0, 0, 0]
            return torch.where(x[:, 0, 0, 0] > 0.9, torch.full_like(e, float("nan")), e)

    x_in = images_with_first_pixel([0.1, 0.2, 0.3])
    res = evaluate_ood(NaNOnBright(), x_in, {"dim": images_with_first_pixel([0.4, 0.5])}, model="model.pt")
    assert res["auroc"]["dim"] == 0.0  # finite scores: a number (here the worst one)
    with pytest.raises(NonFiniteError, match="OOD scores of model.pt on bright: 1 of 2 values"):
        evaluate_ood(NaNOnBright(), x_in, {"bright": images_with_first_pixel([0.95, 0.5])}, model="model.pt")


def test_fashion_mnist_is_the_default_real_set_of_an_mnist_model_where_found(tmp_path, monkeypatch):
    import shutil

    from ebm_run import shared_fashion_mnist_dir
    from ebm_vision.ood import default_real_sets, load_ood_images

    monkeypatch.setenv("EBM_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    assert default_real_sets("mnist", tmp_path) == {} and default_real_sets("cifar10", tmp_path) == {}
    raw = tmp_path / "tv" / "FashionMNIST" / "raw"  # torchvision's layout works too
    raw.mkdir(parents=True)
    monkeypatch.delenv("EBM_FASHION_MNIST_DIR")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_fashion_mnist_dir() / name, raw / name)
    assert default_real_sets("mnist", tmp_path / "tv") == {"fashion_mnist": tmp_path / "tv"}
    x = load_ood_images("fashion_mnist", tmp_path / "tv", (1, 28, 28), limit=50)
    assert x.shape == (50, 1, 28, 28) and 0 <= x.min() and x.max() < 1
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError):  # a damaged file is refused, not read as noise
        load_ood_images("fashion_mnist", tmp_path / "tv", (1, 28, 28))


def test_the_default_fashion_set_of_an_mnist_model_is_clothing_not_the_mnist_files_beside_it():
    """Fashion-MNIST's files are named like MNIST's: the MNIST folder must not pass for Fashion-MNIST."""
    from ebm_run import shared_mnist_dir
    from ebm_vision.ood import default_real_sets, load_ood_images

    folders = default_real_sets("mnist", shared_mnist_dir())  # the app's default: --data-dir is MNIST's
    assert set(folders) == {"fashion_mnist"}
    x = load_ood_images("fashion_mnist", folders["fashion_mnist"], (1, 28, 28), limit=1000)
    digits = load_ood_images("mnist", shared_mnist_dir(), (1, 28, 28), limit=1000)
    # clothing covers far more of the frame than digits (mean ink 0.29 against 0.13)
    assert x.mean() > 0.25 and digits.mean() < 0.16


def test_a_fashion_mnist_model_reads_clothing_and_scores_mnist_digits_as_outliers():
    """The other way round: Fashion-MNIST is an image data set of its own (image_generate and ood_eval
    have a fashion_mnist preset reading the shipped folder), and MNIST's test digits are its default
    real outliers, never the clothing files under MNIST's file names."""
    from ebm_run import shared_fashion_mnist_dir, shared_mnist_dir
    from ebm_vision.data import image_shape, load_images, num_classes
    from ebm_vision.evaluation import OOD_PRESETS
    from ebm_vision.experiment import PRESETS, default_data_dir
    from ebm_vision.ood import default_real_sets, load_ood_images

    assert image_shape("fashion_mnist") == (1, 28, 28) and num_classes("fashion_mnist") == 10
    assert PRESETS["fashion_mnist"].data.dataset == OOD_PRESETS["fashion_mnist"].data.dataset == "fashion_mnist"
    assert PRESETS["fashion_mnist"].model == PRESETS["mnist"].model  # the mnist preset, other images
    folder = default_data_dir("fashion_mnist")
    assert folder == shared_fashion_mnist_dir()
    clothes, labels = load_images("fashion_mnist", "test", folder, limit=1000)
    assert clothes.shape == (1000, 1, 28, 28) and set(labels.tolist()) == set(range(10))
    assert clothes.float().mean() / 255 > 0.25  # clothing, not digits
    with pytest.raises(FileNotFoundError, match="MNIST test files not found"):
        load_images("mnist", "test", folder)  # the clothing under MNIST's file names is not read as digits
    assert default_real_sets("fashion_mnist", folder) == {"mnist": shared_mnist_dir()}
    digits = load_ood_images("mnist", shared_mnist_dir(), (1, 28, 28), limit=1000)
    assert digits.mean() < 0.16
