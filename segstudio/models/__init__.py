"""Segmentation architectures (torch only, no Qt): U-Net, U-Net++, UNet 3+.

Use :func:`create_model` / :func:`available_models`; see ``docs/models.md`` for the output
conventions, deep supervision and the parameter table against the papers.

The names below are imported when first used, so ``segstudio.models.catalog`` (the
architectures and their options as plain data) loads without torch: the window reads it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segstudio.models.base import (
        ABSENT_LOGIT,
        DeepOutputs,
        SegmentationModel,
        apply_cgm,
        average_heads,
    )
    from segstudio.models.catalog import CGM_MODES, validate_model_options
    from segstudio.models.complexity import (
        LayerCall,
        count_flops,
        count_parameters,
        trace_layers,
    )
    from segstudio.models.padding import crop_to, pad_to_multiple
    from segstudio.models.registry import (
        PAPER_CONFIGS,
        ModelInfo,
        OptionSpec,
        available_models,
        create_model,
        model_info,
        paper_model,
    )
    from segstudio.models.unet import UNet
    from segstudio.models.unet3p import UNet3Plus
    from segstudio.models.unetpp import UNetPlusPlus

_HOMES = {
    "base": ("ABSENT_LOGIT", "DeepOutputs", "SegmentationModel", "apply_cgm", "average_heads"),
    "catalog": ("CGM_MODES", "validate_model_options"),
    "complexity": ("LayerCall", "count_flops", "count_parameters", "trace_layers"),
    "padding": ("crop_to", "pad_to_multiple"),
    "registry": ("PAPER_CONFIGS", "ModelInfo", "OptionSpec", "available_models",
                 "create_model", "model_info", "paper_model"),
    "unet": ("UNet",),
    "unet3p": ("UNet3Plus",),
    "unetpp": ("UNetPlusPlus",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ABSENT_LOGIT", "CGM_MODES", "DeepOutputs", "LayerCall", "ModelInfo", "OptionSpec",
    "PAPER_CONFIGS", "SegmentationModel", "UNet", "UNet3Plus", "UNetPlusPlus", "apply_cgm",
    "available_models", "average_heads", "count_flops", "count_parameters", "create_model",
    "crop_to", "model_info", "pad_to_multiple", "paper_model", "trace_layers",
    "validate_model_options",
]
assert sorted(__all__) == sorted(_HOME_OF)


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
