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
