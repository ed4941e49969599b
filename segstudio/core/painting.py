"""Painting operations on an index mask: brush dab and stroke segment, flood fill, polygon fill.

Every operation touches only a bounding box of the mask and returns that box as a ``Rect`` (or
``None`` when it changed nothing). Before it writes a single pixel it calls ``on_write(rect)``
with the box it is about to change, so an undo history (``segstudio.core.history``) or an
autosave snapshot can save the old values first. The calls for one operation may be several
(a long segment is painted in pieces); each box is reported before it is written.

Coordinates: ``x`` is the column, ``y`` the row. Continuous image coordinates put pixel
``(col, row)`` on the square ``[col, col + 1) x [row, row + 1)``, its centre at
``(col + 0.5, row + 0.5)``. The brush is a digital disk: a pixel is painted when its centre
lies within ``size / 2`` of the brush centre (for a segment: of the segment between the two
centres, so a stroke is the union of the dabs along it and a fast drag leaves no gaps). The
centre snaps to the pixel centre for odd sizes and to the nearest pixel corner for even sizes,
so a dab has the same shape wherever it lands and ``size`` is its width in pixels.

"Preserve labels" writes only into unlabelled pixels (value 255). The eraser is painting with
255; preserving labels while erasing would erase nothing, so erasing ignores it.

The array may be a uint8 index mask or the packed uint32 label array of an instance project
(``segstudio.core.instances``: class << 24 | object id); the operations only compare and write
values, so both work alike. "Unlabelled" is then every value whose class byte is 255
(``unlabelled_value``). ``only`` restricts a write to the pixels a predicate selects (the
instance eraser erases one object's pixels only).

numpy only (and cv2 for flood and polygon fill); no Qt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import UNLABELLED_LABEL
from segstudio.errors import SegStudioError

# A fill of unlabelled pixels that reaches the image's edge is not enclosed by any stroke: on a
# sparsely labelled image it would label nearly everything (a new user clicked one cell and
# got the whole image). Past this share of the image such a fill needs a confirming Shift+click.
OPEN_FILL_FRACTION = 0.10


class OpenFillError(SegStudioError):
    """A fill of an unenclosed unlabelled area larger than the limit was not made."""

    def __init__(self, fraction: float) -> None:
        super().__init__(
            f"Not filled: this unlabelled area is not enclosed (it reaches the image edge) and "
            f"covers {fraction:.0%} of the image. Outline the object with the brush or polygon "
            f"first, or Shift+click to fill it anyway.")
        self.fraction = fraction


class Rect(NamedTuple):
    """A half-open box of pixels: columns ``x0..x1-1``, rows ``y0..y1-1``."""
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0

    @property
    def area(self) -> int:
        return 0 if self.empty else self.width * self.height

    @property
    def slices(self) -> tuple[slice, slice]:
        """``mask[rect.slices]`` is the box's view of a mask."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def union(self, other: Rect | None) -> Rect:
        if other is None or other.empty:
            return self
        if self.empty:
            return other
        return Rect(min(self.x0, other.x0), min(self.y0, other.y0),
                    max(self.x1, other.x1), max(self.y1, other.y1))

    def intersect(self, other: Rect) -> Rect:
        return Rect(max(self.x0, other.x0), max(self.y0, other.y0),
                    min(self.x1, other.x1), min(self.y1, other.y1))


OnWrite = Callable[[Rect], None] | None
# Given the box's view of the array, which of its pixels a write may change.
Only = Callable[[np.ndarray], np.ndarray] | None


def unlabelled_value(mask: np.ndarray) -> int:
    """The smallest "not labelled" value of ``mask``'s kind: 255 in a uint8 mask, class 255
    (with any id) in a packed instance label array; every value >= it is unlabelled."""
    return UNLABELLED if mask.dtype == np.uint8 else UNLABELLED_LABEL


def union_rects(rects: Iterable[Rect | None]) -> Rect | None:
    out: Rect | None = None
    for r in rects:
        if r is None or r.empty:
            continue
        out = r if out is None else out.union(r)
    return out


