"""ebm-compose: concept EBMs on dSprites / CelebA and their composition (Du & Mordatch 2019, sec. 7, A.9).

Composition is ebm-core's ``SumEnergy`` (a product of experts), training ebm-core's ``Trainer``,
the fine-tuning KL term ebm-core's objective.
"""

from .celeba import (
    CELEBA_ATTRIBUTES,
    CELEBA_FILES,
    AttributeData,
    load_celeba,
    synthetic_attributes,
)
from .celeba_experiment import PRESETS as CELEBA_PRESETS
from .celeba_experiment import CelebAComposeConfig, run_celeba_compose
from .celeba_experiment import summary_table as celeba_summary_table
from .concepts import (
    ConceptNetwork,
    ConceptOptimization,
    ConceptSampler,
    ConceptTrainingConfig,
    compose,
    concept_energy,
    concept_training_config,
    finetune_sum,
    init_chains,
    sample,
    train_energy,
)
from .dsprites import (
    CONCEPT_LATENTS,
    CONCEPT_SLICES,
    CONCEPTS,
    LABEL_DIM,
    LATENT_NAMES,
    LATENT_SIZES,
    NPZ_NAME,
    ORIENTATIONS,
    POSITIONS,
    SCALES,
    SHAPES,
    DSprites,
    concept_columns,
    cross_product_split,
    encode_labels,
    grid_size,
    index_to_latents,
    latents_to_index,
    load_dsprites,
    render,
    sample_latents,
    to_tensor,
)
from .dsprites_experiment import PRESETS as DSPRITES_PRESETS
from .dsprites_experiment import DSpritesComposeConfig, run_dsprites_compose
from .dsprites_experiment import summary_table as dsprites_summary_table
from .evaluation import LatentPredictor, PredictorConfig, score_samples, train_latent_predictor
from .model_files import ConceptSpec, build_concept_energy, load_concept_energy, save_concept_energy
from .networks import AttributeEnergy, ColumnCondition, DSpritesEnergy, PlainCNN

__all__ = [
    "ConceptSpec", "build_concept_energy", "load_concept_energy", "save_concept_energy",
    "CELEBA_ATTRIBUTES", "CELEBA_FILES", "AttributeData", "load_celeba", "synthetic_attributes",
    "CELEBA_PRESETS", "CelebAComposeConfig", "run_celeba_compose", "celeba_summary_table",
    "ConceptNetwork", "ConceptOptimization", "ConceptSampler", "ConceptTrainingConfig", "compose", "concept_energy",
    "concept_training_config", "finetune_sum", "init_chains", "sample", "train_energy",
    "CONCEPT_LATENTS", "CONCEPT_SLICES", "CONCEPTS", "LABEL_DIM", "LATENT_NAMES", "LATENT_SIZES", "NPZ_NAME",
    "ORIENTATIONS",
    "POSITIONS", "SCALES", "SHAPES", "DSprites", "concept_columns", "cross_product_split", "encode_labels",
    "grid_size", "index_to_latents", "latents_to_index", "load_dsprites", "render", "sample_latents", "to_tensor",
    "DSPRITES_PRESETS", "DSpritesComposeConfig", "run_dsprites_compose", "dsprites_summary_table",
    "LatentPredictor", "PredictorConfig", "score_samples", "train_latent_predictor",
    "AttributeEnergy", "ColumnCondition", "DSpritesEnergy", "PlainCNN",
]
__version__ = "0.1.0"
