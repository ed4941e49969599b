"""`segstudio import --instances`, `export` and `import-masks` on instance projects through
segstudio.cli.main: good input round-trips, bad input gives one line and status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segstudio.cli import main
from segstudio.project.project import Project
from tests.instance_datasets import make_dataset

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
DSB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dsb2018_nuclei"


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segstudio: "), err
    assert "Traceback" not in err
    return lines[0]


def test_import_instances_then_export_every_format(tmp_path, capsys):
    maps = make_dataset(tmp_path / "ds")
    (tmp_path / "ds/val/instances/d.png").unlink()
    rc = main(["import", str(tmp_path / "ds"), str(tmp_path / "p"), "--instances",
               "--classes", "background,nucleus"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "note: 1 image(s) have no instance map and were imported unlabelled: d.png" in out
    assert "Imported 4 images (train 3, val 1, 12 objects) with 2 classes" in out
    p = Project.open(tmp_path / "p")
    assert p.is_instances and p.classes[1].name == "nucleus"

    rc = main(["export", str(tmp_path / "p"), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0 and "(index, color, instances, coco, measurements)" in out
    for stem in "abc":
        got = np.asarray(Image.open(tmp_path / "out" / "instances" / f"{stem}.png"))
        np.testing.assert_array_equal(got, maps[stem])
    assert not (tmp_path / "out" / "instances" / "d.png").exists()   # not labelled

    from pycocotools.coco import COCO

    coco = COCO(str(tmp_path / "out" / "coco.json"))
    for img in coco.dataset["images"]:
        inst = maps[img["segstudio_id"]]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert len(anns) == len(np.unique(inst)) - 1
        for a in anns:
            np.testing.assert_array_equal(coco.annToMask(a).astype(bool),
                                          inst == a["segstudio_object_id"])
            assert coco.cats[a["category_id"]]["name"] == "nucleus"
    header = (tmp_path / "out" / "measurements.csv").read_text().splitlines()[0]
    assert header == ("image,id,class,area,centroid_y,centroid_x,bbox_y0,bbox_x0,bbox_y1,"
                      "bbox_x1,mean_intensity,eccentricity")

    rc = main(["export", str(tmp_path / "p"), "--out", str(tmp_path / "o2"),
               "--format", "instances,csv"])
    assert rc == 0
    assert sorted(x.name for x in (tmp_path / "o2").iterdir()) == ["instances",
                                                                     "measurements.csv"]


def test_import_masks_into_an_instance_project(tmp_path, capsys):
    make_dataset(tmp_path / "ds")
    assert main(["import", str(tmp_path / "ds"), str(tmp_path / "p"), "--instances"]) == 0
    main(["export", str(tmp_path / "p"), "--out", str(tmp_path / "out"), "--format", "coco"])
    capsys.readouterr()
    # COCO back in: the same objects
    rc = main(["import-masks", str(tmp_path / "p"), str(tmp_path / "out" / "coco.json"),
               "--format", "coco", "--background", "background"])
    assert rc == 0, capsys.readouterr()
    # the data set's instance maps (with their masks/ for the classes)
    rc = main(["import-masks", str(tmp_path / "p"), str(tmp_path / "ds"),
               "--format", "instances"])
    out = capsys.readouterr().out
    assert rc == 0 and "Imported masks for 4 image(s)." in out
    # semantic-only formats and projects are refused in one line
    rc = main(["import-masks", str(tmp_path / "p"), str(tmp_path / "ds"), "--format", "index"])
    assert rc == 2 and "hold classes, not objects" in _one_line(capsys.readouterr().err)
    main(["import", str(tmp_path / "ds"), str(tmp_path / "sem")])
    assert "--instances imports its objects" in capsys.readouterr().out
    rc = main(["import-masks", str(tmp_path / "sem"), str(tmp_path / "ds"),
               "--format", "instances"])
    assert rc == 2 and "need an instance project" in _one_line(capsys.readouterr().err)
    rc = main(["export", str(tmp_path / "sem"), "--out", str(tmp_path / "o"),
               "--format", "measurements"])
    assert rc == 2 and "need an instance project" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("what", ["size", "rgb", "junk"])
def test_hostile_instance_maps_give_one_line(tmp_path, capsys, what):
    make_dataset(tmp_path / "ds")
    bad = tmp_path / "ds/train/instances/b.png"
    if what == "size":
        Image.fromarray(np.ones((12, 9), np.uint16)).save(bad)
    elif what == "rgb":
        Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(bad)
    else:
        bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    rc = main(["import", str(tmp_path / "ds"), str(tmp_path / "p"), "--instances"])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and "train/instances/b.png" in line and "Nothing was imported" in line
    assert not (tmp_path / "p").exists()


def test_hostile_coco_and_import_masks_items(tmp_path, capsys):
    make_dataset(tmp_path / "ds")
    main(["import", str(tmp_path / "ds"), str(tmp_path / "p"), "--instances"])
    capsys.readouterr()
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 56}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": {"size": [40, 56], "counts": "not^rle!"}},
                           {"id": 2, "image_id": 1, "category_id": 1,
                            "segmentation": {"size": [40, 56], "counts": [5, 2]}}],
           "categories": [{"id": 1, "name": "object"}]}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    rc = main(["import-masks", str(tmp_path / "p"), str(tmp_path / "bad.json"),
               "--format", "coco"])
    cap = capsys.readouterr()
    assert rc == 2 and "Traceback" not in cap.err
    assert ("  a.png: annotation 1: invalid character 't' in RLE string; nothing of this image "
            "was imported") in cap.out.splitlines()
    assert Project.open(tmp_path / "p").entry("a").objects == 4     # left as it was
    (tmp_path / "broken.json").write_text("{not json")
    rc = main(["import-masks", str(tmp_path / "p"), str(tmp_path / "broken.json"),
               "--format", "coco"])
    assert rc == 2 and "broken.json" in _one_line(capsys.readouterr().err)
    maps = tmp_path / "maps"
    maps.mkdir()
    Image.fromarray(np.ones((5, 5), np.uint16)).save(maps / "a.png")
    rc = main(["import-masks", str(tmp_path / "p"), str(maps), "--format", "instances"])
    out = capsys.readouterr().out
    assert rc == 2 and "  a.png: instance map is 5 x 5 but the image is 56 x 40." in out


def test_dsb2018_sample_round_trips(tmp_path, capsys):
    if not (DSB / "train" / "instances").is_dir():
        pytest.skip(f"{DSB} is not here")
    ds = tmp_path / "ds"
    stems = {"train": sorted(p.stem for p in (DSB / "train" / "instances").glob("*.png"))[:3],
             "val": sorted(p.stem for p in (DSB / "val" / "instances").glob("*.png"))[:1]}
    for split, names in stems.items():
        for sub in ("images", "instances", "masks"):
            (ds / split / sub).mkdir(parents=True)
            for n in names:
                shutil.copy(DSB / split / sub / f"{n}.png", ds / split / sub / f"{n}.png")
    assert main(["import", str(ds), str(tmp_path / "p"), "--instances"]) == 0
    assert main(["export", str(tmp_path / "p"), "--out", str(tmp_path / "out"),
                 "--format", "instances,measurements"]) == 0
    rows = (tmp_path / "out" / "measurements.csv").read_text().splitlines()[1:]
    total = 0
    for split, names in stems.items():
        for n in names:
            want = np.asarray(Image.open(DSB / split / "instances" / f"{n}.png"))
            got = np.asarray(Image.open(tmp_path / "out" / "instances" / f"{n}.png"))
            np.testing.assert_array_equal(got, want)
            total += len(np.unique(want)) - 1
    assert len(rows) == total
