"""labelme JSON files: reading and rasterising their shapes (import only).

Pixel convention: a labelme point (x, y) is the **centre** of pixel (column x, row y), which
is how labelme's own converters (``labelme_json_to_dataset``, ``labelme2voc``) draw it with
PIL. Shapes are rasterised with OpenCV at 1/256 pixel precision (``cv2.fillPoly`` /
``cv2.circle`` with ``shift=8``, 8-connected edges), so a pixel is in the shape when its
centre is inside or the shape's outline passes through it.

Shape types: ``polygon``; ``rectangle`` (two opposite corners, both pixels included);
``circle`` (centre + a point on the circle); ``mask`` (labelme >= 5.3: a base64 PNG for the
box between its two points). ``line``, ``linestrip``, ``point`` and ``points`` enclose no area
and are skipped (the import summary lists them). Shapes are painted in file order, so a
later shape covers an earlier one where they overlap, as in labelme2voc. In an instance
project each shape is one object, except that shapes sharing a label and a ``group_id`` are one
object together (labelme's convention for an object drawn in several parts).
"""

from __future__ import annotations

import base64
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.errors import MaskError
from segstudio.io.clipping import MAX_COORDINATE
from segstudio.io.jsonfile import JSONFileError, read_json

SHIFT = 8
# A labelme file holds one image's shapes, and maybe that image embedded as base64.
MAX_LABELME_BYTES = 512 << 20
AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")


@dataclass
class LabelmeShape:
    label: str
    shape_type: str
    points: np.ndarray            # (n, 2) float64, x then y
    mask_png: str | None = None   # base64 PNG for shape_type "mask"
    group_id: int | None = None   # labelme's group: shapes of one label and group are one object


@dataclass
class LabelmeFile:
    path: Path
    image_path: str                  # as written in the file ("" if absent)
    height: int | None
    width: int | None
    shapes: list[LabelmeShape]
    skipped: list[str] = field(default_factory=list)   # "label (type): reason"


