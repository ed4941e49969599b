"""How unsure a model is, per pixel and per image: what "Label here next" orders by.

Per pixel: the entropy of the class probabilities divided by log K (0 = certain, 1 = uniform),
or one minus the margin between the two most probable classes. Per image: the mean over the
pixels the user has not labelled (labelled pixels need no more work). The region to label next
is the window of the heat map with the largest mean over unlabelled pixels.

numpy only (scipy for the box filter); no Qt, no torch: the probabilities come as arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from segstudio.core.painting import Rect, unlabelled_value

MEASURES = ("entropy", "margin")


def entropy_map(probs: np.ndarray) -> np.ndarray:
    """K x H x W probabilities -> H x W float32 normalised entropy in [0, 1]."""
    k = probs.shape[0]
    if k < 2:
        return np.zeros(probs.shape[1:], np.float32)
    p = np.clip(probs.astype(np.float32, copy=False), 1e-12, 1.0)
    h = -(p * np.log(p)).sum(axis=0)
    return np.clip(h / math.log(k), 0.0, 1.0).astype(np.float32)


def margin_map(probs: np.ndarray) -> np.ndarray:
    """K x H x W probabilities -> H x W float32: 1 - (top-1 - top-2) probability."""
    if probs.shape[0] < 2:
        return np.zeros(probs.shape[1:], np.float32)
    top2 = np.partition(probs.astype(np.float32, copy=False), -2, axis=0)[-2:]
    return np.clip(1.0 - (top2[1] - top2[0]), 0.0, 1.0).astype(np.float32)


def uncertainty_map(probs: np.ndarray, measure: str = "entropy") -> np.ndarray:
    if measure not in MEASURES:
        raise ValueError(f"unknown uncertainty measure {measure!r}")
    return entropy_map(probs) if measure == "entropy" else margin_map(probs)


def unlabelled_pixels(mask: np.ndarray) -> np.ndarray:
    return mask >= unlabelled_value(mask)


def image_uncertainty(heat: np.ndarray, mask: np.ndarray | None) -> float:
    """Mean of ``heat`` over the unlabelled pixels of ``mask`` (all pixels without a mask);
    0 when every pixel is labelled."""
    if mask is None:
        return float(heat.mean()) if heat.size else 0.0
    if mask.shape != heat.shape:
        raise ValueError("the heat map and the mask differ in size")
    free = unlabelled_pixels(mask)
    n = int(np.count_nonzero(free))
    return float(heat[free].sum(dtype=np.float64) / n) if n else 0.0


def order_by_uncertainty(scores: Mapping[str, float]) -> list[str]:
    """Image ids, most uncertain first (ties: by id, so the order is stable)."""
    return [k for k, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def most_uncertain_window(heat: np.ndarray, mask: np.ndarray | None, size: int) -> Rect | None:
    """The ``size`` x ``size`` window (clipped to the image) whose unlabelled pixels have the
    largest summed uncertainty; None when no pixel is unlabelled."""
    from scipy import ndimage

    h, w = heat.shape
    free = np.ones(heat.shape, bool) if mask is None else unlabelled_pixels(mask)
    if not free.any():
        return None
    size = max(1, min(int(size), h, w))
    score = ndimage.uniform_filter(np.where(free, heat, 0.0).astype(np.float32), size=size,
                                   mode="constant")
    cy, cx = np.unravel_index(int(np.argmax(score)), score.shape)
    x0 = int(min(max(0, cx - size // 2), w - size))
    y0 = int(min(max(0, cy - size // 2), h - size))
    return Rect(x0, y0, x0 + size, y0 + size)
