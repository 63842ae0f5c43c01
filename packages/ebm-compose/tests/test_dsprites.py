"""The renderer reproduces the dSprites factor grid deterministically; labels and splits."""

import numpy as np
import pytest
import torch
from ebm_compose import (
    CONCEPT_SLICES,
    LATENT_SIZES,
    NPZ_NAME,
    POSITIONS,
    SCALES,
    concept_columns,
    cross_product_split,
    encode_labels,
    grid_size,
    index_to_latents,
    latents_to_index,
    load_dsprites,
    render,
    to_tensor,
)


def _one(shape=0, scale=5, orient=0, px=16, py=16):
    return render(np.array([[shape, scale, orient, px, py]]))[0].astype(float)


def test_factor_grid_matches_the_official_layout():
    assert LATENT_SIZES == (3, 6, 40, 32, 32) and grid_size() == 737_280
    assert np.allclose(SCALES, np.linspace(0.5, 1, 6)) and np.allclose(POSITIONS, np.linspace(0, 1, 32))
    idx = np.random.default_rng(0).integers(0, grid_size(), 500)
    assert np.array_equal(latents_to_index(index_to_latents(idx)), idx)
    assert index_to_latents(np.array([grid_size() - 1]))[0].tolist() == [2, 5, 39, 31, 31]
    assert index_to_latents(np.array([1]))[0].tolist() == [0, 0, 0, 0, 1]  # pos_y varies fastest, as in the npz


def test_render_is_deterministic_binary_64x64():
    lat = index_to_latents(np.random.default_rng(1).integers(0, grid_size(), 64))
    a, b = render(lat), render(lat.copy())
    assert a.shape == (64, 64, 64) and a.dtype == np.uint8
    assert np.array_equal(a, b) and set(np.unique(a)) <= {0, 1}
    assert (a.reshape(64, -1).sum(1) > 0).all()  # every latent combination draws something
    with pytest.raises(ValueError, match="latent classes"):
        render(np.array([[3, 0, 0, 0, 0]]))


def test_each_factor_changes_the_image_as_named():
    areas = [_one(scale=s).sum() for s in range(6)]
    assert all(b > a for a, b in zip(areas, areas[1:]))  # scale grows the object
    cols = np.arange(64) + 0.5
    cx = [(_one(px=p).sum(0) * cols).sum() / _one(px=p).sum() for p in (0, 16, 31)]
    cy = [(_one(py=p).sum(1) * cols).sum() / _one(py=p).sum() for p in (0, 16, 31)]
    assert cx[0] < cx[1] < cx[2] and cy[0] < cy[1] < cy[2]  # pos_x moves columns, pos_y rows
    assert np.array_equal(_one(orient=0), _one(orient=10)) or (_one(orient=0) != _one(orient=10)).mean() < 0.005
    assert (_one(orient=0) != _one(orient=5)).sum() > 20  # 45 degrees turns the square
    assert (_one(shape=2, orient=0) != _one(shape=2, orient=10)).sum() > 20  # a heart has no 90-degree symmetry
    shapes = [_one(shape=k) for k in range(3)]
    assert all((shapes[i] != shapes[j]).sum() > 20 for i in range(3) for j in range(i))


def test_to_tensor_pools_to_lower_resolution():
    img = render(np.array([[0, 5, 0, 16, 16]]))
    x = to_tensor(img, 32)
    assert x.shape == (1, 1, 32, 32) and x.dtype == torch.float32
    assert torch.isclose(x.sum() * 4, torch.tensor(float(img.sum())))
    with pytest.raises(ValueError):
        to_tensor(img, 24)


def test_missing_npz_is_a_clear_error(tmp_path):
    assert load_dsprites(None).source == "renderer"
    with pytest.raises(FileNotFoundError, match=NPZ_NAME) as err:
        load_dsprites(tmp_path)
    assert "--data-dir" in str(err.value)


def test_label_encodings_follow_the_reference():
    lat = np.array([[2, 0, 10, 0, 31], [0, 5, 0, 16, 16]])
    y = encode_labels(lat)
    assert y.shape == (2, 8)
    assert torch.allclose(y[:, CONCEPT_SLICES["scale"]].squeeze(1), torch.tensor([0.5, 1.0]))
    assert y[:, CONCEPT_SLICES["shape"]].tolist() == [[0, 0, 1], [1, 0, 0]]
    assert torch.allclose(y[0, CONCEPT_SLICES["position"]], torch.tensor([0.0, 1.0]))
    assert torch.allclose(y[0, CONCEPT_SLICES["rotation"]], torch.tensor([0.0, 1.0]), atol=1e-6)  # 90 degrees
    assert concept_columns(("position", "scale")) == [0, 4, 5]
    with pytest.raises(ValueError):
        concept_columns(("colour",))


