"""Label efficiency of the annotation assistants (issue 15): validation mIoU against the number
of annotator actions, for a simulated annotator working from the ground truth, and the latency
of the assistants on large images.

    python benchmarks/label_efficiency.py            # the study of docs/quality.md (~50 min)
    python benchmarks/label_efficiency.py --quick    # CI size: 2 images, 2 rounds (~1.5 min)
    python benchmarks/label_efficiency.py --smoke    # ~15 s: 1 image, 2 tiny rounds (tests)
    python benchmarks/label_efficiency.py --only isbi,dsb --no-latency --work /tmp/a &
    python benchmarks/label_efficiency.py --only camvid --work /tmp/b; wait
    python benchmarks/label_efficiency.py --merge /tmp/a/label_efficiency.json \
        /tmp/b/label_efficiency.json                 # one table, plot and JSON line for both

What is simulated. One *action* is one brush stroke, one wand click, one superpixel drag, one
GrabCut box or one model-brush stroke. The annotator labels a pool of training images of each
data set (ISBI: 256^2 crops of the training slices; CamVid: training images at half size,
240 x 180; DSB2018: 256^2 crops, nucleus / background from the instance maps) in rounds: after
a fixed cumulative number of actions (``SCHEDULE``) the project's own trainer
(``segstudio.training.loop.train``, as ``segstudio train`` runs it, headless) trains a small
U-Net from scratch for a FIXED number of iterations with a fixed seed (no time budget: the
results do not depend on how busy the CPU is) on everything labelled so far, and the trainer's
validation (the project's ConfusionMatrix) scores it on held-out images with full ground truth
(ISBI: crops of the val slices 20-24; CamVid and DSB2018: their val split).

Strategies, all on the same schedule:
  (a) brush: each action is one straight stroke of a small brush through the medial point of
      the unlabelled part of a ground-truth region (a connected component of one class, or one
      DSB nucleus), along the direction that stays longest inside the region shrunk by the
      brush radius (at most ``stroke`` pixels). Only pixels whose ground truth is that class
      are written (a careful annotator). Classes take turns, for each class the pool's images
      take turns, and in the image the region of that class with the most unlabelled pixels
      goes first.
  (b) assistants: the same order of regions, and for each region the tool that labels the
      most correct new pixels among: that brush stroke; a wand click on the same medial point
      (the simulated user drags the tolerance: the largest of 4, 8, ..., 64 whose region, with
      labelled pixels as walls, is >= 95 % of the region's class); a superpixel drag
      (``SuperpixelStroke``) along a chord inside the superpixels that are >= 90 % that class,
      so it labels only those; and on DSB nuclei a GrabCut box (the instance's bounding box
      plus 3 pixels). A tool whose written pixels are more than 5 % wrong is not used; the
      wrong pixels of an accepted tool are written (they are what the user would get).
  (c) as (b) in the first round; from the second round on, "label here next": the image with
      the most uncertain unlabelled pixels (``image_uncertainty`` of the ``entropy_map`` of the
      previous round's model, ``order_by_uncertainty``) and in it the ``most_uncertain_window``;
      in the window the annotator either corrects the model with a (b) tool on the region with
      the most wrongly predicted unlabelled pixels (the tool's seed and stroke start there), or
      accepts the prediction with the model brush (``accept_segment``, a large brush) along a
      chord where the prediction is right under the whole brush (a careful user only brushes
      where it is right). Of the two it takes the one whose correct new pixels, counting pixels
      the model had wrong four times, are most. A window is left after 4 actions or when
      neither is possible.
A "full labels" run trains the same way on the pool's complete ground truth. The figure of merit
is the number of actions each strategy needs to reach 90 % of that run's mIoU, interpolated
log-linearly in the number of actions between the first round at or above the target and the
round before it (if the first round already reaches it, the figure is "at most" that round's
actions; if no round does, "more than" the budget). The ratio (c) / (a) is then exact, an
upper bound or a lower bound; the JSON says which.

Latency (median of repeats, on real images tiled to size with mirroring, not noise): the wand
on an 8192^2 image filling a region of about 1 MP, SLIC superpixels (the default size 24) of a
2048^2 image, and GrabCut on a 512^2 box.

Prints a table; the last line is JSON with actions_ratio_isbi, actions_ratio_camvid,
actions_ratio_dsb (null for an absent data set), per data set the actions of each strategy and
*_reached flags, the curves, and wand_ms_8192, slic_s_2048, grabcut_ms_512.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from segstudio.core.painting import Rect, paint_segment  # noqa: E402

if TYPE_CHECKING:
    from segstudio.core.superpixels import Superpixels

VOID = 255
SCHEDULE = (10, 20, 40, 80, 160)
QUICK_SCHEDULE = (5, 10)
SMOKE_SCHEDULE = (2, 4)
TOLERANCES = (64, 48, 32, 24, 16, 12, 8, 4)   # the user tries the largest that stays right
WAND_PURITY = 0.95
SUPERPIXEL_PURITY = 0.90
MAX_WRONG = 0.05
MODEL_BRUSH_MAX_WRONG = 0.01
WRONG_WEIGHT = 4          # (c): a new correct pixel the model had wrong counts this much
WINDOW_ACTIONS = 4        # (c): actions in one "label here next" window before asking again
MIN_REGION = 12           # pixels; smaller ground-truth pieces are not worth an action
BOX_MARGIN = 3
ANGLES = np.linspace(0.0, math.pi, 8, endpoint=False)
STRATEGIES = ("a", "b", "c")
STRATEGY_NAMES = {"a": "(a) brush", "b": "(b) assistants", "c": "(c) assistants + active"}


# --------------------------------------------------------------------------- data sets
@dataclass
class Spec:
    key: str                  # isbi, camvid, dsb
    classes: list[str]
    brush: int                # the small brush, pixels
    big_brush: int            # the model brush, pixels
    stroke: int               # longest stroke, pixels
    superpixel: int           # superpixel size, pixels
    window: int               # "label here next" window, pixels
    iterations: int           # training iterations per round
    patch: int
    batch: int
    lr: float = 3e-3


@dataclass
class Scene:
    """One pool image: what the annotator sees (``image``), the truth, and its labels."""
    id: str
    image: np.ndarray         # uint8 H x W or H x W x 3: the display image
    gt: np.ndarray            # uint8 class per pixel, 255 = void
    inst: np.ndarray | None = None   # DSB: instance ids (regions of the nucleus class)
    mask: np.ndarray = field(init=False)
    region_id: np.ndarray = field(init=False)        # int32, -1: no region
    region_cls: list[int] = field(default_factory=list)
    region_box: list[Rect] = field(default_factory=list)
    is_object: list[bool] = field(default_factory=list)
    _dt: dict[int, np.ndarray] = field(default_factory=dict)
    _sp: Superpixels | None = None
    _pure_dt: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mask = np.full(self.gt.shape, VOID, np.uint8)
        self.region_id = np.full(self.gt.shape, -1, np.int32)
        self._make_regions()

    def _make_regions(self) -> None:
        from scipy import ndimage

        for c in sorted(int(v) for v in np.unique(self.gt) if v != VOID):
            if self.inst is not None and c == 1:
                comps, n = self.inst.astype(np.int64), int(self.inst.max(initial=0))
                comps = np.where(self.gt == 1, comps, 0)
            else:
                comps, n = ndimage.label(self.gt == c)
            objs = ndimage.find_objects(comps, max_label=n) if n else []
            for i, sl in enumerate(objs, start=1):
                if sl is None:
                    continue
                inside = comps[sl] == i
                if inside.sum() < MIN_REGION:
                    continue
                rid = len(self.region_cls)
                self.region_id[sl][inside] = rid
                self.region_cls.append(c)
                self.region_box.append(Rect(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
                self.is_object.append(self.inst is not None and c == 1)

    def unlabelled_counts(self) -> np.ndarray:
        free = (self.mask == VOID) & (self.region_id >= 0)
        return np.bincount(self.region_id[free], minlength=len(self.region_cls))

    def region_dt(self, rid: int) -> tuple[Rect, np.ndarray]:
        """The region's box padded by one pixel and its distance transform over it."""
        from scipy import ndimage

        b = self.region_box[rid]
        h, w = self.gt.shape
        box = Rect(max(0, b.x0 - 1), max(0, b.y0 - 1), min(w, b.x1 + 1), min(h, b.y1 + 1))
        if rid not in self._dt:
            # padded with "outside": the image border is an edge of the region, not its middle
            inside = np.pad(self.region_id[box.slices] == rid, 1)
            self._dt[rid] = ndimage.distance_transform_edt(inside)[1:-1, 1:-1]
        return box, self._dt[rid]

    @property
    def superpixels(self) -> Superpixels:
        assert self._sp is not None, "ensure_superpixels first"
        return self._sp

    def ensure_superpixels(self, size: int) -> None:
        from segstudio.core.superpixels import compute_superpixels

        if self._sp is None:
            self._sp = compute_superpixels(self.image, size)

    def pure_dt(self, cls: int) -> np.ndarray:
        """Distance transform of the union of superpixels >= 90 % class ``cls``."""
        from scipy import ndimage

        if cls not in self._pure_dt:
            lab = self.superpixels.labels
            n = int(lab.max()) + 1
            total = np.bincount(lab.ravel(), minlength=n)
            same = np.bincount(lab.ravel(), weights=(self.gt == cls).ravel(), minlength=n)
            pure = same >= SUPERPIXEL_PURITY * np.maximum(total, 1)
            self._pure_dt[cls] = ndimage.distance_transform_edt(np.pad(pure[lab], 1))[1:-1, 1:-1]
        return self._pure_dt[cls]


