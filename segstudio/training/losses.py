"""Segmentation losses, all from logits, all ignoring 255 ("not labelled").

Conventions (see docs/models.md for the formulas):
- logits (N, C, H, W); target (N, H, W) integer mask, 255 = ignore.
- C == 1: binary; target values 0/1, sigmoid losses. C >= 2: softmax losses over C classes.
- Losses are means over *labelled* pixels only (weighted CE: weighted mean, like torch).
- A batch with no labelled pixel gives exactly 0 and zero gradients (never NaN): every pixel
  term is computed on a finite stand-in target and multiplied by its 0/1 "labelled" mask.
- Computed in float32 even under autocast, with logsigmoid / log_softmax (no log(0)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segstudio.errors import ConfigError, MaskError
from segstudio.models.base import DeepOutputs, SegmentationModel
from segstudio.training.class_stats import (
    WEIGHT_MODES,
    auto_alpha,
    class_weights,
    mask_value_count,
    pos_weight,
)
from segstudio.training.loss_catalog import LOSS_NAMES

IGNORE = 255


@dataclass(frozen=True)
class LossConfig:
    """What the user picks in the training form.

    name: one of LOSS_NAMES.
    gamma: focal focusing parameter (default 2).
    alpha: focal class balance. Binary: a float in [0, 1] (weight of the positive term, the
        negative term gets 1 - alpha), "auto" (= n_neg / (n_neg + n_pos) from the training
        set) or None (no balancing: both terms weight 1). Multi-class: one weight per class,
        "auto" (proportional to 1 / n_k, summing to 1) or None.
    class_weight_mode: "inverse", "median" or "sqrt" (milder) frequency weights for
        multi-class weighted_ce.
    pos_weight / class_weights: explicit weights for weighted_ce instead of counted ones.
    dice_weight: weight of the Dice term in "focal+dice" / "ce+dice" (pixel term weighs 1).
    smooth: Dice smoothing constant.
    """

    name: str = "ce"
    gamma: float = 2.0
    alpha: float | str | Sequence[float] | None = None
    class_weight_mode: str = "inverse"
    pos_weight: float | None = None
    class_weights: Sequence[float] | None = None
    dice_weight: float = 1.0
    smooth: float = 1.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LossConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown loss option(s) {', '.join(unknown)}; valid: "
                              f"{', '.join(sorted(known))}.")
        return cls(**d)


# ---------------------------------------------------------------------------- helpers

def _prepare(logits: Tensor, target: Tensor, n_values: int) -> tuple[Tensor, Tensor, Tensor]:
    """float32 logits, a target safe to index with (255 -> 0) and the labelled mask (float)."""
    if logits.dim() != 4 or target.dim() != 3 or logits.shape[0] != target.shape[0] \
            or logits.shape[2:] != target.shape[1:]:
        raise ValueError(f"logits (N, C, H, W) and target (N, H, W) do not match: "
                         f"{tuple(logits.shape)} vs {tuple(target.shape)}")
    target = target.long()
    labelled = target != IGNORE
    # On a GPU this check would wait for the device once per loss head per training step; the
    # trainer's masks are checked against the class count when they are read (read_mask).
    if target.device.type == "cpu" and bool(((target >= n_values) & labelled).any()):
        bad = torch.unique(target[(target >= n_values) & labelled]).tolist()
        raise MaskError(f"Mask holds class value(s) {bad} but the model predicts only "
                        f"{n_values} (0..{n_values - 1}, 255 = not labelled).")
    safe = torch.where(labelled, target, torch.zeros_like(target))
    return logits.float(), safe, labelled.float()


def _masked_mean(per_pixel: Tensor, weight: Tensor) -> Tensor:
    """sum(w * l) / sum(w); 0 with zero gradient when sum(w) == 0."""
    denom = weight.sum()
    return (per_pixel * weight).sum() / torch.where(denom > 0, denom, torch.ones_like(denom))


def _check_channels(logits: Tensor, expected: int, what: str) -> None:
    if logits.shape[1] != expected:
        raise ValueError(f"{what} expects {expected} logit channel(s), got {logits.shape[1]}")


# ---------------------------------------------------------------------------- pixel losses

class BinaryCrossEntropy(nn.Module):
    """-[pw * y log sigmoid(z) + (1 - y) log sigmoid(-z)], mean over labelled pixels.

    Equals torch's BCEWithLogitsLoss(pos_weight=pw) restricted to labelled pixels."""

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        self.pos_weight = 1.0 if pos_weight is None else float(pos_weight)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check_channels(logits, 1, "Binary cross-entropy")
        z, y, valid = _prepare(logits, target, 2)
        z, y = z[:, 0], y.float()
        loss = -(self.pos_weight * y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z))
        return _masked_mean(loss, valid)


