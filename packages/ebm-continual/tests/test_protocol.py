"""The accuracy matrix of the protocol (lowest-energy prediction itself: ebm-core's test_classify.py)."""

import pytest
import torch
from ebm_continual import (
    ContinualEBMConfig,
    Cumulative,
    MNISTSplit,
    SplitMNISTConfig,
    SplitMNISTEvaluation,
    Task,
    demo_split,
    merge_tasks,
    run_protocol,
    split_tasks,
)


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


class MajorityLabel:
    """Predicts the most frequent training label of the last task it was given; records what it saw."""

    def __init__(self):
        self.seen = []

    def learn_task(self, task, task_index):
        self.seen.append((task.classes, len(task.y_train)))
        self.label = int(task.y_train.mode().values)

    def predict(self, x):
        return torch.full((len(x),), self.label)


def test_cumulative_trains_on_every_task_seen_so_far():
    sizes = (3, 5, 7)
    tasks = [Task((2 * k, 2 * k + 1), torch.zeros(n, 3), torch.full((n,), 2 * k), torch.zeros(2, 3),
                  torch.tensor([2 * k, 2 * k + 1])) for k, n in enumerate(sizes)]
    merged = merge_tasks(tasks[:2])
    assert merged.classes == (0, 1, 2, 3) and torch.equal(merged.y_train, torch.tensor([0] * 3 + [2] * 5))
    inner = MajorityLabel()
    res = run_protocol(Cumulative(inner), tasks)
    assert inner.seen == [((0, 1), 3), ((0, 1, 2, 3), 8), ((0, 1, 2, 3, 4, 5), 15)]
    # the inner learner's majority over the union is digit 4 at the end (7 of 15), 2 after task 1 (5 of 8)
    assert res.matrix[1] == [0.0, 0.5, 0.0] and res.matrix[2] == [0.0, 0.0, 0.5]


def test_wrong_inputs_are_refused_before_training():
    class Recorder:
        def __init__(self):
            self.tasks = []

        def learn_task(self, task, task_index):
            self.tasks.append(task_index)

        def predict(self, x):
            return torch.zeros(x.shape[0], dtype=torch.long)

    x, y = torch.rand(8, 4), torch.tensor([0, 1] * 4)
    learner = Recorder()
    with pytest.raises(ValueError, match=r"task 1's x_train must lie in \[0, 1\].*divide by 255"):
        run_protocol(learner, [Task((0, 1), x, y, x, y), Task((2, 3), x * 255, y + 2, x, y + 2)])
    assert learner.tasks == []  # refused before the first task trained
    data = MNISTSplit(x, y, x, y, "toy")
    with pytest.raises(ValueError, match=r"classes \[7\] have no training or no eval examples"):
        split_tasks(data, ((0, 1), (7,)))  # used to give a task that holds no class 7
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ContinualEBMConfig(batch_size=0)
    with pytest.raises(ValueError, match="SplitMNISTEvaluation.seeds must be >= 1"):
        SplitMNISTConfig(evaluation=SplitMNISTEvaluation(seeds=0))
    with pytest.raises(ValueError, match="eval_per_class must be >= 1"):
        demo_split("/nonexistent", eval_per_class=0)  # refused before any file is read
    with pytest.raises(ValueError, match="train_per_class must be >= 1"):
        demo_split("/nonexistent", train_per_class=-1)
    with pytest.raises(ValueError, match="label_scale must be > 0"):
        ContinualEBMConfig(label_scale=0.0)