def clip_rect(rect: Rect, shape: tuple[int, ...]) -> Rect:
    return rect.intersect(Rect(0, 0, int(shape[1]), int(shape[0])))


# --------------------------------------------------------------------------- brush

def brush_center(x: float, y: float, size: int) -> tuple[float, float]:
    """Where a brush of ``size`` pixels placed at continuous point (x, y) is centred: the pixel
    centre under the point for odd sizes, the nearest pixel corner for even sizes."""
    if int(size) % 2:
        return math.floor(x) + 0.5, math.floor(y) + 0.5
    return float(math.floor(x + 0.5)), float(math.floor(y + 0.5))


def capsule_footprint(ax: float, ay: float, bx: float, by: float, radius: float,
                      box: Rect) -> np.ndarray:
    """Boolean array over ``box``: pixels whose centre lies within ``radius`` of segment a-b."""
    px = np.arange(box.x0, box.x1, dtype=np.float64) + 0.5 - ax
    py = np.arange(box.y0, box.y1, dtype=np.float64) + 0.5 - ay
    r2 = radius * radius + 1e-9
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    if l2 == 0.0:
        return (py * py)[:, None] + (px * px)[None, :] <= r2
    t = (py[:, None] * dy + px[None, :] * dx) * (1.0 / l2)
    np.clip(t, 0.0, 1.0, out=t)
    qx = px[None, :] - t * dx
    qy = py[:, None] - t * dy
    return qx * qx + qy * qy <= r2


def disk_footprint(size: int) -> np.ndarray:
    """The dab of a brush of ``size`` pixels as a boolean ``size x size`` array (for cursors)."""
    size = max(1, int(size))
    c = size / 2.0
    return capsule_footprint(c, c, c, c, size / 2.0, Rect(0, 0, size, size))


def _capsule_box(ax: float, ay: float, bx: float, by: float, r: float,
                 shape: tuple[int, ...]) -> Rect:
    x0 = math.floor(min(ax, bx) - r)
    y0 = math.floor(min(ay, by) - r)
    x1 = math.ceil(max(ax, bx) + r)
    y1 = math.ceil(max(ay, by) + r)
    return clip_rect(Rect(x0, y0, x1, y1), shape)