def _u8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    return ((a - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)


def _read(path: Path) -> np.ndarray:
    from segstudio.io.images import read_image

    img = read_image(path).data
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    return _u8(img)


def _read_mask(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


def _centre_crop(a: np.ndarray, size: int) -> np.ndarray:
    h, w = a.shape[:2]
    y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return a[y0:y0 + size, x0:x0 + size]


def _spread(names: list[str], n: int) -> list[str]:
    if n >= len(names):
        return names
    idx = np.linspace(0, len(names) - 1, n).round().astype(int)
    return [names[i] for i in idx]


Item = tuple[str, np.ndarray, np.ndarray, np.ndarray | None]


def load_isbi(n_pool: int, n_val: int, crop: int) -> tuple[list[Item], list[Item]]:
    d = DATA / "isbi2012_membrane"
    out: list[list[Item]] = []
    for split, n in (("train", n_pool), ("val", n_val)):
        names = _spread(sorted(p.stem for p in (d / split / "images").glob("*.png")), n)
        out.append([(s, _centre_crop(_read(d / split / "images" / f"{s}.png"), crop),
                     _centre_crop(_read_mask(d / split / "masks" / f"{s}.png"), crop), None)
                    for s in names])
    return out[0], out[1]


def load_camvid(n_pool: int, n_val: int, scale: float) -> tuple[list[Item], list[Item]]:
    import cv2

    d = DATA / "camvid11"
    out: list[list[Item]] = []
    for split, n in (("train", n_pool), ("val", n_val)):
        every = sorted(p.stem for p in (d / split / "images").glob("*.png"))
        names = _spread(every, n)
        if split == "val":
            # every class in the val images (the trainer refuses a class labelled nowhere)
            seen: set[int] = set()
            for s in names:
                seen |= set(np.unique(_read_mask(d / split / "masks" / f"{s}.png")).tolist())
            for s in every:
                missing = set(range(len(CAMVID_CLASSES))) - seen
                if not missing:
                    break
                have = set(np.unique(_read_mask(d / split / "masks" / f"{s}.png")).tolist())
                if have & missing and s not in names:
                    names.append(s)
                    seen |= have
        items: list[Item] = []
        for s in names:
            img = _read(d / split / "images" / f"{s}.png")
            m = _read_mask(d / split / "masks" / f"{s}.png")
            w, h = round(img.shape[1] * scale), round(img.shape[0] * scale)
            items.append((s, cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA),
                          cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST), None))
        out.append(items)
    return out[0], out[1]


