"""From a network's probability maps to objects: seeded watershed, tiling, object classes and
the automatic choice of the thresholds on validation images.

Inputs are two float arrays in [0, 1] of one image: ``foreground`` = 1 - p(background) and
``interior`` = p(an object's interior, neither boundary nor background). Objects come out as
an instance map (uint32, 0 = no object, 1..N).

The method (``instances_from_probs``):
1. mask = foreground > mask_threshold; seeds = 4-connected components of
   (interior > seed_threshold) inside the mask (one seed per object interior; the boundary
   channel is what keeps the seeds of touching objects apart).
2. Seeded watershed (scikit-image) of the elevation -interior inside the mask, 4-connected:
   every mask pixel joins the seed that reaches it along the highest interior probability, so
   touching objects split along the valley of the interior map, where the boundary channel
   holds them apart. -interior is used as is: adding a distance transform of the mask would
   cost about 0.4 s at 2048^2 (half the 1 s budget) and only helps where the interior map is
   flat, which the watershed's first-come order already splits evenly between the seeds.
   Only the seeds' outline pixels enter the flooding queue (their inner pixels cannot change
   anything: every neighbour already holds their label), which is about three times faster
   than giving the watershed whole seeds. The result is the same, except at ties: a pixel
   that two seeds reach at exactly the same level goes to the one scikit-image's queue
   serves first (its markers all enter with the same priority), which depends on what else
   is in the queue. Real probability maps rarely tie; flat synthetic ones do.
3. Foreground components that no seed reaches (small or faint objects whose interior never
   passed the seed threshold) become objects of their own.
4. Objects of fewer than ``min_size`` pixels are dropped: their pixels become background (not
   given to a neighbour, so min_size is a pure filter on one watershed result, which
   ``choose_params`` relies on); the rest are numbered 1..N.

Tiling (``instances_from_probs_tiled``): the image is cut into cores of ``tile`` x ``tile``
pixels, each processed with ``margin`` pixels of context on every side. An object is kept
from the one block whose core holds the top-left corner of its bounding box; written into the
result it never overwrites an object kept before. Assumption: every object, with the seeds
competing for its pixels, fits within ``margin`` pixels below and to the right of that corner
(in practice: objects up to about margin / 2 across). Then the block sees that object whole,
as the full image does, and the tiled result equals the untiled one up to the numbering of
the objects (and up to the ties of step 2, settled by a different queue). An object larger
than that can come out cut at block borders (kept in pieces by the blocks that hold their
corners; the tests check that round objects larger than the margin are not lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label
from skimage.segmentation import watershed

from segstudio.core.instance_metrics import InstanceScores, object_overlap
from segstudio.core.instances import INSTANCE_DTYPE
from segstudio.errors import ConfigError

SEED_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MASK_THRESHOLDS = (0.3, 0.4, 0.5, 0.6)
MIN_SIZES = (0, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class InstanceParams:
    """Thresholds of the post-processing, stored in a checkpoint's metadata (``to_json``)."""

    seed_threshold: float = 0.5
    mask_threshold: float = 0.5
    min_size: int = 8

    def __post_init__(self) -> None:
        for name in ("seed_threshold", "mask_threshold"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ConfigError(f"{name} must be a number in [0, 1], not {v!r}.")
        if isinstance(self.min_size, bool) or not isinstance(self.min_size, (int, np.integer)) \
                or self.min_size < 0:
            raise ConfigError(f"min_size must be a whole number >= 0, not {self.min_size!r}.")

    def to_json(self) -> dict[str, Any]:
        return {"seed_threshold": float(self.seed_threshold),
                "mask_threshold": float(self.mask_threshold), "min_size": int(self.min_size)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InstanceParams:
        """The parameters of ``to_json``; a missing key takes its default, an unknown one is
        refused (ConfigError), as is a value out of range."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"Instance parameters must be a JSON object, not {d!r}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown instance parameter(s): {', '.join(unknown)}.")
        return cls(**{**asdict(cls()), **dict(d)})


def _check_probs(foreground: Any, interior: Any) -> tuple[np.ndarray, np.ndarray]:
    fg = np.asarray(foreground, np.float32)
    it = np.asarray(interior, np.float32)
    if fg.ndim != 2 or fg.shape != it.shape:
        raise ValueError(f"foreground {fg.shape} and interior {it.shape} must be the same "
                         "H x W")
    return fg, it


def _inner(m: np.ndarray) -> np.ndarray:
    """Pixels of ``m`` whose four neighbours are in ``m`` too (outside the image counts as
    in): a binary erosion, written as four shifted ANDs (faster than ndimage for this)."""
    out = m.copy()
    out[1:] &= m[:-1]
    out[:-1] &= m[1:]
    out[:, 1:] &= m[:, :-1]
    out[:, :-1] &= m[:, 1:]
    return out


def _flood(interior: np.ndarray, mask: np.ndarray, seed_threshold: float) -> np.ndarray:
    """Steps 1-3 of the module doc on one crop: every object, none removed (int32 labels)."""
    out = np.zeros(mask.shape, np.int32)
    seed_mask = (interior > seed_threshold) & mask
    n = 0
    if seed_mask.any():
        seeds = label(seed_mask, connectivity=1).astype(np.int32, copy=False)
        n = int(seeds.max())
        # inner seed pixels (all 4 neighbours in the same seed) need no flooding
        inner = _inner(seed_mask)
        todo = mask & ~inner
        out = watershed(-interior, np.where(todo, seeds, 0), connectivity=1, mask=todo)
        out = np.where(inner, seeds, out).astype(np.int32, copy=False)
    rest = mask & (out == 0)
    if rest.any():
        extra = label(rest, connectivity=1).astype(np.int32, copy=False)
        out[rest] = extra[rest] + n
    return out


def _filter_sizes(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Objects of at least ``min_size`` pixels, numbered 1..N (uint32)."""
    areas = np.bincount(labels.ravel(), minlength=1)
    keep = areas >= max(min_size, 1)
    keep[0] = False
    lut = np.zeros(len(areas), INSTANCE_DTYPE)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=INSTANCE_DTYPE)
    return lut[labels]


def _all_objects(fg: np.ndarray, it: np.ndarray, seed_threshold: float,
                 mask_threshold: float) -> np.ndarray:
    """Every object before the size filter (int32), computed on the mask's bounding box."""
    mask = fg > mask_threshold
    out = np.zeros(mask.shape, np.int32)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows):
        box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        out[box] = _flood(it[box], mask[box], seed_threshold)
    return out


