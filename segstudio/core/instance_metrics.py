"""Object-level scores of instance maps, accumulated over a whole dataset.

An instance map is an integer array: 0 = no object, every other value one object (ids need
not be sequential). ``InstanceScores.update(gt, pred, unlabelled)`` adds one image; the
scores are read with ``summary()``. numpy only.

Matching (StarDist / Cellpose / DSB2018 convention). IoU between every ground-truth (GT) and
every predicted object comes from the histogram of (gt id, pred id) pairs over the pixels, so
the cost is one pass over the pixels plus the overlapping pairs, never objects x objects x
pixels. At a threshold tau a GT and a predicted object may be matched when IoU >= tau, each
object at most once, and TP is the largest number of such one-to-one matches (what StarDist's
``matching`` finds with a Hungarian assignment). Above 0.5 this needs no search: IoU > 0.5
means the pair shares more than half of either object, so an object with such a partner has
no other partner with IoU >= 0.5, and every such pair is matched. Only IoU exactly 0.5 (for
example a 2-pixel GT object and a 1-pixel prediction on each half) lets an object have two
candidates; those ties are resolved by a maximum bipartite matching (augmenting paths) over
the tied pairs, so TP at 0.5 is still the largest possible, as with the Hungarian oracle in
the tests.

Scores, with TP, FP = predicted - TP, FN = GT - TP summed over all images:
- ``ap_per_tau()`` {tau: TP / (TP + FP + FN)} for tau in TAUS (0.5, 0.55, ..., 0.95), the
  "AP" of StarDist and Cellpose; ``ap50``, ``ap75`` and ``map`` (the mean over the ten taus).
- ``dsb_score``: the Kaggle DSB2018 score, the mean over images of each image's mean over tau
  of TP / (TP + FP + FN); images with neither GT nor predicted objects are skipped.
- ``precision50`` TP / predicted, ``recall50`` TP / GT, ``f150`` 2 TP / (GT + predicted).
- ``aji``: aggregated Jaccard index (Kumar et al. 2017, IEEE TMI): every GT object takes the
  predicted object of largest IoU (ties: the lowest predicted id; a predicted object may be
  taken by several GT objects, as in the paper), C += |G & S|, U += |G | S|; a GT object
  without any overlapping prediction adds its area to U, and every predicted object taken by
  no GT object adds its area to U. C and U are summed over the dataset, aji = C / U.
- ``count_error`` mean over images of |predicted - GT| objects, ``count_error_rel`` the mean of
  |predicted - GT| / max(GT, 1); ``images``, ``gt_objects``, ``pred_objects`` (after the
  unlabelled rule below).

Undefined ratios (0/0). If the scored images hold no GT object and no predicted object at all,
nothing was to be found and nothing was found falsely: every score is 1.0 (a perfect result;
likewise ``dsb_score`` when every image was skipped, and with no image at all). Otherwise a
ratio with a zero denominator is 0.0 (StarDist's ``_safe_divide``): precision with no
prediction, recall with no GT object. Every other ratio has a positive denominator then. The
count errors are 0.0 without images. No score is ever NaN, so the summary is valid JSON.

Unlabelled pixels (sparse validation images). ``unlabelled`` marks pixels the user has not
labelled. A predicted object with more than half of its pixels unlabelled is left out: it is
neither TP nor FP (the user may simply not have painted that object yet); a GT object with
more than half of its pixels unlabelled is left out the same way (neither TP nor FN). Left-out
objects take no part in the counts, the matching or the AJI (they are not candidates for a GT
object's best match and add nothing to U). IoU is always computed over all pixels of the two
objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

TAUS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
SUMMARY_KEYS = (
    "ap50", "ap75", "map", "dsb_score", "precision50", "recall50", "f150", "aji",
    "count_error", "count_error_rel", "images", "gt_objects", "pred_objects",
)


def _ids(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "ui":
        raise ValueError(f"{name} must hold integer object ids, not {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        raise ValueError(f"{name} holds negative ids")
    if arr.dtype == np.uint64:  # bincount and indexing take intp
        if arr.size and int(arr.max()) >= 1 << 62:
            raise ValueError(f"{name} holds ids beyond 2**62")
        arr = arr.astype(np.int64)
    return arr.ravel()


def _objects(flat: np.ndarray, bins: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(the ids of the pixels, possibly renumbered; the ids present, sorted; their areas; a
    lookup table pixel id -> 0-based object index)."""
    top = int(flat.max(initial=0))
    if top < bins:
        counts = np.bincount(flat, minlength=1)
        counts[0] = 0
        ids = np.flatnonzero(counts)
        lut = np.full(len(counts), -1, np.intp)
        lut[ids] = np.arange(len(ids))
        return flat, ids.astype(np.int64), counts[ids].astype(np.int64), lut
    # ids far beyond the pixel count: renumber 1..N by sorting the pixels
    uniq, inv, counts = np.unique(flat, return_inverse=True, return_counts=True)
    seq = inv.astype(np.intp).ravel()
    if uniq[0] == 0:
        uniq, counts = uniq[1:], counts[1:]
    else:  # no background pixel: shift so 0 stays "no object"
        seq += 1
    return (seq, uniq.astype(np.int64), counts.astype(np.int64),
            np.arange(-1, len(uniq), dtype=np.intp))


