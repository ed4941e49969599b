"""painting.write_where with an array value, and segment_pieces (the brush footprint every
brush-shaped tool uses), against brute-force oracles. No Qt."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core import painting as P
from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import UNLABELLED_LABEL, label_value
from segstudio.core.painting import Rect


def capsule(shape, ax, ay, bx, by, size):
    """Brute force: pixel centres within size/2 of the segment a-b."""
    h, w = shape
    out = np.zeros((h, w), bool)
    r2 = (size / 2) ** 2 + 1e-9
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    for y in range(h):
        for x in range(w):
            px, py = x + 0.5, y + 0.5
            t = 0.0 if l2 == 0 else min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / l2))
            qx, qy = px - ax - t * dx, py - ay - t * dy
            out[y, x] = qx * qx + qy * qy <= r2
    return out


def pieces_union(shape, pieces):
    out = np.zeros(shape, bool)
    for box, foot in pieces:
        assert not box.empty
        assert 0 <= box.x0 and 0 <= box.y0 and box.x1 <= shape[1] and box.y1 <= shape[0]
        assert foot.dtype == np.bool_ and foot.shape == (box.height, box.width)
        out[box.slices] |= foot
    return out


SEGMENTS = [
    (10.3, 12.8, 10.3, 12.8, 1),
    (3.2, 4.4, 95.7, 70.1, 1),
    (3.2, 4.4, 95.7, 70.1, 4),
    (-15, 20, 130, 25, 9),
    (50, -30, 52, 100, 16),
    (40.5, 40.5, 41.5, 40.5, 33),
    (-50, -50, -40, -45, 6),   # entirely outside
]


@pytest.mark.parametrize("seg", SEGMENTS)
@pytest.mark.parametrize("snap", [True, False])
def test_pieces_union_is_the_capsule_and_the_paint_segment_footprint(seg, snap):
    shape = (75, 100)
    ax, ay, bx, by, size = seg
    pieces = list(P.segment_pieces(ax, ay, bx, by, size, shape, snap))
    union = pieces_union(shape, pieces)
    if snap:
        (ax, ay), (bx, by) = P.brush_center(ax, ay, size), P.brush_center(bx, by, size)
    assert np.array_equal(union, capsule(shape, ax, ay, bx, by, size))
    scratch = np.full(shape, UNLABELLED, np.uint8)
    P.paint_segment(scratch, *seg, 2, snap=snap)
    assert np.array_equal(union, scratch == 2)
    # each piece is about the brush wide: the work stays proportional to the painted area
    for box, _ in pieces:
        assert max(box.width, box.height) <= max(size, 32) + size + 2


def test_long_segment_is_cut_in_many_pieces():
    pieces = list(P.segment_pieces(0, 5, 1000, 5, 3, (10, 1000)))
    assert len(pieces) >= 1000 // 40
    union = pieces_union((10, 1000), pieces)
    assert union[4:7].all() and not union[:4].any() and not union[7:].any()  # no gaps


@pytest.mark.parametrize("dtype", [np.uint8, np.uint32])
@pytest.mark.parametrize("preserve", [False, True])
def test_write_where_with_an_array_value(dtype, preserve):
    rng = np.random.default_rng(int(preserve) + (dtype == np.uint32))
    h, w = 30, 40
    unl = UNLABELLED if dtype == np.uint8 else UNLABELLED_LABEL
    vals = [0, 1, 2] if dtype == np.uint8 else [label_value(0), label_value(1, 3),
                                                label_value(2, 5)]
    mask = np.full((h, w), unl, dtype)
    lab = rng.random((h, w)) < 0.4
    mask[lab] = rng.choice(vals, size=int(lab.sum()))
    before = mask.copy()
    box = Rect(5, 7, 33, 26)
    where = rng.random((box.height, box.width)) < 0.5
    value = rng.choice(vals, size=(box.height, box.width)).astype(dtype)
    seen: list[tuple[Rect, np.ndarray]] = []
    r = P.write_where(mask, box, where, value, preserve,
                      on_write=lambda rect: seen.append((rect, mask.copy())))
    sub = before[box.slices]
    take = where & ((sub >= unl) if preserve else True)
    want = before.copy()
    want[box.slices][take] = value[take]
    assert np.array_equal(mask, want)
    changed = want != before
    ys, xs = np.nonzero(changed)
    tight = Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert r == tight
    assert [s[0] for s in seen] == [tight]
    assert np.array_equal(seen[0][1], before)  # reported before writing
    if preserve:
        assert np.array_equal(mask[lab], before[lab])


def test_write_where_array_value_nothing_to_change_and_exact():
    mask = np.full((10, 12), UNLABELLED, np.uint8)
    mask[2:5, 3:7] = 1
    calls: list[Rect] = []
    box = Rect(3, 2, 7, 5)
    same = np.ones((3, 4), np.uint8)
    assert P.write_where(mask, box, np.ones((3, 4), bool), same, on_write=calls.append) is None
    assert calls == []
    # exact: the caller vouches that every ``where`` pixel changes and the box is tight
    before = mask.copy()
    value = np.arange(12, dtype=np.uint8).reshape(3, 4) + 10
    where = np.ones((3, 4), bool)
    where[1, 2] = False
    assert P.write_where(mask, box, where, value, exact=True, on_write=calls.append) == box
    assert calls == [box]
    want = before.copy()
    want[box.slices][where] = value[where]
    assert np.array_equal(mask, want)


def test_write_where_scalar_eraser_ignores_preserve_but_array_values_do_not():
    mask = np.full((6, 6), 1, np.uint8)
    box = Rect(0, 0, 6, 6)
    where = np.ones((6, 6), bool)
    m = mask.copy()
    P.write_where(m, box, where, UNLABELLED, preserve=True)
    assert (m == UNLABELLED).all()
    m = mask.copy()
    assert P.write_where(m, box, where, np.full((6, 6), 2, np.uint8), preserve=True) is None
    assert (m == 1).all()