def instances_from_probs(foreground: Any, interior: Any,
                         params: InstanceParams | None = None) -> np.ndarray:
    """The instance map (uint32, 1..N) of one image's probability maps (module doc)."""
    p = params or InstanceParams()
    fg, it = _check_probs(foreground, interior)
    return _filter_sizes(_all_objects(fg, it, p.seed_threshold, p.mask_threshold), p.min_size)


def instances_from_probs_tiled(foreground: Any, interior: Any,
                               params: InstanceParams | None = None, tile: int = 2048,
                               margin: int = 192) -> np.ndarray:
    """``instances_from_probs`` block by block (cores of ``tile`` pixels, ``margin`` pixels
    of context), for images too large to process whole; see the module doc for when the
    result equals the untiled one. Memory: the output and the inputs as float32, plus what
    one block needs."""
    if tile < 1 or margin < 1:
        raise ValueError("tile and margin must be at least 1 pixel")
    p = params or InstanceParams()
    fg, it = _check_probs(foreground, interior)
    h, w = fg.shape
    if h <= tile and w <= tile:
        return instances_from_probs(fg, it, p)
    out = np.zeros((h, w), INSTANCE_DTYPE)
    next_id = 1
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            ey0, ex0 = max(0, y0 - margin), max(0, x0 - margin)
            ext = (slice(ey0, min(h, y0 + tile + margin)), slice(ex0, min(w, x0 + tile + margin)))
            lab = instances_from_probs(fg[ext], it[ext], p)
            boxes = ndi.find_objects(lab)
            lut = np.zeros(len(boxes) + 1, INSTANCE_DTYPE)
            for i, box in enumerate(boxes, 1):
                if box is None:
                    continue
                cy, cx = box[0].start + ey0, box[1].start + ex0
                if y0 <= cy < y0 + tile and x0 <= cx < x0 + tile:
                    lut[i] = next_id
                    next_id += 1
            if not lut.any():
                continue
            vals = lut[lab]
            sub = out[ext]
            put = (vals > 0) & (sub == 0)
            sub[put] = vals[put]
    # ids of objects wholly covered by earlier ones (only when an object outgrew the margin)
    return _filter_sizes(out, 1)


