from pathlib import Path

import pytest

MNIST_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"the real MNIST test set is expected at {MNIST_DIR}")
    return MNIST_DIR
