"""Superpixels (core/superpixels.py): labels, boxes and boundaries against numpy oracles, and
the superpixel stroke against the brush footprint of core.painting. No Qt."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core import painting as P
from segstudio.core import superpixels as S
from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import UNLABELLED_LABEL, label_value
from segstudio.core.painting import Rect

H, W = 120, 160


def structured(h=H, w=W, channels=3, seed=0):
    """A smooth colour field with a disk and a rectangle, plus mild noise (SLIC on pure
    noise says little about the count)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 80 + 60 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    img = np.stack([base, base * 0.7 + 30, 200 - base], -1)
    img[(yy - 40) ** 2 + (xx - 60) ** 2 < 20 ** 2] = (250, 30, 30)
    img[70:110, 100:150] = (20, 200, 40)
    img = img + np.random.default_rng(seed).normal(0, 3, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if channels == 0:
        return img[..., 0]
    if channels == 4:
        return np.dstack([img, np.random.default_rng(seed + 1).integers(0, 256, (h, w))
                          .astype(np.uint8)])
    return img


@pytest.fixture(scope="module")
def sp_rgb():
    return S.compute_superpixels(structured(), 16)


def check_superpixels(sp, shape):
    lab = sp.labels
    assert lab.shape == shape and lab.dtype == np.int32
    # every pixel has a label, the labels are exactly 0..n-1
    assert np.array_equal(np.unique(lab), np.arange(sp.count))
    assert len(sp.boxes) == sp.count
    for i, box in enumerate(sp.boxes):
        ys, xs = np.nonzero(lab == i)
        assert box == Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), i
        rbox, region = sp.region(i)
        assert rbox == box
        whole = np.zeros(shape, bool)
        whole[box.slices] = region
        assert np.array_equal(whole, lab == i)


@pytest.mark.parametrize("channels", [0, 3, 4])
@pytest.mark.parametrize("size", [10, 16, 30])
def test_labels_cover_the_image_and_boxes_are_tight(channels, size):
    img = structured(channels=channels)
    sp = S.compute_superpixels(img, size)
    check_superpixels(sp, (H, W))
    assert sp.size == size
    expected = H * W / size ** 2
    assert expected / 2 <= sp.count <= expected * 2, (sp.count, expected)


def test_alpha_is_ignored_and_a_single_channel_axis_is_grey():
    rgba = structured(channels=4)
    a = S.compute_superpixels(rgba, 16).labels
    b = S.compute_superpixels(np.ascontiguousarray(rgba[:, :, :3]), 16).labels
    assert np.array_equal(a, b)
    grey = structured(channels=0)
    assert np.array_equal(S.compute_superpixels(grey[:, :, None], 16).labels,
                          S.compute_superpixels(grey, 16).labels)


def test_other_dtypes_and_a_flat_image():
    grey16 = structured(channels=0).astype(np.uint16) * 250
    check_superpixels(S.compute_superpixels(grey16, 20), (H, W))
    flat = np.full((40, 50), 7, np.uint8)
    sp = S.compute_superpixels(flat, 10)
    check_superpixels(sp, (40, 50))
    assert 10 <= sp.count <= 40


def test_size_is_clamped():
    img = structured(60, 80)
    assert S.compute_superpixels(img, 1).size == S.MIN_SIZE
    sp = S.compute_superpixels(img, 10_000)
    assert sp.size == S.MAX_SIZE
    check_superpixels(sp, (60, 80))


def test_superpixels_follow_a_strong_edge():
    # A sharp vertical edge: (nearly) no superpixel straddles it.
    img = np.zeros((96, 96, 3), np.uint8)
    img[:, 48:] = 255
    sp = S.compute_superpixels(img, 16)
    left = sp.labels[:, :48]
    right = sp.labels[:, 48:]
    straddling = np.intersect1d(np.unique(left), np.unique(right))
    assert straddling.size <= 1


