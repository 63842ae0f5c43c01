"""Discriminative baselines on the same network size: fine-tuning, EWC, SI, LwF (Avalanche), joint.

All use an MLP 784-400-400-10 with a single 10-way head (class-incremental: no task identity),
trained with Adam and cross-entropy, as in Hsu et al. 2018 whose numbers the paper quotes.
Avalanche (``pip install ebm-continual[baselines]``) is imported only when a strategy is built.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from ebm_core import SupervisedConfig, train_supervised
from ebm_core.progress import progress
from ebm_core.seeding import child_seed
from torch import nn

from .data import Task
from .protocol import Cumulative

AVALANCHE_STRATEGIES = ("finetune", "ewc", "si", "lwf")


@dataclass(frozen=True)
class ClassifierConfig:
    """Training settings of the discriminative baselines (regularization strengths: Hsu et al. 2018
    style values; ``ewc_lambda`` weights the Fisher penalty, ``si_lambda`` is SI's c, LwF distils
    the previous model's outputs with weight ``lwf_alpha`` at temperature ``lwf_temperature``)."""

    hidden: tuple[int, ...] = (400, 400)
    epochs_per_task: int = 1
    batch_size: int = 128
    lr: float = 1e-3
    ewc_lambda: float = 5000.0
    si_lambda: float = 1.0
    lwf_alpha: float = 1.0
    lwf_temperature: float = 2.0
    num_classes: int = 10
    device: str = "cpu"


def mlp_classifier(config: ClassifierConfig, in_dim: int = 784) -> nn.Sequential:
    """The baselines' network: ``in_dim`` -> the config's hidden layers (ReLU) -> ``num_classes`` logits."""
    layers: list[nn.Module] = []
    width = in_dim
    for h in config.hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, config.num_classes))


@torch.no_grad()
def predict_classes(model: nn.Module, x: torch.Tensor, device: str, batch_size: int = 1000) -> torch.Tensor:
    """Arg-max class of a plain classifier (logits out), ``(N,)`` on the CPU, in batches."""
    model.eval()
    return torch.cat([model(xb.to(device)).argmax(1).cpu() for xb in x.split(batch_size)])


def _silent_evaluator(plugin: type) -> object:
    """An Avalanche evaluator that logs nothing (the protocol measures accuracy itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "No loggers specified"
        return plugin(loggers=[])


def _progress_plugin(bar_holder: list) -> object:
    """An Avalanche plugin that advances the progress bar held in ``bar_holder[0]`` per minibatch."""
    from avalanche.core import SupervisedPlugin

    class ProgressPlugin(SupervisedPlugin):
        def after_training_iteration(self, strategy: object, *args: object, **kwargs: object) -> None:
            if bar_holder:
                bar_holder[0].update(1)

    return ProgressPlugin()


class AvalancheLearner:
    """Fine-tuning (Avalanche ``Naive``), ``EWC``, ``SynapticIntelligence`` or ``LwF`` on the tasks;
    unless ``quiet``, a progress bar per task names the strategy, the seed and the task."""

    def __init__(self, strategy: str, config: ClassifierConfig = ClassifierConfig(), in_dim: int = 784, seed: int = 0,
                 quiet: bool = True):
        if strategy not in AVALANCHE_STRATEGIES:
            raise ValueError(f"strategy must be one of {AVALANCHE_STRATEGIES}, got {strategy!r}")
        try:
            from avalanche.training import EWC, LwF, Naive, SynapticIntelligence
            from avalanche.training.plugins import EvaluationPlugin
        except ImportError as err:
            raise ImportError(
                "the fine-tuning/EWC/SI/LwF baselines need Avalanche: pip install 'ebm-continual[baselines]'"
            ) from err
        self.config, self.seed, self.quiet, self.name = config, seed, quiet, strategy
        self._bar: list = []
        torch.manual_seed(seed)
        self.model = mlp_classifier(config, in_dim)
        c = config
        common = dict(
            model=self.model, optimizer=torch.optim.Adam(self.model.parameters(), lr=c.lr),
            criterion=nn.CrossEntropyLoss(), train_mb_size=c.batch_size, train_epochs=c.epochs_per_task,
            eval_mb_size=1000, device=c.device, evaluator=_silent_evaluator(EvaluationPlugin),
            plugins=[_progress_plugin(self._bar)],
        )
        if strategy == "finetune":
            self.strategy = Naive(**common)
        elif strategy == "ewc":
            self.strategy = EWC(ewc_lambda=c.ewc_lambda, **common)
        elif strategy == "si":
            self.strategy = SynapticIntelligence(si_lambda=c.si_lambda, **common)
        else:
            self.strategy = LwF(alpha=c.lwf_alpha, temperature=c.lwf_temperature, **common)

    def learn_task(self, task: Task, task_index: int) -> None:
        from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
        from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_tensor_classification_dataset

        data = _make_taskaware_tensor_classification_dataset(
            task.x_train, task.y_train, targets=task.y_train.tolist(), task_labels=0
        )
        # an experience numbered task_index (Avalanche keys per-experience state on that number)
        experience = benchmark_from_datasets(train=[data] * (task_index + 1)).train_stream[task_index]
        torch.manual_seed(child_seed(self.seed, "task", task_index))
        c = self.config
        steps = c.epochs_per_task * -(-len(task.y_train) // c.batch_size)
        self._bar[:] = [progress(steps, desc=f"{self.name} seed {self.seed} task {task_index}", disable=self.quiet)]
        try:
            self.strategy.train(experience, num_workers=0)
        finally:
            self._bar.pop().close()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        # the strategy's model: Avalanche may replace the module it was given (model adaptation)
        return predict_classes(self.strategy.model, x, self.config.device)


class SupervisedMLP:
    """The MLP trained by plain cross-entropy on the task it is given (what :class:`JointLearner`
    runs on the union of the tasks seen so far)."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig(), in_dim: int = 784, seed: int = 0,
                 quiet: bool = True, name: str = "joint"):
        self.config, self.seed, self.quiet, self.name = config, seed, quiet, name
        torch.manual_seed(seed)
        self.model = mlp_classifier(config, in_dim).to(config.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)

    def learn_task(self, task: Task, task_index: int) -> None:
        """Cross-entropy epochs on the task through ebm-core's one supervised loop (the optimizer
        persists from task to task)."""
        c = self.config
        training = SupervisedConfig.for_epochs(c.epochs_per_task, len(task.y_train), c.batch_size, quiet=self.quiet,
                                               label=f"{self.name} seed {self.seed} task {task_index}",
                                               seed=child_seed(self.seed, "task", task_index), device=c.device)
        train_supervised(self.model, lambda m, x, y: nn.functional.cross_entropy(m(x), y),
                         (task.x_train, task.y_train), training, optimizer=self.optimizer)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return predict_classes(self.model, x, self.config.device)


class JointLearner(Cumulative):
    """Upper bound (cumulative training): at each task, the MLP trains on all tasks seen so far."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig(), in_dim: int = 784, seed: int = 0,
                 quiet: bool = True):
        super().__init__(SupervisedMLP(config, in_dim, seed, quiet))
