"""Backbones (ResNet with width + CIFAR stem, ViT) and heads."""

from simclr.models.backbones import BACKBONES, ResNet, ViT, build_backbone
from simclr.models.heads import ProjectionHead

__all__ = ["BACKBONES", "ProjectionHead", "ResNet", "ViT", "build_backbone"]