def test_boundaries_against_brute_force(sp_rgb):
    lab = sp_rgb.labels
    h, w = lab.shape
    want = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            if x + 1 < w and lab[y, x] != lab[y, x + 1]:
                want[y, x] = True
            if y + 1 < h and lab[y, x] != lab[y + 1, x]:
                want[y, x] = True
    assert np.array_equal(sp_rgb.boundaries(), want)


def footprint(shape, ax, ay, bx, by, size):
    """The brush's pixels, from painting.paint_segment into a scratch mask."""
    scratch = np.full(shape, UNLABELLED, np.uint8)
    P.paint_segment(scratch, ax, ay, bx, by, size, 1)
    return scratch == 1


def touched(labels, foot):
    return np.isin(labels, np.unique(labels[foot]))


STROKES = [
    (10.3, 12.8, 10.3, 12.8, 1),        # one pixel
    (20.5, 30.2, 140.7, 90.1, 5),       # long diagonal
    (-10, 50, 60, 50, 8),               # starts outside, even size
    (150, 5, 170, 130, 12),             # partly outside on the right
    (80.2, 60.9, 81.0, 61.3, 31),       # big dab
]


@pytest.mark.parametrize("stroke", STROKES)
def test_stroke_labels_exactly_the_touched_superpixels(sp_rgb, stroke):
    ax, ay, bx, by, size = stroke
    mask = np.full((H, W), UNLABELLED, np.uint8)
    r = S.SuperpixelStroke(sp_rgb).paint_segment(mask, ax, ay, bx, by, size, 3)
    want = touched(sp_rgb.labels, footprint((H, W), ax, ay, bx, by, size))
    assert want.any()
    assert np.array_equal(mask == 3, want)
    assert np.array_equal(mask[~want], np.full(int((~want).sum()), UNLABELLED, np.uint8))
    ys, xs = np.nonzero(want)
    assert r == Rect(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_stroke_entirely_outside_changes_nothing(sp_rgb):
    mask = np.full((H, W), UNLABELLED, np.uint8)
    calls: list[Rect] = []
    stroke = S.SuperpixelStroke(sp_rgb)
    assert stroke.paint_segment(mask, -50, -50, -30, -40, 6, 1, on_write=calls.append) is None
    assert calls == [] and (mask == UNLABELLED).all()


def test_second_segment_does_not_rewrite_done_superpixels(sp_rgb):
    lab = sp_rgb.labels
    mask = np.full((H, W), UNLABELLED, np.uint8)
    stroke = S.SuperpixelStroke(sp_rgb)
    seg1 = (20, 20, 80, 60, 6)
    seg2 = (80, 60, 140, 100, 6)  # continues from where the first ended: they share pixels
    stroke.paint_segment(mask, *seg1, 2)
    first = touched(lab, footprint((H, W), *seg1))
    assert np.array_equal(mask == 2, first)
    # The user (or an undo) clears the done superpixels: the same stroke must not relabel them.
    mask[:] = UNLABELLED
    boxes: list[Rect] = []
    stroke.paint_segment(mask, *seg2, 2, on_write=boxes.append)
    second = touched(lab, footprint((H, W), *seg2))
    assert (second & first).any()  # the test means something: they overlap
    new = second & ~first
    assert np.array_equal(mask == 2, new)
    done_ids = set(np.unique(lab[first]).tolist())
    new_ids = set(np.unique(lab[new]).tolist())
    # one report per newly written superpixel (the whole of it: the mask was cleared), none
    # for the done ones
    assert sorted(boxes) == sorted(sp_rgb.boxes[i] for i in new_ids)
    covered = np.zeros((H, W), bool)
    for b in boxes:
        covered[b.slices] = True
    assert not (mask != UNLABELLED)[~covered].any()
    assert stroke.done == done_ids | new_ids


def check_reports(before, after, seen):
    """``seen``: (rect, mask at the time of the call) per on_write call. At each call the mask
    differs from ``before`` only inside the earlier reports; at the end only inside all."""
    covered = np.zeros(before.shape, bool)
    for rect, at_call in seen:
        assert not (at_call != before)[~covered].any()
        covered[rect.slices] = True
    assert not (after != before)[~covered].any()


def test_on_write_box_covers_changes_and_comes_before_the_write(sp_rgb):
    rng = np.random.default_rng(1)
    mask = np.full((H, W), UNLABELLED, np.uint8)
    mask[rng.random((H, W)) < 0.2] = 1
    before = mask.copy()
    seen: list[tuple[Rect, np.ndarray]] = []
    stroke = S.SuperpixelStroke(sp_rgb)
    for seg in [(5, 5, 100, 100, 7), (100, 100, 150, 20, 7)]:
        stroke.paint_segment(mask, *seg, 4, preserve=True,
                             on_write=lambda rect: seen.append((rect, mask.copy())))
    assert (mask != before).any() and len(seen) > 2
    check_reports(before, mask, seen)


def test_preserve_keeps_labelled_pixels(sp_rgb):
    rng = np.random.default_rng(2)
    mask = np.full((H, W), UNLABELLED, np.uint8)
    mask[rng.random((H, W)) < 0.3] = 1
    mask[50:70, 50:90] = 0
    before = mask.copy()
    seg = (30.5, 40.5, 120.5, 80.5, 9)
    S.SuperpixelStroke(sp_rgb).paint_segment(mask, *seg, 2, preserve=True)
    want = touched(sp_rgb.labels, footprint((H, W), *seg)) & (before == UNLABELLED)
    expect = before.copy()
    expect[want] = 2
    assert np.array_equal(mask, expect)
    # without preserve the labelled pixels are overwritten too
    m2 = before.copy()
    S.SuperpixelStroke(sp_rgb).paint_segment(m2, *seg, 2)
    assert np.array_equal(m2 == 2, touched(sp_rgb.labels, footprint((H, W), *seg)))


def test_preserve_on_instance_labels(sp_rgb):
    rng = np.random.default_rng(3)
    labels = np.full((H, W), UNLABELLED_LABEL, np.uint32)
    obj = rng.random((H, W)) < 0.3
    labels[obj] = label_value(1, 5)
    before = labels.copy()
    seg = (10, 100, 150, 10, 5)
    value = label_value(2, 6)
    S.SuperpixelStroke(sp_rgb).paint_segment(labels, *seg, value, preserve=True)
    want = touched(sp_rgb.labels, footprint((H, W), *seg)) & ~obj
    expect = before.copy()
    expect[want] = value
    assert np.array_equal(labels, expect)


def test_size_mismatch_raises(sp_rgb):
    with pytest.raises(ValueError):
        S.SuperpixelStroke(sp_rgb).paint_segment(
            np.full((H, W + 1), UNLABELLED, np.uint8), 1, 1, 5, 5, 3, 1)


def test_large_images_are_segmented_at_half_size_with_covering_boxes():
    """A 1 MP+ image with superpixels of 16 px or more: SLIC on a half-size copy, labels
    scaled back; every superpixel lies inside its box (grown by a pixel, odd sizes too), the
    count is near the request, and a stroke still labels whole superpixels."""
    h, w = 1001, 1203
    img = structured(h, w)
    sp = S.compute_superpixels(img, 24)
    lab = sp.labels
    assert lab.shape == (h, w) and lab.dtype == np.int32
    assert S.HALF_PIXELS_FROM <= h * w and sp.size >= S.HALF_SIZE_FROM
    boxes = np.array([tuple(b) for b in sp.boxes])
    x0, y0, x1, y1 = (boxes[lab, k] for k in range(4))
    yy, xx = np.mgrid[:h, :w]
    assert ((xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)).all()
    expected = h * w / 24 ** 2
    assert expected / 2 <= sp.count <= expected * 2
    mask = np.full((h, w), 255, np.uint8)
    S.SuperpixelStroke(sp).paint_segment(mask, 100, 100, 700, 600, 3, 1)
    foot = footprint((h, w), 100, 100, 700, 600, 3)
    assert np.array_equal(mask == 1, np.isin(lab, np.unique(lab[foot])))
