"""COCO RLE and polygons against pycocotools (the oracle), components against a plain BFS,
and the rules of COCO import (matching, overlaps, malformed annotations)."""

from __future__ import annotations

import json
from collections import deque

import numpy as np
import pytest
from PIL import Image

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.io import coco
from segstudio.project.mask_import import import_masks
from segstudio.project.project import Project

mask_utils = pytest.importorskip("pycocotools.mask")
# pycocotools' own numpy-2 deprecation noise, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _fortran(m: np.ndarray) -> np.ndarray:
    return np.asfortranarray(m.astype(np.uint8))


# ------------------------------------------------------------------------------ RLE
@pytest.mark.parametrize("seed", range(4))
def test_encode_is_byte_identical_to_pycocotools(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        m = rng.random((h, w)) < rng.random()
        if rng.random() < 0.3:  # long runs give multi-character and negative deltas
            m = np.zeros((h, w), bool)
            m[rng.integers(0, h):, rng.integers(0, w):] = True
        ref = mask_utils.encode(_fortran(m))
        ours = coco.encode_rle(m)
        assert ours["counts"] == ref["counts"].decode("ascii")
        assert ours["size"] == list(ref["size"])
        assert np.array_equal(coco.decode_rle(ours), m)
        assert np.array_equal(mask_utils.decode(ours), m)
        assert coco.rle_area(ours) == int(mask_utils.area(ref))


def test_counts_string_round_trip_of_large_and_edge_values():
    counts = [0, 1, 2**20, 3, 5, 2**31 - 7, 1, 0 + 4, 2**12]
    assert coco.string_to_counts(coco.counts_to_string(counts)) == counts
    assert coco.rle_counts(np.ones((2, 3), bool)) == [0, 6]
    assert coco.rle_counts(np.zeros((2, 3), bool)) == [6]


def test_decode_rejects_counts_that_do_not_add_up():
    with pytest.raises(ValueError):
        coco.decode_counts([3, 2], 2, 3)
    with pytest.raises(ValueError):
        coco.string_to_counts("\x7f")


# ------------------------------------------------------------------------------ polygons
def test_polygon_rasterisation_equals_pycocotools():
    rng = np.random.default_rng(7)
    for t in range(300):
        h, w = (int(v) for v in rng.integers(4, 60, 2))
        polys = []
        for _ in range(int(rng.integers(1, 3))):
            k = int(rng.integers(3, 10))
            p = rng.uniform(-4, [w + 4, h + 4], size=(k, 2))
            if t % 3 == 0:
                p = np.round(p)          # integer vertices
            elif t % 3 == 1:
                p = np.round(p * 2) / 2  # on pixel centres / edges exactly
            polys.append(p.ravel().tolist())
        ref = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))
        assert np.array_equal(coco.polygon_mask(polys, h, w), ref.astype(bool)), t


def test_annotation_mask_reads_all_three_encodings():
    rng = np.random.default_rng(3)
    m = rng.random((9, 13)) < 0.4
    compressed = coco.encode_rle(m)
    uncompressed = {"size": [9, 13], "counts": coco.rle_counts(m)}
    assert np.array_equal(coco.annotation_mask(compressed, 9, 13), m)
    assert np.array_equal(coco.annotation_mask(uncompressed, 9, 13), m)
    poly = [[1, 1, 10, 1, 10, 7, 1, 7]]
    ref = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, 9, 13))).astype(bool)
    assert np.array_equal(coco.annotation_mask(poly, 9, 13), ref)
    for bad in ([[1, 2, 3, 4]], {"size": [9, 12], "counts": "0"}, {"counts": [1.5]}, "x"):
        with pytest.raises(ValueError):
            coco.annotation_mask(bad, 9, 13)


# ------------------------------------------------------------------------------ components
def _bfs_components(binary: np.ndarray) -> list[set[tuple[int, int]]]:
    """8-connected components by breadth-first search: the independent oracle."""
    seen = np.zeros_like(binary, bool)
    comps = []
    h, w = binary.shape
    for y0, x0 in zip(*np.nonzero(binary), strict=False):
        if seen[y0, x0]:
            continue
        comp, queue = set(), deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            comp.add((int(y), int(x)))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and binary[yy, xx] and not seen[yy, xx]:
                        seen[yy, xx] = True
                        queue.append((yy, xx))
        comps.append(comp)
    return comps


