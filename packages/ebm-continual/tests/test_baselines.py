"""Tiny two-task runs of the learners the README reports: the contrastive EBM, joint training and
Avalanche's EWC, SI and LwF each learn what they are shown; joint training keeps both tasks."""

import pytest
import torch
from ebm_continual import (
    AvalancheLearner,
    ClassifierConfig,
    ContrastiveEBM,
    ContrastiveEBMConfig,
    JointLearner,
    demo_split,
    lowest_energy_class,
    run_protocol,
    split_tasks,
)


@pytest.fixture(scope="module")
def two_tasks(mnist_dir):
    return split_tasks(demo_split(mnist_dir, eval_per_class=50, train_per_class=100), ((0, 1), (2, 3)))


def test_contrastive_ebm_learns_each_task_among_its_classes(two_tasks):
    torch.set_num_threads(1)
    learner = ContrastiveEBM(ContrastiveEBMConfig(epochs_per_task=20), seed=0)  # 40 steps of 128
    for i, task in enumerate(two_tasks):
        learner.learn_task(task, i)
        # its loss is a cross-entropy over the task's own classes: among them the true one has the lowest energy
        pred = lowest_energy_class(learner.energy, task.x_eval, torch.tensor(task.classes))
        assert (pred == task.y_eval).float().mean() > 0.75, i  # chance: 0.5
    assert learner.predict(two_tasks[0].x_eval).shape == (100,)


def test_joint_training_keeps_both_tasks(two_tasks):
    torch.set_num_threads(1)
    res = run_protocol(JointLearner(ClassifierConfig(epochs_per_task=5), seed=0), two_tasks)
    assert res.matrix[0][0] > 0.9
    assert res.matrix[1][0] > 0.85 and res.matrix[1][1] > 0.85  # no forgetting: it trains on both
    assert res.final_accuracy > 0.85


def test_avalanche_ewc_si_lwf_learn_each_task(two_tasks):
    torch.set_num_threads(1)
    for strategy in ("ewc", "si", "lwf"):
        learner = AvalancheLearner(strategy, ClassifierConfig(epochs_per_task=5), seed=0)
        res = run_protocol(learner, two_tasks)
        assert res.matrix[0][0] > 0.9, (strategy, res.matrix)
        assert res.matrix[1][1] > 0.3, (strategy, res.matrix)  # above 10-way chance (EWC's penalty slows it)
        # one 10-way head, no task identity: before task 1 nothing predicts 2 or 3
        assert res.matrix[0][1] < 0.1, (strategy, res.matrix)
    with pytest.raises(ValueError, match="strategy"):
        AvalancheLearner("replay")
