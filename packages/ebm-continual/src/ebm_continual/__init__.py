"""ebm-continual: class-incremental Split MNIST with energy-based models (Du & Mordatch 2019, section 6).

Run the protocol with any learner (``learn_task`` / ``predict``), e.g. a :class:`ContinualEBM`
around your own energy ``E(x, y)``; baselines (fine-tuning, EWC, SI, LwF via Avalanche; a
class-conditional VAE; joint training) share the same tasks and network size. Beyond the paper,
``ContinualEBMConfig(generated_per_class=N)`` (and the VAE's) trains later tasks on the model's own
samples of the classes already learned (generative replay).
"""

from .baselines import (
    AVALANCHE_STRATEGIES,
    AvalancheLearner,
    ClassifierConfig,
    JointLearner,
    SupervisedMLP,
    mlp_classifier,
)
from .config import (
    DATA_SOURCES,
    DEFAULT_METHODS,
    METHODS,
    PRESETS,
    ClassifierTraining,
    EBMTraining,
    EpochTraining,
    GenerativeReplay,
    SplitMNISTConfig,
    SplitMNISTData,
    SplitMNISTEvaluation,
    SplitMNISTModel,
    SplitMNISTTraining,
    format_tasks,
    method_config,
    parse_tasks,
    with_device,
)
from .data import (
    SPLIT_MNIST_TASKS,
    VALIDATION_IMAGES,
    MNISTSplit,
    Task,
    demo_split,
    full_mnist,
    idx_mnist,
    load_mnist_test_idx,
    load_split_mnist,
    read_idx,
    shared_mnist_dir,
    split_tasks,
    torchvision_mnist,
)
from .ebm import (
    ContinualEBM,
    ContinualEBMConfig,
    ContrastiveEBM,
    ContrastiveEBMConfig,
    LabelScaledEnergy,
    load_continual_energy,
    make_energy,
    with_sampler,
)
from .experiment import PAPER_ACCURACY, run_settings, run_split_mnist, summary_table
from .protocol import (
    ContinualLearner,
    Cumulative,
    ProtocolResult,
    confusion_matrix,
    lowest_energy_class,
    merge_tasks,
    run_protocol,
)
from .vae import ConditionalVAE, VAEClassifier, VAEConfig

__all__ = [
    "SPLIT_MNIST_TASKS", "MNISTSplit", "Task", "demo_split", "load_mnist_test_idx", "read_idx", "split_tasks",
    "torchvision_mnist", "shared_mnist_dir", "load_split_mnist", "full_mnist", "idx_mnist", "VALIDATION_IMAGES",
    "parse_tasks", "format_tasks",
    "ContinualLearner", "Cumulative", "ProtocolResult", "merge_tasks", "run_protocol", "confusion_matrix",
    "lowest_energy_class",
    "ContinualEBM", "ContinualEBMConfig",
    "load_continual_energy", "ContrastiveEBM", "ContrastiveEBMConfig", "LabelScaledEnergy", "make_energy",
    "with_sampler",
    "AVALANCHE_STRATEGIES", "AvalancheLearner", "ClassifierConfig", "JointLearner", "SupervisedMLP", "mlp_classifier",
    "ConditionalVAE", "VAEClassifier", "VAEConfig",
    "DATA_SOURCES", "DEFAULT_METHODS", "METHODS", "PAPER_ACCURACY", "PRESETS",
    "SplitMNISTConfig", "SplitMNISTData", "SplitMNISTModel",
    "EBMTraining", "GenerativeReplay", "EpochTraining", "ClassifierTraining", "SplitMNISTTraining",
    "SplitMNISTEvaluation",
    "method_config", "run_settings", "run_split_mnist", "summary_table", "with_device",
]
__version__ = "0.1.0"
