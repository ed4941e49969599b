"""Clipping imported polygons to (a little more than) the image before they are rasterised.

A hostile or buggy annotation may place a vertex at x = 1e8 or 1e12. Rasterisers then either
allocate an array as long as the edge (the COCO port: > 8 GB at 1e8, MemoryError at 1e12) or
cast the coordinates to int32, where 1e12 wraps around silently (a triangle covering the image
became one pixel). Clipping the polygon, in float64, to a box a couple of pixels larger than
the image keeps every pixel of the image exactly as the unclipped polygon covers it (the
polygon's part inside the box is the same polygon there) while every coordinate becomes
small. The new edges run along the box, outside the image, so they paint nothing.

Clamping the vertices instead would be wrong: it moves the edges that run from a vertex inside
the image to one far outside, and so changes which pixels are covered.

Sutherland-Hodgman against the four sides of the box, vectorised over the vertices; correct
for any polygon (convex or not) against a convex box. A concave polygon may gain zero-width
"bridges" along the box's sides, which lie outside the image.
"""

from __future__ import annotations

import numpy as np

# Beyond this, differences of two coordinates could overflow float64 arithmetic in the
# clipping; no image is a billionth of it. Importers refuse such a shape with a note.
MAX_COORDINATE = 1e15


def clip_polygon(points: np.ndarray, x0: float, y0: float, x1: float,
                 y1: float) -> np.ndarray:
    """The part of the polygon ``points`` ((n, 2) float, x then y) inside the box
    [x0, x1] x [y0, y1], as an (m, 2) float64 array; the input itself (unchanged) when every
    vertex already lies in the box, and an empty array when nothing is left."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if p.size == 0:
        return p
    inside = ((p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)).all()
    if inside:
        return p
    for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True),
                                    (1, y1, False)):
        p = _clip_side(p, axis, bound, keep_above)
        if len(p) == 0:
            break
    return p


def _clip_side(p: np.ndarray, axis: int, bound: float, keep_above: bool) -> np.ndarray:
    """One Sutherland-Hodgman pass: keep the half-plane coordinate[axis] >= bound (or <=)."""
    q = np.roll(p, -1, axis=0)          # the edge from p[i] to q[i] = p[i + 1]
    a, b = p[:, axis], q[:, axis]
    in_p = a >= bound if keep_above else a <= bound
    in_q = b >= bound if keep_above else b <= bound
    crossing = in_p != in_q
    # Where an edge crosses the side (float64: at 1e12 the error is ~1e-4 pixel).
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(crossing, (bound - a) / np.where(crossing, b - a, 1.0), 0.0)
    x = p + t[:, None] * (q - p)
    x[:, axis] = bound
    out = np.empty((2 * len(p), 2))
    keep = np.zeros(2 * len(p), bool)
    out[0::2], keep[0::2] = x, crossing     # an edge leaving or entering: its crossing point
    out[1::2], keep[1::2] = q, in_q         # then its end, when that is inside
    return out[keep]