def write_where(mask: np.ndarray, box: Rect, where: np.ndarray, value: int | np.ndarray,
                preserve: bool = False, on_write: OnWrite = None, exact: bool = False,
                only: Only = None) -> Rect | None:
    """Set ``mask[box][where] = value`` (only where unlabelled if ``preserve``, only where
    ``only`` selects); shrink the box to what actually changes and report it before writing.
    ``value`` is one value, or an array over the box (the model brush copies a prediction).
    ``exact``: the caller guarantees that ``where`` holds only pixels that change and ``box``
    is their tight bounding box. Every tool's write goes through here (one home for
    "preserve labels" and the undo report)."""
    sub = mask[box.slices]
    if exact:
        if on_write is not None:
            on_write(box)
        sub[where] = value if np.isscalar(value) else np.asarray(value)[where]
        return box
    unl = unlabelled_value(mask)
    if preserve and not (isinstance(value, (int, np.integer)) and int(value) >= unl):
        where = where & (sub >= unl)  # the eraser (value "unlabelled") ignores preserve
    if only is not None:
        where = where & only(sub)
    where = where & (sub != value)
    rows = np.flatnonzero(where.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(where.any(axis=0))
    ry0, ry1, rx0, rx1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    changed = Rect(box.x0 + rx0, box.y0 + ry0, box.x0 + rx1, box.y0 + ry1)
    if on_write is not None:
        on_write(changed)
    w = where[ry0:ry1, rx0:rx1]
    if np.isscalar(value):
        sub[ry0:ry1, rx0:rx1][w] = value
    else:
        sub[ry0:ry1, rx0:rx1][w] = np.asarray(value)[ry0:ry1, rx0:rx1][w]
    return changed



def paint_segment(mask: np.ndarray, ax: float, ay: float, bx: float, by: float, size: int,
                  value: int, preserve: bool = False, on_write: OnWrite = None,
                  snap: bool = True, only: Only = None) -> Rect | None:
    """Paint the capsule of a ``size``-pixel brush moved from (ax, ay) to (bx, by).

    With ``snap`` (the default) both points are first snapped with ``brush_center``. Long
    segments are painted in pieces so the work stays proportional to the painted area."""
    out: Rect | None = None
    for box, foot in segment_pieces(ax, ay, bx, by, size, mask.shape, snap):
        changed = write_where(mask, box, foot, value, preserve, on_write, only=only)
        if changed is not None:
            out = changed if out is None else out.union(changed)
    return out


def segment_pieces(ax: float, ay: float, bx: float, by: float, size: int,
                   shape: tuple[int, ...], snap: bool = True
                   ) -> Iterator[tuple[Rect, np.ndarray]]:
    """The pixels a ``size``-pixel brush moved from a to b covers, as (box, boolean footprint
    over the box) pieces, each at most about the brush wide (the work stays proportional to
    the painted area). Every brush-shaped tool (brush, superpixel, model brush) uses it."""
    size = max(1, int(size))
    if snap:
        ax, ay = brush_center(ax, ay, size)
        bx, by = brush_center(bx, by, size)
    r = size / 2.0
    length = math.hypot(bx - ax, by - ay)
    piece = max(2.0 * r, 32.0)
    n = max(1, int(math.ceil(length / piece)))
    for i in range(n):
        t0, t1 = i / n, (i + 1) / n
        sx, sy = ax + (bx - ax) * t0, ay + (by - ay) * t0
        ex, ey = ax + (bx - ax) * t1, ay + (by - ay) * t1
        box = _capsule_box(sx, sy, ex, ey, r, shape)
        if not box.empty:
            yield box, capsule_footprint(sx, sy, ex, ey, r, box)


def paint_dab(mask: np.ndarray, x: float, y: float, size: int, value: int,
              preserve: bool = False, on_write: OnWrite = None, only: Only = None
              ) -> Rect | None:
    """One dab of a ``size``-pixel round brush at continuous point (x, y)."""
    return paint_segment(mask, x, y, x, y, size, value, preserve, on_write, only=only)


# --------------------------------------------------------------------------- fills

# A fill's result for one window: its cv2 mask over the window (uint8) and the fill's bounding
# box in window coordinates (x, y, w, h); None when the seed cannot be filled.
WindowFill = Callable[[Rect], tuple[np.ndarray, Sequence[int]] | None]


def grown_window_fill(shape: tuple[int, ...], x: int, y: int, fill: WindowFill,
                      start_window: int = 512) -> tuple[Rect, np.ndarray] | None:
    """Run ``fill`` in a window around the seed (x, y), growing the window 4x while the
    region reaches one of its inner edges, so a small region costs little even in a huge
    image. The region's tight box and the fill's uint8 mask over it; None off the image or
    when ``fill`` says the seed cannot be filled. (Mask fill and magic wand both use it.)"""
    h, w = int(shape[0]), int(shape[1])
    if not (0 <= x < w and 0 <= y < h):
        return None
    half = max(16, start_window // 2)
    while True:
        win = Rect(max(0, x - half), max(0, y - half), min(w, x + half), min(h, y + half))
        got = fill(win)
        if got is None:
            return None
        region, (bx, by, bw, bh) = got
        # The fill's bounding box tells whether it reached an inner edge of the window.
        reaches = ((win.x0 > 0 and bx == 0) or (win.x1 < w and bx + bw == win.width)
                   or (win.y0 > 0 and by == 0) or (win.y1 < h and by + bh == win.height))
        if not reaches:
            break
        half *= 4
    box = Rect(win.x0 + bx, win.y0 + by, win.x0 + bx + bw, win.y0 + by + bh)
    return box, region[by:by + bh, bx:bx + bw]


def flood_region(mask: np.ndarray, x: int, y: int,
                 start_window: int = 512) -> tuple[Rect, np.ndarray] | None:
    """The 4-connected region of pixels equal to ``mask[y, x]`` that contains (x, y), as its
    bounding box and a boolean array over that box (``grown_window_fill``)."""
    import cv2

    def fill(win: Rect) -> tuple[np.ndarray, Sequence[int]]:
        sub = mask[win.slices]
        if mask.dtype != np.uint8:  # cv2 fills 8-bit or float images: fill "equals the seed"
            sub = (sub == mask[y, x]).view(np.uint8)
        elif not sub.flags.c_contiguous and sub.strides[1] != 1:  # pragma: no cover
            sub = np.ascontiguousarray(sub)
        ff = np.zeros((win.height + 2, win.width + 2), np.uint8)
        _, _, _, bbox = cv2.floodFill(sub, ff, (x - win.x0, y - win.y0), 0, 0, 0,
                                      4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
        return ff[1:-1, 1:-1], bbox

    found = grown_window_fill(mask.shape, int(x), int(y), fill, start_window)
    if found is None:
        return None
    box, region = found
    return box, region.view(np.bool_)  # 0/1 bytes: a bool view


def flood_fill(mask: np.ndarray, x: int, y: int, value: int, preserve: bool = False,
               on_write: OnWrite = None, max_open_fraction: float | None = None) -> Rect | None:
    """Fill the 4-connected region of same-valued pixels containing (x, y) with ``value``.
    With ``preserve`` only an unlabelled region is filled. With ``max_open_fraction`` an
    unlabelled region that reaches the image edge and covers more than that share of the image
    is left alone and OpenFillError says so (nothing is written)."""
    x, y = int(x), int(y)
    h, w = mask.shape
    if not (0 <= x < w and 0 <= y < h):
        return None
    old = int(mask[y, x])
    unl = unlabelled_value(mask)
    if old == value or (preserve and old < unl and value < unl):
        return None
    found = flood_region(mask, x, y)
    if found is None:
        return None
    box, region = found
    if max_open_fraction is not None and old >= unl:
        touches_edge = box.x0 == 0 or box.y0 == 0 or box.x1 == w or box.y1 == h
        fraction = int(np.count_nonzero(region)) / float(h * w)
        if touches_edge and fraction > max_open_fraction:
            raise OpenFillError(fraction)
    # Every region pixel holds ``old`` != value, and the box is tight: no need to re-check.
    return write_where(mask, box, region, value, False, on_write, exact=True)


def fill_polygon(mask: np.ndarray, points: Sequence[tuple[int, int]], value: int,
                 preserve: bool = False, on_write: OnWrite = None) -> Rect | None:
    """Fill the polygon whose vertices are the pixels ``points`` [(col, row), ...], boundary
    pixels included (a polygon clicked on the corners of a box fills the box inclusive).
    Needs at least 3 vertices. Vertices outside the mask are fine; the fill is clipped."""
    import cv2

    if len(points) < 3:
        return None
    pts = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    box = clip_rect(Rect(int(pts[:, 0].min()), int(pts[:, 1].min()),
                         int(pts[:, 0].max()) + 1, int(pts[:, 1].max()) + 1), mask.shape)
    if box.empty:
        return None
    local = (pts - np.array([box.x0, box.y0])).astype(np.int32)
    big = np.abs(local).max() > (1 << 28)
    if big:  # pragma: no cover - absurd coordinates; cv2 works in 32-bit fixed point
        return None
    tmp = np.zeros((box.height, box.width), np.uint8)
    cv2.fillPoly(tmp, [local.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8)
    cv2.polylines(tmp, [local.reshape(-1, 1, 2)], True, 1, lineType=cv2.LINE_8)
    return write_where(mask, box, tmp.astype(bool), value, preserve, on_write)


def pick(mask: np.ndarray, x: int, y: int) -> int | None:
    """The class at pixel (x, y): an index, or None for unlabelled or outside the mask."""
    h, w = mask.shape
    if not (0 <= x < w and 0 <= y < h):
        return None
    v = int(mask[y, x])
    return None if v == UNLABELLED else v
