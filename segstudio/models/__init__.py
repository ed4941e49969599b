"""Segmentation architectures (torch only, no Qt): U-Net, U-Net++, UNet 3+.

Use :func:`create_model` / :func:`available_models`; see ``docs/models.md`` for the output
conventions, deep supervision and the parameter table against the papers.
"""

from segstudio.models.base import (
    ABSENT_LOGIT,
    CGM_MODES,
    DeepOutputs,
    SegmentationModel,
    apply_cgm,
    average_heads,
)
from segstudio.models.complexity import LayerCall, count_flops, count_parameters, trace_layers
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

__all__ = [
    "ABSENT_LOGIT", "CGM_MODES", "DeepOutputs", "LayerCall", "ModelInfo", "OptionSpec",
    "PAPER_CONFIGS", "SegmentationModel", "UNet", "UNet3Plus", "UNetPlusPlus", "apply_cgm",
    "available_models", "average_heads", "count_flops", "count_parameters", "create_model",
    "crop_to", "model_info", "pad_to_multiple", "paper_model", "trace_layers",
]
