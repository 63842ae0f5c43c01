"""Tiny runs: the continual EBM forgets less than fine-tuning; the VAE classifies by likelihood."""

import torch
from ebm_continual import (
    AvalancheLearner,
    ClassifierConfig,
    ContinualEBM,
    ContinualEBMConfig,
    VAEClassifier,
    VAEConfig,
    demo_split,
    run_protocol,
    split_tasks,
)
from ebm_core import LangevinSampler


def test_ebm_forgets_less_than_finetuning(mnist_dir):
    torch.set_num_threads(1)
    tasks = split_tasks(demo_split(mnist_dir, eval_per_class=50, train_per_class=200), ((0, 1), (2, 3)))
    ebm_cfg = ContinualEBMConfig(steps_per_task=80, lr=1e-3, batch_size=64, buffer_size=1000,
                                 sampler=LangevinSampler(steps=10))
    ebm = run_protocol(ContinualEBM(ebm_cfg, seed=0), tasks)
    ft = run_protocol(AvalancheLearner("finetune", ClassifierConfig(epochs_per_task=20), seed=0), tasks)
    # both learned the first task; fine-tuning then forgets it, the EBM keeps much of it
    assert ebm.matrix[0][0] > 0.9 and ft.matrix[0][0] > 0.9
    assert ft.matrix[1][1] > 0.9  # fine-tuning did learn the second task
    assert ft.matrix[1][0] < 0.1
    assert ebm.matrix[1][0] > ft.matrix[1][0] + 0.2
    assert ebm.matrix[1][1] > 0.1  # and the EBM learned something of the second task
    # the EBM predicts over all 10 digits: its confusion matrix counts every eval image, wherever it goes
    assert len(ebm.confusion) >= 4 and sum(map(sum, ebm.confusion)) == 200


def test_vae_classifies_by_class_likelihood(mnist_dir):
    torch.set_num_threads(1)
    data = demo_split(mnist_dir, eval_per_class=50, train_per_class=300)
    (task,) = split_tasks(data, ((3, 8),))
    vae = VAEClassifier(VAEConfig(epochs_per_task=30, importance_samples=4), seed=0)
    vae.learn_task(task, 0)
    torch.manual_seed(1)
    ll = vae.class_log_likelihoods(task.x_eval)
    assert ll.shape == (100, 10) and torch.isfinite(ll).all()
    true_ll = ll.gather(1, task.y_eval[:, None]).squeeze(1)
    other = torch.where(task.y_eval == 3, 8, 3)
    # between the two trained classes, the true one has the higher likelihood
    assert (true_ll > ll.gather(1, other[:, None]).squeeze(1)).float().mean() > 0.9
    torch.manual_seed(1)
    pred = vae.predict(task.x_eval)
    assert torch.equal(pred, ll.argmax(1))
    # over all 10 classes (8 never trained) still far above chance (10%)
    assert (pred == task.y_eval).float().mean() > 0.5


def test_the_class_term_compares_the_classes_of_the_task_being_learned():
    from ebm_continual.data import Task

    x, y = torch.rand(8, 784), torch.tensor([2, 3] * 4)
    learner = ContinualEBM(ContinualEBMConfig(class_coeff=0.5), seed=0)
    objective = learner.trainer_config(Task((2, 3), x, y, x, y), 1).objective
    assert objective.classes == (2, 3) and objective.class_coeff == 0.5
    one_class = learner.trainer_config(Task((4,), x, 0 * y + 4, x, y), 2).objective  # nothing to compare: off
    assert objective.l2_coeff == one_class.l2_coeff and one_class.class_coeff == 0
    plain = ContinualEBM(ContinualEBMConfig(), seed=0).trainer_config(Task((2, 3), x, y, x, y), 1).objective
    assert plain.class_coeff == 0