def load_dsb(n_pool: int, n_val: int, crop: int) -> tuple[list[Item], list[Item]]:
    from segstudio.io.instances import read_instances

    d = DATA / "dsb2018_nuclei"
    out: list[list[Item]] = []
    for split, n in (("train", n_pool), ("val", n_val)):
        names = sorted(p.stem for p in (d / split / "images").glob("*.png"))
        items: list[Item] = []
        # evenly spread over the split (the image types vary), skipping crops with < 5 nuclei
        for s in _spread(names, 4 * n):
            if len(items) == n:
                break
            raw = _centre_crop(read_instances(d / split / "instances" / f"{s}.png"), crop)
            ids, inverse = np.unique(raw, return_inverse=True)
            inst = inverse.reshape(raw.shape).astype(np.uint32)   # ids 1..n in the crop
            if ids[0] != 0:
                inst += 1
            if int(inst.max()) < 5:
                continue
            img = _centre_crop(_read(d / split / "images" / f"{s}.png"), crop)
            items.append((s, img, (inst > 0).astype(np.uint8), inst))
        out.append(items)
    return out[0], out[1]


CAMVID_CLASSES = ["Sky", "Building", "Pole", "Road", "Sidewalk", "Tree", "SignSymbol", "Fence",
                  "Car", "Pedestrian", "Bicyclist"]


def dataset(key: str, size: str) -> tuple[Spec, list[Item], list[Item]] | None:
    """The spec, pool and val items of one data set at a size (full, quick, smoke); None when
    the data set is not on this machine."""
    n_pool, n_val = {"full": (6, 4), "quick": (2, 2), "smoke": (1, 1)}[size]
    iters = {"full": 1.0, "quick": 0.15, "smoke": 0.04}[size]
    if key == "isbi":
        if not (DATA / "isbi2012_membrane").is_dir():
            return None
        pool, val = load_isbi(n_pool, n_val, 256 if size != "smoke" else 128)
        spec = Spec("isbi", ["membrane", "cell"], brush=3, big_brush=15, stroke=48,
                    superpixel=12, window=96, iterations=int(150 * iters) or 4, patch=128,
                    batch=8, lr=5e-3)
    elif key == "camvid":
        if not (DATA / "camvid11").is_dir():
            return None
        pool, val = load_camvid(n_pool, 6 if size == "full" else n_val,
                                0.5 if size != "smoke" else 0.25)
        spec = Spec("camvid", CAMVID_CLASSES, brush=5, big_brush=15, stroke=48,
                    superpixel=16, window=96, iterations=int(200 * iters) or 4, patch=128,
                    batch=8, lr=5e-3)
    elif key == "dsb":
        if not (DATA / "dsb2018_nuclei").is_dir():
            return None
        pool, val = load_dsb(n_pool, n_val, 256 if size != "smoke" else 128)
        spec = Spec("dsb", ["background", "nucleus"], brush=3, big_brush=15, stroke=48,
                    superpixel=12, window=96, iterations=int(150 * iters) or 4, patch=128,
                    batch=8, lr=5e-3)
    else:
        raise SystemExit(f"unknown data set {key!r}")
    if size == "smoke":
        spec.patch, spec.batch = 64, 2
    elif size == "quick":
        spec.patch = 96
    return spec, pool, val


# ------------------------------------------------------------------- the annotator
@dataclass
class Outcome:
    tool: str
    mask: np.ndarray          # the scene's mask after the action (a copy)
    correct: int              # new pixels whose truth is what was written
    wrong: int                # new pixels written with another class (or on void)
    score: float = 0.0


def _outcome(tool: str, scene: Scene, new: np.ndarray, heavy: np.ndarray | None = None
             ) -> Outcome | None:
    changed = new != scene.mask
    if not changed.any():
        return None
    right = changed & (new == scene.gt)
    correct = int(right.sum())
    wrong = int(changed.sum()) - correct
    score = float(correct)
    if heavy is not None:
        score += (WRONG_WEIGHT - 1) * float((right & heavy).sum())
    return Outcome(tool, new, correct, wrong, score)


