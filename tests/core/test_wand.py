"""Magic wand (core/wand.py) against independent oracles: a plain-Python BFS on small images
and a scipy.ndimage.label oracle on a large one. No Qt."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from segstudio.core import wand as W
from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import UNLABELLED_LABEL, label_value
from segstudio.core.painting import Rect


def bfs_region(image, x, y, tol, passable=None):
    """Plain-Python 4-connected BFS, fixed range: every colour channel within ``tol`` of the
    seed's. ``passable`` (H x W bool or None): pixels the region may enter. Returns a full-size
    bool array, or None when the seed is outside or not passable."""
    h, w = image.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        return None
    if passable is not None and not passable[y, x]:
        return None
    img = image.astype(np.int64)
    if img.ndim == 2:
        img = img[:, :, None]
    img = img[:, :, :3]  # alpha is not a colour
    seed = img[y, x].tolist()
    rows = img.tolist()
    out = np.zeros((h, w), bool)
    out[y, x] = True
    todo = deque([(y, x)])
    while todo:
        cy, cx = todo.popleft()
        for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
            if not (0 <= ny < h and 0 <= nx < w) or out[ny, nx]:
                continue
            if passable is not None and not passable[ny, nx]:
                continue
            if all(abs(a - b) <= tol for a, b in zip(rows[ny][nx], seed, strict=True)):
                out[ny, nx] = True
                todo.append((ny, nx))
    return out


def full(shape, found):
    """The wand's (box, region) as a full-size bool array; also checks the box is tight."""
    out = np.zeros(shape[:2], bool)
    if found is None:
        return None
    box, region = found
    assert region.dtype == np.bool_ and region.shape == (box.height, box.width)
    out[box.slices] = region
    ys, xs = np.nonzero(out)
    assert box == Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


