"""ebm-vision: image EBMs (Du & Mordatch 2019, section 4)."""

from .networks import MNISTEnergy, ResNet32, ResNet32Large, ResNet32Wider, ResNet128, ResNetEnergy

__all__ = ["ResNetEnergy", "ResNet32", "ResNet32Large", "ResNet32Wider", "ResNet128", "MNISTEnergy"]
