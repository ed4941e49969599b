"""COCO masks in and out, in numpy only (pycocotools is a test oracle, never imported here).

Conventions (see docs/export.md):

- **RLE**: column-major (Fortran order) run lengths starting with a run of zeros, exactly as
  ``pycocotools.mask.encode``; the compressed ``"counts"`` string uses pycocotools'
  LEB128-like code (6 bits a character, ASCII 48..111, runs after the second stored as the
  difference to the run two before). Our strings are byte-for-byte those of pycocotools, so
  ``pycocotools.mask.decode`` and ``COCO.annToMask`` read them.
- **Components**: one annotation per 8-connected component per class (pixels touching at a
  corner are one object). A component's RLE holds exactly its pixels, holes included: a hole
  stays a hole, and what fills it (another class, or unlabelled) is its own annotation or
  nothing.
- **Categories**: ``id = class index + 1`` (COCO keeps 0 for "no object"), ``name`` = class
  name, plus the extra fields ``color`` ("#rrggbb") and ``segstudio_index``. The unlabelled
  value 255 is never a category: unlabelled pixels are simply in no annotation.
- **Polygons** (import only) are rasterised exactly as pycocotools does (this module ports its
  ``rleFrPoly``): COCO coordinates are continuous with pixel (col x, row y) covering
  [x, x+1) x [y, y+1), i.e. the pixel-corner convention. Several polygons of one annotation
  are united. A polygon with a vertex farther from the image than the image's own size is
  first clipped to that box (``segstudio.io.clipping``), which bounds the work; its pixels
  are then pycocotools' for the clipped polygon, which can differ from those of the
  unclipped one by the rounding of the new vertices (1/5 pixel), along the edges that cross
  the image's border.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.io.clipping import MAX_COORDINATE

CONNECTIVITY = 8


# ---------------------------------------------------------------------------------------- RLE
def rle_counts(binary: np.ndarray) -> list[int]:
    """Uncompressed COCO counts of a 2-D mask (non-zero = inside): column-major runs, the first
    being zeros (possibly of length 0), no trailing empty run (as pycocotools.mask.encode)."""
    flat = np.asarray(binary).astype(bool).ravel(order="F")
    return _runs(flat)


def _runs(flat: np.ndarray) -> list[int]:
    n = flat.size
    if n == 0:
        return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [n]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return counts


def counts_to_string(counts: Sequence[int]) -> str:
    """pycocotools' rleToString: compress a list of run lengths to its ASCII form."""
    out: list[str] = []
    for i, c in enumerate(counts):
        x = int(c)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5  # arithmetic shift, as the C code on a signed long
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def string_to_counts(s: str | bytes | bytearray) -> list[int]:
    """pycocotools' rleFrString: expand the ASCII form back to run lengths."""
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("ascii")
    counts: list[int] = []
    p, n = 0, len(s)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                raise ValueError("truncated RLE string")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"invalid character {s[p]!r} in RLE string")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_rle(binary: np.ndarray) -> dict[str, Any]:
    """A 2-D mask -> ``{"size": [h, w], "counts": "<compressed string>"}`` (COCO RLE)."""
    h, w = binary.shape
    return {"size": [int(h), int(w)], "counts": counts_to_string(rle_counts(binary))}


def rle_from_counts(counts: Sequence[int], size: tuple[int, int]) -> dict[str, Any]:
    return {"size": [int(size[0]), int(size[1])], "counts": counts_to_string(counts)}