def read_labelme(path: str | os.PathLike[str]) -> LabelmeFile:
    """Parse a labelme JSON file. Raises MaskError if it is not one; individual shapes that are
    malformed or enclose no area are listed in ``skipped``."""
    p = Path(path)
    try:
        data = read_json(p, MAX_LABELME_BYTES)
    except FileNotFoundError:
        raise MaskError(f"{p.name}: cannot be read (file not found).") from None
    except JSONFileError as exc:
        raise MaskError(str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise MaskError(f"{p.name}: not a labelme file (no 'shapes' list).")
    h, w = data.get("imageHeight"), data.get("imageWidth")
    h = int(h) if isinstance(h, (int, float)) and h > 0 else None
    w = int(w) if isinstance(w, (int, float)) and w > 0 else None
    out = LabelmeFile(p, str(data.get("imagePath") or ""), h, w, [])
    for i, s in enumerate(data["shapes"]):
        if not isinstance(s, dict):
            out.skipped.append(f"shape {i + 1}: not an object")
            continue
        label = str(s.get("label", "")).strip()
        kind = str(s.get("shape_type") or "polygon")
        where = f"shape {i + 1} '{label}' ({kind})"
        if not label:
            out.skipped.append(f"{where}: no label")
            continue
        if kind not in AREA_SHAPES:
            out.skipped.append(f"{where}: encloses no area")
            continue
        try:
            pts = np.asarray(s.get("points"), dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            out.skipped.append(f"{where}: points are not [x, y] pairs")
            continue
        if not np.isfinite(pts).all():
            out.skipped.append(f"{where}: a point is not a finite number")
            continue
        if np.abs(pts).max(initial=0.0) > MAX_COORDINATE:
            out.skipped.append(f"{where}: a coordinate is beyond ±{MAX_COORDINATE:.0e}")
            continue
        need = 3 if kind == "polygon" else 2
        if len(pts) < need or (kind in ("rectangle", "circle", "mask") and len(pts) != 2):
            out.skipped.append(f"{where}: {len(pts)} point(s), needs "
                               f"{'at least 3' if kind == 'polygon' else 'exactly 2'}")
            continue
        mask_png = s.get("mask") if kind == "mask" else None
        if kind == "mask" and not isinstance(mask_png, str):
            out.skipped.append(f"{where}: no mask data")
            continue
        group = s.get("group_id")
        group = group if isinstance(group, int) and not isinstance(group, bool) else None
        out.shapes.append(LabelmeShape(label, kind, pts, mask_png, group))
    return out


def _fixed(points: np.ndarray, shift: int = SHIFT) -> np.ndarray:
    return np.round(points * (1 << shift)).astype(np.int32)


def _clipped(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """The polygon clipped, in float, to the image and a 2-pixel margin: the pixels covered
    stay the same, and the fixed-point cast cannot overflow int32 (labelme coordinates of
    1e12 wrapped around silently: a triangle covering the image became one pixel)."""
    from segstudio.io.clipping import clip_polygon

    return clip_polygon(points, -2.0, -2.0, w + 1.0, h + 1.0)


def _shift_for(h: int, w: int) -> int:
    # 1/256-pixel precision while (w + 2) * 256 fits an int32, i.e. up to 8 million pixels.
    return SHIFT if max(h, w) + 4 < (1 << (31 - SHIFT)) else 0


def shape_mask(shape: LabelmeShape, h: int, w: int) -> np.ndarray:
    """Rasterise one shape to a bool H x W mask (see the module docstring for the rules).
    Raises ValueError for an unreadable embedded mask."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    pts = shape.points
    shift = _shift_for(h, w)
    if shape.shape_type in ("polygon", "rectangle"):
        if shape.shape_type == "rectangle":
            (x0, y0), (x1, y1) = pts
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        poly = _clipped(pts, h, w)
        if len(poly):
            cv2.fillPoly(m, [_fixed(poly, shift)], 1, lineType=cv2.LINE_8, shift=shift)
    elif shape.shape_type == "circle":
        (cx, cy), (px, py) = pts
        r = math.hypot(px - cx, py - cy)
        limit = float(1 << (30 - shift))   # centre and radius in fixed point must fit int32
        if max(abs(cx), abs(cy), r) < limit:
            c = _fixed(np.array([[cx, cy]]), shift)[0]
            cv2.circle(m, (int(c[0]), int(c[1])), int(round(r * (1 << shift))), 1,
                       thickness=-1, lineType=cv2.LINE_8, shift=shift)
        else:
            _fill_huge_circle(m, cx, cy, r)
    elif shape.shape_type == "mask":
        _paste_mask(m, shape)
    return m.astype(bool)


def _fill_huge_circle(m: np.ndarray, cx: float, cy: float, r: float) -> None:
    """A circle too large (or too far away) for OpenCV's int32 fixed point (a radius of 1e12
    raised cv2.error): each row gets the span of pixels whose centre lies in the circle, from
    (r - |dy|)(r + |dy|), which keeps its precision for a huge r."""
    h, w = m.shape
    dy = np.abs(np.arange(h, dtype=np.float64) - cy)
    inside = dy <= r
    half = np.sqrt(np.maximum((r - dy) * (r + dy), 0.0))
    x_start = np.clip(np.ceil(cx - half), 0, w).astype(np.int64)
    x_end = np.clip(np.floor(cx + half) + 1, 0, w).astype(np.int64)
    for y in np.flatnonzero(inside & (x_end > x_start)):
        m[y, x_start[y]:x_end[y]] = 1


def _paste_mask(m: np.ndarray, shape: LabelmeShape) -> None:
    from PIL import Image

    try:
        raw = base64.b64decode(shape.mask_png or "", validate=False)
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            sub = np.asarray(im.convert("L")) > 0
    except Exception as exc:
        raise ValueError(f"embedded mask is not a readable PNG ({exc})") from None
    # As labelme: the box starts at the first point (truncated to int), the PNG fills it.
    x0, y0 = (int(v) for v in shape.points[0])
    h, w = m.shape
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + sub.shape[0], h), min(x0 + sub.shape[1], w)
    if ye > ys and xe > xs:
        m[ys:ye, xs:xe] |= sub[ys - y0:ye - y0, xs - x0:xe - x0]


def labelme_labels(f: LabelmeFile) -> list[str]:
    return [s.label for s in f.shapes]


def rasterise(f: LabelmeFile, h: int, w: int, class_of: dict[str, int],
              base: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Paint the file's shapes onto a copy of ``base`` (uint8 H x W) in file order.
    ``class_of`` maps a label to its mask value (255 erases). Returns the mask and notes."""
    out = base.copy()
    notes = []
    for s in f.shapes:
        if s.label not in class_of:
            notes.append(f"'{s.label}' ({s.shape_type}): no class")
            continue
        try:
            sel = shape_mask(s, h, w)
        except ValueError as exc:
            notes.append(f"'{s.label}' ({s.shape_type}): {exc}")
            continue
        out[sel] = class_of[s.label]
    return out, notes


def describe_shape(s: LabelmeShape) -> dict[str, Any]:
    return {"label": s.label, "shape_type": s.shape_type, "points": s.points.tolist()}
