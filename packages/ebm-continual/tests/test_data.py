"""Split construction: stratified, seeded, no leakage between train and eval, tasks hold only their digits."""

import gzip

import pytest
import torch
from ebm_continual import SPLIT_MNIST_TASKS, demo_split, load_mnist_test_idx, load_split_mnist, read_idx, split_tasks


def test_demo_split_is_stratified_disjoint_and_seeded(mnist_dir):
    data = demo_split(mnist_dir)
    assert data.x_train.shape == (8000, 784) and data.x_eval.shape == (2000, 784)
    assert data.x_train.dtype == torch.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert torch.bincount(data.y_eval, minlength=10).tolist() == [200] * 10
    # no image of the source set is in both parts, and together they are the whole set
    tr, ev = set(data.train_index.tolist()), set(data.eval_index.tolist())
    assert not tr & ev and len(tr | ev) == 10_000
    x, y = load_mnist_test_idx(mnist_dir)
    assert torch.equal(x[data.eval_index], data.x_eval) and torch.equal(y[data.train_index], data.y_train)
    again, other = demo_split(mnist_dir), demo_split(mnist_dir, seed=1)
    assert torch.equal(again.eval_index, data.eval_index)
    assert not torch.equal(other.eval_index, data.eval_index)
    assert "200 images per digit" in data.description


def test_split_tasks_hold_only_their_classes(mnist_dir):
    data = demo_split(mnist_dir, eval_per_class=50, train_per_class=100)
    tasks = split_tasks(data)
    assert [t.classes for t in tasks] == list(SPLIT_MNIST_TASKS)
    for t in tasks:
        assert set(t.y_train.unique().tolist()) == set(t.classes) == set(t.y_eval.unique().tolist())
        assert len(t.y_train) == 200 and len(t.y_eval) == 100
    assert sum(len(t.y_train) for t in tasks) == len(data.y_train)
    with pytest.raises(ValueError, match="disjoint"):
        split_tasks(data, ((0, 1), (1, 2)))


def test_missing_files_and_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist_test_idx(tmp_path)
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02\x03\x04" + b"\x00" * 8)
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad)


def test_load_split_mnist_picks_the_configured_source(mnist_dir, tmp_path):
    demo = load_split_mnist("demo", mnist_dir, eval_per_class=20, train_per_class=30)
    assert demo.x_eval.shape == (200, 784) and demo.x_train.shape == (300, 784)
    assert torch.equal(demo.eval_index, demo_split(mnist_dir, 20, train_per_class=30).eval_index)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_split_mnist("torchvision", tmp_path)  # no full MNIST here, and no download asked for
    with pytest.raises(ValueError, match="unknown MNIST source 'kaggle'"):
        load_split_mnist("kaggle")
