"""The model brush (core/accept.py accept_segment) against the brush footprint of
core.painting.paint_segment. No Qt."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core import painting as P
from segstudio.core.accept import accept_segment
from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import UNLABELLED_LABEL, label_value
from segstudio.core.painting import Rect

H, W = 70, 90


def footprint(shape, ax, ay, bx, by, size):
    scratch = np.full(shape, UNLABELLED, np.uint8)
    P.paint_segment(scratch, ax, ay, bx, by, size, 1)
    return scratch == 1


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    mask = np.full((H, W), UNLABELLED, np.uint8)
    lab = rng.random((H, W)) < 0.3
    mask[lab] = rng.integers(0, 3, size=int(lab.sum()))
    pred = rng.integers(0, 4, size=(H, W)).astype(np.uint8)
    pred[rng.random((H, W)) < 0.2] = UNLABELLED  # the model says nothing there
    return mask, pred


STROKES = [
    (10.2, 10.7, 10.2, 10.7, 1),
    (5.5, 60.1, 85.3, 4.9, 7),
    (-20, 30, 120, 35, 10),
    (44, 30, 47, 33, 25),
]


def expected(mask, pred, stroke, preserve):
    foot = footprint(mask.shape, *stroke)
    take = foot & (pred != UNLABELLED)
    if preserve:
        take &= mask == UNLABELLED
    out = mask.copy()
    out[take] = pred[take]
    return out


@pytest.mark.parametrize("preserve", [False, True])
@pytest.mark.parametrize("stroke", STROKES)
def test_only_pixels_under_the_brush_take_the_prediction(case, stroke, preserve):
    mask, pred = case
    before = mask.copy()
    seen: list[tuple[Rect, np.ndarray]] = []
    r = accept_segment(mask, pred, *stroke, preserve=preserve,
                       on_write=lambda rect: seen.append((rect, mask.copy())))
    want = expected(before, pred, stroke, preserve)
    assert np.array_equal(mask, want)
    changed = want != before
    assert changed.any()
    ys, xs = np.nonzero(changed)
    assert r == Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # every change was reported before it was made
    covered = np.zeros(mask.shape, bool)
    for rect, at_call in seen:
        assert not (at_call != before)[~covered].any()
        covered[rect.slices] = True
    assert not changed[~covered].any()


def test_prediction_of_none_changes_nothing(case):
    mask, _ = case
    before = mask.copy()
    calls: list[Rect] = []
    none = np.full((H, W), UNLABELLED, np.uint8)
    assert accept_segment(mask, none, 5, 5, 80, 60, 15, on_write=calls.append) is None
    assert calls == [] and np.array_equal(mask, before)
    # a prediction equal to the mask changes nothing either
    assert accept_segment(mask, mask.copy(), 5, 5, 80, 60, 15, on_write=calls.append) is None
    assert calls == []


def test_preserve_keeps_every_labelled_pixel(case):
    mask, pred = case
    before = mask.copy()
    accept_segment(mask, pred, 0, 0, W, H, 40, preserve=True)
    labelled = before != UNLABELLED
    assert np.array_equal(mask[labelled], before[labelled])
    assert (mask != before).any()


def test_shape_mismatch_raises(case):
    mask, pred = case
    with pytest.raises(ValueError):
        accept_segment(mask, pred[:, :-1], 1, 1, 5, 5, 3)
    with pytest.raises(ValueError):
        accept_segment(mask, pred.T.copy(), 1, 1, 5, 5, 3)


def test_packed_instance_labels():
    # On packed labels (core/instances.py) "the model says nothing" is class 255 with any id:
    # those pixels must stay as they are, like 255 in a uint8 prediction.
    rng = np.random.default_rng(1)
    mask = np.full((H, W), UNLABELLED_LABEL, np.uint32)
    obj = rng.random((H, W)) < 0.3
    mask[obj] = label_value(1, 4)
    pred = np.full((H, W), label_value(2, 9), np.uint32)
    none = rng.random((H, W)) < 0.3
    pred[none] = UNLABELLED_LABEL
    pred[none & (rng.random((H, W)) < 0.5)] = UNLABELLED_LABEL | 3  # a stale id: still none
    stroke = (3, 3, 80, 60, 12)
    foot = footprint((H, W), *stroke)
    for preserve in (False, True):
        m = mask.copy()
        accept_segment(m, pred, *stroke, preserve=preserve)
        take = foot & ~none & (~obj if preserve else True)
        want = mask.copy()
        want[take] = pred[take]
        assert np.array_equal(m, want), preserve