def _line(y: float, x: float, a: float, n: int, sign: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(1, n + 1) * sign
    return (np.rint(y + t * math.sin(a)).astype(int), np.rint(x + t * math.cos(a)).astype(int))


def chord(allowed: np.ndarray, gain: np.ndarray, y: int, x: int, length: int
          ) -> tuple[float, float, float, float]:
    """The straight stroke through (y, x) (array coordinates) that stays in ``allowed`` for at
    most ``length`` pixels and covers the most ``gain`` pixels along its centre line: x0, y0,
    x1, y1."""
    h, w = allowed.shape
    half = max(1, length // 2)
    best: tuple[int, float, float, float, float] | None = None
    for a in ANGLES:
        ends = []
        for sign in (1, -1):
            ys, xs = _line(y, x, a, half, sign)
            ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
            ok[ok] &= allowed[ys[ok], xs[ok]]
            n = int(np.argmin(ok)) if not ok.all() else half
            ends.append((ys[:n], xs[:n], n))
        (ya, xa, na), (yb, xb, nb) = ends
        g = int(gain[ya, xa].sum() + gain[yb, xb].sum())
        p = (x + na * math.cos(a), y + na * math.sin(a), x - nb * math.cos(a),
             y - nb * math.sin(a))
        if best is None or g > best[0]:
            best = (g, *p)
    assert best is not None
    return best[1], best[2], best[3], best[4]


def _medial(dt: np.ndarray, where: np.ndarray) -> tuple[int, int] | None:
    if not where.any():
        return None
    i = int(np.argmax(np.where(where, dt, -1.0)))
    return i // dt.shape[1], i % dt.shape[1]


def _start(scene: Scene, rid: int, brush: int, focus: np.ndarray | None
           ) -> tuple[Rect, np.ndarray, tuple[int, int]] | None:
    """The region's allowed stroke area (shrunk by the brush radius, in its box) and the
    medial point of its unlabelled (and focussed) part, in box coordinates."""
    box, dt = scene.region_dt(rid)
    r = min(brush / 2.0, max(1.0, float(dt.max())))
    allowed = dt >= r
    where = allowed & (scene.mask[box.slices] == VOID)
    if focus is not None:
        where &= focus[box.slices]
    p = _medial(dt, where)
    return None if p is None else (box, allowed, p)


def brush_action(scene: Scene, rid: int, spec: Spec, focus: np.ndarray | None = None,
                 heavy: np.ndarray | None = None) -> Outcome | None:
    """(a): one stroke of the small brush inside the region; only pixels of its class are
    written (the careful annotator), and only unlabelled ones."""
    st = _start(scene, rid, spec.brush, focus)
    if st is None:
        return None
    box, allowed, (py, px) = st
    cls = scene.region_cls[rid]
    gain = scene.mask[box.slices] == VOID
    x0, y0, x1, y1 = chord(allowed, gain, py, px, spec.stroke)
    stroke = np.full(scene.mask.shape, VOID, np.uint8)
    paint_segment(stroke, box.x0 + x0, box.y0 + y0, box.x0 + x1, box.y0 + y1, spec.brush, cls)
    new = scene.mask.copy()
    write = (stroke == cls) & (scene.gt == cls) & (new == VOID)
    new[write] = cls
    return _outcome("brush", scene, new, heavy)


def wand_action(scene: Scene, rid: int, spec: Spec, focus: np.ndarray | None = None,
                heavy: np.ndarray | None = None) -> Outcome | None:
    """A wand click on the region's medial point with the largest tolerance whose region
    (labelled pixels are walls) is >= 95 % the region's class."""
    from segstudio.core.wand import unlabelled_passable, wand_fill, wand_region

    st = _start(scene, rid, spec.brush, focus)
    if st is None:
        return None
    box, _, (py, px) = st
    x, y = box.x0 + px, box.y0 + py
    cls = scene.region_cls[rid]
    for tol in TOLERANCES:
        found = wand_region(scene.image, x, y, tol, unlabelled_passable(scene.mask))
        if found is None:
            return None
        rbox, region = found
        written = region & (scene.mask[rbox.slices] == VOID)
        n = int(written.sum())
        if n and (scene.gt[rbox.slices][written] == cls).sum() >= WAND_PURITY * n:
            new = scene.mask.copy()
            wand_fill(new, scene.image, x, y, tol, cls, preserve=True)
            return _outcome(f"wand {tol}", scene, new, heavy)
    return None


def superpixel_action(scene: Scene, rid: int, spec: Spec, focus: np.ndarray | None = None,
                      heavy: np.ndarray | None = None) -> Outcome | None:
    """A superpixel drag along a chord that stays inside the superpixels that are >= 90 %
    the region's class (the brush never touches another superpixel), starting in the
    region's unlabelled part."""
    from segstudio.core.superpixels import SuperpixelStroke

    scene.ensure_superpixels(spec.superpixel)
    cls = scene.region_cls[rid]
    pdt = scene.pure_dt(cls)
    r = spec.brush / 2.0 + 1.0
    allowed = pdt >= r
    where = allowed & (scene.region_id == rid) & (scene.mask == VOID)
    if focus is not None:
        where &= focus
    p = _medial(pdt, where)
    if p is None:
        return None
    x0, y0, x1, y1 = chord(allowed, scene.mask == VOID, p[0], p[1], spec.stroke)
    new = scene.mask.copy()
    SuperpixelStroke(scene.superpixels).paint_segment(
        new, x0, y0, x1, y1, spec.brush, cls, preserve=True)
    return _outcome("superpixels", scene, new, heavy)


def box_action(scene: Scene, rid: int, spec: Spec, focus: np.ndarray | None = None,
               heavy: np.ndarray | None = None) -> Outcome | None:
    """DSB nuclei: one GrabCut box, the instance's bounding box plus a small margin."""
    from segstudio.core.grabcut import grabcut_object
    from segstudio.core.painting import write_where

    if not scene.is_object[rid]:
        return None
    b = scene.region_box[rid]
    found = grabcut_object(scene.image, Rect(b.x0 - BOX_MARGIN, b.y0 - BOX_MARGIN,
                                             b.x1 + BOX_MARGIN, b.y1 + BOX_MARGIN))
    if found is None:
        return None
    tight, obj = found
    new = scene.mask.copy()
    write_where(new, tight, obj, scene.region_cls[rid], preserve=True)
    return _outcome("box", scene, new, heavy)


TOOLS: dict[str, Callable[..., Outcome | None]] = {
    "brush": brush_action, "wand": wand_action, "superpixels": superpixel_action,
    "box": box_action}


def best_tool(scene: Scene, rid: int, spec: Spec, tools: Iterable[str],
              focus: np.ndarray | None = None, heavy: np.ndarray | None = None
              ) -> Outcome | None:
    """The tool that labels the most correct new pixels, of those at most 5 % wrong."""
    best: Outcome | None = None
    for name in tools:
        o = TOOLS[name](scene, rid, spec, focus, heavy)
        if o is None or o.wrong > MAX_WRONG * (o.correct + o.wrong):
            continue
        if best is None or o.score > best.score:
            best = o
    return best


def model_brush_action(scene: Scene, spec: Spec, pred: np.ndarray, window: Rect,
                       heavy: np.ndarray) -> Outcome | None:
    """(c): accept the prediction under one large-brush stroke where it is right under the
    whole brush (pixels already labelled are kept: preserve)."""
    from scipy import ndimage

    from segstudio.core.accept import accept_segment

    ok = (pred == scene.gt) | (scene.mask != VOID)
    dt = ndimage.distance_transform_edt(np.pad(ok, 1))[1:-1, 1:-1]
    allowed = dt >= spec.big_brush / 2.0 + 1.0
    where = np.zeros_like(allowed)
    where[window.slices] = allowed[window.slices] & (scene.mask[window.slices] == VOID)
    p = _medial(dt, where)
    if p is None:
        return None
    x0, y0, x1, y1 = chord(allowed, scene.mask == VOID, p[0], p[1], 2 * spec.stroke)
    new = scene.mask.copy()
    accept_segment(new, pred, x0, y0, x1, y1, spec.big_brush, preserve=True)
    o = _outcome("model brush", scene, new, heavy)
    if o is None or o.wrong > MODEL_BRUSH_MAX_WRONG * (o.correct + o.wrong):
        return None
    return o


@dataclass
class Prediction:
    labels: np.ndarray
    heat: np.ndarray


class Annotator:
    """The simulated user of one strategy over a pool of scenes."""

    def __init__(self, strategy: str, scenes: list[Scene], spec: Spec) -> None:
        self.strategy, self.scenes, self.spec = strategy, scenes, spec
        self.tools = ("brush",) if strategy == "a" else (
            "brush", "wand", "superpixels", "box")
        self.classes = sorted({c for s in scenes for c in s.region_cls})
        self.turn = 0
        self.image_turn: dict[int, int] = {}
        self.exhausted: set[tuple[int, int]] = set()
        self.counts = [s.unlabelled_counts() for s in scenes]
        self.preds: list[Prediction] | None = None
        self.window: tuple[int, Rect] | None = None
        self.window_actions = 0
        self.visited = [np.zeros(s.gt.shape, bool) for s in scenes]
        self.actions = 0
        self.tool_counts: dict[str, int] = {}

    def _apply(self, si: int, o: Outcome) -> str:
        self.scenes[si].mask = o.mask
        self.counts[si] = self.scenes[si].unlabelled_counts()
        self.actions += 1
        name = o.tool.split()[0]
        self.tool_counts[name] = self.tool_counts.get(name, 0) + 1
        return o.tool

    def act(self) -> str | None:
        """One action; the tool used, or None when nothing is left to label."""
        if self.strategy == "c" and self.preds is not None:
            done = self._act_active()
            if done is not None:
                return done
        return self._act_regions()

    def _act_regions(self) -> str | None:
        """(a) and (b): classes take turns, and for each class the images take turns; in the
        image, the region of the class with the most unlabelled pixels."""
        n = len(self.scenes)
        for _ in range(len(self.classes)):
            cls = self.classes[self.turn % len(self.classes)]
            self.turn += 1
            for _ in range(n):
                si = self.image_turn.get(cls, 0) % n
                self.image_turn[cls] = si + 1
                s, cnt = self.scenes[si], self.counts[si]
                for rid in np.argsort(-cnt, kind="stable"):
                    rid = int(rid)
                    if cnt[rid] == 0:
                        break
                    if s.region_cls[rid] != cls or (si, rid) in self.exhausted:
                        continue
                    o = best_tool(s, rid, self.spec, self.tools)
                    if o is None:
                        self.exhausted.add((si, rid))
                        continue
                    return self._apply(si, o)
        return None

    def _act_active(self) -> str | None:
        """(c) after the first round: "label here next", then correct or accept there."""
        from segstudio.core.uncertainty import (
            image_uncertainty,
            most_uncertain_window,
            order_by_uncertainty,
        )

        assert self.preds is not None
        for _ in range(3 * len(self.scenes) + 3):
            if self.window is None or self.window_actions >= WINDOW_ACTIONS:
                if self.window is not None:
                    si, win = self.window
                    self.visited[si][win.slices] = True
                heats = {str(i): np.where(self.visited[i], 0.0, p.heat)
                         for i, p in enumerate(self.preds)}
                scores = {k: image_uncertainty(h, self.scenes[int(k)].mask)
                          for k, h in heats.items()}
                order = [k for k in order_by_uncertainty(scores) if scores[k] > 0]
                if not order:
                    return None
                si = int(order[0])
                found = most_uncertain_window(heats[order[0]], self.scenes[si].mask,
                                              self.spec.window)
                if found is None:
                    return None
                self.window, self.window_actions = (si, found), 0
            si, win = self.window
            s, p = self.scenes[si], self.preds[si]
            heavy = (p.labels != s.gt) & (s.gt != VOID)
            focus = np.zeros(s.gt.shape, bool)
            focus[win.slices] = True
            cands: list[Outcome] = []
            wrong_here = heavy & focus & (s.mask == VOID) & (s.region_id >= 0)
            if wrong_here.any():
                cnt = np.bincount(s.region_id[wrong_here], minlength=len(s.region_cls))
                for rid in np.argsort(-cnt, kind="stable")[:3]:
                    if cnt[rid] == 0:
                        break
                    o = best_tool(s, int(rid), self.spec, self.tools, wrong_here, heavy)
                    if o is not None:
                        cands.append(o)
                        break
            o = model_brush_action(s, self.spec, p.labels, win, heavy)
            if o is not None:
                cands.append(o)
            if not cands:
                self.window_actions = WINDOW_ACTIONS   # nothing to do here: ask again
                continue
            self.window_actions += 1
            return self._apply(si, max(cands, key=lambda c: c.score))
        return None


# ----------------------------------------------------------------------- training
class Trainer:
    """One project per data set: the pool images (train split) and the val images with their
    full ground truth (val split); each round rewrites the pool masks and trains from scratch
    with a fixed number of iterations. Results are cached by the masks' contents."""

    def __init__(self, spec: Spec, pool: list[Item], val: list[Item], work: Path,
                 threads: int) -> None:
        from PIL import Image

        from segstudio.core.classes import ClassInfo, default_color
        from segstudio.project.project import Project

        self.spec, self.threads = spec, threads
        root = work / f"{spec.key}-project"
        if root.exists():
            shutil.rmtree(root)
        (root / "data").mkdir(parents=True)
        self.project = Project.create(root, [ClassInfo(n, default_color(i))
                                             for i, n in enumerate(spec.classes)])
        paths = []
        for split, items in (("pool", pool), ("val", val)):
            for name, img, _, _ in items:
                p = root / "data" / f"{split}-{name}.png"
                Image.fromarray(img).save(p)
                paths.append(p)
        entries = self.project.add_images(paths)
        self.pool = entries[:len(pool)]
        for e in entries[len(pool):]:
            self.project.set_split(e.id, "val")
        for (_, _, gt, _), e in zip(val, entries[len(pool):], strict=True):
            self.project.save_mask(e, gt)
        for e in self.pool:
            self.project.set_split(e.id, "train")
        self.pool = [self.project.entry(e.id) for e in self.pool]
        self.project.save()
        self.cache: dict[str, tuple[float, str | None]] = {}
        self.seconds: list[float] = []

    def train(self, masks: list[np.ndarray]) -> tuple[float, str | None]:
        """Validation mIoU after a brief run on these pool masks, and its checkpoint."""
        from segstudio.training.config import TrainConfig
        from segstudio.training.events import EndReason, EpochReport, RunFinished
        from segstudio.training.loop import train

        key = hashlib.sha1(b"".join(m.tobytes() for m in masks)).hexdigest()
        if key in self.cache:
            return self.cache[key]
        for e, m in zip(self.pool, masks, strict=True):
            path = self.project.mask_path(e)
            if (m != VOID).any():
                self.project.save_mask(e, m)
            elif path.exists():
                path.unlink()
        s = self.spec
        cfg = TrainConfig(architecture="unet", model={"base_width": 8, "levels": 4},
                          epochs=1, iterations_per_epoch=s.iterations, batch=s.batch,
                          patch=s.patch, lr=s.lr, warmup_epochs=0.05, device="cpu",
                          patience=None, seed=0, cpu_threads=self.threads)
        t0 = time.perf_counter()
        miou, best = float("nan"), None
        for ev in train(self.project, cfg):
            if isinstance(ev, EpochReport):
                miou = float(ev.miou)
            elif isinstance(ev, RunFinished):
                if ev.reason is EndReason.FAILED:
                    print(f"note: training failed ({ev.message}); mIoU counted as 0",
                          flush=True)
                    miou = 0.0
                best = ev.best_checkpoint
        self.seconds.append(time.perf_counter() - t0)
        self.cache[key] = (miou, best)
        return miou, best

    def predict(self, checkpoint: str, scenes: list[Scene]) -> list[Prediction]:
        from segstudio.core.uncertainty import entropy_map
        from segstudio.inference.predictor import Predictor

        pr = Predictor.load(checkpoint, "cpu")
        out = []
        for sc in scenes:
            p = pr.predict(sc.image, keep_probabilities=True)
            assert p.probabilities is not None
            out.append(Prediction(p.labels, entropy_map(p.probabilities)))
        return out


def actions_to_reach(curve: list[tuple[int, float]], target: float) -> tuple[float, str]:
    """Actions to reach ``target`` mIoU, log-linear between rounds: (value, "exact"), (first
    round, "at_most") or (budget, "more_than")."""
    for i, (n, m) in enumerate(curve):
        if m >= target:
            if i == 0:
                return float(n), "at_most"
            n0, m0 = curve[i - 1]
            t = (target - m0) / (m - m0) if m > m0 else 1.0
            return float(math.exp(math.log(n0) + t * (math.log(n) - math.log(n0)))), "exact"
    return float(curve[-1][0]), "more_than"


def ratio_of(c: tuple[float, str], a: tuple[float, str]) -> tuple[float | None, str | None]:
    """(c) / (a) and what it is: exact, upper (the true ratio is at most this) or lower."""
    (nc, kc), (na, ka) = c, a
    upper = kc in ("exact", "at_most") and ka in ("exact", "more_than")
    lower = kc in ("exact", "more_than") and ka in ("exact", "at_most")
    if kc == "exact" and ka == "exact":
        return nc / na, "exact"
    if kc == "more_than" and ka == "more_than":
        return None, None
    if upper and not lower:
        return nc / na, "upper"
    if lower and not upper:
        return nc / na, "lower"
    return nc / na, "unknown"


def run_dataset(spec: Spec, pool: list[Item], val: list[Item], schedule: tuple[int, ...],
                work: Path, threads: int, log: Callable[[str], None]) -> dict:
    trainer = Trainer(spec, pool, val, work, threads)
    t0 = time.perf_counter()
    full_miou, _ = trainer.train([gt for _, _, gt, _ in pool])
    log(f"{spec.key}: full labels mIoU {full_miou:.4f} ({trainer.seconds[-1]:.0f} s training)")
    target = 0.9 * full_miou
    result: dict = {"full_miou": full_miou, "target": target, "curves": {}, "actions": {},
                    "reached": {}, "tools": {}, "labelled": {}}
    for strat in STRATEGIES:
        scenes = [Scene(n, img, gt.copy(), inst) for n, img, gt, inst in pool]
        ann = Annotator(strat, scenes, spec)
        curve: list[tuple[int, float]] = []
        labelled: list[float] = []
        for n in schedule:
            while ann.actions < n:
                if ann.act() is None:
                    break
            miou, ck = trainer.train([s.mask for s in scenes])
            curve.append((n, miou))
            lab = float(np.mean([(s.mask != VOID).mean() for s in scenes]))
            labelled.append(lab)
            log(f"{spec.key} {strat}: {n:4d} actions ({ann.actions} done), {lab:6.1%} labelled,"
                f" mIoU {miou:.4f}  tools {ann.tool_counts}")
            if strat == "c" and ck is not None and n != schedule[-1]:
                ann.preds = trainer.predict(ck, scenes)
        reach = actions_to_reach(curve, target)
        result["curves"][strat] = curve
        result["actions"][strat] = reach
        result["reached"][strat] = reach[1] != "more_than"
        result["tools"][strat] = dict(ann.tool_counts)
        result["labelled"][strat] = labelled
    ratio, bound = ratio_of(result["actions"]["c"], result["actions"]["a"])
    result["ratio"], result["ratio_bound"] = ratio, bound
    result["train_s_median"] = statistics.median(trainer.seconds)
    result["trainings"] = len(trainer.seconds)
    result["seconds"] = time.perf_counter() - t0
    result["pool"] = [n for n, _, _, _ in pool]
    result["val"] = [n for n, _, _, _ in val]
    result["image_size"] = list(pool[0][1].shape[:2])
    shutil.rmtree(trainer.project.root, ignore_errors=True)
    return result


# ------------------------------------------------------------------------ latency
def _tile_to(img: np.ndarray, size: int) -> np.ndarray:
    """A real image mirrored and repeated to size x size."""
    row = np.concatenate([img, img[:, ::-1]], axis=1)
    block = np.concatenate([row, row[::-1]], axis=0)
    reps = (math.ceil(size / block.shape[0]), math.ceil(size / block.shape[1])) + \
        ((1,) if img.ndim == 3 else ())
    return np.ascontiguousarray(np.tile(block, reps)[:size, :size])


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def measure_latency(wand_size: int, slic_size: int, box: int, repeats: int) -> dict:
    import cv2

    from segstudio.core.grabcut import grabcut_object
    from segstudio.core.superpixels import compute_superpixels
    from segstudio.core.wand import wand_region

    cam = DATA / "camvid11" / "train" / "images" / "0001TP_006690.png"
    dsb = sorted((DATA / "dsb2018_nuclei" / "train" / "images").glob("*.png"))
    out: dict = {"latency_sizes": {"wand": wand_size, "slic": slic_size, "grabcut_box": box}}
    if cam.exists():
        img = _read(cam)
        # The photograph upscaled (an 8192^2 photograph has larger regions than a 480 x 360
        # one) and tiled; the (scale, click, tolerance) whose region is nearest 1 MP (scaled
        # with the image's area) out of a few large, smooth regions (road, sky, buildings).
        target = 1_000_000 * (wand_size / 8192) ** 2
        best = None
        for scale in (2, 3, 4):
            big = _tile_to(cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale),
                                      interpolation=cv2.INTER_LINEAR), wand_size)
            for (ox, oy) in ((250, 210), (370, 310), (250, 310), (190, 310), (430, 160)):
                for tol in (6, 7, 8):
                    xx, yy = min(ox * scale, wand_size - 1), min(oy * scale, wand_size - 1)
                    f = wand_region(big, xx, yy, tol)
                    if f is None:
                        continue
                    area = int(f[1].sum())
                    if best is None or abs(math.log(area / target)) < abs(
                            math.log(best[0] / target)):
                        best = (area, xx, yy, tol, scale)
            del big
        assert best is not None
        area, xx, yy, tol, scale = best
        big = _tile_to(cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale),
                                  interpolation=cv2.INTER_LINEAR), wand_size)
        out["wand_ms"] = _median_ms(lambda: wand_region(big, xx, yy, tol), repeats)
        out["wand_region_px"] = area
        out["wand_tolerance"] = tol
        out["wand_upscale"] = scale
        del big
        mid = _tile_to(img, slic_size)
        out["slic_s"] = _median_ms(lambda: compute_superpixels(mid, 24), max(3, repeats // 2)
                                   ) / 1000.0
    if dsb:
        # a histology-like colour image if there is one, else the first
        pick = next((p for p in dsb[:60] if (lambda a: a.ndim == 3 and bool(
            np.any(a[..., 0] != a[..., 1])))(_read(p))), dsb[0])
        img = _read(pick)
        big = _tile_to(img, 2 * box)
        rect = Rect(box // 2, box // 2, box // 2 + box, box // 2 + box)
        out["grabcut_ms"] = _median_ms(lambda: grabcut_object(big, rect), repeats)
        out["grabcut_image"] = pick.stem[:12]
    return out


# -------------------------------------------------------------------------- output
def _fmt_actions(v: tuple[float, str]) -> str:
    n, kind = v
    return {"exact": f"{n:.0f}", "at_most": f"<= {n:.0f}", "more_than": f"> {n:.0f}"}[kind]


def plot(results: dict[str, dict | None], path: Path, title: str) -> None:
    """mIoU against actions (log scale), one panel per data set, drawn with Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    keys = [k for k, r in results.items() if r is not None]
    if not keys:
        return
    pw, ph, m = 420, 320, 56
    img = Image.new("RGB", (pw * len(keys), ph + 40), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    colours = {"a": (200, 60, 40), "b": (40, 110, 200), "c": (30, 150, 60)}
    d.text((8, 4), title, fill="black", font=font)
    for i, k in enumerate(keys):
        r = results[k]
        assert r is not None
        ox, oy = i * pw, 40
        xs = [n for n, _ in r["curves"]["a"]]
        lo, hi = math.log(xs[0]), math.log(xs[-1])
        vals = [v for c in r["curves"].values() for _, v in c] + [r["full_miou"]]
        ymax = min(1.0, max(vals) + 0.05)
        ymin = max(0.0, min(vals) - 0.05)

        def X(n: float, ox: int = ox, lo: float = lo, hi: float = hi) -> float:
            return ox + m + (math.log(n) - lo) / (hi - lo or 1.0) * (pw - m - 16)

        def Y(v: float, oy: int = oy, ymin: float = ymin, ymax: float = ymax) -> float:
            return oy + (ph - m) - (v - ymin) / (ymax - ymin or 1.0) * (ph - m - 24)

        d.rectangle([ox + m, oy + 24, ox + pw - 16, oy + ph - m], outline="black")
        d.text((ox + m, oy + 6), f"{k}: val mIoU vs actions", fill="black", font=font)
        for n in xs:
            d.line([X(n), oy + ph - m, X(n), oy + ph - m + 4], fill="black")
            d.text((X(n) - 8, oy + ph - m + 6), str(n), fill="black", font=font)
        for j in range(5):
            v = ymin + (ymax - ymin) * j / 4
            d.line([ox + m - 4, Y(v), ox + m, Y(v)], fill="black")
            d.text((ox + 8, Y(v) - 6), f"{v:.2f}", fill="black", font=font)
        d.text((ox + pw // 2 - 20, oy + ph - 30), "actions (log)", fill="black", font=font)
        for v, name in ((r["full_miou"], "full labels"), (r["target"], "90 %")):
            for x0 in range(int(X(xs[0])), int(X(xs[-1])), 10):
                d.line([x0, Y(v), x0 + 5, Y(v)], fill=(120, 120, 120))
            d.text((X(xs[0]) + 4, Y(v) - 12), name, fill=(100, 100, 100), font=font)
        for j, (s, curve) in enumerate(r["curves"].items()):
            pts = [(X(n), Y(v)) for n, v in curve]
            d.line(pts, fill=colours[s], width=2)
            for x, y in pts:
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colours[s])
            d.text((ox + pw - 150, oy + ph - m - 14 * (3 - j) - 4), STRATEGY_NAMES[s],
                   fill=colours[s], font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI size: 2 images, 2 rounds")
    ap.add_argument("--smoke", action="store_true", help="seconds: 1 tiny image, 2 tiny rounds")
    ap.add_argument("--only", default="isbi,camvid,dsb", help="data sets, comma-separated")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: robust when other jobs share the cores)")
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--plot", type=Path, help="PNG of the curves (default: "
                    "docs/label_efficiency.png for the full run, none otherwise)")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                    help="print the table, plot and JSON of earlier runs' WORK/"
                         "label_efficiency.json files (e.g. one run per data set at a time)")
    args = ap.parse_args()
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    schedule = {"full": SCHEDULE, "quick": QUICK_SCHEDULE, "smoke": SMOKE_SCHEDULE}[size]
    merged = [json.loads(p.read_text()) for p in args.merge or []]
    if merged:
        size, schedule = merged[0]["mode"], tuple(merged[0]["schedule"])
    work = args.work or Path(tempfile.mkdtemp(prefix="segstudio-labeleff-"))
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f} s] {text}", flush=True)

    results: dict[str, dict | None] = {}
    lat: dict = {}
    for m in merged:
        results.update({k: r for k, r in m["results"].items()
                        if r is not None or k not in results})
        lat = m.get("latency") or lat
    for key in [] if merged else [k.strip() for k in args.only.split(",") if k.strip()]:
        ds = dataset(key, size)
        if ds is None:
            log(f"{key}: not on this machine; skipped")
            results[key] = None
            continue
        spec, pool, val = ds
        results[key] = run_dataset(spec, pool, val, schedule, work, args.threads, log)
    if not args.no_latency and not merged:
        sizes = {"full": (8192, 2048, 512, 7), "quick": (4096, 1024, 512, 3),
                 "smoke": (1024, 512, 256, 3)}[size]
        lat = measure_latency(*sizes)
        log(f"latency: {lat}")

    print(f"\nLabel efficiency, {platform.node()} ({os.cpu_count()} cores), "
          f"{time.strftime('%Y-%m-%d', time.gmtime())} ({size}); schedule "
          f"{', '.join(map(str, schedule))} actions\n")
    print("| data set | full-label mIoU | 90 % target | strategy | mIoU per round | "
          "actions to 90 % | tools used |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results.items():
        if r is None:
            print(f"| {key} | absent | | | | | |")
            continue
        for s in STRATEGIES:
            curve = " ".join(f"{v:.3f}" for _, v in r["curves"][s])
            tools = ", ".join(f"{t} {n}" for t, n in sorted(r["tools"][s].items()))
            print(f"| {key} | {r['full_miou']:.3f} | {r['target']:.3f} | {STRATEGY_NAMES[s]} | "
                  f"{curve} | {_fmt_actions(r['actions'][s])} | {tools} |")
    print("\n| data set | (c) / (a) actions | bound | goal <= 1/3 |")
    print("|---|---|---|---|")
    for key, r in results.items():
        if r is None:
            continue
        ratio, bound = r["ratio"], r["ratio_bound"]
        met = ("n/a" if ratio is None else
               "yes" if ratio <= 1 / 3 and bound in ("exact", "upper") else
               "no" if ratio > 1 / 3 and bound in ("exact", "lower") else "undecided")
        print(f"| {key} | {'n/a' if ratio is None else f'{ratio:.3f}'} | "
              f"{bound or 'neither (a) nor (c) reached 90 %'} | {met} |")
    if lat:
        ls = lat["latency_sizes"]
        print(f"\nwand on {ls['wand']}^2, region {lat.get('wand_region_px', 0):,} px: "
              f"{lat.get('wand_ms', float('nan')):.1f} ms; SLIC of {ls['slic']}^2: "
              f"{lat.get('slic_s', float('nan')):.2f} s; GrabCut box {ls['grabcut_box']}^2: "
              f"{lat.get('grabcut_ms', float('nan')):.1f} ms (medians)")
    plot_path = args.plot or (ROOT / "docs" / "label_efficiency.png" if size == "full" else None)
    if plot_path is not None:
        plot(results, plot_path, f"Label efficiency ({size}), validation mIoU after brief "
                                 "training vs annotator actions")
        print(f"plot: {plot_path}")

    out: dict = {}
    for key in ("isbi", "camvid", "dsb"):
        r = results.get(key)
        out[f"actions_ratio_{key}"] = None if r is None or r["ratio"] is None else round(
            r["ratio"], 4)
        out[f"actions_ratio_{key}_bound"] = None if r is None else r["ratio_bound"]
        for s in STRATEGIES:
            out[f"{s}_reached_{key}"] = None if r is None else r["reached"][s]
            out[f"{s}_actions_{key}"] = None if r is None else round(r["actions"][s][0], 1)
        out[f"full_miou_{key}"] = None if r is None else round(r["full_miou"], 4)
        out[f"curves_{key}"] = None if r is None else {
            s: [[n, round(v, 4)] for n, v in r["curves"][s]] for s in STRATEGIES}
    scale = {"wand": (8192, "wand_ms_8192", "wand_ms"), "slic": (2048, "slic_s_2048", "slic_s"),
             "grabcut_box": (512, "grabcut_ms_512", "grabcut_ms")}
    for k, (_, name, src) in scale.items():
        v = lat.get(src)
        out[name] = None if v is None else round(float(v), 4 if k == "slic" else 2)
    out["latency_sizes"] = lat.get("latency_sizes")
    out["wand_region_px"] = lat.get("wand_region_px")
    out["mode"] = size
    out["schedule"] = list(schedule)
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    (work / "label_efficiency.json").write_text(json.dumps(
        {**out, "results": results, "latency": lat}, indent=1, default=str))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
