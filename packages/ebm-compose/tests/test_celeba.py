"""CelebA loader errors and the synthetic attribute images."""

import pytest
import torch
from ebm_compose import load_celeba, synthetic_attributes
from ebm_compose.celeba_experiment import attribute_scores


def test_missing_files_name_what_to_put_where(tmp_path):
    (tmp_path / "celeba").mkdir()
    (tmp_path / "celeba" / "list_attr_celeba.txt").write_text("")
    with pytest.raises(FileNotFoundError) as err:
        load_celeba(tmp_path)
    msg = str(err.value)
    assert "img_align_celeba/" in msg and "list_eval_partition.txt" in msg and "--data-dir" in msg
    assert "list_attr_celeba.txt," not in msg  # present files are not reported missing


def test_damaged_files_are_a_clear_error_not_torchvisions_download_hint(tmp_path):
    from ebm_compose import CELEBA_FILES

    root = tmp_path / "celeba"
    root.mkdir()
    for name in CELEBA_FILES:  # every expected name present, but junk
        if name.endswith("/"):
            (root / name).mkdir()
        else:
            (root / name).write_text("junk\n")
    with pytest.raises(ValueError, match="fail torchvision's checks") as err:
        load_celeba(tmp_path)
    assert "download=True" not in str(err.value)  # the app has no download option


def test_synthetic_attributes_are_deterministic_and_visible():
    a = synthetic_attributes(400, image_size=16, seed=3)
    b = synthetic_attributes(400, image_size=16, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.attributes, b.attributes)
    assert a.x.shape == (400, 3, 16, 16) and 0 <= a.x.min() and a.x.max() <= 1
    assert "NOT CelebA" in a.source and a.names == ("Young", "Male", "Smiling", "Wavy_Hair")
    on, off = a.attributes == 1, a.attributes == 0
    hair = a.x[:, :, 1:4, 4:12].mean((1, 2, 3))  # 1st attribute: dark hair
    assert hair[on[:, 0]].max() < hair[off[:, 0]].min()
    jaw = a.x[:, 0, 12:14, 6:10].mean((1, 2))  # 2nd: dark beard
    assert jaw[on[:, 1]].mean() < jaw[off[:, 1]].mean() - 0.3
    mouth = a.x[:, 0, 10, 5:11].mean(1) - a.x[:, 1, 10, 5:11].mean(1)  # 3rd: wide red mouth
    assert mouth[on[:, 2]].mean() > mouth[off[:, 2]].mean() + 0.2
    with pytest.raises(ValueError):
        synthetic_attributes(4, attributes=("a", "b", "c", "d", "e"))


def test_attribute_scores_count_samples_with_every_requested_attribute():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :2] - 0.5

    x = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).view(4, 2, 1, 1)
    s = attribute_scores(Fixed(), x, {0: 1, 1: 1})
    assert s == {"attr0": 0.5, "attr1": 0.5, "all": 0.25}


def test_attribute_energy_loads_weights_saved_under_the_old_head_name():
    """Before AttributeEnergy became ebm-core's ResNetEnergy its final linear was ``out``: such files still load."""
    from ebm_compose.networks import AttributeEnergy

    torch.manual_seed(0)
    saved = AttributeEnergy(image_size=16, channels=(8, 8))
    old = {k.replace("head.", "out.", 1) if k.startswith("head.") else k: v for k, v in saved.state_dict().items()}
    assert "out.weight" in old and "head.weight" not in old
    loaded = AttributeEnergy(image_size=16, channels=(8, 8))
    loaded.load_state_dict(old)
    x, y = torch.rand(3, 3, 16, 16), torch.tensor([0, 1, 1])
    assert torch.allclose(loaded(x, y), saved(x, y))