def decode_counts(counts: Sequence[int], h: int, w: int) -> np.ndarray:
    """Run lengths -> uint8 H x W mask of 0/1. Raises ValueError if they do not add up."""
    c = np.asarray(counts, dtype=np.int64)
    if c.size and c.min() < 0:
        raise ValueError("negative run length")
    if int(c.sum()) != h * w:
        raise ValueError(f"run lengths add up to {int(c.sum())}, not {h} x {w} = {h * w}")
    values = (np.arange(c.size) % 2).astype(np.uint8)
    flat = np.repeat(values, c)
    return np.ascontiguousarray(flat.reshape(w, h).T)


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """COCO RLE (compressed string or uncompressed list of counts) -> uint8 H x W 0/1."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, (str, bytes, bytearray)):
        counts = string_to_counts(counts)
    return decode_counts(counts, h, w)


def rle_area(rle: dict[str, Any]) -> int:
    counts = rle["counts"]
    if isinstance(counts, (str, bytes, bytearray)):
        counts = string_to_counts(counts)
    return int(sum(counts[1::2]))


# ------------------------------------------------------------------------------- polygons
def polygon_mask(polygons: Iterable[Sequence[float]], h: int, w: int) -> np.ndarray:
    """Union of COCO polygons ([x1, y1, x2, y2, ...] each) as a bool H x W mask, pixel for
    pixel what pycocotools' ``frPyObjects`` + ``merge`` + ``decode`` give."""
    from segstudio.io.clipping import clip_polygon

    out = np.zeros(h * w, dtype=bool)
    for poly in polygons:
        xy = np.asarray(poly, dtype=np.float64).ravel()
        k = xy.size // 2
        if k == 0:
            continue
        # A polygon reaching far beyond the image (x = 1e8 made arrays as long as the edge,
        # > 8 GB) is clipped first to the image plus a margin as large as the image. One
        # within that box is left as it is, so it gives pycocotools' pixels exactly.
        margin = float(max(h, w, 64))
        pts = clip_polygon(xy[: 2 * k].reshape(k, 2), -margin, -margin, w + margin, h + margin)
        if len(pts) < 3:
            continue  # nothing of it near the image
        out |= _poly_flat(pts.ravel(), len(pts), h, w)
    return np.ascontiguousarray(out.reshape(w, h).T)


def _c_int(a: np.ndarray) -> np.ndarray:
    """C's (int) cast of a double: truncation toward zero."""
    return np.trunc(a).astype(np.int64)


def _poly_flat(xy: np.ndarray, k: int, h: int, w: int) -> np.ndarray:
    """Port of pycocotools' rleFrPoly; returns the column-major flat bool mask."""
    scale = 5.0
    x = _c_int(scale * xy[0::2] + 0.5)
    y = _c_int(scale * xy[1::2] + 0.5)
    x = np.append(x, x[0])
    y = np.append(y, y[0])
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    for j in range(k):
        xs, xe, ys, ye = int(x[j]), int(x[j + 1]), int(y[j]), int(y[j + 1])
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            s = (ye - ys) / dx if dx else 0.0
            d = np.arange(dx + 1)
            t = dx - d if flip else d
            us.append(t + xs)
            vs.append(_c_int(ys + s * t + 0.5))
        else:
            s = (xe - xs) / dy
            d = np.arange(dy + 1)
            t = dy - d if flip else d
            vs.append(t + ys)
            us.append(_c_int(xs + s * t + 0.5))
    u = np.concatenate(us)
    v = np.concatenate(vs)
    # Points along the y-boundary, downsampled.
    prev_u, cur_u = u[:-1], u[1:]
    prev_v, cur_v = v[:-1], v[1:]
    sel = cur_u != prev_u
    xd = np.where(cur_u < prev_u, cur_u, cur_u - 1)[sel].astype(np.float64)
    xd = (xd + 0.5) / scale - 0.5
    yd = np.where(cur_v < prev_v, cur_v, prev_v)[sel].astype(np.float64)
    yd = (yd + 0.5) / scale - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= w - 1)
    xd, yd = xd[keep], yd[keep]
    yd = np.ceil(np.clip(yd, 0, h))
    pos = xd.astype(np.int64) * h + yd.astype(np.int64)
    # Each boundary point toggles inside/outside from its position on (duplicates cancel, as
    # the zero-length runs the C code merges away).
    toggles = np.bincount(pos, minlength=h * w + 1)[: h * w] & 1
    return (np.cumsum(toggles) & 1).astype(bool)


# ------------------------------------------------------------------------------ components
def components(mask: np.ndarray, num_classes: int | None = None
               ) -> Iterator[tuple[int, dict[str, Any], int, list[int], np.ndarray]]:
    """Yield ``(class_index, rle, area, bbox, pixels)`` for every 8-connected component of
    every class in ``mask`` (255 skipped), classes in increasing order, components in
    OpenCV's label order (raster order of their first pixel).

    bbox is ``[x, y, w, h]`` in pixels (as pycocotools.mask.toBbox); ``pixels`` is a bool
    crop of the component over its bbox, handy for per-component statistics."""
    import cv2

    h, w = mask.shape
    values = np.unique(mask)
    for c in values.tolist():
        if c == UNLABELLED or (num_classes is not None and c >= num_classes):
            continue
        binary = (mask == c).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            binary, connectivity=CONNECTIVITY, ltype=cv2.CV_32S)
        for k in range(1, n):
            x0, y0, bw, bh, area = (int(v) for v in stats[k])
            strip = labels[:, x0:x0 + bw] == k           # H x bw, full columns
            rle = strip_rle(strip, x0, w)
            yield c, rle, area, [x0, y0, bw, bh], strip[y0:y0 + bh]


