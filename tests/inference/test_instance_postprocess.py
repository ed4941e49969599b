"""Probability maps to objects: watershed splits, sizes, tiling, classes, threshold choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import disk
from skimage.measure import label
from skimage.segmentation import watershed

from segstudio.core.instance_metrics import instance_scores
from segstudio.errors import ConfigError
from segstudio.inference.instance_postprocess import (
    InstanceParams,
    choose_params,
    classes_of_objects,
    instances_from_probs,
    instances_from_probs_tiled,
)


def _cells(shape, spacing, seed, radius=(0.45, 0.65)):
    """Touching round-ish objects: disks around jittered grid points, cut where two meet
    (each pixel belongs to its nearest centre), ids 1..N."""
    rng = np.random.default_rng(seed)
    ys = np.arange(spacing // 2, shape[0], spacing)
    xs = np.arange(spacing // 2, shape[1], spacing)
    pts = np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)
    pts = pts + rng.integers(-spacing // 5, spacing // 5 + 1, pts.shape)
    pts = np.clip(pts, 0, np.array(shape) - 1)
    centres = np.ones(shape, bool)
    centres[pts[:, 0], pts[:, 1]] = False
    dist, (iy, ix) = ndi.distance_transform_edt(centres, return_indices=True)
    ids = np.zeros(shape, np.int64)
    ids[pts[:, 0], pts[:, 1]] = np.arange(1, len(pts) + 1)
    nearest = ids[iy, ix]
    r = rng.uniform(*radius, len(pts) + 1) * spacing
    return _renumbered(np.where(dist <= r[nearest], nearest, 0))


def _renumbered(inst):
    """Ids 1..N (objects may vanish when neighbours or a cleared corner take them)."""
    present = np.unique(inst[inst > 0])
    lut = np.zeros(int(inst.max()) + 1, np.uint32)
    lut[present] = np.arange(1, len(present) + 1)
    return lut[inst]


def _ring(inst):
    """Pixels with a 4-neighbour of another id (the objects' outer ring, touching borders)."""
    b = np.zeros(inst.shape, bool)
    v, h = inst[1:] != inst[:-1], inst[:, 1:] != inst[:, :-1]
    b[1:] |= v
    b[:-1] |= v
    b[:, 1:] |= h
    b[:, :-1] |= h
    return b & (inst > 0)


def _probs(inst, fg_value=1.0, interior_value=1.0, noise=0.0, seed=0):
    """foreground = the objects, interior = the objects without their outer ring. With
    ``noise`` every value is moved by a uniform amount within +-noise, off the ends (no clip):
    no two pixels tie, as in a real network's output."""
    rng = np.random.default_rng(seed)
    out = []
    for m, v in ((inst > 0, fg_value), ((inst > 0) & ~_ring(inst), interior_value)):
        p = np.where(m, v - noise, noise) + rng.uniform(-noise, noise, inst.shape)
        out.append(p.astype(np.float32))
    return out[0], out[1]


def _same_objects(a, b):
    """Equal up to the numbering: same foreground, and the id pairs form a bijection."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return pairs.shape[1] == len(np.unique(a[a > 0])) == len(np.unique(b[b > 0]))


def test_two_touching_disks_with_a_boundary_become_two_objects():
    shape = (40, 60)
    fg = np.zeros(shape, np.float32)
    for cx in (22, 38):
        fg[disk((20, cx), 11, shape=shape)] = 1.0
    interior = fg.copy()
    interior[:, 29:31] = 0.1  # the boundary channel between them
    interior[~ndi.binary_erosion(fg > 0, iterations=1)] = 0.2
    out = instances_from_probs(fg, interior)
    assert out.dtype == np.uint32 and out.max() == 2
    assert np.array_equal(out > 0, fg > 0)
    left, right = out[20, 15], out[20, 45]
    assert {left, right} == {1, 2}
    assert (out[:, :29] != right).all() and (out[:, 31:] != left).all()


def test_objects_are_recovered_from_their_own_probability_map():
    inst = _cells((200, 240), 24, seed=1)
    fg, interior = _probs(inst)
    out = instances_from_probs(fg, interior)
    s = instance_scores([(inst, out)])
    assert s["ap50"] == 1.0 and s["ap75"] == 1.0 and s["map"] == 1.0
    assert s["gt_objects"] == s["pred_objects"] == inst.max()
    assert np.array_equal(out > 0, inst > 0)
    # apart from the few ring pixels where two objects meet, every pixel is right
    apart = inst.copy()
    apart[_ring(inst)] = 0  # objects separated by background: exact
    fg, interior = _probs(apart)
    assert _same_objects(instances_from_probs(fg, interior, InstanceParams(min_size=0)), apart)


@pytest.mark.parametrize("noise", [0.03, 0.1])
def test_same_objects_as_a_plain_seeded_watershed(noise):
    """Flooding from the seeds' outlines only (the speed-up) changes nothing (noisy maps:
    exact ties, settled by queue order, are the one place where the two may differ)."""
    inst = _cells((150, 170), 18, seed=6)
    fg, interior = _probs(inst, noise=noise, seed=7)
    p = InstanceParams(0.5, 0.5, 0)
    mask = fg > p.mask_threshold
    seeds = label((interior > p.seed_threshold) & mask, connectivity=1)
    ref = watershed(-interior, seeds, connectivity=1, mask=mask)
    rest = label(mask & (ref == 0), connectivity=1)
    ref = np.where(rest > 0, rest + ref.max(), ref)
    assert _same_objects(instances_from_probs(fg, interior, p), ref)


def test_min_size_removes_specks_and_ids_stay_sequential():
    inst = _cells((120, 120), 30, seed=2)
    inst[:12, :12] = 0
    inst = _renumbered(inst)
    fg, interior = _probs(inst)
    speck = np.zeros_like(fg, dtype=bool)
    speck[3:5, 3:5] = True  # a 4-pixel foreground speck away from the objects, no seed
    fg[speck] = 0.9
    keep_all = instances_from_probs(fg, interior, InstanceParams(min_size=0))
    assert keep_all.max() == inst.max() + 1 and (keep_all[speck] > 0).all()
    out = instances_from_probs(fg, interior, InstanceParams(min_size=8))
    assert out.max() == inst.max() and not out[speck].any()
    assert np.array_equal(np.unique(out), np.arange(out.max() + 1))
    big = instances_from_probs(fg, interior, InstanceParams(min_size=10 ** 6))
    assert not big.any()


def test_unseeded_foreground_becomes_an_object():
    fg = np.zeros((30, 30), np.float32)
    fg[5:15, 5:15] = 0.9
    out = instances_from_probs(fg, np.zeros_like(fg))  # no interior anywhere
    assert out.max() == 1 and np.array_equal(out > 0, fg > 0.5)


def test_empty_maps_give_no_objects():
    z = np.zeros((64, 48), np.float32)
    for f in (instances_from_probs, instances_from_probs_tiled):
        out = f(z, z)
        assert out.shape == z.shape and out.dtype == np.uint32 and not out.any()
    out = instances_from_probs_tiled(np.zeros((300, 300)), np.zeros((300, 300)), tile=64,
                                     margin=16)
    assert not out.any()
    assert instances_from_probs(np.zeros((0, 0)), np.zeros((0, 0))).shape == (0, 0)
    with pytest.raises(ValueError):
        instances_from_probs(z, z[:10])


@pytest.mark.parametrize("tile,margin", [(64, 40), (100, 48), (97, 41)])
def test_tiled_equals_untiled(tile, margin):
    """Objects about 25 pixels across, tiles of 64..100 pixels: most objects near a border.
    (Noisy values: where two seeds reach a pixel at exactly the same level the watershed's
    queue decides, and a block's queue is not the whole image's; see the module doc.)"""
    inst = _cells((330, 410), 22, seed=3)
    fg, interior = _probs(inst, noise=0.08, seed=4)
    whole = instances_from_probs(fg, interior)
    tiled = instances_from_probs_tiled(fg, interior, tile=tile, margin=margin)
    assert whole.max() > 200  # many objects, many of them across tile borders
    assert _same_objects(whole, tiled)
    assert np.array_equal(np.unique(tiled), np.arange(tiled.max() + 1))


def test_tiled_keeps_objects_larger_than_the_margin():
    """Beyond the stated assumption round objects may be cut at block borders, not lost."""
    inst = _cells((300, 300), 90, seed=5)
    fg, interior = _probs(inst)
    whole = instances_from_probs(fg, interior)
    tiled = instances_from_probs_tiled(fg, interior, tile=64, margin=8)
    for i in range(1, int(whole.max()) + 1):
        assert tiled[whole == i].any()
    with pytest.raises(ValueError):
        instances_from_probs_tiled(fg, interior, tile=0)


def test_classes_of_objects_take_the_summed_argmax():
    inst = np.array([[1, 1, 0, 7],
                     [1, 0, 0, 7]], np.uint32)
    probs = np.zeros((3, 2, 4), np.float32)
    probs[0] = [[0.9, 0.1, 0, 0.2], [0.1, 0, 0, 0.2]]  # object 1: 1.1 for class 1 ...
    probs[1] = [[0.1, 0.8, 0, 0.3], [0.7, 0, 0, 0.1]]  # ... 1.6 for class 2
    probs[2] = [[0.0, 0.1, 0, 0.3], [0.1, 0, 0, 0.1]]  # object 7: class 2 and 3 tie 0.4
    assert classes_of_objects(inst, probs) == {1: 2, 7: 2}
    assert classes_of_objects(np.zeros((2, 4), np.uint32), probs) == {}
    with pytest.raises(ValueError):
        classes_of_objects(inst, probs[:, :1])


def test_params_round_trip_and_validation():
    p = InstanceParams(0.35, 0.45, 16)
    assert InstanceParams.from_json(json.loads(json.dumps(p.to_json()))) == p
    assert InstanceParams.from_json({}) == InstanceParams()
    assert InstanceParams.from_json({"min_size": 3}).min_size == 3
    for bad in ({"seed_threshold": 1.5}, {"min_size": -1}, {"min_size": 2.5},
                {"mask_threshold": "x"}, {"other": 1}):
        with pytest.raises(ConfigError):
            InstanceParams.from_json(bad)
    with pytest.raises(ConfigError):
        InstanceParams.from_json([1, 2])


def test_choose_params_finds_the_thresholds_of_biased_noisy_maps():
    """An unsure network: objects' foreground 0.41..0.47, interiors 0.34..0.40, elsewhere
    0..0.06. The default thresholds (0.5) find nothing; only seed threshold 0.3 with mask
    threshold 0.3 or 0.4 recovers the objects."""
    cases = []
    for k in range(4):
        inst = _cells((96, 128), 20, seed=10 + k)
        fg, interior = _probs(inst, fg_value=0.47, interior_value=0.40, noise=0.03, seed=k)
        unl = None
        if k == 3:  # a sparse image: only the objects of the left half labelled
            cols = ndi.center_of_mass(inst > 0, inst, np.arange(1, inst.max() + 1))
            left = 1 + np.flatnonzero(np.array([c[1] for c in cols]) < 64)
            unl = ~np.isin(inst, left) & ((inst > 0) | (np.arange(128)[None, :] >= 64))
            inst = np.where(np.isin(inst, left), inst, 0)
        cases.append((fg, interior, inst, unl))
    default = instance_scores([(c[2], instances_from_probs(c[0], c[1]), c[3]) for c in cases])
    params, scores = choose_params(cases)
    assert default["map"] == 0.0 and default["pred_objects"] == 0
    assert params.seed_threshold == 0.3 and params.mask_threshold in (0.3, 0.4)
    assert scores["ap50"] == 1.0 and scores["map"] == 1.0
    again = instance_scores([(c[2], instances_from_probs(c[0], c[1], params), c[3])
                             for c in cases])
    assert again == scores  # the winner's scores are what instances_from_probs gives
    assert choose_params(cases) == (params, scores)  # deterministic


def test_choose_params_respects_the_pixel_budget():
    inst = _cells((200, 200), 25, seed=20)
    fg, interior = _probs(inst)
    cases = [(fg, interior, inst, None)] * 10
    _, scores = choose_params(cases, seed_thresholds=(0.5,), mask_thresholds=(0.5,),
                              min_sizes=(8,), max_pixels=100_000)
    assert scores["images"] == 4  # each cut to a quarter of the budget: 4 fit
    with pytest.raises(ValueError):
        choose_params([])
    with pytest.raises(ConfigError):
        choose_params(cases, seed_thresholds=(2.0,))
