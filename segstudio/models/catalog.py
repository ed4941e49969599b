"""The architectures and their options as plain data: no torch, so the window reads them
without loading it. ``validate_model_options`` is the one check of model options, used by
TrainConfig (the training form and ``segstudio train --model-options``) and by create_model.

The training form (ui/training/panel.py) takes from here its architecture list and labels,
the ranges of base width and levels, and which architectures have deep supervision; the other
options are set with ``--model-options`` or in a config file. models/registry.py pairs each
architecture with its class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segstudio.errors import ConfigError

NORMS = ("batch", "group", "instance", "none")
UPSAMPLING = ("transpose", "bilinear")
CGM_MODES = ("hard", "soft", "off")
UNETPP_MODES = ("accurate", "fast")
# The widest level any model may have (filters, or base_width doubled down the levels): 4096
# already makes a 3x3 conv of 150 M parameters; far more only allocates until the process dies.
MAX_FILTERS = 4096


@dataclass(frozen=True)
class OptionSpec:
    """One constructor option as a form field.

    kind: "int" | "float" | "bool" | "choice" | "int_list" | "float_list".
    A default of None means "derived" (explained in ``help``). choices: for "choice" the only
    valid values; for another kind the usual ones (in_channels 1, 3, 4: any in range is
    valid). minimum / maximum bound numbers, and each item of a list."""

    name: str
    label: str
    kind: str
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class ArchitectureInfo:
    """An architecture as the window and the command line offer it (no torch needed)."""

    name: str
    label: str
    description: str
    options: tuple[OptionSpec, ...]
    prunable: bool = False       # U-Net++: a sub-network of any depth can run on its own

    @property
    def form_label(self) -> str:
        """The label in the training form's architecture list."""
        return f"{self.label} (prunable)" if self.prunable else self.label

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)


_COMMON = (
    OptionSpec("in_channels", "Input channels", "int", 3,
               "1 = grey, 3 = RGB, 4 = RGBA / RGB + extra.", choices=(1, 3, 4), minimum=1,
               maximum=MAX_FILTERS),
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
               "levels).", minimum=1, maximum=MAX_FILTERS),
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


ARCHITECTURES: tuple[ArchitectureInfo, ...] = (
    ArchitectureInfo(
        "unet", "U-Net", "Classic encoder-decoder with skip connections (Ronneberger et al. "
        "2015). Fast and a solid default.",
        _COMMON + (_UP, _head(1))),
    ArchitectureInfo(
        "unetpp", "U-Net++", "Nested dense skip pathways with deep supervision (Zhou et al. "
        "2018). Can be pruned at inference: depth L runs only the sub-network of head L.",
        _COMMON + (_UP, _head(1)) + _ds("X(0,1)..X(0,L)") + (
            OptionSpec("mode", "Inference mode", "choice", "accurate",
                       "accurate: average all heads; fast: one head (pruned).",
                       choices=UNETPP_MODES),
            OptionSpec("fast_depth", "Fast-mode depth", "int", None,
                       "Head used in fast mode (1 = smallest). Default: deepest.",
                       minimum=1, maximum=6)),
        prunable=True),
    ArchitectureInfo(
        "unet3p", "UNet 3+", "Full-scale skip connections: every decoder stage sees all "
        "scales (Huang et al. 2020). Optional classification-guided module suppresses "
        "classes predicted absent.",
        _COMMON + (
            OptionSpec("cat_channels", "Channels per scale", "int", None,
                       "Each scale is mapped to this many channels before fusion (paper: 64). "
                       "Default: the first level's filters.", minimum=1, maximum=256),
            _head(3)) + _ds("every decoder stage") + (
            OptionSpec("cgm", "Classification-guided module", "bool", False,
                       "Predict which classes are present and suppress the others."),
            OptionSpec("cgm_weight", "CGM loss weight", "float", 1.0,
                       "Weight of the class-presence loss.", minimum=0.0),
            OptionSpec("cgm_mode", "CGM at inference", "choice", "hard",
                       "hard: drop classes predicted absent; soft: scale by presence "
                       "probability; off: ignore.", choices=CGM_MODES),
            OptionSpec("cgm_dropout", "CGM dropout", "float", 0.5,
                       "Dropout before the classifier (paper: 0.5).", minimum=0.0,
                       maximum=0.95))),
)
_BY_NAME = {a.name: a for a in ARCHITECTURES}


