"""Object scores against an independent oracle: IoU from per-object boolean masks, a Hungarian
matching (scipy) at every tau, and the AJI written out as in Kumar et al. 2017."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from skimage.draw import ellipse

from segstudio.core.instance_metrics import (
    SUMMARY_KEYS,
    TAUS,
    InstanceScores,
    instance_scores,
    object_overlap,
)

# --- the oracle: nothing shared with the module -------------------------------------------


def _objects(labels, unlabelled):
    """{id: bool mask} of the objects kept by the unlabelled rule (> 50 % unlabelled: out)."""
    out = {}
    for i in np.unique(labels):
        if i == 0:
            continue
        m = labels == i
        if unlabelled is not None and np.sum(m & unlabelled) > m.sum() / 2:
            continue
        out[int(i)] = m
    return out


def _oracle_image(gt, pred, unlabelled=None):
    g = _objects(gt, unlabelled)
    p = _objects(pred, unlabelled)
    gi, pi = sorted(g), sorted(p)
    inter = np.zeros((len(gi), len(pi)))
    union = np.zeros((len(gi), len(pi)))
    for a, ga in enumerate(gi):
        for b, pb in enumerate(pi):
            inter[a, b] = np.sum(g[ga] & p[pb])
            union[a, b] = np.sum(g[ga] | p[pb])
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    tp = []
    for tau in TAUS:
        if len(gi) and len(pi):
            r, c = linear_sum_assignment(-(iou >= tau).astype(float))
            tp.append(int(np.sum(iou[r, c] >= tau)))
        else:
            tp.append(0)
    # AJI, the paper's loop: best predicted object per GT object, then the unused ones
    c_sum = u_sum = 0.0
    used = set()
    for a, ga in enumerate(gi):
        if not len(pi) or iou[a].max() == 0:
            u_sum += g[ga].sum()
            continue
        b = int(np.argmax(iou[a]))  # first of the largest: the lowest id
        c_sum += inter[a, b]
        u_sum += union[a, b]
        used.add(b)
    for b, pb in enumerate(pi):
        if b not in used:
            u_sum += p[pb].sum()
    return len(gi), len(pi), tp, c_sum, u_sum


def _oracle(cases):
    n_gt = n_pred = 0
    tp = np.zeros(len(TAUS))
    c_sum = u_sum = 0.0
    dsb, counts, rel = [], [], []
    for case in cases:
        ng, npred, t, c, u = _oracle_image(*case)
        n_gt, n_pred, tp, c_sum, u_sum = n_gt + ng, n_pred + npred, tp + t, c_sum + c, u_sum + u
        t = np.asarray(t, float)
        if ng + npred:
            dsb.append(np.mean(t / (ng + npred - t)))
        counts.append(abs(npred - ng))
        rel.append(abs(npred - ng) / max(ng, 1))
    empty = n_gt + n_pred == 0  # the module's conventions: all 1.0, else x / 0 = 0

    def div(a, b):
        return 1.0 if empty else (a / b if b else 0.0)

    ap = np.array([div(t, n_gt + n_pred - t) for t in tp])
    return {
        "ap_per_tau": dict(zip(TAUS, ap, strict=True)), "ap50": ap[0], "ap75": ap[5],
        "map": ap.mean(), "dsb_score": np.mean(dsb) if dsb else 1.0,
        "precision50": div(tp[0], n_pred), "recall50": div(tp[0], n_gt),
        "f150": div(2 * tp[0], n_gt + n_pred), "aji": div(c_sum, u_sum),
        "count_error": np.mean(counts), "count_error_rel": np.mean(rel),
        "images": len(cases), "gt_objects": n_gt, "pred_objects": n_pred,
    }


# --- random instance maps -------------------------------------------------------------------


def _random_map(rng, shape, n):
    """Random ellipses and rectangles painted in turn (later ones cover earlier ones)."""
    out = np.zeros(shape, np.uint32)
    for i in range(1, n + 1):
        if rng.random() < 0.5:
            rr, cc = ellipse(rng.uniform(0, shape[0]), rng.uniform(0, shape[1]),
                             rng.uniform(2, 10), rng.uniform(2, 10), shape=shape,
                             rotation=rng.uniform(0, np.pi))
            out[rr, cc] = i
        else:
            y, x = rng.integers(0, shape[0] - 3), rng.integers(0, shape[1] - 3)
            out[y:y + rng.integers(2, 15), x:x + rng.integers(2, 15)] = i
    return out


def _perturbed(rng, gt):
    """A prediction: shifted, objects dropped, split, merged, grown, specks added, ids
    scrambled (not sequential)."""
    pred = np.roll(gt, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    ids = [int(i) for i in np.unique(pred) if i]
    for i in ids:
        r = rng.random()
        if r < 0.1:
            pred[pred == i] = 0
        elif r < 0.2:  # split along a column
            ys, xs = np.nonzero(pred == i)
            cut = xs.min() + (xs.max() - xs.min() + 1) // 2
            pred[(pred == i) & (np.arange(gt.shape[1])[None, :] >= cut)] = 500 + i
        elif r < 0.3 and len(ids) > 1:  # merged into another object
            pred[pred == i] = ids[int(rng.integers(len(ids)))]
    for _ in range(int(rng.integers(0, 4))):  # false positives
        y, x = rng.integers(0, gt.shape[0] - 3), rng.integers(0, gt.shape[1] - 3)
        pred[y:y + 3, x:x + 3] = 900 + int(rng.integers(50))
    lut = rng.permutation(np.arange(1, 2000, dtype=np.uint32) * 7)
    lut = np.concatenate([[0], lut]).astype(np.uint32)
    return lut[pred]


def _assert_matches(acc, cases):
    got, want = acc.summary(), _oracle(cases)
    assert set(got) == set(SUMMARY_KEYS)
    for k in SUMMARY_KEYS:
        assert got[k] == pytest.approx(want[k], abs=1e-12), k
    for tau, v in acc.ap_per_tau().items():
        assert v == pytest.approx(want["ap_per_tau"][tau], abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_random_maps_match_the_hungarian_oracle(seed):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(int(rng.integers(1, 5))):
        shape = (int(rng.integers(20, 70)), int(rng.integers(20, 70)))
        gt = _random_map(rng, shape, int(rng.integers(0, 15)))
        pred = _perturbed(rng, gt)
        unl, r = None, rng.random()
        if r < 0.3:  # sparse labels: a random band left unlabelled
            unl = np.zeros(shape, bool)
            unl[:, : int(rng.integers(0, shape[1]))] = True
        elif r < 0.5:  # or random pixels, so objects are partly unlabelled
            unl = rng.random(shape) < rng.random()
        cases.append((gt, pred, unl))
    acc = InstanceScores()
    for gt, pred, unl in cases:
        acc.update(gt, pred, unl)
    _assert_matches(acc, cases)


def test_accumulators_merge_like_one():
    rng = np.random.default_rng(3)
    cases = [(g, _perturbed(rng, g)) for g in (_random_map(rng, (40, 40), 8) for _ in range(4))]
    a, b, whole = InstanceScores(), InstanceScores(), InstanceScores()
    for i, (g, p) in enumerate(cases):
        (a if i % 2 else b).update(g, p)
        whole.update(g, p)
    a.merge(b)
    assert a.summary() == whole.summary()
    assert instance_scores(cases) == whole.summary()


def test_ids_need_not_be_sequential_or_small():
    rng = np.random.default_rng(5)
    gt = _random_map(rng, (60, 60), 12)
    pred = _perturbed(rng, gt)
    ref = instance_scores([(gt, pred)])
    big = np.where(gt > 0, gt.astype(np.uint64) * 1_000_003 + 17, 0)
    assert instance_scores([(big, pred.astype(np.int64))]) == ref
    assert instance_scores([(gt.astype(np.uint16), pred)]) == ref
    full = gt + 1  # no background pixel at all
    assert instance_scores([(full, pred)])["gt_objects"] == len(np.unique(full))


# --- hand-made cases ------------------------------------------------------------------------


def _box(shape, *boxes):
    out = np.zeros(shape, np.uint32)
    for i, (y0, y1, x0, x1) in enumerate(boxes, 1):
        out[y0:y1, x0:x1] = i
    return out


def test_perfect_prediction_scores_one():
    gt = _box((30, 30), (0, 10, 0, 10), (12, 20, 5, 25))
    s = instance_scores([(gt, gt * 3)])
    assert all(s[k] == 1.0 for k in ("ap50", "ap75", "map", "dsb_score", "precision50",
                                     "recall50", "f150", "aji"))
    assert s["count_error"] == 0 and s["gt_objects"] == 2 == s["pred_objects"]


def test_one_object_split_in_two():
    gt = _box((10, 10), (0, 10, 0, 10))
    halves = _box((10, 10), (0, 10, 0, 5), (0, 10, 5, 10))  # IoU 0.5 each: a tie
    s = InstanceScores()
    s.update(gt, halves)
    assert s.ap_per_tau()[0.5] == pytest.approx(1 / 2)  # 1 TP, 1 FP, 0 FN
    assert s.ap_per_tau()[0.55] == 0.0
    assert s.summary()["aji"] == pytest.approx(50 / (100 + 50))  # best half + the unused one
    assert s.summary()["count_error"] == 1
    uneven = _box((10, 10), (0, 10, 0, 6), (0, 10, 6, 10))  # IoU 0.6 and 0.4
    s = instance_scores([(gt, uneven)])
    assert s["ap50"] == pytest.approx(1 / 2) and s["precision50"] == 0.5 and s["recall50"] == 1
    assert s["aji"] == pytest.approx(60 / (100 + 40))


def test_two_objects_merged_into_one():
    gt = _box((10, 10), (0, 10, 0, 5), (0, 10, 5, 10))
    merged = _box((10, 10), (0, 10, 0, 10))
    s = instance_scores([(gt, merged)])
    assert s["ap50"] == pytest.approx(1 / 2)  # one GT matched (tie at 0.5), one missed
    assert s["ap75"] == 0.0
    assert s["aji"] == pytest.approx((50 + 50) / (100 + 100))  # used twice, as in the paper
    assert s["count_error"] == 1 and s["count_error_rel"] == 0.5


def test_ties_at_one_half_take_the_largest_matching():
    # GT object of 2 pixels, a 1-pixel prediction on each half: IoU 0.5 twice
    gt = np.array([[1, 1, 0, 2]], np.uint32)
    pred = np.array([[5, 6, 0, 0]], np.uint32)
    ov = object_overlap(gt, pred)
    assert np.allclose(ov.iou_matrix(), [[0.5, 0.5], [0, 0]])
    s = InstanceScores()
    s.update(gt, pred)
    assert s.tp[0] == 1 and s.tp[1:].sum() == 0


def test_empty_everywhere_is_perfect():
    z = np.zeros((8, 8), np.uint32)
    s = instance_scores([(z, z), (z, z)])
    for k in ("ap50", "ap75", "map", "dsb_score", "precision50", "recall50", "f150", "aji"):
        assert s[k] == 1.0
    assert s["count_error"] == 0 and s["images"] == 2 and s["gt_objects"] == 0
    none = InstanceScores().summary()
    assert none["map"] == 1.0 and none["images"] == 0 and none["count_error"] == 0
    json.dumps(s, allow_nan=False)


def test_no_predictions_and_no_ground_truth():
    gt = _box((10, 10), (0, 4, 0, 4), (5, 9, 5, 9))
    z = np.zeros_like(gt)
    s = instance_scores([(gt, z)])
    for k in ("ap50", "map", "dsb_score", "precision50", "recall50", "f150", "aji"):
        assert s[k] == 0.0, k
    assert s["count_error"] == 2 and s["count_error_rel"] == 1
    s = instance_scores([(z, gt)])
    for k in ("ap50", "map", "dsb_score", "precision50", "recall50", "f150", "aji"):
        assert s[k] == 0.0, k
    assert s["count_error"] == 2 and s["count_error_rel"] == 2
    json.dumps(s, allow_nan=False)


def test_empty_images_are_skipped_by_the_dsb_score_only():
    gt = _box((10, 10), (0, 4, 0, 4))
    z = np.zeros_like(gt)
    s = instance_scores([(gt, gt), (z, z), (z, z)])
    assert s["dsb_score"] == 1.0 and s["map"] == 1.0
    assert s["images"] == 3 and s["count_error"] == 0
    s = instance_scores([(gt, gt), (gt, z)])
    assert s["dsb_score"] == pytest.approx(0.5) and s["map"] == pytest.approx(0.5)


def test_unlabelled_pixels_leave_objects_out():
    gt = _box((10, 20), (0, 4, 0, 4))
    pred = _box((10, 20), (0, 4, 0, 4), (0, 4, 10, 14), (6, 10, 10, 14))
    unl = np.zeros(gt.shape, bool)
    unl[:, 10:] = True  # the user has not looked at the right half
    s = instance_scores([(gt, pred, unl)])
    assert s["ap50"] == 1.0 and s["pred_objects"] == 1 and s["precision50"] == 1.0
    assert s["aji"] == 1.0 and s["count_error"] == 0
    # exactly half unlabelled stays in: an FP
    unl = np.zeros(gt.shape, bool)
    unl[:, 12:] = True
    s = instance_scores([(gt, pred, unl)])
    assert s["pred_objects"] == 3 and s["ap50"] == pytest.approx(1 / 3)
    # a GT object mostly in unlabelled pixels is left out too (neither TP nor FN)
    gt2 = _box((10, 20), (0, 4, 0, 4), (6, 10, 15, 19))
    unl = np.zeros(gt.shape, bool)
    unl[:, 14:] = True
    s = instance_scores([(gt2, gt, unl)])
    assert s["gt_objects"] == 1 and s["recall50"] == 1.0


def test_keeping_pred_equals_removing_the_objects():
    rng = np.random.default_rng(9)
    gt = _random_map(rng, (50, 50), 12)
    pred = _perturbed(rng, gt)
    ov = object_overlap(gt, pred)
    keep = ov.pred_area >= 20
    removed = np.where(np.isin(pred, ov.pred_ids[~keep]), 0, pred)
    a, b = InstanceScores(), InstanceScores()
    a.add_overlap(ov.keeping_pred(keep))
    b.update(gt, removed)
    assert a.summary() == b.summary()


def test_bad_inputs_are_refused():
    z = np.zeros((4, 4), np.uint32)
    with pytest.raises(ValueError, match="differ"):
        object_overlap(z, np.zeros((4, 5), np.uint32))
    with pytest.raises(ValueError, match="integer"):
        object_overlap(z.astype(float), z)
    with pytest.raises(ValueError, match="negative"):
        object_overlap(z.astype(np.int32) - 1, z)
    with pytest.raises(ValueError, match="unlabelled"):
        object_overlap(z, z, np.zeros((3, 3), bool))


def test_large_maps_are_scored_from_the_pair_histogram():
    """1024^2 with ~500 objects each: far below a second (a per-pair pixel loop takes
    minutes), so the pair table, not objects x objects x pixels, does the work."""
    n, step = 1024, 46
    yy, xx = np.mgrid[0:n, 0:n]
    gt = ((yy // step) * (n // step + 1) + xx // step + 1).astype(np.uint32)
    gt[(yy % step < 3) | (xx % step < 3)] = 0
    pred = np.roll(gt, 4, axis=1)
    acc = InstanceScores()
    t = time.perf_counter()
    acc.update(gt, pred)
    assert time.perf_counter() - t < 1.0
    s = acc.summary()
    assert s["gt_objects"] >= 480 and 0.5 < s["ap50"] <= 1.0
