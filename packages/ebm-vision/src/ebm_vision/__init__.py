"""ebm-vision: image EBMs (Du & Mordatch 2019, section 4)."""

from .data import (
    DATASETS,
    DequantizedImages,
    dequantize,
    holdout_split,
    image_shape,
    load_dataset,
    load_images,
    load_mnist,
    num_classes,
    quantize,
    shared_mnist_dir,
)
from .evaluation import (
    LIKELIHOOD_PRESETS,
    OOD_PRESETS,
    ROBUSTNESS_PRESETS,
    LikelihoodEvaluation,
    LikelihoodExperimentConfig,
    OODEvalConfig,
    OODEvaluation,
    RobustnessExperimentConfig,
    RobustnessTraining,
    run_likelihood,
    run_ood_eval,
    run_robustness,
)
from .experiment import PRESETS as IMAGE_GENERATE_PRESETS
from .experiment import ImageGenerateConfig, ImageGenerateEvaluation, run_image_generate
from .experiment import summary as image_generate_summary
from .image_energy import ImageEnergyConfig, build_energy, load_image_energy, save_image_energy
from .likelihood import LikelihoodConfig, distrust, entropy_ceiling, jittered_ais, likelihood_bounds, tempered
from .modes import cross_class, energies, energy_gap, nearest_neighbours
from .networks import MNISTEnergy, ResNet32, ResNet32Large, ResNet32Wider, ResNet128, ResNetEnergy
from .ood import evaluate_ood, load_ood_images, ood_scores, synthetic_ood_sets
from .restoration import (
    RestorationConfig,
    bottom_half_mask,
    mask_bottom_half,
    restore,
    run_restoration,
    salt_and_pepper,
)
from .robustness import (
    PGDConfig,
    RefineConfig,
    RobustnessConfig,
    bpda_logits,
    class_energies,
    ebm_predict,
    energy_logits,
    pgd_attack,
    project_l2,
    project_linf,
    robustness_curves,
)
from .sampling import TestTimeSampling, chain_from_noise, sample_from_noise, sample_test_time
from .scores import DomainClassifier, domain_fid, inception_scores, train_domain_classifier
from .training import (
    TRAINING_PRESETS,
    ImageDataConfig,
    ImageTrainingConfig,
    image_training,
    recipe_sections,
    train_image_energy,
    with_overrides,
)

__all__ = [
    "ResNetEnergy", "ResNet32", "ResNet32Large", "ResNet32Wider", "ResNet128", "MNISTEnergy",
    "DATASETS", "DequantizedImages", "dequantize", "quantize", "holdout_split", "image_shape",
    "load_dataset", "load_images", "load_mnist", "num_classes", "shared_mnist_dir",
    "ImageEnergyConfig", "build_energy", "load_image_energy", "save_image_energy",
    "ImageDataConfig", "ImageTrainingConfig", "TRAINING_PRESETS", "train_image_energy", "with_overrides",
    "recipe_sections", "image_training",
    "TestTimeSampling", "sample_from_noise", "sample_test_time", "chain_from_noise",
    "DomainClassifier", "train_domain_classifier", "domain_fid", "inception_scores",
    "RestorationConfig", "salt_and_pepper", "mask_bottom_half", "bottom_half_mask", "restore", "run_restoration",
    "cross_class", "energies", "energy_gap", "nearest_neighbours",
    "ood_scores", "evaluate_ood", "synthetic_ood_sets", "load_ood_images",
    "class_energies", "energy_logits", "PGDConfig", "pgd_attack", "project_linf", "project_l2", "RefineConfig",
    "RobustnessConfig", "robustness_curves",
    "ebm_predict", "bpda_logits", "LikelihoodConfig", "jittered_ais", "likelihood_bounds", "entropy_ceiling",
    "distrust", "tempered",
    "IMAGE_GENERATE_PRESETS", "ImageGenerateConfig", "ImageGenerateEvaluation", "run_image_generate",
    "image_generate_summary", "OOD_PRESETS", "OODEvalConfig", "OODEvaluation", "run_ood_eval", "ROBUSTNESS_PRESETS",
    "RobustnessExperimentConfig", "RobustnessTraining", "run_robustness", "LIKELIHOOD_PRESETS",
    "LikelihoodExperimentConfig", "LikelihoodEvaluation", "run_likelihood",
]
