"""The interval of a mean over seeds."""

import numpy as np
import pytest
from ebm_run import seed_interval


def test_seed_interval_is_students_t_of_the_mean_cut_to_the_possible_range():
    # 3 seeds, mean 0.5, sample std 0.1: half-width t(0.975, 2) * 0.1 / sqrt(3) = 4.3027 * 0.0577
    assert seed_interval([0.4, 0.5, 0.6]) == pytest.approx([0.5 - 0.24842, 0.5 + 0.24842], abs=1e-4)
    assert seed_interval(np.array([0.4, 0.5, 0.6]), (0.0, 0.7)) == pytest.approx([0.25158, 0.7], abs=1e-4)
    # a difference may be negative: no bounds, no cut
    assert seed_interval([-0.2, -0.1, 0.0])[0] == pytest.approx(-0.1 - 0.24842, abs=1e-4)
    assert seed_interval([3.0, 3.0]) == [3.0, 3.0]  # no spread, no width
    assert seed_interval([0.7]) is None  # one seed has no spread to show
