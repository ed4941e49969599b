"""labelme import against an independent rasterisation: the expected masks are drawn here with
cv2.fillPoly / cv2.circle straight from the test's own geometry (never from the JSON), in
file order; the pixel-centre convention is checked on exact cases and with geometry."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.errors import MaskError
from segstudio.project.mask_import import import_masks
from segstudio.project.project import Project

H, W = 40, 56


def _project(tmp_path: Path, n: int = 2, names=("background", "cell")) -> Project:
    root = tmp_path / "proj"
    (root / "images").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(root / "images" / f"im{i}.jpg")
    p = Project.create(root, [ClassInfo(nm, "#445566") for nm in names])
    p.add_images(sorted((root / "images").glob("*.jpg")))
    p.save()
    return p


def _labelme(path: Path, shapes: list[dict], image_path: str, h: int = H, w: int = W) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "5.4.1", "flags": {}, "shapes": shapes,
                                "imagePath": image_path, "imageData": None,
                                "imageHeight": h, "imageWidth": w}))


def _shape(label, points, kind="polygon", **extra):
    return {"label": label, "points": [list(map(float, p)) for p in points],
            "group_id": None, "description": "", "shape_type": kind, "flags": {}, **extra}


def _fill(points) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    pts = np.round(np.asarray(points, np.float64) * 256).astype(np.int32)
    cv2.fillPoly(m, [pts], 1, lineType=cv2.LINE_8, shift=8)
    return m.astype(bool)


def _star(rng, integer: bool) -> np.ndarray:
    k = int(rng.integers(3, 12))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = rng.uniform(3, 16, k)
    c = rng.uniform([4, 4], [W - 4, H - 4])
    pts = c + np.stack([r * np.cos(ang), r * np.sin(ang)], 1)
    return np.round(pts) if integer else pts


def test_import_matches_independent_cv2_rasterisation(tmp_path):
    p = _project(tmp_path)
    rng = np.random.default_rng(5)
    polys = [_star(rng, integer=i % 2 == 0) for i in range(6)]
    labels = ["cell", "Background", "nucleus", "cell", "nucleus", "background"]
    rect = [(3.4, 30.6), (20.2, 37.0)]
    circle = [(40.3, 8.7), (44.9, 12.1)]
    shapes = [_shape(lab, pts) for lab, pts in zip(labels, polys, strict=False)]
    shapes += [_shape("membrane", rect, "rectangle"), _shape("cell", circle, "circle"),
               _shape("cell", [(1, 1), (30, 30)], "line"),
               _shape("cell", [(5, 5)], "point"),
               _shape("__ignore__", [(0, 0), (5, 0), (5, 5), (0, 5)])]
    # The JSON sits in another folder and names its image with Windows separators.
    _labelme(tmp_path / "ann" / "im0.json", shapes, "..\\proj\\images\\im0.jpg")
    summary = import_masks(p, tmp_path / "ann", "labelme")
    assert summary.imported == ("im0",)
    assert summary.created_classes == ("nucleus", "membrane")
    assert len([s for s in summary.skipped if "encloses no area" in s]) == 2
    assert not summary.unmatched and not summary.failed

    cls = {"background": 0, "cell": 1, "nucleus": 2, "membrane": 3}
    expect = np.full((H, W), UNLABELLED, np.uint8)
    for lab, pts in zip(labels, polys, strict=True):      # file order: later covers earlier
        expect[_fill(pts)] = cls[lab.lower()]
    (x0, y0), (x1, y1) = rect
    expect[_fill([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])] = 3
    c = np.zeros((H, W), np.uint8)
    (cx, cy), (px, py) = circle
    cv2.circle(c, (round(cx * 256), round(cy * 256)), round(np.hypot(px - cx, py - cy) * 256), 1,
               -1, cv2.LINE_8, 8)
    expect[c.astype(bool)] = 1
    expect[_fill([(0, 0), (5, 0), (5, 5), (0, 5)])] = UNLABELLED
    got = p.load_mask(p.images[0], (H, W))
    assert np.array_equal(got, expect)
    assert (got != UNLABELLED).sum() > 500            # the test is not vacuous


def test_pixel_centre_convention(tmp_path):
    p = _project(tmp_path, n=1)
    _labelme(tmp_path / "a.json", [_shape("cell", [(2, 3), (5, 3), (5, 7), (2, 7)]),
                                   _shape("cell", [(10, 10), (14, 12)], "rectangle")],
             "im0.jpg")
    import_masks(p, tmp_path / "a.json", "labelme")
    m = p.load_mask(p.images[0], (H, W))
    expect = np.full((H, W), UNLABELLED, np.uint8)
    expect[3:8, 2:6] = 1          # vertex (x, y) is the centre of pixel (col x, row y)
    expect[10:13, 10:15] = 1      # both corners of a rectangle are inside it
    assert np.array_equal(m, expect)


def _inside_and_distance(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (col, row) strictly inside the polygon (even-odd), and their distance
    to its outline: a third route, pure geometry."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    inside = np.zeros((H, W), bool)
    dist = np.full((H, W), np.inf)
    for (a, b), (c, d) in zip(pts, np.roll(pts, -1, 0), strict=False):
        with np.errstate(divide="ignore", invalid="ignore"):
            inside ^= ((b > yy) != (d > yy)) & (xx < a + (yy - b) * (c - a) / (d - b))
        vx, vy = c - a, d - b
        t = np.clip(((xx - a) * vx + (yy - b) * vy) / max(vx * vx + vy * vy, 1e-12), 0, 1)
        dist = np.minimum(dist, np.hypot(xx - a - t * vx, yy - b - t * vy))
    return inside, dist


def test_convention_against_geometry(tmp_path):
    """Centres well inside are labelled, pixels far outside are not: a half-pixel shift (the
    pixel-corner convention) would break the first rule."""
    p = _project(tmp_path, n=1)
    rng = np.random.default_rng(9)
    for i in range(20):
        pts = _star(rng, integer=i % 2 == 0)
        _labelme(tmp_path / "a.json", [_shape("cell", pts)], "im0.jpg")
        import_masks(p, tmp_path / "a.json", "labelme")
        got = p.load_mask(p.images[0], (H, W)) == 1
        inside, dist = _inside_and_distance(pts)
        assert not (inside & (dist > 0.6) & ~got).any()
        assert not (got & ~inside & (dist > 1.5)).any()


def test_matching_reports_and_embedded_masks(tmp_path):
    p = _project(tmp_path, n=2)
    sub = np.zeros((4, 6), np.uint8)
    sub[1:3, 2:5] = 255
    buf = io.BytesIO()
    Image.fromarray(sub).save(buf, format="PNG")
    mask_shape = _shape("cell", [(7, 9), (12, 12)], "mask",
                        mask=base64.b64encode(buf.getvalue()).decode())
    src = tmp_path / "src"
    _labelme(src / "im1.json", [mask_shape], "")                 # matched by stem
    _labelme(src / "nested" / "other.json", [_shape("cell", [(1, 1), (4, 1), (4, 4)])],
             "missing.png")                                      # no such image
    _labelme(src / "wrong_size.json", [], "im0.jpg", h=H + 1)     # size disagrees
    (src / "broken.json").write_text("{not json")
    s = import_masks(p, src, "labelme")
    assert s.imported == ("im1",)
    assert s.unmatched == ("nested/other.json (image 'missing.png')",)
    reasons = dict(s.failed)
    assert "not valid JSON" in reasons["broken.json"]
    assert f"{W} x {H + 1}" in reasons["wrong_size.json"]
    m = p.load_mask(p.images[1], (H, W))
    expect = np.full((H, W), UNLABELLED, np.uint8)
    expect[10:12, 9:12] = 1
    assert np.array_equal(m, expect)
    assert not p.mask_path(p.images[0]).exists()   # the failed file wrote nothing
    text = s.describe()
    assert "missing.png" in text and "broken.json" in text


def test_single_file_that_is_not_labelme_is_an_error(tmp_path):
    p = _project(tmp_path, n=1)
    (tmp_path / "x.json").write_text(json.dumps({"images": []}))
    with pytest.raises(MaskError, match="not a labelme file"):
        import_masks(p, tmp_path / "x.json", "labelme")
    assert [c.name for c in p.classes] == ["background", "cell"]
