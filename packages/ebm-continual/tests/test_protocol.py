"""Lowest-energy prediction and the accuracy matrix of the protocol."""

import torch
from ebm_continual import Task, energy_matrix, lowest_energy_class, run_protocol
from torch import nn


class DistanceEnergy(nn.Module):
    """E(x, y) = ||x - mu_y||^2: the lowest-energy label is the nearest centre."""

    def __init__(self, centres: torch.Tensor):
        super().__init__()
        self.centres = nn.Parameter(centres)

    def forward(self, x, y):
        return ((x - self.centres[y]) ** 2).sum(1)


def test_lowest_energy_class_is_the_argmin_over_all_classes():
    torch.manual_seed(0)
    centres = torch.rand(10, 5)
    energy = DistanceEnergy(centres)
    labels = torch.randint(0, 10, (300,))
    x = centres[labels] + 0.01 * torch.randn(300, 5)
    e = energy_matrix(energy, x, 10, batch_size=7)  # batches that do not divide N
    assert e.shape == (300, 10)
    assert torch.allclose(e[:, 3], ((x - centres[3]) ** 2).sum(1))
    assert torch.equal(lowest_energy_class(energy, x, 10, batch_size=64), labels)


class MemorizeLast:
    """A learner that only knows the classes of the last task (total forgetting)."""

    def learn_task(self, task, task_index):
        self.label = task.classes[0]

    def predict(self, x):
        return torch.full((len(x),), self.label)


def test_run_protocol_fills_the_matrix_after_each_task():
    tasks = [Task((2 * k, 2 * k + 1), torch.zeros(4, 3), torch.tensor([2 * k, 2 * k + 1] * 2),
                  torch.zeros(4, 3), torch.tensor([2 * k, 2 * k + 1] * 2)) for k in range(3)]
    seen = []
    res = run_protocol(MemorizeLast(), tasks, on_task_end=lambda i, row: seen.append(i))
    assert seen == [0, 1, 2]
    assert res.matrix == [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]]
    assert abs(res.final_accuracy - 0.5 / 3) < 1e-6
    # after the last task every eval image is predicted 4, the first class of that task
    expected = [[0] * 6 for _ in range(6)]
    for c in range(6):
        expected[c][4] = 2
    assert res.confusion == expected