def blocky_image(rng, h, w, channels, levels=4, noise=6, dtype=np.uint8):
    """Random piecewise-constant blocks plus small noise: regions of every size, not just
    single pixels (pure noise) or the whole image (flat)."""
    shape = (h // 4 + 1, w // 4 + 1) + ((channels,) if channels else ())
    base = rng.integers(0, levels, size=shape) * (200 // max(1, levels - 1)) + 20
    base = np.repeat(np.repeat(base, 4, axis=0), 4, axis=1)[:h, :w]
    img = base + rng.integers(-noise, noise + 1, size=base.shape)
    return np.clip(img, 0, 255).astype(dtype)


SEEDS = [(0, 0), (5, 7), (17, 3), (29, 23)]


@pytest.mark.parametrize("channels", [0, 3, 4])
@pytest.mark.parametrize("tol", [0, 8, 30, 255])
def test_region_matches_bfs_oracle(channels, tol):
    rng = np.random.default_rng(100 + channels * 7 + tol)
    img = blocky_image(rng, 24, 30, channels, noise=2 if tol == 0 else 6)
    if tol == 0:
        img = (img // 8) * 8  # equal neighbours exist, so tolerance 0 still grows
    for x, y in SEEDS:
        want = bfs_region(img, x, y, tol)
        got = full(img.shape, W.wand_region(img, x, y, tol))
        assert np.array_equal(got, want), (x, y, tol)
        if tol == 255:
            assert got.all()


def test_alpha_is_ignored_and_a_single_channel_axis_is_grey():
    rng = np.random.default_rng(5)
    rgb = blocky_image(rng, 20, 20, 3)
    rgba = np.dstack([rgb, rng.integers(0, 256, size=(20, 20)).astype(np.uint8)])
    for x, y in [(0, 0), (11, 13)]:
        assert np.array_equal(full(rgba.shape, W.wand_region(rgba, x, y, 20)),
                              bfs_region(rgb, x, y, 20))
    grey = blocky_image(rng, 20, 20, 0)
    assert np.array_equal(full(grey.shape, W.wand_region(grey[:, :, None], 4, 4, 15)),
                          bfs_region(grey, 4, 4, 15))
    # grey + alpha: the grey channel
    la = np.dstack([grey, rng.integers(0, 256, size=(20, 20)).astype(np.uint8)])
    assert np.array_equal(full(grey.shape, W.wand_region(la, 4, 4, 15)),
                          bfs_region(grey, 4, 4, 15))


def test_sixteen_bit_image_in_display_range():
    # The wand's image is the uint8 display image; a uint16 array is accepted (its values are
    # taken as display units, i.e. 0-255).
    rng = np.random.default_rng(6)
    img = blocky_image(rng, 24, 30, 0).astype(np.uint16)
    for x, y in SEEDS:
        assert np.array_equal(full(img.shape, W.wand_region(img, x, y, 12)),
                              bfs_region(img, x, y, 12))


def test_fractional_and_out_of_range_tolerances():
    img = np.array([[10, 19, 20, 21, 200]], np.uint8)
    # fixed range around the seed: 19, 20 within 10 of 10; 21 is not (|21-10| = 11)
    assert np.array_equal(full(img.shape, W.wand_region(img, 0, 0, 10.0)),
                          bfs_region(img, 0, 0, 10))
    assert np.array_equal(full(img.shape, W.wand_region(img, 0, 0, 10.0))[0],
                          [True, True, True, False, False])
    # a fractional tolerance is never looser than itself
    assert np.array_equal(full(img.shape, W.wand_region(img, 0, 0, 8.9))[0],
                          [True, False, False, False, False])
    assert np.array_equal(full(img.shape, W.wand_region(img, 0, 0, -5))[0],
                          [True, False, False, False, False])
    assert full(img.shape, W.wand_region(img, 0, 0, 10_000)).all()


def test_fixed_range_does_not_creep_along_a_gradient():
    img = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (3, 1))  # steps of 5
    got = full(img.shape, W.wand_region(img, 0, 1, 12))
    assert np.array_equal(got, bfs_region(img, 0, 1, 12))
    assert got[:, :3].all() and not got[:, 3:].any()


def test_out_of_image_seeds_give_none():
    img = np.zeros((10, 12), np.uint8)
    mask = np.full((10, 12), UNLABELLED, np.uint8)
    for x, y in [(-1, 0), (0, -1), (12, 0), (0, 10), (100, 100)]:
        assert W.wand_region(img, x, y, 10) is None
        assert W.wand_fill(mask, img, x, y, 10, 1) is None
    assert (mask == UNLABELLED).all()


def labelled_walls(rng, shape, frac=0.25):
    mask = np.full(shape, UNLABELLED, np.uint8)
    walls = rng.random(shape) < frac
    mask[walls] = rng.integers(0, 3, size=int(walls.sum()))
    return mask


@pytest.mark.parametrize("channels", [0, 3])
@pytest.mark.parametrize("tol", [0, 30, 255])
def test_preserve_labelled_pixels_are_walls(channels, tol):
    rng = np.random.default_rng(7 + tol + channels)
    img = blocky_image(rng, 24, 30, channels)
    if tol == 0:
        img = (img // 16) * 16
    mask = labelled_walls(rng, img.shape[:2])
    free = mask == UNLABELLED
    for x, y in SEEDS + [(12, 12), (2, 20)]:
        want = bfs_region(img, x, y, tol, free)
        got = W.wand_region(img, x, y, tol, W.unlabelled_passable(mask))
        if want is None:
            assert got is None
            continue
        assert np.array_equal(full(img.shape, got), want)
        # the fill: exactly the region takes the value, labelled pixels never change
        m = mask.copy()
        r = W.wand_fill(m, img, x, y, tol, 4, preserve=True)
        expect = mask.copy()
        expect[want] = 4
        assert np.array_equal(m, expect)
        assert np.array_equal(m[~free], mask[~free])
        ys, xs = np.nonzero(want)
        assert r == Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_without_preserve_the_region_ignores_labels_and_overwrites_them():
    rng = np.random.default_rng(8)
    img = blocky_image(rng, 24, 30, 3)
    mask = labelled_walls(rng, img.shape[:2])
    want = bfs_region(img, 12, 12, 40)
    m = mask.copy()
    W.wand_fill(m, img, 12, 12, 40, 4)
    expect = mask.copy()
    expect[want] = 4
    assert np.array_equal(m, expect)


def test_seed_on_labelled_pixel_with_preserve_gives_none():
    img = np.zeros((10, 10), np.uint8)
    mask = np.full((10, 10), UNLABELLED, np.uint8)
    mask[4, 5] = 1
    calls: list[Rect] = []
    assert W.wand_region(img, 5, 4, 255, W.unlabelled_passable(mask)) is None
    assert W.wand_fill(mask, img, 5, 4, 255, 2, preserve=True, on_write=calls.append) is None
    assert calls == [] and mask[4, 5] == 1 and np.count_nonzero(mask != UNLABELLED) == 1
    # and the rest of the image is still reachable from an unlabelled seed, around the label
    r = W.wand_fill(mask, img, 0, 0, 255, 2, preserve=True)
    assert r == Rect(0, 0, 10, 10) and mask[4, 5] == 1 and np.count_nonzero(mask == 2) == 99


def test_size_mismatch_raises():
    with pytest.raises(ValueError):
        W.wand_fill(np.full((5, 6), UNLABELLED, np.uint8), np.zeros((6, 5), np.uint8),
                    0, 0, 10, 1)


def test_on_write_box_covers_every_change_and_comes_before_the_write():
    rng = np.random.default_rng(9)
    img = blocky_image(rng, 40, 48, 3)
    mask = labelled_walls(rng, img.shape[:2], 0.1)
    for (x, y), preserve in [((3, 3), True), ((30, 20), False), ((45, 38), True)]:
        before = mask.copy()
        seen: list[tuple[Rect, np.ndarray]] = []
        r = W.wand_fill(mask, img, x, y, 50, 3, preserve=preserve,
                        on_write=lambda rect, seen=seen: seen.append((rect, mask.copy())))
        changed = mask != before
        if r is None:
            assert not changed.any() and not seen
            continue
        assert seen
        covered = np.zeros(mask.shape, bool)
        for rect, at_call in seen:
            covered[rect.slices] = True
            # nothing was written before the report
            assert np.array_equal(at_call, before)
        assert not changed[~covered].any()
        ys, xs = np.nonzero(changed)
        assert r == Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_nothing_to_change_calls_no_hook():
    img = np.zeros((8, 8), np.uint8)
    mask = np.full((8, 8), 2, np.uint8)
    calls: list[Rect] = []
    assert W.wand_fill(mask, img, 3, 3, 10, 2, on_write=calls.append) is None
    assert calls == []


def label_oracle(img, x, y, tol, passable=None):
    """Fast oracle for big images: connected component (4-connectivity) of the in-range
    pixels containing the seed, via scipy.ndimage.label."""
    from scipy import ndimage

    diff = np.abs(img.astype(np.int16) - img[y, x].astype(np.int16))
    ok = diff <= tol if diff.ndim == 2 else (diff <= tol).all(axis=2)
    if passable is not None:
        ok &= passable
    lab, _ = ndimage.label(ok)
    return lab == lab[y, x]


def test_region_larger_than_the_start_window_equals_oracle():
    # A big dark region reaching all four sides of a 1500^2 image, with bright islands, a
    # bright wall that makes it wind, and labelled walls: the search must grow its window.
    rng = np.random.default_rng(10)
    h = w = 1500
    img = rng.integers(0, 20, size=(h, w)).astype(np.uint8)
    img[rng.random((h, w)) < 0.02] = 200              # bright specks (holes in the region)
    img[300:1200, 700:710] = 220                      # a wall: the region goes round it
    img[100:140, 100:1400] = 220
    mask = np.full((h, w), UNLABELLED, np.uint8)
    mask[800:810, 0:1300] = 1                         # a labelled wall with preserve
    seed = (750, 750)
    want = label_oracle(img, *seed, 25)
    got = full(img.shape, W.wand_region(img, *seed, 25))
    assert want[0].any() and want[-1].any() and want[:, 0].any() and want[:, -1].any()
    assert np.array_equal(got, want)
    free = mask == UNLABELLED
    want_p = label_oracle(img, *seed, 25, free)
    got_p = full(img.shape, W.wand_region(img, *seed, 25, W.unlabelled_passable(mask)))
    assert np.array_equal(got_p, want_p)
    assert want_p.sum() < want.sum()  # the labelled wall mattered (the region went round it)


def test_window_growth_with_seed_near_a_corner():
    rng = np.random.default_rng(11)
    h, w = 700, 1300
    img = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)
    img[:, :, :] = np.where(rng.random((h, w, 1)) < 0.15, img, 0)  # mostly black
    seed = (1295, 3)
    want = label_oracle(img, *seed, 10)
    assert want[:, 0].any() and want[-1].any()
    assert np.array_equal(full(img.shape, W.wand_region(img, *seed, 10)), want)


def test_instance_masks_with_preserve():
    rng = np.random.default_rng(12)
    img = blocky_image(rng, 24, 30, 3)
    sem = labelled_walls(rng, img.shape[:2])
    ids = np.where(sem != UNLABELLED, rng.integers(1, 5, size=sem.shape), 0)
    labels = (sem.astype(np.uint32) << 24) | ids.astype(np.uint32)
    # unlabelled with a stale id is still unlabelled (class byte 255)
    stale = (sem == UNLABELLED) & (rng.random(sem.shape) < 0.1)
    labels[stale] = UNLABELLED_LABEL | 7
    free = labels >= UNLABELLED_LABEL
    value = label_value(2, 9)
    for x, y in SEEDS + [(12, 12)]:
        want = bfs_region(img, x, y, 40, free)
        m = labels.copy()
        r = W.wand_fill(m, img, x, y, 40, value, preserve=True)
        if want is None:
            assert r is None and np.array_equal(m, labels)
            continue
        expect = labels.copy()
        expect[want] = value
        assert np.array_equal(m, expect)
        assert m.dtype == np.uint32
