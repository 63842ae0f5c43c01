"""Shared by every test suite of the workspace."""

import os
import sys

# The tests start many Python processes (the apps end to end), each importing torch, avalanche, ...:
# let them cache bytecode also where PYTHONDONTWRITEBYTECODE is set, or each compiles them again (~7 s).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

import random  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test():
    """Each test starts from seed 0 (torch, numpy, random): torch seeds its default generator at random
    in each process, so a test that builds a model before seeding would otherwise vary run to run."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
