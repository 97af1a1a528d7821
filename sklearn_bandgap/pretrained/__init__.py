"""Pretrained models shipped with the package."""
