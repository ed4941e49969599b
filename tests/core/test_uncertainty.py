"""Uncertainty maps and ordering (core/uncertainty.py) against scipy and brute-force oracles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from segstudio.core import uncertainty as U
from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import UNLABELLED_LABEL, label_value
from segstudio.core.painting import Rect


def random_probs(k, h=9, w=11, seed=0, alpha=0.5):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([alpha] * k, size=(h, w))  # H x W x K
    return np.moveaxis(p, -1, 0).astype(np.float32)


@pytest.mark.parametrize("k", [2, 3, 5, 12])
def test_entropy_map_matches_scipy(k):
    p = random_probs(k, seed=k)
    got = U.entropy_map(p)
    want = stats.entropy(p.astype(np.float64), base=k, axis=0)
    assert got.shape == p.shape[1:] and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.array_equal(U.uncertainty_map(p, "entropy"), got)


@pytest.mark.parametrize("k", [2, 3, 5, 12])
def test_margin_map_matches_sort_oracle(k):
    p = random_probs(k, seed=10 + k)
    s = np.sort(p.astype(np.float64), axis=0)
    want = 1.0 - (s[-1] - s[-2])
    got = U.margin_map(p)
    assert got.shape == p.shape[1:] and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.array_equal(U.uncertainty_map(p, "margin"), got)


@pytest.mark.parametrize("measure", U.MEASURES)
@pytest.mark.parametrize("k", [2, 4, 7])
def test_one_hot_is_certain_and_uniform_is_most_uncertain(measure, k):
    rng = np.random.default_rng(k)
    cls = rng.integers(0, k, size=(6, 8))
    one_hot = (np.arange(k)[:, None, None] == cls[None]).astype(np.float32)
    np.testing.assert_allclose(U.uncertainty_map(one_hot, measure), 0.0, atol=1e-6)
    uniform = np.full((k, 6, 8), 1.0 / k, np.float32)
    np.testing.assert_allclose(U.uncertainty_map(uniform, measure), 1.0, atol=1e-5)
    # everything else lies in between
    m = U.uncertainty_map(random_probs(k, 6, 8, seed=k), measure)
    assert (m >= 0).all() and (m <= 1).all()


def test_two_class_values():
    p = np.array([0.7, 0.3], np.float32)[:, None, None]
    np.testing.assert_allclose(U.margin_map(p), 0.6, atol=1e-6)
    want = -(0.7 * np.log2(0.7) + 0.3 * np.log2(0.3))
    np.testing.assert_allclose(U.entropy_map(p), want, atol=1e-6)


def test_single_class_and_unknown_measure():
    p = np.ones((1, 4, 5), np.float32)
    assert np.array_equal(U.entropy_map(p), np.zeros((4, 5), np.float32))
    assert np.array_equal(U.margin_map(p), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError):
        U.uncertainty_map(random_probs(3), "variance")


def test_image_uncertainty_is_the_mean_over_unlabelled_pixels():
    rng = np.random.default_rng(1)
    heat = rng.random((20, 30)).astype(np.float32)
    mask = np.full((20, 30), UNLABELLED, np.uint8)
    labelled = rng.random((20, 30)) < 0.4
    mask[labelled] = rng.integers(0, 4, size=int(labelled.sum()))
    free_values = [float(heat[y, x]) for y in range(20) for x in range(30)
                   if mask[y, x] == UNLABELLED]
    assert U.image_uncertainty(heat, mask) == pytest.approx(sum(free_values) / len(free_values))
    assert U.image_uncertainty(heat, None) == pytest.approx(float(heat.astype(float).mean()))
    # labelled pixels do not count: making them hot changes nothing
    hot = heat.copy()
    hot[labelled] = 1.0
    assert U.image_uncertainty(hot, mask) == pytest.approx(U.image_uncertainty(heat, mask))
    assert U.image_uncertainty(heat, np.zeros((20, 30), np.uint8)) == 0.0
    assert U.image_uncertainty(np.zeros((0, 0), np.float32), None) == 0.0
    with pytest.raises(ValueError):
        U.image_uncertainty(heat, mask[:, :-1])


def test_image_uncertainty_on_packed_instance_labels():
    rng = np.random.default_rng(2)
    heat = rng.random((16, 16)).astype(np.float32)
    labels = np.full((16, 16), UNLABELLED_LABEL, np.uint32)
    labels[:, :6] = label_value(1, 3)         # an object
    labels[:3, 6:] = label_value(0, 0)        # background
    labels[10:, 10:] = UNLABELLED_LABEL | 5   # unlabelled, stale id: still unlabelled
    free = np.zeros((16, 16), bool)
    free[3:, 6:] = True
    assert U.image_uncertainty(heat, labels) == pytest.approx(float(heat[free].mean()))
    assert U.image_uncertainty(heat, np.full((16, 16), label_value(2, 1), np.uint32)) == 0.0


def test_order_by_uncertainty():
    scores = {"c": 0.5, "a": 0.9, "b": 0.5, "d": 0.1, "e": 0.9, "f": 0.0}
    assert U.order_by_uncertainty(scores) == ["a", "e", "b", "c", "d", "f"]
    assert U.order_by_uncertainty({}) == []
    # the order does not depend on the dict's insertion order
    rev = dict(reversed(list(scores.items())))
    assert U.order_by_uncertainty(rev) == U.order_by_uncertainty(scores)


def window_sum(heat, free, r):
    return float(np.where(free, heat, 0.0)[r.slices].astype(np.float64).sum())


def brute_force_windows(heat, free, size):
    """Every size x size window fully inside the image, and its summed unlabelled heat."""
    h, w = heat.shape
    out = {}
    for y0 in range(h - size + 1):
        for x0 in range(w - size + 1):
            r = Rect(x0, y0, x0 + size, y0 + size)
            out[r] = window_sum(heat, free, r)
    return out


def test_window_finds_a_planted_hot_square():
    rng = np.random.default_rng(3)
    heat = (rng.random((60, 80)) * 0.2).astype(np.float32)
    heat[30:38, 41:49] = 1.0
    r = U.most_uncertain_window(heat, None, 8)
    assert r == Rect(41, 30, 49, 38)
    # labelled hot pixels are ignored: label the square and a second, weaker one wins
    heat[5:13, 10:18] = 0.8
    mask = np.full((60, 80), UNLABELLED, np.uint8)
    assert U.most_uncertain_window(heat, mask, 8) == Rect(41, 30, 49, 38)
    mask[30:38, 41:49] = 1
    assert U.most_uncertain_window(heat, mask, 8) == Rect(10, 5, 18, 13)


@pytest.mark.parametrize("corner", ["tl", "br", "tr"])
def test_window_clips_at_image_borders(corner):
    h, w = 40, 50
    heat = np.zeros((h, w), np.float32)
    sl = {"tl": (slice(0, 4), slice(0, 4)), "br": (slice(h - 4, h), slice(w - 4, w)),
          "tr": (slice(0, 4), slice(w - 4, w))}[corner]
    heat[sl] = 1.0
    r = U.most_uncertain_window(heat, None, 12)
    assert r.width == 12 and r.height == 12
    assert 0 <= r.x0 and 0 <= r.y0 and r.x1 <= w and r.y1 <= h
    inside = np.zeros((h, w), bool)
    inside[r.slices] = True
    assert inside[sl].all()


def test_window_larger_than_the_image_is_the_image_side():
    heat = np.random.default_rng(4).random((10, 25)).astype(np.float32)
    r = U.most_uncertain_window(heat, None, 100)
    assert r.height == 10 and r.width == 10 and 0 <= r.x0 and r.x1 <= 25 and r.y0 == 0
    best = max(brute_force_windows(heat, np.ones_like(heat, bool), 10).values())
    assert window_sum(heat, np.ones_like(heat, bool), r) == pytest.approx(best, rel=1e-5)


def test_window_none_when_everything_is_labelled():
    heat = np.ones((10, 10), np.float32)
    assert U.most_uncertain_window(heat, np.zeros((10, 10), np.uint8), 4) is None
    packed = np.full((10, 10), label_value(1, 2), np.uint32)
    assert U.most_uncertain_window(heat, packed, 4) is None
    packed[3, 3] = UNLABELLED_LABEL
    r = U.most_uncertain_window(heat, packed, 4)
    assert r is not None and r.x0 <= 3 < r.x1 and r.y0 <= 3 < r.y1


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_against_brute_force_sliding_window(size, seed):
    rng = np.random.default_rng(seed)
    h, w = 13, 17
    heat = rng.random((h, w)).astype(np.float32) ** 3
    mask = np.full((h, w), UNLABELLED, np.uint8)
    labelled = rng.random((h, w)) < 0.3
    mask[labelled] = 1
    free = ~labelled
    r = U.most_uncertain_window(heat, mask, size)
    assert r.width == size and r.height == size
    assert 0 <= r.x0 and 0 <= r.y0 and r.x1 <= w and r.y1 <= h
    sums = brute_force_windows(heat, free, size)
    ranked = sorted(sums.values(), reverse=True)
    assert window_sum(heat, free, r) == pytest.approx(ranked[0], rel=1e-5, abs=1e-6)
    if len(ranked) > 1 and ranked[0] - ranked[1] > 1e-3:
        assert r == max(sums, key=sums.__getitem__)
