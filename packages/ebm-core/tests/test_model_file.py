"""The one model file: weights + the config that builds them, checked whole before use."""

import pytest
import torch
from ebm_core.model_file import module_from_model_file, read_model_file, save_model_file
from torch import nn


def build(config):
    if not isinstance(config, dict) or not isinstance(config.get("width"), int) or config["width"] < 1:
        raise ValueError(f"width must be a positive whole number, got {config!r}")
    return nn.Sequential(nn.Linear(3, config["width"]), nn.BatchNorm1d(config["width"]))


def test_a_model_file_round_trips_with_snapshots_and_integer_buffers(tmp_path):
    model = build({"width": 4})
    model(torch.randn(8, 3))  # batch norm counts its batches in an int64 buffer
    other = build({"width": 4})
    path = save_model_file(tmp_path / "m.pt", "test/mlp/v1", {"width": 4}, model, [other.state_dict()],
                           extra={"steps": 10})
    payload = read_model_file(path, "test/mlp/v1", build)
    assert payload["config"] == {"width": 4} and payload["extra"] == {"steps": 10}
    loaded = module_from_model_file(payload, build)
    x = torch.randn(5, 3)
    assert torch.equal(loaded(x), model.eval()(x)) and not loaded.training
    assert torch.equal(module_from_model_file(payload, build, weights=0)(x), other.eval()(x))


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.update(format="test/other/v1"), "is not a model file of format 'test/mlp/v1' "
                                                   "\\(its format is 'test/other/v1'\\)"),
    (lambda p: p.update(config={"width": 0}), "cannot be used: width must be a positive whole number"),
    (lambda p: p.update(config=[4]), "cannot be used: width must be a positive whole number, got \\[4\\]"),
    (lambda p: p.update(config={"width": 10**12}), "cannot be used: its state_dict entry 0.weight has shape"),
    (lambda p: p["state_dict"]["0.bias"].fill_(float("nan")), "entry 0.bias holds NaN or infinite values"),
    (lambda p: p["state_dict"].pop("1.running_mean"), "missing \\['1.running_mean'\\]"),
    (lambda p: p["snapshots"].append({"0.weight": torch.zeros(4, 3)}), "its snapshot 0 does not fit"),
    (lambda p: p["state_dict"].update({"0.weight": torch.zeros(4, 3, dtype=torch.complex64)}), "complex64"),
])
def test_every_part_is_checked_before_anything_is_built(tmp_path, damage, message):
    path = save_model_file(tmp_path / "m.pt", "test/mlp/v1", {"width": 4}, build({"width": 4}))
    payload = torch.load(path, weights_only=True)
    damage(payload)
    torch.save(payload, path)
    with pytest.raises(ValueError, match=message):  # a 10^12-wide config is compared on the meta device
        read_model_file(path, "test/mlp/v1", build)
