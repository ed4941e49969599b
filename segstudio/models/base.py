"""What every segmentation model shares: config checks, padding, output conventions.

Output convention (all models):
- ``num_classes == 1`` is the *binary* case: one output channel, the logit of class 1 (mask
  values are 0 = background, 1 = foreground; train with sigmoid losses).
- ``num_classes >= 2``: ``num_classes`` output channels, softmax over channels.
- ``model(x)`` returns inference logits (N, C_out, H, W) for any H x W.
- ``model(x, return_all=True)`` returns :class:`DeepOutputs` with every supervised head at full
  resolution, ordered so that ``heads[-1]`` is the full network's own output. The training code
  (``segstudio.training.losses.model_loss``) turns that into one loss for any architecture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segstudio.errors import ConfigError
from segstudio.models.catalog import CGM_MODES, NORMS
from segstudio.models.padding import pad_to_multiple

# Added to the logits of a class the classification-guided module says is absent. Large enough
# to zero its probability, small enough to stay finite in float16 (max 65504).
ABSENT_LOGIT = -1.0e4


@dataclass
class DeepOutputs:
    """All training outputs of a model.

    heads: full-resolution logits, one per supervised head; ``heads[-1]`` is the full network.
    cls_logits: (N, C_out) class-presence logits of U-Net 3+'s classification-guided module,
        or None. Channel c is the presence of output channel c (binary: of class 1).
    """

    heads: list[Tensor]
    cls_logits: Tensor | None = None


def resolve_filters(filters: Sequence[int] | None, base_width: int, levels: int) -> list[int]:
    """Filters per level: an explicit list wins, otherwise base_width doubled per level."""
    if filters is None:
        if not isinstance(base_width, int) or base_width < 1:
            raise ConfigError(f"base_width must be a positive integer, got {base_width!r}.")
        if not isinstance(levels, int) or not 2 <= levels <= 7:
            raise ConfigError(f"levels must be an integer from 2 to 7, got {levels!r}.")
        return [base_width * 2**i for i in range(levels)]
    filters = list(filters)
    if not 2 <= len(filters) <= 7 or not all(isinstance(f, int) and f > 0 for f in filters):
        raise ConfigError(
            f"filters must be 2 to 7 positive integers (one per level), got {filters!r}.")
    return filters


def check_common(in_channels: int, num_classes: int, norm: str, dropout: float,
                 head_kernel: int) -> None:
    """Validate the options every model has; raise ConfigError with a readable message."""
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ConfigError(f"in_channels must be a positive integer, got {in_channels!r}.")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(
            f"num_classes must be 1 (binary, one sigmoid channel) or the number of classes, "
            f"got {num_classes!r}.")
    if norm not in NORMS:
        raise ConfigError(f"Unknown normalisation {norm!r}; choose one of {', '.join(NORMS)}.")
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}.")
    if head_kernel not in (1, 3):
        raise ConfigError(f"head_kernel must be 1 or 3, got {head_kernel!r}.")


def check_ds_weights(weights: Sequence[float] | None, n_heads: int) -> list[float] | None:
    """Deep-supervision weights: None (equal) or one non-negative weight per head."""
    if weights is None:
        return None
    weights = [float(w) for w in weights]
    if len(weights) != n_heads or any(w < 0 or not math.isfinite(w) for w in weights) \
            or sum(weights) <= 0:
        raise ConfigError(
            f"ds_weights needs {n_heads} non-negative weights with a positive sum, "
            f"got {weights!r}.")
    return weights


class SegmentationModel(nn.Module):
    """Base class: stores the config, checks inputs, pads to the stride and crops back."""

    name: str = ""

    def __init__(self, in_channels: int, num_classes: int, filters: list[int],
                 config: dict[str, Any]) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.out_channels = 1 if num_classes == 1 else num_classes
        self.filters = filters
        self.levels = len(filters)
        self.pad_multiple = 2 ** (self.levels - 1)
        # Inputs are padded to at least 2 x 2 at the deepest level: batch/instance norm cannot
        # normalise a single value per channel (batch of one 1 x 1 map) while training.
        self.pad_min = 2 * self.pad_multiple
        # JSON-able constructor arguments: create_model(self.name, **self.config) rebuilds it.
        self.config = dict(config)
        # Per-head loss weights (None = equal) and the CGM loss weight; read by model_loss.
        self.ds_weights: list[float] | None = None
        self.cgm_weight: float = 0.0

    @property
    def num_heads(self) -> int:
        return 1

    def pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """Pad to the network's stride (see padding.py); returns the size to crop back to."""
        return pad_to_multiple(x, self.pad_multiple, self.pad_min)

    def check_input(self, x: Tensor) -> None:
        if x.dim() != 4:
            raise ConfigError(f"Model input must be a (N, C, H, W) batch, got shape "
                              f"{tuple(x.shape)}.")
        if x.shape[1] != self.in_channels:
            raise ConfigError(f"This model expects {self.in_channels} input channel(s) but the "
                              f"image has {x.shape[1]}.")


def average_heads(heads: Sequence[Tensor]) -> Tensor:
    """Average the heads' *probabilities* and return logits of that average.

    U-Net++'s "accurate" mode averages the branches' probability maps. Returning logits keeps
    the one output convention: binary -> logit(mean sigmoid), multi-class -> log(mean softmax),
    both computed with logsumexp so nothing overflows.
    """
    stacked = torch.stack(list(heads), 0)
    n = len(heads)
    if stacked.shape[2] == 1:
        return (torch.logsumexp(F.logsigmoid(stacked), 0)
                - torch.logsumexp(F.logsigmoid(-stacked), 0))
    return torch.logsumexp(F.log_softmax(stacked, dim=2), 0) - math.log(n)


def apply_cgm(logits: Tensor, cls_logits: Tensor, mode: str) -> Tensor:
    """Gate segmentation logits (N, C, H, W) by class-presence logits (N, C).

    "hard": a class predicted absent (presence prob < 0.5) gets ABSENT_LOGIT added, so its
        probability goes to ~0 (the paper's intent; multiplying logits by 0 would give 0.5).
    "soft": multiply each class's probability by its presence probability. Multi-class: add
        log sigmoid(c) to the logits (softmax renormalises). Binary: logit of sigmoid(z)*sigmoid(c).
    "off": unchanged.
    """
    if mode == "off":
        return logits
    c = cls_logits[:, :, None, None].to(logits.dtype)
    if mode == "hard":
        return logits + torch.where(c < 0, torch.full_like(c, ABSENT_LOGIT), torch.zeros_like(c))
    if mode != "soft":
        raise ConfigError(f"Unknown cgm_mode {mode!r}; choose one of {', '.join(CGM_MODES)}.")
    if logits.shape[1] > 1:
        return logits + F.logsigmoid(c)
    # logit(q) with q = sigmoid(z) sigmoid(c); 1 - q = sigmoid(-z) + sigmoid(z) sigmoid(-c),
    # so both logs come from logsigmoid/logsumexp: stable, and exportable to ONNX.
    log_q = F.logsigmoid(logits) + F.logsigmoid(c)
    log_1mq = torch.logsumexp(torch.stack(
        [F.logsigmoid(-logits), F.logsigmoid(logits) + F.logsigmoid(-c)]), 0)
    return log_q - log_1mq