@dataclass(frozen=True)
class ObjectOverlap:
    """The objects of one image pair and the pixels each (GT, predicted) pair shares.

    Objects are numbered 0..N-1 (GT) and 0..M-1 (predicted) in increasing order of their ids
    (``gt_ids``, ``pred_ids``); ``pair_gt[k]``, ``pair_pred[k]`` share ``pair_inter[k]`` > 0
    pixels. ``gt_keep`` / ``pred_keep`` are False for objects left out (unlabelled rule)."""

    gt_ids: np.ndarray
    pred_ids: np.ndarray
    gt_area: np.ndarray
    pred_area: np.ndarray
    pair_gt: np.ndarray
    pair_pred: np.ndarray
    pair_inter: np.ndarray
    gt_keep: np.ndarray
    pred_keep: np.ndarray

    def pair_union(self) -> np.ndarray:
        return self.gt_area[self.pair_gt] + self.pred_area[self.pair_pred] - self.pair_inter

    def pair_iou(self) -> np.ndarray:
        return self.pair_inter / self.pair_union()

    def iou_matrix(self) -> np.ndarray:
        """Dense (N, M) IoU (for inspection and small images; scoring never builds it)."""
        out = np.zeros((len(self.gt_ids), len(self.pred_ids)))
        out[self.pair_gt, self.pair_pred] = self.pair_iou()
        return out

    def keeping_pred(self, keep: np.ndarray) -> ObjectOverlap:
        """The same overlap with only the predicted objects where ``keep`` (length M) is True
        (and not already left out): what removing the others from the prediction would give,
        since removing an object changes no other object's pixels."""
        keep = np.asarray(keep, bool)
        if keep.shape != self.pred_keep.shape:
            raise ValueError("keep needs one entry per predicted object")
        return replace(self, pred_keep=self.pred_keep & keep)


