from pathlib import Path

import pytest
from ebm_continual.data import shared_mnist_dir

MNIST_DIR = shared_mnist_dir()


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"the real MNIST test set is expected at {MNIST_DIR}")
    return MNIST_DIR
