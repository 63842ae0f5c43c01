"""ebm-core: energy-based models trained and sampled with Langevin dynamics.

After Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models" (2019).
An energy is an ``nn.Module`` ``(x, y=None) -> (B,)``; low energy = likely.
"""

from .ais import AISConfig, AISResult, PathBounds, ais_log_partition
from .blocks import ResBlock
from .buffer import ReplayBuffer
from .checks import NonFiniteError, check_finite
from .classify import class_energies, lowest_energy_class, repeat_per_class
from .composition import SumEnergy, sample_in_turn
from .conditioning import ConditionVector
from .conv_energy import ResNetEnergy, StridedConvEnergy
from .hmc import HMCSampler
from .langevin import LangevinSampler, langevin_step
from .layers import activation, shrink_sn_conv2d, sn_conv2d, sn_linear
from .metrics import (
    auroc,
    energy_distance,
    frechet_distance,
    frechet_distance_samples,
    frechet_distances,
    gaussian_fit,
    mean_pairwise_distance,
    sqrt_psd,
)
from .mlp import MLPEnergy
from .objective import ObjectiveConfig, contrastive_loss, kl_energy
from .optim import ClippedAdam
from .quantization import dequantize, quantize
from .sampler import SampleOutput, Sampler
from .seeding import seed_everything
from .snapshots import refresh_power_iterations, snapshot_ensemble, weight_average
from .supervised import SupervisedConfig, train_supervised
from .trainer import Trainer, TrainerConfig, TrainingDiverged, uniform_init

__all__ = [
    "AISConfig", "AISResult", "PathBounds", "ais_log_partition",
    "ResBlock", "ConditionVector", "MLPEnergy", "StridedConvEnergy", "ResNetEnergy", "SumEnergy", "sample_in_turn",
    "activation", "sn_linear", "sn_conv2d", "shrink_sn_conv2d",
    "Sampler", "SampleOutput", "LangevinSampler", "langevin_step", "HMCSampler",
    "ReplayBuffer",
    "ObjectiveConfig", "contrastive_loss", "kl_energy", "ClippedAdam",
    "Trainer", "TrainerConfig", "TrainingDiverged", "uniform_init",
    "snapshot_ensemble", "weight_average", "refresh_power_iterations", "SupervisedConfig", "train_supervised",
    "frechet_distance", "frechet_distance_samples", "frechet_distances", "sqrt_psd", "gaussian_fit", "auroc",
    "energy_distance", "mean_pairwise_distance",
    "seed_everything",
    "class_energies", "lowest_energy_class", "repeat_per_class", "quantize", "dequantize",
    "NonFiniteError", "check_finite",
]
__version__ = "0.1.0"
