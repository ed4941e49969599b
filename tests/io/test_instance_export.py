"""Per-object writers (segstudio.io.instance_export): COCO with one annotation per object read
back by pycocotools, measurements checked against an independent computation, instance maps
as 16-bit PNG / uint32 TIFF."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from segstudio.core.classes import ClassInfo
from segstudio.io.instance_export import (
    MEASUREMENT_COLUMNS,
    InstanceItem,
    instance_coco_document,
    measurement_rows,
    object_annotations,
    write_instance_map,
    write_instance_outputs,
    write_measurements_csv,
)
from segstudio.io.instances import read_instances
from tests.instance_datasets import instance_map

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CLASSES = [ClassInfo("background", "#000000"), ClassInfo("nucleus", "#ff0000"),
           ClassInfo("cell", "#00ff00")]


def _classes_of(inst):
    ids = [int(i) for i in np.unique(inst) if i]
    return {i: 1 + (k % 2) for k, i in enumerate(ids)}


def test_coco_has_one_annotation_per_object_and_pycocotools_reads_it(tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    a, b = instance_map(0), instance_map(1, first=70)
    b[0, :] = 65600   # an id beyond 16 bits, spanning a whole row
    cls_a, cls_b = _classes_of(a), _classes_of(b)
    doc = instance_coco_document([("a.png", 40, 56, a, cls_a),
                                  ("sub/b.png", 40, 56, b, cls_b, {"segstudio_id": "b"})],
                                 CLASSES)
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    coco = COCO(str(path))
    assert [c["name"] for c in doc["categories"]] == ["background", "nucleus", "cell"]
    assert doc["images"][1]["segstudio_id"] == "b"
    for img, inst, cls in ((doc["images"][0], a, cls_a), (doc["images"][1], b, cls_b)):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert sorted(x["segstudio_object_id"] for x in anns) == sorted(cls)
        for ann in anns:
            obj = ann["segstudio_object_id"]
            want = inst == obj
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), want)
            assert ann["category_id"] == cls[obj] + 1
            assert ann["area"] == int(want.sum()) == int(mask_utils.area(ann["segmentation"]))
            assert ann["bbox"] == mask_utils.toBbox(ann["segmentation"]).tolist()
            assert ann["iscrowd"] == 0
    assert len({x["id"] for x in doc["annotations"]}) == len(doc["annotations"])


def test_objects_of_no_category_are_left_out_and_scores_kept():
    inst = instance_map(2)
    cls = _classes_of(inst)
    first = min(cls)
    cls[first] = 0
    anns = object_annotations(inst, cls, image_id=3, first_id=10,
                              scores={i: 0.5 for i in cls})
    assert first not in {x["segstudio_object_id"] for x in anns}
    assert [x["id"] for x in anns] == list(range(10, 10 + len(anns)))
    assert all(x["score"] == 0.5 and x["image_id"] == 3 for x in anns)
    with pytest.raises(ValueError, match="no class"):
        object_annotations(inst, {}, 1)


def _independent_rows(inst, cls, image):
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    out = []
    for obj in sorted(cls):
        ys, xs = np.nonzero(inst == obj)
        out.append(dict(id=obj, area=len(ys), cy=ys.mean(), cx=xs.mean(),
                        bbox=(ys.min(), xs.min(), ys.max() + 1, xs.max() + 1),
                        mean=grey[ys, xs].mean()))
    return out


def test_measurements_agree_with_an_independent_computation(tmp_path):
    inst = instance_map(3)
    cls = _classes_of(inst)
    rng = np.random.default_rng(5)
    image = (rng.random(inst.shape + (3,)) * 255).astype(np.uint8)
    rows = measurement_rows("img", inst, cls, image, [c.name for c in CLASSES])
    want = _independent_rows(inst, cls, image)
    assert [r["id"] for r in rows] == [w["id"] for w in want]
    for r, w in zip(rows, want, strict=True):
        assert r["image"] == "img" and r["class"] == CLASSES[cls[r["id"]]].name
        assert r["area"] == w["area"]
        assert r["centroid_y"] == pytest.approx(w["cy"])
        assert r["centroid_x"] == pytest.approx(w["cx"])
        assert (r["bbox_y0"], r["bbox_x0"], r["bbox_y1"], r["bbox_x1"]) == w["bbox"]
        assert r["mean_intensity"] == pytest.approx(w["mean"])
        assert 0 <= r["eccentricity"] < 1
    # a rectangle 10 high and 10 wide is a circle to second moments; 10 x 8 is not
    square = next(r for r in rows if r["bbox_x1"] - r["bbox_x0"] == 10 == r["area"] // 10)
    assert square["eccentricity"] == pytest.approx(0, abs=1e-6)
    # grey stored as RGB: the channel itself; a grey image; no image
    grey = image[:, :, 0]
    same = measurement_rows("g", inst, cls, np.stack([grey] * 3, axis=2), ["b", "n", "c"])
    plain = measurement_rows("g", inst, cls, grey, ["b", "n", "c"])
    for r1, r2, w in zip(same, plain, _independent_rows(inst, cls, np.stack([grey] * 3, 2)),
                         strict=True):
        assert r1["mean_intensity"] == r2["mean_intensity"] == pytest.approx(w["mean"])
    none = measurement_rows("g", inst, cls, None, ["b", "n", "c"])
    assert all(r["mean_intensity"] != r["mean_intensity"] for r in none)   # NaN
    path = write_measurements_csv(tmp_path / "m.csv", rows + none)
    with open(path, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(MEASUREMENT_COLUMNS)
    assert int(table[0]["area"]) == rows[0]["area"]
    assert float(table[0]["centroid_y"]) == pytest.approx(rows[0]["centroid_y"], abs=1e-4)
    assert table[-1]["mean_intensity"] == ""
    assert measurement_rows("e", np.zeros((4, 4), np.uint32), {}, None, []) == []


def test_instance_maps_png_then_tiff_and_the_batch_writer(tmp_path):
    inst = instance_map(4)
    p = write_instance_map(tmp_path / "x.png", inst)
    assert p.suffix == ".png" and Image.open(p).mode.startswith("I;16")
    np.testing.assert_array_equal(read_instances(p), inst)
    big = inst.copy()
    big[big == big.max()] = 70_000
    p2 = write_instance_map(tmp_path / "x.png", big)
    assert p2.suffix == ".tif" and not p.exists()
    np.testing.assert_array_equal(read_instances(p2), big)

    items = (InstanceItem(f"im{k}", m, _classes_of(m), file_name=f"im{k}.png")
             for k, m in enumerate([inst, big]))
    files = write_instance_outputs(tmp_path / "out", items, CLASSES)
    names = sorted(f.relative_to(tmp_path / "out").as_posix() for f in files)
    assert names == ["coco.json", "instances/im0.png", "instances/im1.tif", "measurements.csv"]
    doc = json.loads((tmp_path / "out" / "coco.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == ["im0.png", "im1.png"]
    with pytest.raises(ValueError, match="only 3 classes"):
        write_instance_outputs(tmp_path / "o2", [InstanceItem("z", inst, {
            i: 7 for i in _classes_of(inst)})], CLASSES)
