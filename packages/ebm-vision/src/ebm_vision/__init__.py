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
)
from .models import ImageEnergyConfig, build_energy, load_image_energy, save_image_energy
from .networks import MNISTEnergy, ResNet32, ResNet32Large, ResNet32Wider, ResNet128, ResNetEnergy

__all__ = [
    "ResNetEnergy", "ResNet32", "ResNet32Large", "ResNet32Wider", "ResNet128", "MNISTEnergy",
    "DATASETS", "DequantizedImages", "dequantize", "quantize", "holdout_split", "image_shape",
    "load_dataset", "load_images", "load_mnist", "num_classes",
    "ImageEnergyConfig", "build_energy", "load_image_energy", "save_image_energy",
]
