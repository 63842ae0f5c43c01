"""Split construction: stratified, seeded, no leakage between train and eval, tasks hold only their digits."""

import gzip

import pytest
import torch
from ebm_continual import (
    SPLIT_MNIST_TASKS,
    SplitMNISTData,
    demo_split,
    format_tasks,
    load_mnist_test_idx,
    load_split_mnist,
    parse_tasks,
    read_idx,
    split_tasks,
)
from ebm_continual.data import _to_tensors, validation_rows
from ebm_run import read_mnist_idx


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
    with pytest.raises(FileNotFoundError, match="needs the four extracted idx files there"):
        load_split_mnist("torchvision", tmp_path)  # no full MNIST here, and no download asked for
    with pytest.raises(FileNotFoundError, match="MNIST train files not found"):
        load_split_mnist("mnist", tmp_path)
    with pytest.raises(ValueError, match="unknown MNIST source 'kaggle'"):
        load_split_mnist("kaggle")
    with pytest.raises(ValueError, match="has no validation set"):
        load_split_mnist("demo", mnist_dir, eval_split="validation")


def test_full_mnist_holds_out_a_fixed_validation_set_and_reads_the_test_set_apart(mnist_dir):
    test = load_split_mnist("mnist", mnist_dir)
    assert test.x_train.shape == (55_000, 784) and test.x_eval.shape == (10_000, 784)
    assert (test.eval_split, test.n_validation) == ("test", 5000)
    val = load_split_mnist("mnist", mnist_dir, eval_split="validation")
    assert val.x_eval.shape == (5000, 784) and torch.bincount(val.y_eval).tolist() == [500] * 10
    assert torch.equal(val.x_train, test.x_train)  # the same training images whatever is scored
    x, y = _to_tensors(*read_mnist_idx(mnist_dir, "train"))
    rows = validation_rows(y, 5000)
    assert torch.equal(x[rows], val.x_eval) and torch.equal(rows, validation_rows(y, 5000))  # fixed
    held = set(map(tuple, val.x_eval[:500].mul(255).round().byte().tolist()))
    assert not held & set(map(tuple, val.x_train[:5000].mul(255).round().byte().tolist()))  # not trained on
    small = load_split_mnist("mnist", mnist_dir, train_per_class=30, eval_per_class=7, eval_split="validation")
    assert torch.bincount(small.y_train).tolist() == [30] * 10 and torch.bincount(small.y_eval).tolist() == [7] * 10


def test_torchvision_reads_its_own_layout(mnist_dir, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in mnist_dir.glob("*-ubyte.gz"):  # torchvision wants the extracted files
        (raw / gz.name[:-3]).write_bytes(gzip.decompress(gz.read_bytes()))
    via_torchvision = load_split_mnist("torchvision", tmp_path, train_per_class=20, eval_per_class=5)
    via_idx = load_split_mnist("mnist", mnist_dir, train_per_class=20, eval_per_class=5)
    assert torch.equal(via_torchvision.x_train, via_idx.x_train) and torch.equal(via_torchvision.y_eval, via_idx.y_eval)


def test_task_orders_are_partitions_of_the_digits(mnist_dir):
    data = demo_split(mnist_dir, eval_per_class=10, train_per_class=20)
    order = parse_tasks("9,8/0,1,2/3,4,5,6,7")
    assert order == ((9, 8), (0, 1, 2), (3, 4, 5, 6, 7)) and format_tasks(order) == "9,8/0,1,2/3,4,5,6,7"
    assert [t.classes for t in split_tasks(data, order)] == list(order)
    assert SplitMNISTData(tasks=order).tasks == order
    for bad in ("0,1/2,3", "0,1/1,2,3,4,5,6,7,8,9", "0,1,2,3,4,5,6,7,8,9,10"):
        with pytest.raises(ValueError, match="must split the digits 0-9"):
            SplitMNISTData(tasks=parse_tasks(bad))
    with pytest.raises(ValueError, match="is not a task order"):
        parse_tasks("0,1/two")