def architecture_names() -> tuple[str, ...]:
    """The architectures' names, in display order."""
    return tuple(_BY_NAME)


def architecture_info(name: str) -> ArchitectureInfo:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"Unknown model {name!r}; choose one of "
                          f"{', '.join(_BY_NAME)}.") from None


def common_option(name: str) -> OptionSpec:
    """An option every architecture has (base_width, levels, norm, ...)."""
    return next(o for o in _COMMON if o.name == name)


def has_option(architecture: str, option: str) -> bool:
    """Whether the architecture takes the option (e.g. which have deep supervision)."""
    info = _BY_NAME.get(architecture)
    return info is not None and info.option(option) is not None


def validate_model_options(architecture: str, options: Mapping[str, Any]) -> None:
    """Raise ConfigError (one line) unless ``options`` are valid for the architecture: known
    names, the right types (true/false is not a number, 3.0 is not an integer), values in
    their range or among their choices, and no level wider than MAX_FILTERS."""
    info = architecture_info(architecture)
    unknown = sorted(set(options) - {o.name for o in info.options})
    if unknown:
        raise ConfigError(f"{info.label} has no option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(o.name for o in info.options))}.")
    for spec in info.options:
        if spec.name in options and not _valid(spec, options[spec.name]):
            raise ConfigError(f"{info.label} option {spec.name} must be {_expected(spec)}, "
                              f"got {options[spec.name]!r}.")
    if options.get("filters") is None:
        width = options.get("base_width", common_option("base_width").default)
        levels = options.get("levels", common_option("levels").default)
        if width * 2 ** (levels - 1) > MAX_FILTERS:
            raise ConfigError(
                f"{info.label}: base_width {width} with {levels} levels gives "
                f"{width * 2 ** (levels - 1)} filters at the deepest level; at most "
                f"{MAX_FILTERS}: choose a smaller base width or fewer levels.")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _in_range(spec: OptionSpec, v: float) -> bool:
    return ((spec.minimum is None or v >= spec.minimum)
            and (spec.maximum is None or v <= spec.maximum))


def _valid(spec: OptionSpec, v: Any) -> bool:
    if v is None:
        return spec.default is None or None in spec.choices
    kind = spec.kind
    if kind == "int":
        return _is_int(v) and _in_range(spec, v)
    if kind == "float":
        return _is_number(v) and _in_range(spec, v)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "choice":   # by type too: True is not the kernel size 1
        return any(type(c) is type(v) and c == v for c in spec.choices)
    if kind in ("int_list", "float_list"):
        item = _is_int if kind == "int_list" else _is_number
        return isinstance(v, (list, tuple)) and all(item(x) and _in_range(spec, x) for x in v)
    raise ValueError(f"unknown option kind {kind!r}")


def _expected(spec: OptionSpec) -> str:
    lo, hi = spec.minimum, spec.maximum
    bounds = (f" from {lo:g} to {hi:g}" if lo is not None and hi is not None else
              f" of at least {lo:g}" if lo is not None else
              f" of at most {hi:g}" if hi is not None else "")
    what = {"int": "an integer", "float": "a number", "bool": "true or false",
            "int_list": "a list of integers", "float_list": "a list of numbers"}.get(spec.kind)
    if what is None:
        what = "one of " + ", ".join("null" if c is None else str(c).lower()
                                     if isinstance(c, bool) else str(c) for c in spec.choices)
    else:
        what += (" each" if spec.kind.endswith("_list") and bounds else "") + bounds
    return what + (" or null (derived)" if spec.default is None and spec.kind != "choice"
                   else "")
