"""Each architecture of the catalog with its class, and ``create_model(name, **cfg)``.

What the user may choose (names, labels, typed :class:`OptionSpec` entries with defaults,
choices and ranges) is plain data in catalog.py, which the training form and the command line
read without importing torch; :func:`available_models` adds the classes. Checkpoints store
``(model.name, model.config)`` and rebuild with ``create_model(name, **config)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segstudio.errors import ConfigError
from segstudio.models.base import SegmentationModel
from segstudio.models.catalog import (
    ARCHITECTURES,
    ArchitectureInfo,
    OptionSpec,
    architecture_info,
    validate_model_options,
)
from segstudio.models.unet import UNet
from segstudio.models.unet3p import UNet3Plus
from segstudio.models.unetpp import UNetPlusPlus

__all__ = ["PAPER_CONFIGS", "ModelInfo", "OptionSpec", "available_models", "create_model",
           "model_info", "paper_model"]


@dataclass(frozen=True)
class ModelInfo(ArchitectureInfo):
    """An architecture of the catalog with the class that builds it."""

    factory: type[SegmentationModel] = field(kw_only=True)


_FACTORIES: dict[str, type[SegmentationModel]] = {
    "unet": UNet, "unetpp": UNetPlusPlus, "unet3p": UNet3Plus}
_MODELS: dict[str, ModelInfo] = {
    a.name: ModelInfo(a.name, a.label, a.description, a.options, a.prunable,
                      factory=_FACTORIES[a.name])
    for a in ARCHITECTURES
}

# The papers' configurations (one grey input channel, one class, as counted in the papers).
PAPER_CONFIGS: dict[str, tuple[str, dict[str, Any], str]] = {
    "unet": ("unet", dict(in_channels=1, num_classes=1, filters=[32, 64, 128, 256, 512],
                          norm="none", upsampling="transpose", head_kernel=1),
             "U-Net++ paper, Table 1: 7.76M"),
    "unetpp": ("unetpp", dict(in_channels=1, num_classes=1, filters=[32, 64, 128, 256, 512],
                              norm="none", upsampling="transpose", head_kernel=1,
                              deep_supervision=True),
               "U-Net++ paper: 9.04M; pruned L1 0.1M, L2 0.5M, L3 2.2M, L4 9.0M"),
    "unet3p": ("unet3p", dict(in_channels=1, num_classes=1,
                              filters=[64, 128, 256, 512, 1024], cat_channels=64,
                              norm="batch", conv_bias=True, head_kernel=3,
                              deep_supervision=False),
               "UNet 3+ paper, Table 1: 26.97M"),
}


def available_models() -> list[ModelInfo]:
    """Every architecture with its label, description and options, in display order."""
    return list(_MODELS.values())


def model_info(name: str) -> ModelInfo:
    return _MODELS[architecture_info(name).name]   # ConfigError for an unknown name


def create_model(name: str, **cfg: Any) -> SegmentationModel:
    """Build architecture ``name`` with options ``cfg`` (see ``model_info(name).options``).

    Unknown names or options and invalid values raise ConfigError (validate_model_options,
    then the constructor's own checks)."""
    info = model_info(name)
    validate_model_options(name, cfg)
    try:
        return info.factory(**cfg)
    except (TypeError, ValueError) as exc:  # e.g. a string where a number belongs
        raise ConfigError(f"Invalid {info.label} configuration: {exc}") from exc


def paper_model(key: str, **overrides: Any) -> SegmentationModel:
    """The model in its paper's configuration ("unet", "unetpp" or "unet3p")."""
    name, cfg, _ = PAPER_CONFIGS[key]
    return create_model(name, **{**cfg, **overrides})