def object_overlap(gt: Any, pred: Any, unlabelled: Any = None) -> ObjectOverlap:
    """Areas and pairwise intersections of the objects of ``gt`` and ``pred`` (same shape);
    ``unlabelled`` (bool, same shape, optional) applies the left-out rule of the module doc."""
    g, p = _ids(gt, "gt"), _ids(pred, "pred")
    if np.shape(gt) != np.shape(pred):
        raise ValueError(f"gt {np.shape(gt)} and pred {np.shape(pred)} differ in size")
    unl = None
    if unlabelled is not None:
        unl = np.asarray(unlabelled, bool)
        if unl.shape != np.shape(gt):
            raise ValueError(f"unlabelled {unl.shape} and gt {np.shape(gt)} differ in size")
        unl = unl.ravel()
    bins = max(2 * g.size, 1 << 20)  # largest table counted with one bincount
    g, gt_ids, gt_area, lut_g = _objects(g, bins)
    p, pred_ids, pred_area, lut_p = _objects(p, bins)
    top_g, top_p = len(lut_g) - 1, len(lut_p) - 1
    if (top_g + 1) * (top_p + 1) > bins:  # sparse ids: renumber 1..N (a gather, no sort)
        g, lut_g = (lut_g + 1)[g], np.arange(-1, len(gt_ids), dtype=np.intp)
        p, lut_p = (lut_p + 1)[p], np.arange(-1, len(pred_ids), dtype=np.intp)
        top_g, top_p = len(gt_ids), len(pred_ids)
    both = (g > 0) & (p > 0)
    keys = g[both].astype(np.int64) * (top_p + 1) + p[both]
    if (top_g + 1) * (top_p + 1) <= bins:
        hist = np.bincount(keys, minlength=(top_g + 1) * (top_p + 1))
        keys = np.flatnonzero(hist)
        inter = hist[keys]
    else:
        keys, inter = np.unique(keys, return_counts=True)
    n, m = len(gt_ids), len(pred_ids)
    gt_keep = np.ones(n, bool)
    pred_keep = np.ones(m, bool)
    if unl is not None:  # objects with more than half of their pixels unlabelled: left out
        gu, pu = g[unl], p[unl]
        gt_keep = 2 * np.bincount(lut_g[gu[gu > 0]], minlength=n) <= gt_area
        pred_keep = 2 * np.bincount(lut_p[pu[pu > 0]], minlength=m) <= pred_area
    return ObjectOverlap(
        gt_ids=gt_ids, pred_ids=pred_ids, gt_area=gt_area, pred_area=pred_area,
        pair_gt=lut_g[keys // (top_p + 1)], pair_pred=lut_p[keys % (top_p + 1)],
        pair_inter=inter.astype(np.int64), gt_keep=gt_keep, pred_keep=pred_keep)


def _max_matching(edges_gt: np.ndarray, edges_pred: np.ndarray) -> int:
    """Size of a maximum bipartite matching (augmenting paths; the tied graphs are tiny)."""
    adj: dict[int, list[int]] = {}
    for a, b in zip(edges_gt.tolist(), edges_pred.tolist(), strict=True):
        adj.setdefault(a, []).append(b)
    partner: dict[int, int] = {}

    def augment(a: int, seen: set[int]) -> bool:
        for b in adj[a]:
            if b in seen:
                continue
            seen.add(b)
            if b not in partner or augment(partner[b], seen):
                partner[b] = a
                return True
        return False

    return sum(augment(a, set()) for a in sorted(adj))


@dataclass(frozen=True)
class ImageCounts:
    """What one image adds to the dataset scores."""

    gt_objects: int
    pred_objects: int
    tp: tuple[int, ...]  # per tau in TAUS
    aji_intersection: int
    aji_union: int


def image_counts(ov: ObjectOverlap) -> ImageCounts:
    """Object counts, true positives per tau and the AJI sums of one image."""
    n_gt, n_pred = int(ov.gt_keep.sum()), int(ov.pred_keep.sum())
    sel = ov.gt_keep[ov.pair_gt] & ov.pred_keep[ov.pair_pred]
    pg, pp, inter = ov.pair_gt[sel], ov.pair_pred[sel], ov.pair_inter[sel]
    union = ov.gt_area[pg] + ov.pred_area[pp] - inter
    iou = inter / np.maximum(union, 1)
    tp = [int(np.count_nonzero(iou >= tau)) for tau in TAUS]
    tied = 2 * inter == union  # IoU exactly 0.5: the only case with two candidates
    if tied.any():
        tp[0] = int(np.count_nonzero(2 * inter > union)) + _max_matching(pg[tied], pp[tied])
    # AJI: the best predicted object of each GT object (largest IoU, then lowest id)
    order = np.lexsort((pp, -iou, pg))
    first = np.ones(len(order), bool)
    first[1:] = pg[order][1:] != pg[order][:-1]
    best = order[first]
    c, u = int(inter[best].sum()), int(union[best].sum())
    used = np.zeros(len(ov.pred_keep), bool)
    used[pp[best]] = True
    matched_gt = np.zeros(len(ov.gt_keep), bool)
    matched_gt[pg[best]] = True
    u += int(ov.gt_area[ov.gt_keep & ~matched_gt].sum())
    u += int(ov.pred_area[ov.pred_keep & ~used].sum())
    return ImageCounts(n_gt, n_pred, tuple(tp), c, u)


def _ratio(num: float, den: float, empty: bool) -> float:
    if empty:
        return 1.0
    return float(num / den) if den > 0 else 0.0


class InstanceScores:
    """Dataset-wide object scores: ``update`` with every image, read ``summary()``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.images = 0
        self.gt_objects = 0
        self.pred_objects = 0
        self.tp = np.zeros(len(TAUS), np.int64)
        self.aji_intersection = 0
        self.aji_union = 0
        self.dsb_sum = 0.0
        self.dsb_images = 0
        self.count_abs = 0.0
        self.count_rel = 0.0

    def update(self, gt: Any, pred: Any, unlabelled: Any = None) -> None:
        """Add one image: GT and predicted instance maps (same shape), ``unlabelled`` an
        optional bool mask of the pixels the user has not labelled."""
        self.add_counts(image_counts(object_overlap(gt, pred, unlabelled)))

    def add_overlap(self, ov: ObjectOverlap) -> None:
        self.add_counts(image_counts(ov))

    def add_counts(self, c: ImageCounts) -> None:
        tp = np.asarray(c.tp, np.int64)
        self.images += 1
        self.gt_objects += c.gt_objects
        self.pred_objects += c.pred_objects
        self.tp += tp
        self.aji_intersection += c.aji_intersection
        self.aji_union += c.aji_union
        objects = c.gt_objects + c.pred_objects
        if objects:
            self.dsb_sum += float(np.mean(tp / (objects - tp)))
            self.dsb_images += 1
        diff = abs(c.pred_objects - c.gt_objects)
        self.count_abs += diff
        self.count_rel += diff / max(c.gt_objects, 1)

    def merge(self, other: InstanceScores) -> None:
        """Add the images another accumulator has seen."""
        self.images += other.images
        self.gt_objects += other.gt_objects
        self.pred_objects += other.pred_objects
        self.tp += other.tp
        self.aji_intersection += other.aji_intersection
        self.aji_union += other.aji_union
        self.dsb_sum += other.dsb_sum
        self.dsb_images += other.dsb_images
        self.count_abs += other.count_abs
        self.count_rel += other.count_rel

    # scores ---------------------------------------------------------------------------
    @property
    def _empty(self) -> bool:
        return self.gt_objects + self.pred_objects == 0

    def ap_per_tau(self) -> dict[float, float]:
        """{tau: TP / (TP + FP + FN)} over the dataset, for tau in TAUS."""
        den = self.gt_objects + self.pred_objects - self.tp
        return {tau: _ratio(int(t), int(d), self._empty)
                for tau, t, d in zip(TAUS, self.tp, den, strict=True)}

    def summary(self) -> dict[str, float]:
        """The scores named in SUMMARY_KEYS (see the module docstring)."""
        ap = list(self.ap_per_tau().values())
        tp50, n_gt, n_pred = int(self.tp[0]), self.gt_objects, self.pred_objects
        empty = self._empty
        return {
            "ap50": ap[0],
            "ap75": ap[TAUS.index(0.75)],
            "map": float(np.mean(ap)),
            "dsb_score": self.dsb_sum / self.dsb_images if self.dsb_images else 1.0,
            "precision50": _ratio(tp50, n_pred, empty),
            "recall50": _ratio(tp50, n_gt, empty),
            "f150": _ratio(2 * tp50, n_gt + n_pred, empty),
            "aji": _ratio(self.aji_intersection, self.aji_union, empty),
            "count_error": self.count_abs / self.images if self.images else 0.0,
            "count_error_rel": self.count_rel / self.images if self.images else 0.0,
            "images": float(self.images),
            "gt_objects": float(n_gt),
            "pred_objects": float(n_pred),
        }


def instance_scores(pairs: Any) -> dict[str, float]:
    """``summary()`` of an iterable of (gt, pred) or (gt, pred, unlabelled) tuples."""
    acc = InstanceScores()
    for item in pairs:
        acc.update(*item)
    return acc.summary()


__all__ = [
    "SUMMARY_KEYS", "TAUS", "ImageCounts", "InstanceScores", "ObjectOverlap", "image_counts",
    "instance_scores", "object_overlap",
]
