"""Shared by every test suite of the workspace."""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test():
    """Each test starts from seed 0 (torch, numpy, random): torch seeds its default generator at random
    in each process, so a test that builds a model before seeding would otherwise vary run to run."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
