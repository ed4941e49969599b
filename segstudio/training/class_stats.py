"""Class statistics over the *labelled* pixels of a training set, for loss weighting.

Counts are per mask value 0..K-1; 255 ("not labelled") is never counted. A binary model
(``num_classes=1``) has two mask values, 0 and 1: call :func:`mask_value_count` to get K.
Weights come from the whole training set, not per batch, so they do not jump between batches.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from segstudio.errors import ConfigError, MaskError

IGNORE = 255
WEIGHT_MODES = ("inverse", "median", "sqrt")


def mask_value_count(num_classes: int) -> int:
    """Number of distinct mask values (K) for a model's ``num_classes`` (binary 1 -> 2)."""
    return 2 if num_classes == 1 else num_classes


def count_labelled_pixels(masks: Iterable[np.ndarray], num_classes: int) -> np.ndarray:
    """int64 array of length K: how many labelled pixels of each class the masks hold.

    ``num_classes`` is K, the number of mask values (use :func:`mask_value_count` for a model's
    num_classes). Values other than 0..K-1 and 255 raise MaskError."""
    if num_classes < 1 or num_classes > 255:
        raise ConfigError(f"num_classes must be 1..255, got {num_classes!r}.")
    counts = np.zeros(num_classes, np.int64)
    for mask in masks:
        m = np.asarray(mask)
        hist = np.bincount(m.ravel().astype(np.int64, copy=False), minlength=256)
        bad = np.flatnonzero(hist[num_classes:IGNORE]) + num_classes
        if bad.size:
            raise MaskError(f"Mask holds class value(s) {bad.tolist()} but the project has only "
                            f"{num_classes} classes (0..{num_classes - 1}, 255 = not labelled).")
        counts += hist[:num_classes]
    return counts


def pos_weight(counts: np.ndarray) -> float:
    """num_neg / num_pos over labelled pixels, for binary BCE (counts = [n_0, n_1])."""
    counts = np.asarray(counts, np.int64)
    if counts.shape != (2,):
        raise ConfigError(f"pos_weight needs counts of the two binary classes, got {counts!r}.")
    if counts[1] == 0:
        raise ConfigError("No labelled foreground pixels in the training set: cannot weight "
                          "the positive class. Paint some foreground first.")
    return float(counts[0]) / float(counts[1])


def class_weights(counts: np.ndarray, mode: str = "inverse") -> np.ndarray:
    """float64 weight per class from labelled-pixel counts.

    inverse: w_k = N / (K' * n_k), so a perfectly balanced set gets weights 1.
    median:  w_k = median_j(f_j) / f_k with f_k = n_k / N (median-frequency balancing,
             Eigen & Fergus 2015, with frequencies over all labelled pixels).
    sqrt:    w_k = sqrt(median_j(f_j) / f_k), a milder balancing (rare classes up, common
             classes not pushed down as hard).
    K' and the median run over classes that occur; a class with no labelled pixel gets weight
    0 (it is never a target, so its weight would only matter for Dice-style losses).
    """
    if mode not in WEIGHT_MODES:
        raise ConfigError(f"Unknown class weight mode {mode!r}; choose one of "
                          f"{', '.join(WEIGHT_MODES)}.")
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    if not present.any():
        raise ConfigError("The training set has no labelled pixels: nothing to weight.")
    freq = counts / counts.sum()
    weights = np.zeros_like(freq)
    if mode == "inverse":
        weights[present] = 1.0 / (present.sum() * freq[present])
    elif mode == "median":
        weights[present] = np.median(freq[present]) / freq[present]
    else:
        weights[present] = np.sqrt(np.median(freq[present]) / freq[present])
    return weights


def auto_alpha(counts: np.ndarray) -> np.ndarray:
    """Focal-loss alpha from class balance: alpha_k proportional to 1/n_k, summing to 1.

    For two classes this is alpha = n_neg / (n_neg + n_pos) on the positive class, so the
    binary focal loss weights the rarer class up."""
    w = class_weights(counts, "inverse")
    return w / w.sum()
