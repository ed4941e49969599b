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
later shape covers an earlier one where they overlap, as in labelme2voc.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.errors import MaskError

SHIFT = 8
AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")


@dataclass
class LabelmeShape:
    label: str
    shape_type: str
    points: np.ndarray            # (n, 2) float64, x then y
    mask_png: str | None = None   # base64 PNG for shape_type "mask"


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
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MaskError(f"{p.name}: cannot be read ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise MaskError(f"{p.name}: not valid JSON (line {exc.lineno}: {exc.msg}).") from None
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
        need = 3 if kind == "polygon" else 2
        if len(pts) < need or (kind in ("rectangle", "circle", "mask") and len(pts) != 2):
            out.skipped.append(f"{where}: {len(pts)} point(s), needs "
                               f"{'at least 3' if kind == 'polygon' else 'exactly 2'}")
            continue
        mask_png = s.get("mask") if kind == "mask" else None
        if kind == "mask" and not isinstance(mask_png, str):
            out.skipped.append(f"{where}: no mask data")
            continue
        out.shapes.append(LabelmeShape(label, kind, pts, mask_png))
    return out


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << SHIFT)).astype(np.int32)


def shape_mask(shape: LabelmeShape, h: int, w: int) -> np.ndarray:
    """Rasterise one shape to a bool H x W mask (see the module docstring for the rules).
    Raises ValueError for an unreadable embedded mask."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    pts = shape.points
    if shape.shape_type == "polygon":
        cv2.fillPoly(m, [_fixed(pts)], 1, lineType=cv2.LINE_8, shift=SHIFT)
    elif shape.shape_type == "rectangle":
        (x0, y0), (x1, y1) = pts
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        cv2.fillPoly(m, [_fixed(corners)], 1, lineType=cv2.LINE_8, shift=SHIFT)
    elif shape.shape_type == "circle":
        (cx, cy), (px, py) = pts
        r = math.hypot(px - cx, py - cy)
        c = _fixed(np.array([[cx, cy]]))[0]
        cv2.circle(m, (int(c[0]), int(c[1])), int(round(r * (1 << SHIFT))), 1,
                   thickness=-1, lineType=cv2.LINE_8, shift=SHIFT)
    elif shape.shape_type == "mask":
        _paste_mask(m, shape)
    return m.astype(bool)


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