def strip_rle(strip: np.ndarray, x0: int, w: int) -> dict[str, Any]:
    """COCO RLE of an H x W mask given only its columns ``x0 .. x0 + strip.shape[1]`` (a bool
    H x bw strip; every other column empty): the runs of a component without touching the
    rest of the image."""
    h, bw = strip.shape
    counts = _runs(strip.ravel(order="F"))
    counts[0] += x0 * h                          # columns left of the strip
    trailing = (w - x0 - bw) * h                 # columns right of it
    if trailing:
        if len(counts) % 2 == 1:                 # last run is zeros: extend it
            counts[-1] += trailing
        else:
            counts.append(trailing)
    return rle_from_counts(counts, (h, w))


# ------------------------------------------------------------------------------ documents
def categories(classes: Sequence[ClassInfo]) -> list[dict[str, Any]]:
    return [{"id": i + 1, "name": c.name, "supercategory": "", "color": c.color,
             "segstudio_index": i} for i, c in enumerate(classes)]


def image_annotations(mask: np.ndarray, image_id: int, first_id: int,
                      num_classes: int | None = None,
                      confidence: np.ndarray | None = None,
                      min_area: int = 0) -> list[dict[str, Any]]:
    """COCO annotations for one mask: one per component per class of at least ``min_area``
    pixels (a prediction's speckle would otherwise give thousands), ids from ``first_id``.
    With ``confidence`` (uint8 H x W, 255 = certain) each gets a ``score``: the mean
    confidence of its pixels in 0..1."""
    anns: list[dict[str, Any]] = []
    for c, rle, area, bbox, pixels in components(mask, num_classes):
        if area < min_area:
            continue
        ann = {"id": first_id + len(anns), "image_id": image_id, "category_id": c + 1,
               "segmentation": rle, "area": area, "bbox": bbox, "iscrowd": 0}
        if confidence is not None:
            x, y, bw, bh = bbox
            crop = confidence[y:y + bh, x:x + bw]
            ann["score"] = round(float(crop[pixels].mean()) / 255.0, 4)
        anns.append(ann)
    return anns


def coco_document(images: list[dict[str, Any]], annotations: list[dict[str, Any]],
                  classes: Sequence[ClassInfo], description: str = "") -> dict[str, Any]:
    import time

    from segstudio import __version__

    return {
        "info": {"description": description or "segstudio export",
                 "version": "1.0", "year": int(time.strftime("%Y")),
                 "contributor": f"segstudio {__version__}",
                 "date_created": time.strftime("%Y-%m-%dT%H:%M:%S")},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories(classes),
    }


def annotation_mask(segmentation: Any, h: int, w: int) -> np.ndarray:
    """An annotation's "segmentation" (polygons, uncompressed or compressed RLE) as a bool
    H x W mask. Raises ValueError with a short reason for malformed data."""
    if isinstance(segmentation, list):
        polys = []
        for p in segmentation:
            if not isinstance(p, (list, tuple)) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in p):
                raise ValueError("a polygon must be a list of numbers")
            if len(p) < 6:
                raise ValueError(f"a polygon needs at least 3 points, found {len(p) // 2}")
            if not all(math.isfinite(v) for v in p):
                raise ValueError("a polygon has a non-finite coordinate")
            if any(abs(v) > MAX_COORDINATE for v in p):
                raise ValueError(f"a polygon coordinate is beyond ±{MAX_COORDINATE:.0e}")
            polys.append(p)
        if not polys:
            raise ValueError("empty segmentation")
        return polygon_mask(polys, h, w)
    if isinstance(segmentation, dict) and "counts" in segmentation:
        size = segmentation.get("size", [h, w])
        try:
            sh, sw = int(size[0]), int(size[1])
        except (TypeError, ValueError, IndexError):
            raise ValueError("RLE size is not [height, width]") from None
        if (sh, sw) != (h, w):
            raise ValueError(f"RLE size {sw} x {sh} differs from the image's {w} x {h}")
        counts = segmentation["counts"]
        if isinstance(counts, list):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
                raise ValueError("RLE counts must be integers")
            return decode_counts(counts, h, w).astype(bool)
        if isinstance(counts, (str, bytes)):
            return decode_counts(string_to_counts(counts), h, w).astype(bool)
        raise ValueError("RLE counts must be a string or a list of integers")
    raise ValueError("segmentation is neither polygons nor RLE")