def test_components_are_8_connected_and_exact():
    rng = np.random.default_rng(11)
    for _ in range(15):
        mask = rng.integers(0, 4, (17, 23)).astype(np.uint8)
        mask[mask == 3] = UNLABELLED
        got: dict[int, list[set]] = {}
        for c, rle, area, bbox, pixels in coco.components(mask, 3):
            sel = coco.decode_rle(rle).astype(bool)
            assert np.array_equal(mask_utils.decode(rle).astype(bool), sel)
            assert area == sel.sum() == int(mask_utils.area(rle))
            assert bbox == [int(v) for v in mask_utils.toBbox(rle)]
            x, y, bw, bh = bbox
            assert np.array_equal(pixels, sel[y:y + bh, x:x + bw])
            ys, xs = np.nonzero(sel)
            got.setdefault(c, []).append({(int(a), int(b)) for a, b in zip(ys, xs, strict=True)})
        for c in range(3):
            want = _bfs_components(mask == c)
            assert sorted(map(sorted, got.get(c, []))) == sorted(map(sorted, want))


def test_diagonal_touch_is_one_component_and_holes_stay_holes():
    mask = np.full((9, 9), UNLABELLED, np.uint8)
    mask[1, 1] = mask[2, 2] = 0                 # diagonal neighbours: one object
    mask[3:8, 3:8] = 1                          # a ring of class 1 ...
    mask[5, 5] = 2                              # ... around a class-2 pixel ...
    mask[4, 5] = UNLABELLED                     # ... and an unlabelled hole
    comps = list(coco.components(mask))
    assert [(c, a) for c, _, a, _, _ in comps] == [(0, 2), (1, 23), (2, 1)]
    ring = coco.decode_rle(comps[1][1]).astype(bool)
    assert not ring[5, 5] and not ring[4, 5] and ring[3, 3] and ring[7, 7]


# ------------------------------------------------------------------------------ import
def _project(tmp_path, names=("a", "b", "c"), size=(12, 16), n=2) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    for i in range(n):
        Image.fromarray(np.zeros(size, np.uint8)).save(root / f"im{i}.png")
    p = Project.create(root, [ClassInfo(nm, "#112233") for nm in names])
    p.add_images(sorted(root.glob("*.png")))
    p.save()
    return p


def _write(tmp_path, doc) -> str:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_import_paints_larger_first_and_reports_problems(tmp_path):
    p = _project(tmp_path)
    big = np.zeros((12, 16), bool)
    big[1:11, 1:15] = True
    small = np.zeros((12, 16), bool)
    small[4:7, 4:7] = True
    doc = {
        "images": [{"id": 1, "file_name": "sub/im0.png", "width": 16, "height": 12},
                   {"id": 2, "file_name": "elsewhere.png", "width": 16, "height": 12},
                   {"id": 3, "file_name": "im1.png", "width": 16, "height": 12}],
        "categories": [{"id": 7, "name": "B"}, {"id": 9, "name": "a"},
                       {"id": 4, "name": "new one", "color": "#abcdef"}],
        "annotations": [
            # the small one comes first in the file but must stay on top
            {"id": 1, "image_id": 1, "category_id": 7,
             "segmentation": {"size": [12, 16], "counts": coco.rle_counts(small)}},
            {"id": 2, "image_id": 1, "category_id": 9, "segmentation": coco.encode_rle(big)},
            {"id": 3, "image_id": 1, "category_id": 4,
             "segmentation": [[12, 8, 15, 8, 15, 11, 12, 11]], "iscrowd": 1},
            {"id": 4, "image_id": 1, "category_id": 99, "segmentation": coco.encode_rle(big)},
            {"id": 5, "image_id": 3, "category_id": 9,
             "segmentation": {"size": [5, 5], "counts": [25]}},
        ]}
    s = import_masks(p, _write(tmp_path, doc), "coco")
    assert s.imported == ("im0", "im1")
    assert s.created_classes == ("new one",)
    assert p.classes[3] == ClassInfo("new one", "#abcdef")
    assert any("elsewhere.png" in u for u in s.unmatched)
    assert any("unknown category 99" in t for t in s.skipped)
    assert any("RLE size" in t for t in s.skipped)
    m = p.load_mask(p.images[0], (12, 16))
    poly = mask_utils.decode(mask_utils.frPyObjects([[12, 8, 15, 8, 15, 11, 12, 11]], 12, 16))
    expect = np.full((12, 16), UNLABELLED, np.uint8)
    expect[big] = 0
    expect[poly[:, :, 0].astype(bool)] = 3      # a polygon, read the way pycocotools reads it
    expect[small] = 1
    assert np.array_equal(m, expect)
    # The image whose only annotation was malformed gets an all-unlabelled mask.
    assert (p.load_mask(p.images[1], (12, 16)) == UNLABELLED).all()
    # The project file knows the new class, so the saved masks open again.
    assert [c.name for c in Project.open(p.root).classes] == ["a", "b", "c", "new one"]


