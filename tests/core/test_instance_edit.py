"""Editing packed instance labels (class << 24 | id): the painting operations, the undo history
and the save snapshot work on them as on uint8 masks; object edits (find, relabel, count)."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core import painting as P
from segstudio.core.document import FrozenSnapshot, MaskDocument
from segstudio.core.history import History, reconcile_returning_mask
from segstudio.core.instance_edit import (
    has_id,
    max_object_id,
    object_at,
    object_box,
    relabel_object,
)
from segstudio.core.instances import (
    UNLABELLED_LABEL,
    count_objects,
    label_value,
    object_ids,
    pack,
)


def _labels(shape=(90, 130)):
    return np.full(shape, UNLABELLED_LABEL, np.uint32)


def test_brush_preserve_and_only_on_packed_labels():
    m = _labels()
    a, b = label_value(1, 1), label_value(1, 2)
    assert P.paint_segment(m, 10, 10, 60, 10, 9, a) is not None
    P.paint_segment(m, 55, 10, 100, 10, 9, b, preserve=True)  # does not take cell 1's pixels
    assert (m == a).sum() == (m[:, :80] == a).sum() and (m == b).any()
    assert not ((m[:, :55] == b).any())
    # "only": the eraser of one object leaves its neighbour alone.
    before = m.copy()
    P.paint_segment(m, 30, 10, 120, 10, 15, UNLABELLED_LABEL, only=has_id(2))
    assert (m[before == a] == a).all() and not (m == b).any()


def test_flood_fill_on_packed_labels():
    m = _labels()
    m[:, 60] = label_value(0, 0)                       # a wall of background
    m[20:30, 10:20] = label_value(2, 7)                # an object on the left
    P.flood_fill(m, 5, 5, label_value(1, 3))
    assert (m[:, :60][(m[:, :60] != label_value(2, 7))] == label_value(1, 3)).all()
    assert (m[:, 61:] == UNLABELLED_LABEL).all()
    # Fill an object's own region (reclassify) and an open unlabelled area (refused).
    P.flood_fill(m, 15, 25, label_value(1, 7))
    assert (m[20:30, 10:20] == label_value(1, 7)).all()
    with pytest.raises(P.OpenFillError):
        P.flood_fill(m, 100, 5, label_value(1, 9), max_open_fraction=0.1)
    # Two different ids of one class are different regions (ids live in the low bits).
    m2 = np.full((20, 20), label_value(1, 1), np.uint32)
    m2[:, 10:] = label_value(1, 2)
    P.flood_fill(m2, 2, 2, label_value(2, 1))
    assert (m2[:, :10] == label_value(2, 1)).all() and (m2[:, 10:] == label_value(1, 2)).all()


def test_history_and_snapshot_of_packed_labels_are_exact():
    rng = np.random.default_rng(1)
    m = _labels((300, 400))
    doc = MaskDocument("x", m, History(m.shape, tile=64))
    states = [m.copy()]
    snap = doc.snapshot()
    for i in range(6):
        doc.begin_edit()
        x, y = rng.uniform(0, 400, 2), rng.uniform(0, 300, 2)
        P.paint_segment(doc.mask, x[0], y[0], x[1], y[1], int(rng.integers(3, 40)),
                        label_value(1, i + 1), False, doc.before_write)
        assert doc.end_edit()
        states.append(doc.mask.copy())
    assert np.array_equal(snap.materialize(), states[0])
    for want in reversed(states[:-1]):
        doc.undo()
        assert np.array_equal(doc.mask, want)
    for want in states[1:]:
        doc.redo()
        assert np.array_equal(doc.mask, want)
    assert FrozenSnapshot(doc.mask).materialize().dtype == np.uint32


def test_reconcile_keeps_the_label_dtype():
    m = _labels((64, 64))
    h = History(m.shape)
    from segstudio.core.history import mask_fingerprint

    disk = m.copy()
    disk[:8, :8] = label_value(1, 1)
    h.fingerprint = mask_fingerprint(disk)
    out = reconcile_returning_mask(h, m, lambda: disk)
    assert out.dtype == np.uint32 and np.array_equal(out, disk)


def test_object_edits():
    mask = np.full((50, 70), 255, np.uint8)
    inst = np.zeros((50, 70), np.uint32)
    mask[5:15, 5:20] = 1
    inst[5:15, 5:20] = 4
    mask[30:40, 50:60] = 1
    inst[30:40, 50:60] = 4                            # object 4 in two pieces
    mask[20:25, 20:30] = 2
    inst[20:25, 20:30] = 9
    labels = pack(mask, inst)
    assert object_at(labels, 6, 6) == (4, 1) and object_at(labels, 0, 0) == (0, 255)
    assert object_at(labels, -1, 0) == (0, 255)
    assert max_object_id(labels) == 9
    assert object_box(labels, 4) == P.Rect(5, 5, 60, 40)
    assert object_box(labels, 5) is None
    seen = []
    box = relabel_object(labels, 4, label_value(2, 9), seen.append)
    assert seen == [box] and not ((labels & 0xFFFFFF) == 4).any()
    assert (labels[30:40, 50:60] == label_value(2, 9)).all()
    assert count_objects(inst) == len(object_ids(inst)) == 2
    assert count_objects(np.zeros((4, 4), np.uint32)) == 0


def test_banded_scans_match_whole_array(monkeypatch):
    import segstudio.core.instance_edit as E

    monkeypatch.setattr(E, "BAND_PIXELS", 64)  # many bands
    rng = np.random.default_rng(2)
    inst = (rng.integers(0, 40, (77, 53)) * (rng.random((77, 53)) < 0.1)).astype(np.uint32)
    labels = pack(np.where(inst > 0, 1, 255).astype(np.uint8), inst)
    assert max_object_id(labels) == inst.max()
    assert count_objects(inst) == len(object_ids(inst))
    for oid in (int(inst.max()), 1, 17):
        ys, xs = np.nonzero(inst == oid)
        want = None if ys.size == 0 else P.Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert object_box(labels, oid) == want
