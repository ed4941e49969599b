"""The list of architectures the UI offers, and ``create_model(name, **cfg)``.

The window builds its model form from :func:`available_models`: each :class:`ModelInfo` has a
human label, a description and typed :class:`OptionSpec` entries (default, choices, range), so
adding an option here is all it takes to show it. Checkpoints store ``(model.name,
model.config)`` and rebuild with ``create_model(name, **config)``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from segstudio.errors import ConfigError
from segstudio.models.base import CGM_MODES, SegmentationModel
from segstudio.models.blocks import NORMS, UPSAMPLING
from segstudio.models.unet import UNet
from segstudio.models.unet3p import UNet3Plus
from segstudio.models.unetpp import MODES, UNetPlusPlus


@dataclass(frozen=True)
class OptionSpec:
    """One constructor option as a form field.

    kind: "int" | "float" | "bool" | "choice" | "int_list" | "float_list".
    A default of None means "derived" (explained in ``help``)."""

    name: str
    label: str
    kind: str
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    label: str
    description: str
    options: tuple[OptionSpec, ...]
    factory: type[SegmentationModel]


_COMMON = (
    OptionSpec("in_channels", "Input channels", "choice", 3,
               "1 = grey, 3 = RGB, 4 = RGBA / RGB + extra.", choices=(1, 3, 4)),
    OptionSpec("num_classes", "Classes", "int", 2,
               "Number of mask classes; 1 = binary (one sigmoid channel for class 1).",
               minimum=1, maximum=255),
    OptionSpec("base_width", "Base width", "int", 32,
               "Filters of the first level; doubled at every level below.", minimum=1,
               maximum=256),
    OptionSpec("levels", "Levels", "int", 5,
               "Resolution levels (5 = four poolings). Ignored if filters is set.",
               minimum=2, maximum=7),
    OptionSpec("filters", "Filters per level", "int_list", None,
               "Explicit filters per level, e.g. 32,64,128,256,512 (overrides base width and "
               "levels)."),
    OptionSpec("norm", "Normalisation", "choice", "batch",
               "batch: best with batches >= 8; group/instance: for small batches; none: as "
               "in the U-Net++ paper.", choices=NORMS),
    OptionSpec("dropout", "Dropout", "float", 0.0,
               "Channel dropout after every conv (0 = off).", minimum=0.0, maximum=0.95),
    OptionSpec("conv_bias", "Conv bias", "choice", None,
               "Bias in 3x3 convs. Default (None): only without normalisation, where it is "
               "not redundant.", choices=(None, True, False)),
)
_UP = OptionSpec("upsampling", "Upsampling", "choice", "bilinear",
                 "bilinear: 1x1 conv + bilinear x2 (no checkerboard); transpose: 2x2 "
                 "transposed conv as in the papers.", choices=UPSAMPLING)


def _head(default: int) -> OptionSpec:
    return OptionSpec("head_kernel", "Head kernel", "choice", default,
                      "Kernel size of the output conv(s).", choices=(1, 3))


def _ds(n_heads: str) -> tuple[OptionSpec, ...]:
    return (
        OptionSpec("deep_supervision", "Deep supervision", "bool", True,
                   f"Train a head on {n_heads} and average their losses."),
        OptionSpec("ds_weights", "Head loss weights", "float_list", None,
                   "One weight per head, shallowest first for U-Net++, deepest first for "
                   "UNet 3+. Default: equal."),
    )


_MODELS: dict[str, ModelInfo] = {
    m.name: m for m in (
        ModelInfo("unet", "U-Net", "Classic encoder-decoder with skip connections "
                  "(Ronneberger et al. 2015). Fast and a solid default.",
                  _COMMON + (_UP, _head(1)), UNet),
        ModelInfo("unetpp", "U-Net++", "Nested dense skip pathways with deep supervision "
                  "(Zhou et al. 2018). Can be pruned at inference: depth L runs only the "
                  "sub-network of head L.",
                  _COMMON + (_UP, _head(1)) + _ds("X(0,1)..X(0,L)") + (
                      OptionSpec("mode", "Inference mode", "choice", "accurate",
                                 "accurate: average all heads; fast: one head (pruned).",
                                 choices=MODES),
                      OptionSpec("fast_depth", "Fast-mode depth", "int", None,
                                 "Head used in fast mode (1 = smallest). Default: deepest.",
                                 minimum=1, maximum=6)),
                  UNetPlusPlus),
        ModelInfo("unet3p", "UNet 3+", "Full-scale skip connections: every decoder stage "
                  "sees all scales (Huang et al. 2020). Optional classification-guided "
                  "module suppresses classes predicted absent.",
                  _COMMON + (
                      OptionSpec("cat_channels", "Channels per scale", "int", None,
                                 "Each scale is mapped to this many channels before fusion "
                                 "(paper: 64). Default: the first level's filters.",
                                 minimum=1, maximum=256),
                      _head(3)) + _ds("every decoder stage") + (
                      OptionSpec("cgm", "Classification-guided module", "bool", False,
                                 "Predict which classes are present and suppress the others."),
                      OptionSpec("cgm_weight", "CGM loss weight", "float", 1.0,
                                 "Weight of the class-presence loss.", minimum=0.0),
                      OptionSpec("cgm_mode", "CGM at inference", "choice", "hard",
                                 "hard: drop classes predicted absent; soft: scale by "
                                 "presence probability; off: ignore.", choices=CGM_MODES),
                      OptionSpec("cgm_dropout", "CGM dropout", "float", 0.5,
                                 "Dropout before the classifier (paper: 0.5).", minimum=0.0,
                                 maximum=0.95)),
                  UNet3Plus),
    )
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
    try:
        return _MODELS[name]
    except KeyError:
        raise ConfigError(f"Unknown model {name!r}; choose one of "
                          f"{', '.join(_MODELS)}.") from None


def create_model(name: str, **cfg: Any) -> SegmentationModel:
    """Build architecture ``name`` with options ``cfg`` (see ``model_info(name).options``).

    Unknown names or options and invalid values raise ConfigError."""
    info = model_info(name)
    accepted = set(inspect.signature(info.factory.__init__).parameters) - {"self"}
    unknown = sorted(set(cfg) - accepted)
    if unknown:
        raise ConfigError(f"{info.label} has no option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(accepted))}.")
    try:
        return info.factory(**cfg)
    except (TypeError, ValueError) as exc:  # e.g. a string where a number belongs
        raise ConfigError(f"Invalid {info.label} configuration: {exc}") from exc


def paper_model(key: str, **overrides: Any) -> SegmentationModel:
    """The model in its paper's configuration ("unet", "unetpp" or "unet3p")."""
    name, cfg, _ = PAPER_CONFIGS[key]
    return create_model(name, **{**cfg, **overrides})
