import numpy as np
import pytest

from segstudio.core.accept import plan_accept


def _apply(mask, plan):
    out = mask.copy()
    if plan is not None:
        r, block = plan
        out[r.y0:r.y1, r.x0:r.x1] = block
    return out


@pytest.fixture
def case():
    rng = np.random.default_rng(3)
    mask = rng.choice([0, 1, 255], size=(40, 50), p=[0.1, 0.1, 0.8]).astype(np.uint8)
    labels = rng.integers(0, 3, size=(40, 50)).astype(np.uint8)
    return mask, labels


def test_unlabelled_only_keeps_user_labels(case):
    mask, labels = case
    out = _apply(mask, plan_accept(mask, labels, "unlabelled"))
    user = mask != 255
    assert np.array_equal(out[user], mask[user])
    assert np.array_equal(out[~user], labels[~user])


def test_everywhere_equals_prediction(case):
    mask, labels = case
    assert np.array_equal(_apply(mask, plan_accept(mask, labels, "everywhere")), labels)


def test_region_and_confidence(case):
    mask, labels = case
    region = np.zeros_like(mask, bool)
    region[10:20, 5:15] = True
    conf = np.full(mask.shape, 250, np.uint8)
    conf[12, :] = 10
    out = _apply(mask, plan_accept(mask, labels, "region", region, conf, min_confidence=0.5))
    expect = mask.copy()
    sel = region & (conf >= 128)
    expect[sel] = labels[sel]
    assert np.array_equal(out, expect)
    r, _ = plan_accept(mask, labels, "region", region)
    assert r.x0 >= 5 and r.y0 >= 10 and r.x1 <= 15 and r.y1 <= 20


def test_nothing_to_do_returns_none(case):
    mask, _ = case
    assert plan_accept(mask, mask.copy(), "everywhere") is None


def test_accepting_objects_adds_new_ids_only_where_not_labelled():
    from segstudio.core.accept import plan_accept_objects
    from segstudio.core.instances import UNLABELLED_LABEL, label_value, unpack

    labels = np.full((10, 12), UNLABELLED_LABEL, np.uint32)
    labels[0:4, 0:4] = label_value(1, 5)      # the user's object 5
    labels[0:4, 4:6] = label_value(0)         # and some background
    inst = np.zeros((10, 12), np.uint32)
    inst[0:4, 0:5] = 1                        # overlaps the user's object: not taken
    inst[6:9, 6:9] = 2                        # on unlabelled pixels: becomes object 6
    classes = np.where(inst > 0, 1, 0).astype(np.uint8)
    rect, block = plan_accept_objects(labels, classes, inst)
    out = labels.copy()
    out[rect.y0:rect.y1, rect.x0:rect.x1] = block
    mask, ids = unpack(out)
    assert set(np.unique(ids).tolist()) == {0, 5, 6}
    assert (ids[6:9, 6:9] == 6).all() and (mask[6:9, 6:9] == 1).all()
    np.testing.assert_array_equal(out[0:4, 0:6], labels[0:4, 0:6])  # the user's labels stay
    assert mask[9, 11] == 0 and ids[9, 11] == 0  # predicted background fills unlabelled
    assert mask[0:4, 4][0] == 0
    every = plan_accept_objects(labels, classes, inst, "everywhere")
    assert every is not None
    assert plan_accept_objects(out, classes, inst) is None  # nothing left to accept