def test_import_background_and_merge(tmp_path):
    p = _project(tmp_path)
    old = np.full((12, 16), UNLABELLED, np.uint8)
    old[0, :] = 2
    old[5, 5] = 2
    p.save_mask(p.images[0], old)
    sq = np.zeros((12, 16), bool)
    sq[4:7, 4:7] = True
    doc = {"images": [{"id": 1, "file_name": "im0.png", "width": 16, "height": 12}],
           "categories": [{"id": 1, "name": "b"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": coco.encode_rle(sq)}]}
    import_masks(p, _write(tmp_path, doc), "coco", mode="merge")
    m = p.load_mask(p.images[0], (12, 16))
    assert (m[0] == 2).all() and (m[sq] == 1).all() and m[10, 10] == UNLABELLED
    import_masks(p, _write(tmp_path, doc), "coco", background="A")
    m = p.load_mask(p.images[0], (12, 16))
    assert (m[sq] == 1).all() and (m[~sq] == 0).all()


def test_import_rejects_what_is_not_coco_and_wrong_sizes(tmp_path):
    from segstudio.errors import SegStudioError

    p = _project(tmp_path)
    with pytest.raises(SegStudioError, match="not a COCO file"):
        import_masks(p, _write(tmp_path, {"shapes": []}), "coco")
    with pytest.raises(SegStudioError, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        import_masks(p, str(tmp_path / "bad.json"), "coco")
    with pytest.raises(SegStudioError, match="no class called"):
        import_masks(p, _write(tmp_path, {"images": [], "categories": [], "annotations": []}),
                     "coco", background="nope")
    doc = {"images": [{"id": 1, "file_name": "im0.png", "width": 20, "height": 12}],
           "categories": [{"id": 1, "name": "zzz"}], "annotations": []}
    s = import_masks(p, _write(tmp_path, doc), "coco")
    assert s.imported == () and "20 x 12" in s.failed[0][1]
    # Classes named by the file are still added (they are in the file), and said so.
    assert s.created_classes == ("zzz",)


def test_same_stem_in_two_folders_is_matched_by_path_or_reported(tmp_path):
    root = tmp_path / "proj"
    for sub in ("a", "b"):
        (root / "data" / sub).mkdir(parents=True)
        Image.fromarray(np.zeros((6, 8), np.uint8)).save(root / "data" / sub / "x.png")
    p = Project.create(root, [ClassInfo("a", "#112233")])
    p.add_images([root / "data" / "a" / "x.png", root / "data" / "b" / "x.png"])
    p.entry("x")  # ids: "x" and "x-2"
    full = {"size": [6, 8], "counts": [0, 48]}
    doc = {"images": [{"id": 1, "file_name": "elsewhere/b/x.png", "width": 8, "height": 6},
                      {"id": 2, "file_name": "X.PNG", "width": 8, "height": 6},
                      {"id": 3, "file_name": "other/x-2.png", "width": 8, "height": 6}],
           "categories": [{"id": 1, "name": "a"}],
           "annotations": [{"id": i, "image_id": i, "category_id": 1, "segmentation": full}
                           for i in (1, 2, 3)]}
    s = import_masks(p, _write(tmp_path, doc), "coco")
    # "b/x.png" is the image in data/b; "X.PNG" is the id "x" (the name our export uses);
    # "x-2.png" is the id of the second image, which image 1 already took.
    assert s.imported == ("x-2", "x")
    assert s.failed == (("other/x-2.png", "image 'data/b/x.png' was already imported from "
                                           "another file; this one was left out"),)
    p2 = Project.create(tmp_path / "p2", [ClassInfo("a", "#112233")])
    p2.add_images([root / "data" / "a" / "x.png"])
    p2.images.append(p2.images[0].__class__(id="y", path=(root / "data/b/x.png").as_posix()))
    s = import_masks(p2, _write(tmp_path, {**doc, "images": doc["images"][1:2]}), "coco")
    assert s.imported == ("x",)
    p2.images[0] = p2.images[0].__class__(id="z", path=p2.images[0].path)
    s = import_masks(p2, _write(tmp_path, {**doc, "images": doc["images"][1:2]}), "coco")
    assert s.imported == () and "2 images are called 'X'" in s.failed[0][1]
