"""The one batch loader: a DataLoader over seeded epoch permutations, resumed exactly."""

import pytest
import torch
from ebm_core.batches import BatchStream, TensorPairs
from torch.utils.data import Dataset, Subset

X = torch.arange(23 * 2, dtype=torch.float32).reshape(23, 2)
Y = torch.arange(23)


class ItemByItem(Dataset):
    """A plain map-style Dataset (no batched read), items (x, y)."""

    def __len__(self) -> int:
        return 23

    def __getitem__(self, i: int):
        return X[i], Y[i]


def _labels(stream: BatchStream, count: int) -> list[list[int]]:
    return [stream.next()[1].tolist() for _ in range(count)]


def test_each_epoch_is_a_permutation_cut_into_full_batches():
    batches = _labels(BatchStream((X, Y), 5, seed=1), 8)  # 23 // 5 = 4 batches per epoch, 3 items skipped
    for epoch in (batches[:4], batches[4:]):
        seen = [i for b in epoch for i in b]
        assert len(seen) == 20 and len(set(seen)) == 20
    assert batches[:4] != batches[4:]  # a fresh permutation per epoch
    assert _labels(BatchStream((X, Y), 5, seed=1), 8) == batches
    assert _labels(BatchStream((X, Y), 5, seed=2), 8) != batches


def test_tensors_and_an_item_by_item_dataset_give_the_same_batches():
    a, b = BatchStream((X, Y), 4, seed=3), BatchStream(ItemByItem(), 4, seed=3)
    for _ in range(9):
        (xa, ya), (xb, yb) = a.next(), b.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert BatchStream((X, None), 4, seed=3).next()[1] is None
    sub = BatchStream(Subset(ItemByItem(), list(range(23))), 4, seed=3)  # a Dataset whose __getitems__ gives items
    assert torch.equal(sub.next()[0], BatchStream((X, Y), 4, seed=3).next()[0])
    x, y = BatchStream(Subset(TensorPairs(X, Y), list(range(23))), 4, seed=3).next()  # ... or a batch
    assert torch.equal(x, BatchStream((X, Y), 4, seed=3).next()[0]) and y.shape == (4,)
    x, y = BatchStream(ItemByItem(), 4).peek(2)
    assert torch.equal(x, X[:2]) and torch.equal(y, Y[:2])


@pytest.mark.parametrize("consumed", [0, 3, 5, 11])  # within the first epoch, at its end, two epochs on
def test_a_stream_restored_from_its_state_continues_exactly(consumed):
    full = BatchStream((X, Y), 4, seed=7)  # 5 batches per epoch
    expected = _labels(full, consumed + 6)[consumed:]
    first = BatchStream((X, Y), 4, seed=7)
    _labels(first, consumed)
    resumed = BatchStream((X, Y), 4, seed=7)
    resumed.load_state_dict(first.state_dict())
    assert _labels(resumed, 6) == expected


def test_worker_processes_read_the_same_batches_and_resume():
    expected = _labels(BatchStream(TensorPairs(X, Y), 4, seed=7), 9)
    stream = BatchStream(TensorPairs(X, Y), 4, seed=7, workers=1)
    stream.load_state_dict({"batches": 3, "n": 23, "batch_size": 4})
    assert _labels(stream, 6) == expected[3:]


def test_the_stream_leaves_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    stream = BatchStream((X, Y), 4, seed=7)
    _labels(stream, 7)
    assert torch.equal(torch.rand(3), expected)


def test_bad_data_and_old_states_are_refused():
    with pytest.raises(ValueError, match="batch_size 30 exceeds the 23"):
        BatchStream((X, Y), 30)
    with pytest.raises(ValueError, match="x has 23 rows but y has 5"):
        BatchStream((X, Y[:5]), 4)
    with pytest.raises(ValueError, match="earlier version"):
        BatchStream((X, Y), 4).load_state_dict({"perm": torch.arange(23), "pos": 4, "generator": None})


def test_ranks_read_disjoint_slices_of_the_one_process_batch():
    one = _labels(BatchStream((X, Y), 8, seed=5), 5)  # 2 global batches per epoch: crosses epochs
    ranks = [_labels(BatchStream((X, Y), 4, seed=5, rank=r, world=2), 5) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == one
    with pytest.raises(ValueError, match="batch_size 12 x 2 processes exceeds the 23"):
        BatchStream((X, Y), 12, rank=1, world=2)
    two = BatchStream((X, Y), 4, seed=5, rank=0, world=2)
    with pytest.raises(ValueError, match="written by 1 process; resume it with as many"):
        two.load_state_dict(BatchStream((X, Y), 4, seed=5).state_dict())
