"""Simulated user scribbles from a full ground-truth mask, for the sparse-label study
(benchmarks/quality.py, docs/quality.md).

A user labelling sparsely draws short strokes through the middle of regions and keeps away from
boundaries. So do we: strokes follow the skeleton of every region of every class (Zhang-Suen
thinning), drawn with a small round brush that never leaves the region; then
strokes are kept in randomly chosen grid cells until about ``fraction`` of the labelled pixels
are covered, always keeping at least one cell of each class the image holds.
"""

from __future__ import annotations

import numpy as np

from segstudio.core.classes import UNLABELLED

MAX_BRUSH_RADIUS = 4


def _disk(radius: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _shift(a: np.ndarray, dy: int, dx: int, fill: bool | int) -> np.ndarray:
    """out[y, x] = a[y + dy, x + dx], ``fill`` outside."""
    out = np.full_like(a, fill)
    H, W = a.shape
    out[max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)] = \
        a[max(0, dy):H - max(0, -dy), max(0, dx):W - max(0, -dx)]
    return out


# Zhang-Suen neighbour order P2..P9: N, NE, E, SE, S, SW, W, NW.
_NEIGHBOURS = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]


def skeleton(labels: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of every region of a label image at once (a neighbour counts as
    inside when it has the same label); UNLABELLED pixels are outside. Returns bool, the
    one-pixel-wide centre lines of all regions."""
    alive = labels != UNLABELLED
    same = [_shift(labels, dy, dx, UNLABELLED) == labels for dy, dx in _NEIGHBOURS]
    while True:
        changed = False
        for sub in (0, 1):
            p = [_shift(alive, dy, dx, False) & s
                 for (dy, dx), s in zip(_NEIGHBOURS, same, strict=False)]
            b = sum(v.astype(np.uint8) for v in p)
            a = sum((~p[i] & p[(i + 1) % 8]).astype(np.uint8) for i in range(8))
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            if sub == 0:
                cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                cond = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            delete = alive & (b >= 2) & (b <= 6) & (a == 1) & cond
            if delete.any():
                alive &= ~delete
                changed = True
        if not changed:
            return alive


def class_strokes(mask: np.ndarray, radius: int, axis: np.ndarray | None = None) -> np.ndarray:
    """uint8 mask: every class's medial-axis strokes drawn with a brush of ``radius``, clipped
    to the class's own region; UNLABELLED elsewhere."""
    import cv2

    out = np.full(mask.shape, UNLABELLED, np.uint8)
    axis = skeleton(mask) if axis is None else axis
    brush = _disk(radius)
    for k in np.unique(mask[axis]):
        stroke = cv2.dilate((axis & (mask == k)).astype(np.uint8), brush).astype(bool)
        out[stroke & (mask == k)] = k
    return out


def simulate_scribbles(mask: np.ndarray, fraction: float = 0.05, seed: int = 0,
                       cell: int = 32) -> np.ndarray:
    """A sparse copy of ``mask`` (255 = not labelled) holding strokes on about ``fraction`` of
    its labelled pixels, every class present in ``mask`` keeping at least one stroke piece."""
    rng = np.random.default_rng(seed)
    labelled = int(np.count_nonzero(mask != UNLABELLED))
    if labelled == 0:
        return np.full(mask.shape, UNLABELLED, np.uint8)
    target = fraction * labelled
    axis = skeleton(mask)
    strokes = class_strokes(mask, 1, axis)
    radius = 1
    # Thin regions give short medial axes: widen the brush (within the regions) until the
    # strokes could cover the target, as a user would pick a bigger brush.
    while np.count_nonzero(strokes != UNLABELLED) < target and radius < MAX_BRUSH_RADIUS:
        radius += 1
        strokes = class_strokes(mask, radius, axis)
    have = np.count_nonzero(strokes != UNLABELLED)
    if have <= target:
        return strokes
    H, W = mask.shape
    gy, gx = -(-H // cell), -(-W // cell)
    cell_id = (np.arange(H)[:, None] // cell) * gx + (np.arange(W)[None, :] // cell)
    stroked = strokes != UNLABELLED
    per_cell = np.bincount(cell_id[stroked], minlength=gy * gx)
    order = rng.permutation(gy * gx)
    keep = np.zeros(gy * gx, bool)
    # One cell per class first (the cell with most of that class's strokes), then random cells
    # until the target is reached.
    for k in np.unique(strokes[stroked]):
        counts = np.bincount(cell_id[strokes == k], minlength=gy * gx)
        keep[int(counts.argmax())] = True
    total = int(per_cell[keep].sum())
    for c in order:
        if total >= target:
            break
        if not keep[c] and per_cell[c]:
            keep[c] = True
            total += int(per_cell[c])
    out = strokes.copy()
    out[~keep[cell_id]] = UNLABELLED
    return out
