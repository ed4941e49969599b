"""Painting operations: exact pixels, bounding boxes, the on_write contract. No Qt."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core import painting as P
from segstudio.core.classes import UNLABELLED
from segstudio.core.painting import Rect


def blank(h=64, w=80):
    return np.full((h, w), UNLABELLED, np.uint8)


def reference_capsule(shape, ax, ay, bx, by, size):
    """Brute force over the whole mask: pixel centres within size/2 of the segment."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    px, py = xx + 0.5, yy + 0.5
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    if l2 == 0:
        t = np.zeros_like(px)
    else:
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / l2, 0, 1)
    d2 = (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2
    r = size / 2
    return d2 <= r * r + 1e-9


def test_size_one_dab_is_the_pixel_under_the_point():
    m = blank()
    r = P.paint_dab(m, 10.9, 5.1, 1, 2)
    assert r == Rect(10, 5, 11, 6)
    assert m[5, 10] == 2
    assert np.count_nonzero(m != UNLABELLED) == 1


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 9, 15, 20])
def test_dab_shape_is_symmetric_and_size_wide(size):
    m = blank(80, 80)
    P.paint_dab(m, 40.3, 40.7, size, 1)
    painted = m == 1
    rows = np.flatnonzero(painted.any(1))
    cols = np.flatnonzero(painted.any(0))
    assert rows[-1] - rows[0] + 1 == size
    assert cols[-1] - cols[0] + 1 == size
    sub = painted[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    assert np.array_equal(sub, sub[::-1]) and np.array_equal(sub, sub[:, ::-1])
    assert np.array_equal(sub, sub.T)
    assert np.array_equal(sub, P.disk_footprint(size))


def test_dab_shape_does_not_depend_on_subpixel_position():
    a, b = blank(), blank()
    P.paint_dab(a, 20.01, 20.01, 7, 1)
    P.paint_dab(b, 20.99, 20.99, 7, 1)
    assert np.array_equal(a, b)


def test_segment_matches_brute_force_capsule_and_has_no_gaps():
    m = blank(200, 300)
    r = P.paint_segment(m, 5.2, 7.9, 290.4, 180.6, 5, 3)
    ax, ay = P.brush_center(5.2, 7.9, 5)
    bx, by = P.brush_center(290.4, 180.6, 5)
    ref = reference_capsule(m.shape, ax, ay, bx, by, 5)
    assert np.array_equal(m == 3, ref)
    ys, xs = np.nonzero(ref)
    assert r == Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # Continuity: every column between the end points holds painted pixels.
    painted_cols = np.flatnonzero((m == 3).any(0))
    assert np.array_equal(painted_cols, np.arange(painted_cols[0], painted_cols[-1] + 1))


def test_size_one_fast_segment_is_8_connected():
    import cv2

    m = blank(100, 100)
    P.paint_segment(m, 1.5, 1.5, 97.5, 40.5, 1, 0)
    painted = (m == 0).astype(np.uint8)
    n, _ = cv2.connectedComponents(painted, connectivity=8)
    assert n == 2  # background + one 8-connected line
    assert m[1, 1] == 0 and m[40, 97] == 0
    for x in range(1, 98):
        assert painted[:, x].any()


def test_segment_clipped_at_borders_and_outside_is_noop():
    m = blank(30, 30)
    r = P.paint_segment(m, -5, -5, 3, 3, 6, 1)
    assert r is not None and r.x0 == 0 and r.y0 == 0
    assert m[0, 0] == 1
    calls = []
    assert P.paint_segment(m, -50, -50, -40, -45, 6, 1, on_write=calls.append) is None
    assert calls == []


def test_on_write_is_called_before_writing_with_a_covering_box():
    m = blank(120, 120)
    seen = []

    def hook(rect):
        seen.append((rect, m[rect.slices].copy()))

    before = m.copy()
    P.paint_segment(m, 10, 10, 110, 100, 9, 2, on_write=hook)
    assert len(seen) >= 2  # long segments are painted in pieces
    changed = np.argwhere(m != before)
    for y, x in changed:
        assert any(r.y0 <= y < r.y1 and r.x0 <= x < r.x1 for r, _ in seen)
    # The hook ran before the write: the first box was still all unpainted.
    assert (seen[0][1] == UNLABELLED).all()


def test_preserve_labels_paints_only_unlabelled():
    m = blank()
    m[10:20, 10:20] = 1
    P.paint_dab(m, 15, 15, 21, 0, preserve=True)
    assert (m[10:20, 10:20] == 1).all()
    assert m[15, 5] == 0 and m[5, 15] == 0


def test_eraser_ignores_preserve():
    m = blank()
    m[10:20, 10:20] = 1
    P.paint_dab(m, 15.5, 15.5, 3, UNLABELLED, preserve=True)
    assert (m[14:17, 14:17] == UNLABELLED).all()
    assert m[12, 12] == 1


def test_no_change_returns_none_and_does_not_call_hook():
    m = blank()
    m[:] = 2
    calls = []
    assert P.paint_dab(m, 5, 5, 5, 2, on_write=calls.append) is None
    assert calls == []


def test_flood_fill_is_4_connected_and_exact():
    m = blank(50, 50)
    m[20, :] = 1          # a wall
    m[30:33, 30:33] = 1   # an island below
    m[10, 10] = 1
    m[11, 11] = 1         # diagonal pair: not a wall for 4-connectivity of the 255 region
    r = P.flood_fill(m, 0, 0, 2)
    assert r == Rect(0, 0, 50, 20)
    assert (m[:20][m[:20] != 1] == 2).all()
    assert (m[21:] != 2).all()
    # Filling the 1-valued wall does not leak into the island (not connected).
    P.flood_fill(m, 5, 20, 0)
    assert (m[20] == 0).all() and (m[30:33, 30:33] == 1).all()
    # The diagonal pair is two separate regions under 4-connectivity.
    P.flood_fill(m, 10, 10, 3)
    assert m[10, 10] == 3 and m[11, 11] == 1


def test_flood_fill_grows_beyond_the_first_window():
    m = blank(1300, 1500)
    m[:, 700] = 0  # wall
    r = P.flood_fill(m, 1400, 1200, 1)
    assert r == Rect(701, 0, 1500, 1300)
    assert (m[:, 701:] == 1).all() and (m[:, :700] == UNLABELLED).all()


def test_flood_fill_preserve_only_fills_unlabelled_regions():
    m = blank()
    m[:, 40:] = 1
    assert P.flood_fill(m, 50, 5, 0, preserve=True) is None
    assert (m[:, 40:] == 1).all()
    assert P.flood_fill(m, 5, 5, 0, preserve=True) is not None
    assert (m[:, :40] == 0).all()
    assert P.flood_fill(m, 5, 5, 0) is None  # same value: nothing to do
    assert P.flood_fill(m, 500, 5, 0) is None  # outside


def test_polygon_on_box_corners_fills_box_inclusive():
    m = blank()
    r = P.fill_polygon(m, [(10, 5), (30, 5), (30, 25), (10, 25)], 1)
    assert r == Rect(10, 5, 31, 26)
    assert (m[5:26, 10:31] == 1).all()
    assert np.count_nonzero(m == 1) == 21 * 21


def test_polygon_triangle_and_clipping_and_preserve():
    m = blank(40, 40)
    m[0:40, 0:5] = 2
    P.fill_polygon(m, [(-20, -20), (60, 20), (-20, 60)], 1, preserve=True)
    assert (m[:, 0:5] == 2).all()           # preserved
    assert m[20, 20] == 1 and m[20, 39] == 1
    assert m[0, 39] == UNLABELLED and m[39, 39] == UNLABELLED
    assert P.fill_polygon(m, [(1, 1), (5, 5)], 1) is None  # fewer than 3 vertices


def test_polygon_exact_against_point_in_polygon_interior():
    import cv2

    m = blank(100, 100)
    pts = [(10, 10), (90, 20), (60, 90), (20, 70)]
    P.fill_polygon(m, pts, 0)
    contour = np.array(pts, np.float32).reshape(-1, 1, 2)
    for y in range(100):
        for x in range(100):
            d = cv2.pointPolygonTest(contour, (float(x), float(y)), True)
            if d > 1.0:
                assert m[y, x] == 0
            elif d < -1.0:
                assert m[y, x] == UNLABELLED


def test_pick():
    m = blank()
    m[3, 4] = 7
    assert P.pick(m, 4, 3) == 7
    assert P.pick(m, 0, 0) is None
    assert P.pick(m, -1, 0) is None and P.pick(m, 80, 0) is None


def test_rect_helpers():
    a = Rect(0, 0, 10, 10)
    assert a.union(Rect(5, 5, 20, 12)) == Rect(0, 0, 20, 12)
    assert a.union(None) == a
    assert Rect(3, 3, 3, 8).empty
    assert P.union_rects([None, Rect(1, 1, 2, 2), Rect(5, 0, 6, 1)]) == Rect(1, 0, 6, 2)
    assert a.area == 100


def test_open_unlabelled_fill_over_the_limit_is_refused_and_writes_nothing():
    m = np.full((100, 100), UNLABELLED, np.uint8)
    m[:, 95] = 0  # the left 95 % is open to the edges
    before = m.copy()
    with pytest.raises(P.OpenFillError) as err:
        P.flood_fill(m, 5, 5, 1, max_open_fraction=0.1)
    assert "95%" in str(err.value) and np.array_equal(m, before)
    # A small corner area reaching the edge is under the limit; without a limit anything goes.
    m[:, 5] = 0
    assert P.flood_fill(m, 1, 1, 1, max_open_fraction=0.1) is not None
    assert P.flood_fill(m, 50, 50, 1) is not None and m[50, 50] == 1
