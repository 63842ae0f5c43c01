"""MNIST idx files: the reader round-trips small files written here (gz and plain), the split's
files are found in each supported layout, and missing or malformed files are clear errors."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from ebm_run import MNIST_FILES, find_mnist_files, mnist_files, read_idx, read_mnist_idx, shared_mnist_dir


def _idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return header + a.astype(np.uint8).tobytes()


def _write(path: Path, a: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(_idx_bytes(a))
    else:
        path.write_bytes(_idx_bytes(a))
    return path


def _write_split(folder: Path, split: str, n: int, gz: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
    suffix = ".gz" if gz else ""
    _write(folder / (MNIST_FILES[split][0] + suffix), images)
    _write(folder / (MNIST_FILES[split][1] + suffix), labels)
    return images, labels


@pytest.mark.parametrize("name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_read_idx_round_trips_gz_and_plain(tmp_path, name):
    a = np.random.default_rng(1).integers(0, 256, (7, 5, 3))
    out = read_idx(_write(tmp_path / name, a))
    assert out.dtype == np.uint8 and out.shape == (7, 5, 3)
    np.testing.assert_array_equal(out, a)
    out[0, 0, 0] = 255 - out[0, 0, 0]  # writable: torch.from_numpy takes it without a copy or warning


def test_read_mnist_idx_finds_every_layout(tmp_path):
    images, labels = _write_split(tmp_path / "a", "test", 6, gz=True)
    x, y = read_mnist_idx(tmp_path / "a", "test")
    assert x.shape == (6, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    _write_split(tmp_path / "b" / "mnist", "train", 4, gz=False, seed=2)
    _write_split(tmp_path / "c" / "MNIST" / "raw", "train", 3, gz=True, seed=3)
    assert find_mnist_files(tmp_path / "b", "train")[0] == tmp_path / "b" / "mnist" / MNIST_FILES["train"][0]
    assert read_mnist_idx(tmp_path / "b", "train")[0].shape == (4, 28, 28)
    assert read_mnist_idx(tmp_path / "c", "train")[1].shape == (3,)


def test_missing_and_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz") as err:
        read_mnist_idx(tmp_path, "test")
    assert str(tmp_path) in str(err.value) and "--data-dir" in str(err.value)
    _write(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte.gz") as err:
        read_mnist_idx(tmp_path, "test")
    assert "t10k-images" not in str(err.value)  # only the missing file is named
    with pytest.raises(FileNotFoundError, match="nowhere.gz"):
        read_idx(tmp_path / "nowhere.gz")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        find_mnist_files(tmp_path, "val")
    _write(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        read_mnist_idx(tmp_path, "test")
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02\x03\x04" + b"\x00" * 8)
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(np.zeros((4, 4)))[:-3])
    with pytest.raises(ValueError, match=r"\(4, 4\).*13 values"):
        read_idx(short)
    cut = tmp_path / "cut.gz"  # a download that stopped half-way, and a file that is not gzip at all
    noise = np.random.default_rng(0).integers(0, 256, (50, 28, 28))
    cut.write_bytes(gzip.compress(_idx_bytes(noise))[:1000])
    with pytest.raises(ValueError, match="cut.gz cannot be read"):
        read_idx(cut)
    sparse = np.random.default_rng(0).random((50, 28, 28)) < 0.2  # compressible, like digits
    packed = bytearray(gzip.compress(_idx_bytes(sparse * 3)))
    packed[20:60] = b"\xff" * 40  # damaged inside the deflate stream: zlib, not gzip, notices
    (tmp_path / "damaged.gz").write_bytes(bytes(packed))
    with pytest.raises(ValueError, match="damaged.gz cannot be read"):
        read_idx(tmp_path / "damaged.gz")
    (tmp_path / "plain.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="plain.gz cannot be read"):
        read_idx(tmp_path / "plain.gz")


def test_shared_mnist_dir_search_order(tmp_path, monkeypatch):
    checkout = Path(__file__).resolve().parents[3]  # <checkout>/packages/ebm-run/tests/this file
    assert mnist_files._beside_checkout() == checkout.parent / "shared" / "data" / "mnist"
    (tmp_path / "env").mkdir()
    (tmp_path / "beside").mkdir()
    monkeypatch.setattr(mnist_files, "_beside_checkout", lambda: tmp_path / "beside")
    monkeypatch.setenv("EBM_MNIST_DIR", str(tmp_path / "env"))
    assert shared_mnist_dir() == tmp_path / "env"  # 1. $EBM_MNIST_DIR
    monkeypatch.setenv("EBM_MNIST_DIR", str(tmp_path / "absent"))  # a wrong one is used, and named when read
    assert shared_mnist_dir() == tmp_path / "absent"
    with pytest.raises(FileNotFoundError, match="absent"):
        read_mnist_idx(shared_mnist_dir(), "test")
    monkeypatch.delenv("EBM_MNIST_DIR")
    assert shared_mnist_dir() == tmp_path / "beside"  # 2. beside the checkout
    monkeypatch.setattr(mnist_files, "_beside_checkout", lambda: tmp_path / "no-checkout")
    assert shared_mnist_dir() == tmp_path / "no-checkout"  # no other place is searched: a clear error later


def test_a_folder_named_for_fashion_mnist_is_never_read_as_mnist_nor_the_other_way_round(tmp_path):
    _write_split(tmp_path / "fashion-mnist", "test", 5, gz=True)
    _write_split(tmp_path / "digits", "test", 4, gz=True, seed=1)
    assert read_mnist_idx(tmp_path / "fashion-mnist", "test", "fashion_mnist")[0].shape == (5, 28, 28)
    with pytest.raises(FileNotFoundError, match="MNIST test files not found"):
        read_mnist_idx(tmp_path / "fashion-mnist", "test")
    assert read_mnist_idx(tmp_path / "digits", "test")[0].shape == (4, 28, 28)
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST test files not found"):
        read_mnist_idx(tmp_path / "digits", "test", "fashion_mnist")
    assert read_mnist_idx(tmp_path, "test", "fashion_mnist")[0].shape == (5, 28, 28)  # DIR/fashion-mnist, flat
