"""Mask export: what is written is exactly the in-app mask, and it comes back identical.

Round trips go project -> index PNG and COCO -> import into a fresh project -> the same masks,
on masks with holes, touching components of different classes, every class, unlabelled
regions and noise. pycocotools is the oracle for the COCO file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.errors import ConfigError
from segstudio.project.mask_export import export_masks
from segstudio.project.mask_import import import_masks
from segstudio.project.project import Project

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CLASSES = [ClassInfo("background", "#000000"), ClassInfo("cell", "#e69f00"),
           ClassInfo("nucleus", "#56b4e9"), ClassInfo("débris", "#009e73")]


def _crafted(h: int = 48, w: int = 64) -> np.ndarray:
    m = np.full((h, w), UNLABELLED, np.uint8)
    m[:, :8] = 0                                # touches three borders
    m[5:30, 12:40] = 1                          # a cell ...
    m[10:20, 18:30] = 2                         # ... with a nucleus inside (a hole of class 1)
    m[14:16, 22:25] = UNLABELLED                # ... which has an unlabelled hole itself
    m[22:26, 33:37] = UNLABELLED                # an unlabelled hole in the cell
    m[30:40, 12:40] = 3                         # touches the cell along an edge
    m[40, 40] = m[41, 41] = m[42, 42] = 1       # diagonal chain: one component
    m[45, 60] = 2                               # a single pixel
    m[47, 63] = 0                               # the last pixel
    return m


def _noise(rng, h, w) -> np.ndarray:
    m = rng.integers(0, 5, (h, w)).astype(np.uint8)
    m[m == 4] = UNLABELLED
    return m


def _images(folder: Path, sizes) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (h, w) in enumerate(sizes):
        p = folder / f"img {i}.png"   # a space: ids differ from stems
        Image.fromarray(np.full((h, w, 3), 30 * i, np.uint8)).save(p)
        out.append(p)
    return out


@pytest.fixture
def project(tmp_path) -> Project:
    rng = np.random.default_rng(0)
    sizes = [(48, 64), (33, 47), (20, 20), (25, 31), (17, 9)]
    paths = _images(tmp_path / "proj" / "images", sizes)
    p = Project.create(tmp_path / "proj", CLASSES)
    p.add_images(paths)
    p.save_mask(p.images[0], _crafted())
    p.save_mask(p.images[1], _noise(rng, 33, 47))
    full = np.full((20, 20), 3, np.uint8)       # one class everywhere
    p.save_mask(p.images[2], full)
    p.save_mask(p.images[3], np.full((25, 31), UNLABELLED, np.uint8))  # saved but empty
    p.save()                                    # images[4] was never painted
    return p


def _masks(p: Project) -> dict[str, np.ndarray]:
    return {e.id: np.asarray(Image.open(path)) for e, path in p.saved_masks()}


def _fresh(tmp_path: Path, p: Project, name: str) -> Project:
    q = Project.create(tmp_path / name, [CLASSES[0]])   # classes come from the import
    q.add_images([p.image_path(e) for e in p.images])
    q.save()
    return q


@pytest.mark.parametrize("fmt", ["index", "coco"])
def test_round_trip_is_identical(project, tmp_path, fmt):
    out = tmp_path / "out"
    s = export_masks(project, out, {"index", "coco"}, "labelled")
    assert s.exported == ("img_0", "img_1", "img_2") and not s.failed
    q = _fresh(tmp_path, project, f"q_{fmt}")
    src = out / "coco.json" if fmt == "coco" else out
    r = import_masks(q, src, fmt)
    assert r.imported == s.exported and not r.failed and not r.skipped
    before = {k: v for k, v in _masks(project).items() if k in s.exported}
    after = _masks(q)
    assert before.keys() == after.keys()
    for k in before:
        assert np.array_equal(before[k], after[k]), k
    if fmt == "coco":   # classes by name, colours from the categories
        assert q.classes == CLASSES
    else:               # index masks carry no names; the palette is not trusted
        assert [c.name for c in q.classes] == ["background", "class 1", "class 2", "class 3"]


def test_index_pngs_are_the_project_masks(project, tmp_path):
    export_masks(project, tmp_path / "out", ["index"], "all")
    for e in project.images:
        im = Image.open(tmp_path / "out" / "masks" / f"{e.id}.png")
        assert im.mode == "L"   # grayscale by default: class indices in every reader
        want = project.load_mask(e, im.size[::-1])
        assert np.array_equal(np.asarray(im), want)
    # The never-painted image comes out all unlabelled, at its image's size.
    assert (np.asarray(Image.open(tmp_path / "out" / "masks" / "img_4.png")) == 255).all()
    assert not (tmp_path / "out" / "coco.json").exists()


def test_palette_index_pngs_carry_the_class_colours(project, tmp_path):
    export_masks(project, tmp_path / "out", ["index"], "all", palette=True)
    for e in project.images:
        im = Image.open(tmp_path / "out" / "masks" / f"{e.id}.png")
        assert im.mode == "P" and im.info.get("transparency") == UNLABELLED
        pal = im.getpalette()
        for i, c in enumerate(CLASSES):
            assert tuple(pal[3 * i:3 * i + 3]) == c.rgb
        want = project.load_mask(e, im.size[::-1])
        assert np.array_equal(np.asarray(im), want)


def test_color_png_is_solid_class_colours_and_transparent_unlabelled(project, tmp_path):
    export_masks(project, tmp_path / "out", "color")
    m = project.load_mask(project.images[0], (48, 64))
    rgba = np.asarray(Image.open(tmp_path / "out" / "color" / "img_0.png"))
    assert rgba.shape == (48, 64, 4)
    for i, c in enumerate(CLASSES):
        assert (rgba[m == i] == (*c.rgb, 255)).all()
    assert (rgba[m == UNLABELLED] == 0).all()


def test_coco_file_against_pycocotools(project, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    export_masks(project, tmp_path / "out", "coco", "all")
    doc = json.loads((tmp_path / "out" / "coco.json").read_text())
    assert [c["id"] for c in doc["categories"]] == [1, 2, 3, 4]
    assert [(c["name"], c["color"]) for c in doc["categories"]] == \
        [(c.name, c.color) for c in CLASSES]
    api = COCO(str(tmp_path / "out" / "coco.json"))
    assert len(api.getImgIds()) == len(project.images)
    for img in api.loadImgs(api.getImgIds()):
        entry = project.entry(img["segstudio_id"])
        assert img["file_name"] == entry.path
        want = project.load_mask(entry, (img["height"], img["width"]))
        rebuilt = np.full_like(want, UNLABELLED)
        cover = np.zeros(want.shape, int)
        for ann in api.loadAnns(api.getAnnIds(imgIds=img["id"])):
            sel = api.annToMask(ann).astype(bool)
            assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), sel)
            assert ann["area"] == sel.sum() == int(mask_utils.area(ann["segmentation"]))
            assert ann["bbox"] == mask_utils.toBbox(ann["segmentation"]).tolist()
            assert ann["iscrowd"] == 0
            # Each annotation is one 8-connected component.
            import cv2
            assert cv2.connectedComponents(sel.astype(np.uint8), connectivity=8)[0] == 2
            # Our string is the one pycocotools would write for the same pixels.
            ref = mask_utils.encode(np.asfortranarray(sel.astype(np.uint8)))
            assert ann["segmentation"]["counts"] == ref["counts"].decode()
            rebuilt[sel] = ann["category_id"] - 1
            cover += sel
        assert cover.max(initial=0) <= 1          # annotations never overlap
        assert np.array_equal(rebuilt, want)      # ... and cover every labelled pixel
    crafted = api.loadAnns(api.getAnnIds(imgIds=1))
    assert sorted((a["category_id"] - 1, a["area"]) for a in crafted) == sorted([
        (0, 8 * 48), (0, 1), (1, 25 * 28 - 120 - 16), (1, 3), (2, 120 - 6), (2, 1),
        (3, 10 * 28)])


def test_predictions_export(project, tmp_path):
    from segstudio.inference.tiling import Prediction

    labels = np.zeros((48, 64), np.uint8)
    labels[:, 32:] = 1
    conf = np.full((48, 64), 200, np.uint8)
    preds = {"img_0": Prediction(labels, conf), "img_2": np.full((20, 20), 2, np.uint8),
             "ghost": labels}
    two = CLASSES[:3]
    s = export_masks(project, tmp_path / "out", ["index", "coco"], "predictions", preds,
                     classes=two)
    assert s.exported == ("img_0", "img_2")
    assert s.failed == (("ghost", "not an image of this project"),)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out/masks/img_0.png")), labels)
    doc = json.loads((tmp_path / "out" / "coco.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["background", "cell", "nucleus"]
    assert {a["score"] for a in doc["annotations"] if a["image_id"] == 1} == {round(200 / 255, 4)}
    with pytest.raises(ConfigError):
        export_masks(project, tmp_path / "o2", "index", "predictions")


def test_bad_requests_and_corrupt_masks(project, tmp_path):
    with pytest.raises(ConfigError, match="overwrite the project's own masks"):
        export_masks(project, project.root, "index")
    with pytest.raises(ConfigError, match="Unknown mask format"):
        export_masks(project, tmp_path / "o", "index,tiff")
    with pytest.raises(ConfigError, match="must be one of"):
        export_masks(project, tmp_path / "o", "index", which="some")
    project.mask_path(project.images[1]).write_bytes(b"not a png")
    s = export_masks(project, tmp_path / "o", ["index", "coco"])
    assert s.exported == ("img_0", "img_2")
    assert s.failed[0][0] == "img_1" and "not a readable mask" in s.failed[0][1]
    assert "img_1" in s.describe()
    cancelled = export_masks(project, tmp_path / "o3", ["index", "coco"],
                             progress=lambda done, total: done < 1)
    assert cancelled.cancelled and cancelled.exported == ("img_0",)
    assert not (tmp_path / "o3" / "coco.json").exists()
