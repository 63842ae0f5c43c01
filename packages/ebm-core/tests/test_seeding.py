"""The one seeding scheme: named child streams of a run's seed."""

import numpy as np
import pytest
import torch
from ebm_core import seed_everything
from ebm_core.seeding import child_seed, numpy_generator, seed_sequence, torch_generator


def test_child_seeds_are_reproducible_and_differ_by_name_and_seed():
    names = [("task", k) for k in range(50)] + [(f"attr_{k}",) for k in range(50)] + [("rank", 1, "recovery", 2)]
    seeds = [child_seed(3, *n) for n in names]
    assert seeds == [child_seed(3, *n) for n in names]  # the same in every run of seed 3
    assert len(set(seeds)) == len(seeds)  # no two streams of one run share a seed
    assert all(0 <= s < 2**32 for s in seeds)
    assert child_seed(3, "task", 0) != child_seed(4, "task", 0)
    # offsets alias streams (seed 0's task 1000 was seed 1's task 0); names do not
    assert child_seed(0, "task", 1000) != child_seed(1, "task", 0)
    assert child_seed(0, "1") != child_seed(0, 1)  # a text name is not the number it spells
    assert child_seed(7) == 7  # no names: the run's own seed


def test_named_generators_draw_independent_reproducible_streams():
    a = torch.rand(1000, generator=torch_generator(0, "chains"))
    assert torch.equal(a, torch.rand(1000, generator=torch_generator(0, "chains")))
    b = torch.rand(1000, generator=torch_generator(0, "sampling"))
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1]) < 0.15
    assert np.array_equal(numpy_generator(5, "x").random(10), numpy_generator(5, "x").random(10))
    # numeric names keep the streams a plain SeedSequence spawn key gives (the hand datasets' streams)
    assert np.array_equal(seed_sequence(9, 0, 4).generate_state(2),
                          np.random.SeedSequence(9, spawn_key=(0, 4)).generate_state(2))


def test_seed_everything_on_a_named_stream():
    seed_everything(11, "generation")
    first = torch.rand(5), np.random.rand(3)
    seed_everything(11)
    plain = torch.rand(5)
    seed_everything(11, "generation")
    assert torch.equal(torch.rand(5), first[0]) and np.array_equal(np.random.rand(3), first[1])
    assert not torch.equal(plain, first[0])


@pytest.mark.parametrize("bad", [-1, True, 1.5, None])
def test_seed_names_are_text_or_whole_numbers(bad):
    with pytest.raises((TypeError, ValueError), match="seed name"):
        child_seed(0, bad)