def classes_of_objects(instances: Any, class_probs: Any) -> dict[int, int]:
    """{object id: class}: the argmax of each class's probability summed over the object's
    pixels (ties: the lower class). ``class_probs`` is (C, H, W) for the C object classes;
    class = channel + 1 (0 is background)."""
    inst = np.asarray(instances)
    probs = np.asarray(class_probs)
    if probs.ndim != 3 or probs.shape[1:] != inst.shape or probs.shape[0] < 1:
        raise ValueError(f"class_probs {probs.shape} must be (C, H, W) with (H, W) = "
                         f"{inst.shape} and C >= 1")
    sel = inst > 0
    ids, inv = np.unique(inst[sel], return_inverse=True)
    if not len(ids):
        return {}
    sums = np.stack([np.bincount(inv.ravel(), weights=probs[c][sel], minlength=len(ids))
                     for c in range(probs.shape[0])])
    best = sums.argmax(axis=0) + 1
    return {int(i): int(c) for i, c in zip(ids, best, strict=True)}


Case = tuple[Any, Any, Any, Any]  # foreground, interior, gt instances, unlabelled or None


def _crop(case: Case, max_pixels: int) -> Case:
    """The case, cut to a centred window of at most ``max_pixels`` pixels."""
    fg, it, gt, unl = case
    h, w = np.shape(gt)
    if h * w <= max_pixels:
        return case
    side = max(1, int(np.sqrt(max_pixels)))
    ch = min(h, max(side, max_pixels // w))
    cw = min(w, max(1, max_pixels // ch))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    win = slice(y0, y0 + ch), slice(x0, x0 + cw)
    return (np.asarray(fg)[win], np.asarray(it)[win], np.asarray(gt)[win],
            None if unl is None else np.asarray(unl)[win])


def _sample(cases: Sequence[Case], max_pixels: int) -> list[Case]:
    """Cases to tune on, at most ``max_pixels`` pixels in all: images in a fixed shuffled
    order (so a budget smaller than the set still sees all kinds of image), each cut to at
    most a quarter of the budget, at least one image."""
    order = np.random.default_rng(0).permutation(len(cases))
    picked: list[Case] = []
    used = 0
    for i in order:
        case = _crop(cases[int(i)], max(1, max_pixels // 4))
        n = int(np.prod(np.shape(case[2])))
        if picked and used + n > max_pixels:
            continue
        picked.append(case)
        used += n
    return picked


def choose_params(cases: Iterable[Case], seed_thresholds: Sequence[float] = SEED_THRESHOLDS,
                  mask_thresholds: Sequence[float] = MASK_THRESHOLDS,
                  min_sizes: Sequence[int] = MIN_SIZES, max_pixels: int = 4_000_000
                  ) -> tuple[InstanceParams, dict[str, float]]:
    """The grid point with the best ``map`` (ties: ``ap50``, then ``aji``, then the earliest
    point in the order seed, mask, min size, each ascending) on validation ``cases``
    (foreground, interior, GT instance map, unlabelled mask or None), and its scores
    (InstanceScores.summary, over the images used).

    One watershed per image and (seed, mask) pair; each min size filters its result and is
    scored from the same pair table. At most ``max_pixels`` pixels are used (``_sample``)."""
    all_cases = list(cases)
    if not all_cases:
        raise ValueError("choose_params needs at least one validation image")
    seeds = sorted({float(s) for s in seed_thresholds})
    masks = sorted({float(m) for m in mask_thresholds})
    sizes = sorted({int(z) for z in min_sizes})
    grid = [(s, m, z) for s in seeds for m in masks for z in sizes]
    if not grid:
        raise ValueError("empty parameter grid")
    for s, m, z in grid:
        InstanceParams(s, m, z)  # validates the grid
    scores = {g: InstanceScores() for g in grid}
    for fg, it, gt, unl in _sample(all_cases, max_pixels):
        fg, it = _check_probs(fg, it)
        for s in seeds:
            for m in masks:
                ov = object_overlap(gt, _all_objects(fg, it, s, m), unl)
                for z in sizes:
                    scores[(s, m, z)].add_overlap(ov.keeping_pred(ov.pred_area >= max(z, 1)))
    results = {g: acc.summary() for g, acc in scores.items()}
    rank = {g: i for i, g in enumerate(grid)}
    best = max(grid, key=lambda g: (results[g]["map"], results[g]["ap50"], results[g]["aji"],
                                    -rank[g]))
    return InstanceParams(*best), results[best]


__all__ = [
    "MASK_THRESHOLDS", "MIN_SIZES", "SEED_THRESHOLDS", "InstanceParams", "choose_params",
    "classes_of_objects", "instances_from_probs", "instances_from_probs_tiled",
]
