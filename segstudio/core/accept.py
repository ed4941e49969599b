"""Accepting a model's prediction into the user's mask.

Modes: "unlabelled" fills only pixels the user has not labelled (the usual way to grow sparse
labels from a model), "everywhere" replaces the mask with the prediction, "region" copies the
prediction only where ``region`` is True (pixels the user brushed). Pixels whose confidence is
below ``min_confidence`` are left as they are. The result is a bounding box and the new values
inside it, so the caller can record the old values for undo before writing. The model brush
(``accept_segment``) accepts the prediction under a brush stroke, piece by piece.
"""

from __future__ import annotations

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.core.painting import OnWrite, Rect, segment_pieces, unlabelled_value, write_where

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
    return _block(take, labels, mask)


def _block(take: np.ndarray, new: np.ndarray, old: np.ndarray
           ) -> tuple[Rect, np.ndarray] | None:
    """The bounding box of ``take`` and, inside it, ``new`` where taken and ``old`` elsewhere
    (in ``old``'s dtype); None when nothing is taken."""
    if not take.any():
        return None
    rows = np.flatnonzero(take.any(1))
    cols = np.flatnonzero(take.any(0))
    rect = Rect(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    sl = (slice(rect.y0, rect.y1), slice(rect.x0, rect.x1))
    return rect, np.where(take[sl], new[sl], old[sl]).astype(old.dtype)


def plan_accept_objects(labels: np.ndarray, classes: np.ndarray, instances: np.ndarray,
                        mode: str = "unlabelled") -> tuple[Rect, np.ndarray] | None:
    """Accepting an instance model's prediction into a packed label array (core/instances.py:
    class << 24 | id). ``classes`` is the predicted class per pixel, ``instances`` the predicted
    objects. "unlabelled": every predicted object that touches no object of the user and lies
    mostly on pixels not labelled yet becomes a new object (ids after the largest in use) on
    those pixels; predicted background fills the other pixels not labelled. "everywhere": the
    prediction replaces the labels. Returns the bounding box and its new values, or None."""
    from segstudio.core.instances import ID_BITS, ID_MASK, UNLABELLED_LABEL

    if mode not in ("unlabelled", "everywhere"):
        raise ValueError("objects are accepted 'unlabelled' or 'everywhere'")
    if labels.shape != classes.shape or labels.shape != instances.shape:
        raise ValueError("prediction and labels sizes differ")
    if mode == "everywhere":
        new = (classes.astype(np.uint32) << ID_BITS) | instances.astype(np.uint32)
    else:
        inst = instances.astype(np.int64)
        free = labels == UNLABELLED_LABEL
        user_ids = (labels & ID_MASK) != 0
        n = int(inst.max(initial=0)) + 1
        total = np.bincount(inst.ravel(), minlength=n)
        on_free = np.bincount(inst[free], minlength=n)
        on_objects = np.bincount(inst[user_ids], minlength=n)
        ok = (on_free * 2 > total) & (on_objects == 0)
        ok[0] = False
        base = int((labels & ID_MASK).max(initial=0))
        new_id = np.zeros(n, np.int64)
        new_id[ok] = base + np.arange(1, int(ok.sum()) + 1)
        obj = ok[inst] & free
        bg = free & (inst == 0) & (classes == 0)
        new = labels.copy()
        new[bg] = 0
        new[obj] = (classes[obj].astype(np.uint32) << ID_BITS) | new_id[inst[obj]].astype(
            np.uint32)
    return _block(new != labels, new, labels)


def accept_segment(mask: np.ndarray, labels: np.ndarray, ax: float, ay: float, bx: float,
                   by: float, size: int, preserve: bool = False, on_write: OnWrite = None
                   ) -> Rect | None:
    """The model brush: copy the predicted ``labels`` into ``mask`` under a ``size``-pixel
    brush moved from a to b (only into unlabelled pixels with ``preserve``). Pixels the
    prediction leaves unlabelled stay as they are. The changed box, or None."""
    if labels.shape != mask.shape:
        raise ValueError("prediction and mask sizes differ")
    # "Unlabelled" is every value >= unlabelled_value: 255 in a uint8 mask, class byte 255 (any
    # id) in a packed instance array. Comparing with UNLABELLED (255) alone copied a packed
    # prediction's "nothing here" into the mask and erased the user's labels under the brush.
    none = unlabelled_value(mask)
    out: Rect | None = None
    for box, foot in segment_pieces(ax, ay, bx, by, size, mask.shape):
        src = labels[box.slices]
        changed = write_where(mask, box, foot & (src < none), src, preserve, on_write)
        if changed is not None:
            out = changed if out is None else out.union(changed)
    return out