def test_cross_product_splits_hold_out_unseen_combinations():
    sp = cross_product_split("size_position")
    d1, d2, held = sp["train_a"], sp["train_b"], sp["held_out"]
    assert len(d1) == 6 and (d1[:, 3:] == 16).all() and (d1[:, 0] == 0).all()
    assert len(d2) == 32 * 32 and (d2[:, 1] == 0).all()
    seen = set(map(tuple, np.concatenate([d1, d2])))
    assert len(held) == 5 * (32 * 32 - 1) and not seen & set(map(tuple, held))
    sh = cross_product_split("shape_position", position_stride=2)
    assert len(sh["train_a"]) == 3 and set(sh["held_out"][:, 0]) == {1, 2}
    assert not set(map(tuple, np.concatenate([sh["train_a"], sh["train_b"]]))) & set(map(tuple, sh["held_out"]))


def test_report_and_validation_latents_ask_for_disjoint_combinations():
    from ebm_compose.dsprites_experiment import _split_latents

    held = cross_product_split("shape_position", position_stride=2)["held_out"]  # 510 combinations
    split = _split_latents(held, 256, 128, np.random.default_rng(0), ("shape", "position"))
    rows = lambda a: set(map(tuple, a))  # noqa: E731
    assert len(split.report) == 256 and len(split.validation) == 128
    assert rows(split.report) <= rows(held) and rows(split.validation) <= rows(held)
    assert not rows(split.report) & rows(split.validation) and len(rows(split.report)) == 256  # no repeats
    small = _split_latents(held[:10], 256, 128, np.random.default_rng(0), ("shape", "position"))  # half each
    assert (len(small.report), len(small.validation)) == (5, 5) and not rows(small.report) & rows(small.validation)
    # the whole grid: rows that differ only in latents no model conditions on (shape, orientation) are one
    # combination of (scale, position), so validation asks for none of the report's
    grid = _split_latents(None, 3000, 2000, np.random.default_rng(1), ("scale", "position"))
    combos = lambda a: set(map(tuple, a[:, [1, 3, 4]]))  # noqa: E731
    assert len(grid.report) == 3000 and len(grid.validation) == 2000
    assert not combos(grid.report) & combos(grid.validation)
    plain = _split_latents(None, 3000, 2000, np.random.default_rng(1), ("shape", "scale", "rotation", "position"))
    assert np.array_equal(plain.report, grid.report)  # the same draw; only the validation rows differ
    assert len(combos(plain.report) & combos(plain.validation)) > 0  # (with every latent conditioned they may share)
    more = _split_latents(None, 3000, 50, np.random.default_rng(1), ("scale", "position"))
    assert np.array_equal(more.report, grid.report)  # the report rows do not depend on the validation's count


def test_latent_predictor_is_reused_on_resume_only_under_its_settings(tmp_path, monkeypatch):
    import dataclasses

    from ebm_compose import DSprites, PredictorConfig
    from ebm_compose import dsprites_experiment as exp

    config = exp.PRESETS["tiny"]
    trained = []
    real = exp.train_latent_predictor
    monkeypatch.setattr(exp, "train_latent_predictor", lambda *a, **k: trained.append(a[2]) or real(*a, **k))
    first = exp._Run(config, tmp_path, DSprites(), resume=False, quiet=True).predictor()
    again = exp._Run(config, tmp_path, DSprites(), resume=True, quiet=True).predictor()
    assert len(trained) == 1  # the saved predictor was reused...
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    longer = dataclasses.replace(config, training=dataclasses.replace(
        config.training, predictor=PredictorConfig(train_images=200, steps=6, batch_size=16)))
    exp._Run(longer, tmp_path, DSprites(), resume=True, quiet=True).predictor()
    assert len(trained) == 2 and trained[-1].steps == 6  # ...but not after its settings changed
    exp._Run(dataclasses.replace(config, seed=3), tmp_path, DSprites(), resume=True, quiet=True).predictor()
    assert len(trained) == 3  # nor under another seed
