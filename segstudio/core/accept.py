"""Accepting a model's prediction into the user's mask.

Modes: "unlabelled" fills only pixels the user has not labelled (the usual way to grow sparse
labels from a model), "everywhere" replaces the mask with the prediction, "region" copies the
prediction only where ``region`` is True (pixels the user brushed). Pixels whose confidence is
below ``min_confidence`` are left as they are. The result is a bounding box and the new values
inside it, so the caller can record the old values for undo before writing.
"""

from __future__ import annotations

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.core.painting import Rect

ACCEPT_MODES = ("unlabelled", "everywhere", "region")


def plan_accept(mask: np.ndarray, labels: np.ndarray, mode: str = "unlabelled",
                region: np.ndarray | None = None, confidence: np.ndarray | None = None,
                min_confidence: float = 0.0) -> tuple[Rect, np.ndarray] | None:
    """Where and what to write; None when nothing would change."""
    if mode not in ACCEPT_MODES:
        raise ValueError(f"mode must be one of {ACCEPT_MODES}")
    if labels.shape != mask.shape:
        raise ValueError("prediction and mask sizes differ")
    take = labels != UNLABELLED
    if mode == "unlabelled":
        take &= mask == UNLABELLED
    elif mode == "region":
        if region is None or region.shape != mask.shape:
            raise ValueError("mode 'region' needs a region of the mask's size")
        take &= region.astype(bool)
    if confidence is not None and min_confidence > 0:
        take &= confidence >= int(round(min_confidence * 255))
    take &= labels != mask
    if not take.any():
        return None
    rows = np.flatnonzero(take.any(1))
    cols = np.flatnonzero(take.any(0))
    rect = Rect(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    sl = (slice(rect.y0, rect.y1), slice(rect.x0, rect.x1))
    block = np.where(take[sl], labels[sl], mask[sl]).astype(np.uint8)
    return rect, block