class CrossEntropy(nn.Module):
    """Softmax cross-entropy; with class weights w the mean is sum w_y l / sum w_y.

    Equals F.cross_entropy(logits, target, weight=w, ignore_index=255), except that it gives 0
    instead of NaN when nothing is labelled."""

    weight: Tensor    # buffer

    def __init__(self, num_classes: int,
                 weight: Sequence[float] | np.ndarray | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        w = torch.ones(num_classes) if weight is None else \
            torch.as_tensor(weight, dtype=torch.float32)
        if w.shape != (num_classes,):
            raise ConfigError(f"Need {num_classes} class weights, got {len(w)}.")
        self.register_buffer("weight", w, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check_channels(logits, self.num_classes, "Cross-entropy")
        z, t, valid = _prepare(logits, target, self.num_classes)
        nll = -F.log_softmax(z, 1).gather(1, t[:, None])[:, 0]
        return _masked_mean(nll, valid * self.weight.to(z.device)[t])


class BinaryFocal(nn.Module):
    """Focal loss (Lin et al. 2017) exactly as the seed writes it, mean over labelled pixels:

        -alpha (1-p)^gamma y log p - (1-alpha) p^gamma (1-y) log(1-p),   p = sigmoid(z)

    alpha=None drops the balancing (both terms weight 1)."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"Focal gamma must be >= 0, got {gamma!r}.")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"Focal alpha must be in [0, 1], got {alpha!r}.")
        self.gamma = float(gamma)
        self.alpha = alpha

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check_channels(logits, 1, "Binary focal loss")
        z, y, valid = _prepare(logits, target, 2)
        z, y = z[:, 0], y.float()
        log_p, log_1mp = F.logsigmoid(z), F.logsigmoid(-z)
        # (1-p)^gamma = exp(gamma * log(1-p)): finite value and gradient even at p = 1.
        pos = -torch.exp(self.gamma * log_1mp) * log_p
        neg = -torch.exp(self.gamma * log_p) * log_1mp
        a_pos, a_neg = (1.0, 1.0) if self.alpha is None else (self.alpha, 1.0 - self.alpha)
        return _masked_mean(a_pos * y * pos + a_neg * (1 - y) * neg, valid)


class Focal(nn.Module):
    """Multi-class softmax focal loss: -alpha_y (1 - p_y)^gamma log p_y, mean over labelled
    pixels (alpha=None: all 1). With two classes and alpha = (1-a, a) this equals BinaryFocal
    applied to z_1 - z_0."""

    alpha: Tensor     # buffer

    def __init__(self, num_classes: int, gamma: float = 2.0,
                 alpha: Sequence[float] | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"Focal gamma must be >= 0, got {gamma!r}.")
        self.num_classes = num_classes
        self.gamma = float(gamma)
        a = torch.ones(num_classes) if alpha is None else \
            torch.as_tensor(alpha, dtype=torch.float32)
        if a.shape != (num_classes,) or bool((a < 0).any()):
            raise ConfigError(f"Focal alpha needs {num_classes} non-negative values per class, "
                              f"got {alpha!r}.")
        self.register_buffer("alpha", a, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check_channels(logits, self.num_classes, "Focal loss")
        z, t, valid = _prepare(logits, target, self.num_classes)
        log_pt = F.log_softmax(z, 1).gather(1, t[:, None])[:, 0]
        # log(1 - p_t) via log_softmax of the *other* classes: exact when p_t -> 1.
        others = z.scatter(1, t[:, None], float("-inf"))
        log_1mpt = torch.logsumexp(others, 1) - torch.logsumexp(z, 1)
        loss = -self.alpha.to(z.device)[t] * torch.exp(self.gamma * log_1mpt) * log_pt
        return _masked_mean(loss, valid)


class Dice(nn.Module):
    """Soft Dice loss over the labelled pixels of the whole batch.

    dice_k = (2 sum p_k y_k + s) / (sum p_k + sum y_k + s), sums over labelled pixels.
    Binary (C=1): 1 - dice of class 1 with p = sigmoid(z). Multi-class: 1 - mean_k dice_k
    with p = softmax(z). Nothing labelled: every dice_k = s/s = 1, loss 0."""

    def __init__(self, num_classes: int, smooth: float = 1.0) -> None:
        super().__init__()
        if smooth <= 0:
            raise ConfigError(f"Dice smoothing must be > 0, got {smooth!r}.")
        self.num_classes = num_classes
        self.smooth = float(smooth)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        c = logits.shape[1]
        binary = c == 1
        _check_channels(logits, 1 if self.num_classes == 1 else self.num_classes, "Dice loss")
        z, t, valid = _prepare(logits, target, 2 if binary else c)
        if binary:
            p = torch.sigmoid(z)
            y = (t == 1).float()[:, None]
        else:
            p = torch.softmax(z, 1)
            y = F.one_hot(t, c).permute(0, 3, 1, 2).float()
        v = valid[:, None]
        dims = (0, 2, 3)
        inter = (p * y * v).sum(dims)
        dice = (2 * inter + self.smooth) / ((p * v).sum(dims) + (y * v).sum(dims) + self.smooth)
        return 1 - dice.mean()


class WeightedSum(nn.Module):
    """sum_i w_i * loss_i(logits, target)."""

    def __init__(self, terms: Sequence[tuple[float, nn.Module]]) -> None:
        super().__init__()
        self.weights = [float(w) for w, _ in terms]
        self.terms = nn.ModuleList([t for _, t in terms])

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return sum(w * t(logits, target) for w, t in zip(self.weights, self.terms, strict=False))


# ---------------------------------------------------------------------------- factory

def build_loss(config: LossConfig | Mapping[str, Any] | str, num_classes: int,
               class_counts: np.ndarray | None = None) -> nn.Module:
    """Build the loss for a model with ``num_classes`` (1 = binary).

    ``class_counts``: labelled pixels per mask value over the training set (see
    ``class_stats.count_labelled_pixels``); needed by weighted_ce and alpha="auto"."""
    if isinstance(config, str):
        config = LossConfig(name=config)
    elif not isinstance(config, LossConfig):
        config = LossConfig.from_dict(config)
    if config.name not in LOSS_NAMES:
        raise ConfigError(f"Unknown loss {config.name!r}; choose one of {', '.join(LOSS_NAMES)}.")
    if config.class_weight_mode not in WEIGHT_MODES:
        raise ConfigError(f"Unknown class weight mode {config.class_weight_mode!r}; choose "
                          f"one of {', '.join(WEIGHT_MODES)}.")
    binary = num_classes == 1
    k = mask_value_count(num_classes)
    if class_counts is not None:
        class_counts = np.asarray(class_counts, np.int64)
        if class_counts.shape != (k,):
            raise ConfigError(f"Need labelled-pixel counts for {k} mask values, got "
                              f"{class_counts.shape[0] if class_counts.ndim else 0}.")

    def counts(why: str) -> np.ndarray:
        if class_counts is None:
            raise ConfigError(f"{why} needs the training set's class counts.")
        return class_counts

    def ce(weighted: bool) -> nn.Module:
        if binary:
            pw = None
            if weighted:
                pw = config.pos_weight if config.pos_weight is not None \
                    else pos_weight(counts("Weighted cross-entropy"))
            return BinaryCrossEntropy(pw)
        w = None
        if weighted:
            w = config.class_weights if config.class_weights is not None else \
                class_weights(counts("Weighted cross-entropy"), config.class_weight_mode)
        return CrossEntropy(num_classes, w)

    def focal() -> nn.Module:
        a = config.alpha
        if binary:
            if isinstance(a, str):
                _check_auto(a)
                a = float(auto_alpha(counts("Focal alpha 'auto'"))[1])
            elif a is not None and not isinstance(a, (int, float)):
                raise ConfigError("Binary focal alpha is one number in [0, 1], 'auto' or empty.")
            return BinaryFocal(config.gamma, None if a is None else float(a))
        if isinstance(a, str):
            _check_auto(a)
            a = auto_alpha(counts("Focal alpha 'auto'")).tolist()
        elif isinstance(a, (int, float)):
            raise ConfigError(f"Multi-class focal alpha needs one value per class "
                              f"({num_classes}) or 'auto', got the single number {a}.")
        return Focal(num_classes, config.gamma, a)

    dice = Dice(num_classes, config.smooth)
    name = config.name
    if name in ("ce", "weighted_ce"):
        return ce(name == "weighted_ce")
    if name == "focal":
        return focal()
    if name == "dice":
        return dice
    pixel = focal() if name == "focal+dice" else ce(False)
    return WeightedSum([(1.0, pixel), (config.dice_weight, dice)])


def _check_auto(a: str) -> None:
    if a != "auto":
        raise ConfigError(f"Focal alpha must be a number, 'auto' or empty, got {a!r}.")


# ---------------------------------------------------------------------------- deep supervision

def deep_supervision_loss(outputs: Sequence[Tensor], target: Tensor, loss_fn: nn.Module,
                          weights: Sequence[float] | None = None) -> Tensor:
    """Weighted average of ``loss_fn`` over the heads: sum w_i L_i / sum w_i (None = equal)."""
    outputs = list(outputs)
    w = [1.0] * len(outputs) if weights is None else [float(v) for v in weights]
    if len(w) != len(outputs) or sum(w) <= 0:
        raise ConfigError(f"Need {len(outputs)} head weights with a positive sum, got {w}.")
    total = sum(wi * loss_fn(o, target) for wi, o in zip(w, outputs, strict=False) if wi != 0)
    return total / sum(w)


def presence_targets(target: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Per-image class-presence targets for U-Net 3+'s classification-guided module.

    Returns (y, known), both (N, C_out): class c is *present* (y=1) if any labelled pixel has
    it; *absent* (y=0) only if the image is fully labelled and c does not occur; otherwise
    unknown (known=False) - with sparse strokes, "not painted" does not mean "not there".
    Binary models (num_classes=1) have one channel: the presence of class 1."""
    t = target.long()
    n_values = mask_value_count(num_classes)
    labelled = t != IGNORE
    fully = labelled.flatten(1).all(1)  # (N,)
    present = torch.stack([(t == k).flatten(1).any(1) for k in range(n_values)], 1)
    if num_classes == 1:
        present = present[:, 1:]
    known = present | fully[:, None]
    return present.float(), known


def cgm_loss(cls_logits: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Binary cross-entropy of presence logits on the *known* entries (0 if none known)."""
    y, known = presence_targets(target, num_classes)
    z = cls_logits.float()
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    return _masked_mean(loss, known.float())


def model_loss(model: SegmentationModel, outputs: Tensor | DeepOutputs, target: Tensor,
               loss_fn: nn.Module) -> Tensor:
    """The training objective for any architecture: pass ``model(x, return_all=True)``.

    Deep supervision heads are averaged with ``model.ds_weights``; U-Net 3+'s CGM adds
    ``model.cgm_weight * cgm_loss`` so the classifier is actually trained."""
    if isinstance(outputs, Tensor):
        return loss_fn(outputs, target)
    loss = deep_supervision_loss(outputs.heads, target, loss_fn,
                                 getattr(model, "ds_weights", None))
    weight = float(getattr(model, "cgm_weight", 0.0))
    if outputs.cls_logits is not None and weight > 0:
        loss = loss + weight * cgm_loss(outputs.cls_logits, target, model.num_classes)
    return loss


__all__ = [
    "BinaryCrossEntropy", "BinaryFocal", "CrossEntropy", "Dice", "Focal", "IGNORE",
    "LOSS_NAMES", "LossConfig", "WeightedSum", "build_loss", "cgm_loss",
    "deep_supervision_loss", "model_loss", "presence_targets",
]
