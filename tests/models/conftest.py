"""Tiny model configurations so the whole model suite runs in seconds on a CPU."""

from __future__ import annotations

import pytest
import torch

from segstudio.models import create_model

TINY = [4, 8, 16, 32, 64]
ARCHS = ["unet", "unetpp", "unet3p"]


def tiny(name: str, **cfg):
    base = dict(in_channels=3, num_classes=3, filters=TINY)
    if name == "unet3p":
        base["cat_channels"] = 4
    return create_model(name, **{**base, **cfg})


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
