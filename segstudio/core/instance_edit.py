"""Editing objects in a packed instance label array (``segstudio.core.instances``: the class in
the high 8 bits, the object id in the low 24): find an object, its bounding box, rewrite all its
pixels (delete, merge, erase), the largest id in use.

Like ``segstudio.core.painting``, every write reports its box to ``on_write`` first, so the
undo history and the autosave snapshot keep the old values. Whole-image scans go in bands of
about a megapixel (no full-size temporaries: a 16384 x 16384 label array is 1 GiB).

numpy only; no Qt.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import ID_BITS, ID_MASK
from segstudio.core.painting import OnWrite, Rect

BAND_PIXELS = 1 << 20


def _bands(labels: np.ndarray) -> tuple[range, int]:
    """Start rows of the bands and their height."""
    step = max(1, BAND_PIXELS // max(1, labels.shape[1]))
    return range(0, labels.shape[0], step), step


def object_at(labels: np.ndarray, x: int, y: int) -> tuple[int, int]:
    """(object id, class) of pixel (x, y); (0, 255) outside the array. Id 0 = no object."""
    h, w = labels.shape
    if not (0 <= x < w and 0 <= y < h):
        return 0, UNLABELLED
    v = int(labels[y, x])
    return v & ID_MASK, v >> ID_BITS


def max_object_id(labels: np.ndarray) -> int:
    """The largest object id in use (0 when there is none)."""
    top = 0
    starts, step = _bands(labels)
    for r0 in starts:
        band = labels[r0:r0 + step]
        if band.size:
            top = max(top, int((band & ID_MASK).max()))
    return top


def has_id(object_id: int) -> Callable[[np.ndarray], np.ndarray]:
    """A painting ``only`` predicate: the pixels of object ``object_id``."""
    oid = np.uint32(object_id)
    mask = np.uint32(ID_MASK)
    return lambda sub: (sub & mask) == oid


def object_box(labels: np.ndarray, object_id: int) -> Rect | None:
    """The bounding box of every pixel of ``object_id`` (an object may be in pieces), or None."""
    if object_id <= 0:
        return None
    starts, step = _bands(labels)
    y0 = y1 = -1
    x0, x1 = labels.shape[1], -1
    for r0 in starts:
        hit = (labels[r0:r0 + step] & ID_MASK) == object_id
        rows = np.flatnonzero(hit.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(hit.any(axis=0))
        if y0 < 0:
            y0 = r0 + int(rows[0])
        y1 = r0 + int(rows[-1]) + 1
        x0, x1 = min(x0, int(cols[0])), max(x1, int(cols[-1]) + 1)
    if y0 < 0:
        return None
    return Rect(x0, y0, x1, y1)


def relabel_object(labels: np.ndarray, object_id: int, value: int,
                   on_write: OnWrite = None) -> Rect | None:
    """Set every pixel of ``object_id`` to the packed ``value``; returns the box written."""
    box = object_box(labels, object_id)
    if box is None:
        return None
    if on_write is not None:
        on_write(box)
    sub = labels[box.slices]
    sub[(sub & ID_MASK) == object_id] = value
    return box
