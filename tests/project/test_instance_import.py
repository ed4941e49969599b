"""Instance labels in and out of a project: a DSB2018-style folder becomes an instance project,
COCO / labelme / instance maps import as objects, and the export gives the same objects back."""

import json

import numpy as np
import pytest
from PIL import Image

from segstudio.core.classes import UNLABELLED
from segstudio.errors import ConfigError, ProjectError
from segstudio.project.instance_dataset_import import dataset_labels, import_instance_dataset
from segstudio.project.mask_export import export_masks
from segstudio.project.mask_import import import_masks
from segstudio.project.project import PROJECT_FILE, Project
from tests.instance_datasets import SHAPE, instance_map, make_dataset, write_sample

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _labels(project, image_id):
    e = project.entry(image_id)
    return project.load_mask(e, SHAPE), project.load_instances(e, SHAPE)


# ------------------------------------------------------------------------ folder import
def test_folder_import_keeps_ids_splits_and_labels_every_pixel(tmp_path):
    maps = make_dataset(tmp_path / "ds", test_split=True)
    r = import_instance_dataset(tmp_path / "ds", tmp_path / "p")
    p = Project.open(tmp_path / "p")
    assert p.is_instances and [c.name for c in p.classes] == ["background", "object"]
    assert {e.id: e.split for e in p.images} == {"a": "train", "b": "train", "c": "train",
                                                 "d": "val", "e": "test"}
    assert r.notes == [] and r.objects == sum(len(np.unique(m)) - 1 for m in maps.values())
    for stem, want in maps.items():
        mask, inst = _labels(p, stem)
        np.testing.assert_array_equal(inst, want)          # ids exactly as in the file
        np.testing.assert_array_equal(mask, (want > 0).astype(np.uint8))
        assert p.entry(stem).labelled == 1.0 and p.entry(stem).objects == 4


def test_folder_import_then_export_gives_the_same_instance_maps(tmp_path):
    maps = make_dataset(tmp_path / "ds")
    p = import_instance_dataset(tmp_path / "ds", tmp_path / "p").project
    s = export_masks(p, tmp_path / "out", ["instances", "coco", "measurements"])
    assert not s.failed and len(s.exported) == 4
    for stem, want in maps.items():
        got = np.asarray(Image.open(tmp_path / "out" / "instances" / f"{stem}.png"))
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, want)
    doc = json.loads((tmp_path / "out" / "coco.json").read_text())
    assert len(doc["annotations"]) == 16
    rows = (tmp_path / "out" / "measurements.csv").read_text().splitlines()
    assert len(rows) == 17 and rows[1].startswith("a,1,object,")


def test_classes_from_masks_by_majority_and_names(tmp_path):
    inst = write_sample(tmp_path / "ds" / "train", "a", 0, classes={2: 2, 5: 2})
    # masks/ and instances/ disagree: a few pixels of object 1 say class 2 (the majority
    # stays 1), and a class pixel lies outside every object
    sem = np.asarray(Image.open(tmp_path / "ds/train/masks/a.png")).copy()
    ys, xs = np.nonzero(inst == 1)
    sem[ys[:3], xs[:3]] = 2
    sem[0, 55] = 1
    sem[39, 55] = UNLABELLED
    Image.fromarray(sem, "L").save(tmp_path / "ds/train/masks/a.png")
    r = import_instance_dataset(tmp_path / "ds", tmp_path / "p")
    p = r.project
    assert [c.name for c in p.classes] == ["background", "class 1", "class 2"]
    mask, got = _labels(p, "a")
    np.testing.assert_array_equal(got, inst)
    assert set(np.unique(mask[inst == 1])) == {1} and set(np.unique(mask[inst == 2])) == {2}
    assert mask[0, 55] == UNLABELLED and mask[39, 55] == UNLABELLED
    assert len(r.notes) == 1 and "outside every object" in r.notes[0]
    r2 = import_instance_dataset(tmp_path / "ds", tmp_path / "p2", ["bg", "nucleus", "cell"])
    assert [c.name for c in r2.project.classes] == ["bg", "nucleus", "cell"]


def test_without_masks_objects_are_class_1_and_missing_maps_are_noted(tmp_path):
    maps = make_dataset(tmp_path / "ds", with_masks=False)
    (tmp_path / "ds/train/instances/b.png").unlink()
    r = import_instance_dataset(tmp_path / "ds", tmp_path / "p", ["background", "nucleus"])
    p = r.project
    assert [c.name for c in p.classes] == ["background", "nucleus"]
    assert r.notes == ["1 image(s) have no instance map and were imported unlabelled: b.png"]
    assert p.entry("b").labelled == 0 and not p.mask_path(p.entry("b")).exists()
    mask, _ = _labels(p, "a")
    np.testing.assert_array_equal(mask, (maps["a"] > 0).astype(np.uint8))


def test_a_bad_file_stops_the_import_and_leaves_nothing(tmp_path):
    make_dataset(tmp_path / "ds")
    bad = tmp_path / "ds/train/instances/c.png"
    Image.fromarray(np.zeros((10, 12), np.uint16)).save(bad)
    with pytest.raises(ProjectError, match=r"train/instances/c.png: instance map is 12 x 10 "
                                           r"but the image is 56 x 40\. Nothing was imported"):
        import_instance_dataset(tmp_path / "ds", tmp_path / "p")
    assert not (tmp_path / "p").exists()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(bad)     # RGB
    with pytest.raises(ProjectError, match="single-channel"):
        import_instance_dataset(tmp_path / "ds", tmp_path / "kept")
    assert sorted(x.name for x in (tmp_path / "kept").iterdir()) == ["notes.txt"]
    (tmp_path / "sem" / "train" / "images").mkdir(parents=True)
    with pytest.raises(ProjectError, match="no instances/ folder"):
        import_instance_dataset(tmp_path / "sem", tmp_path / "q")
    with pytest.raises(ProjectError, match="does not look like a data set"):
        import_instance_dataset(tmp_path / "ds" / "train" / "masks", tmp_path / "q")


def test_dataset_labels_without_semantic_mask():
    inst = instance_map(0)
    mask, conflicts = dataset_labels(inst, None)
    assert conflicts == 0 and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, (inst > 0).astype(np.uint8))


# ------------------------------------------------------------------ import into a project
@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    for stem, seed in (("a", 0), ("b", 1)):
        img = (np.random.default_rng(seed).random(SHAPE + (3,)) * 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{stem}.png")
    p = Project.create(root, task="instances")
    p.add_images(sorted(root.glob("*.png")))
    p.rename_class(1, "nucleus")
    p.save()
    return p


def _rle_ann(ann_id, image_id, cat, sel, **extra):
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(sel.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return {"id": ann_id, "image_id": image_id, "category_id": cat, "segmentation": rle,
            "iscrowd": 0, **extra}


def test_coco_import_gives_one_object_per_annotation(project, tmp_path):
    inst = instance_map(0)
    anns = [_rle_ann(10 + int(i), 1, 1, inst == i) for i in np.unique(inst) if i]
    anns.append({"id": 99, "image_id": 1, "category_id": 2, "iscrowd": 0,
                 "segmentation": [[40, 2, 50, 2, 50, 8, 40, 8]]})            # a polygon
    anns.append({"id": 100, "image_id": 1, "category_id": 1, "iscrowd": 1,
                 "segmentation": [[0, 30, 6, 30, 6, 38, 0, 38]]})            # a crowd
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 56}],
           "annotations": anns,
           "categories": [{"id": 1, "name": "nucleus"}, {"id": 2, "name": "cell"}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    s = import_masks(project, tmp_path / "c.json", "coco", background="background")
    assert s.imported == ("a",) and s.created_classes == ("cell",)
    assert any("100" in t and "iscrowd" in t for t in s.skipped)
    mask, got = _labels(Project.open(project.root), "a")
    assert len(np.unique(got)) - 1 == 5 == Project.open(project.root).entry("a").objects
    for i in np.unique(inst[inst > 0]):      # each annotation is one object, its own id
        ids = np.unique(got[inst == i])
        assert len(ids) == 1 and ids[0] != 0 and (got == ids[0]).sum() == (inst == i).sum()
    assert set(np.unique(mask[got > 0])) == {1, 2}
    assert (mask[31:38, 0:6] == UNLABELLED).all() and (got[31:38, 0:6] == 0).all()
    assert mask[20, 30] == 0                                   # --background background
    doc["annotations"].append({"id": 101, "image_id": 1, "category_id": 1,
                               "segmentation": [[1, 2]]})
    (tmp_path / "c.json").write_text(json.dumps(doc))
    s = import_masks(Project.open(project.root), tmp_path / "c.json", "coco")
    assert not s.imported and "annotation 101: a polygon needs at least 3 points" in s.failed[0][1]
    np.testing.assert_array_equal(_labels(Project.open(project.root), "a")[1], got)


def test_export_then_coco_import_gives_the_same_ids(project, tmp_path):
    inst = instance_map(1)
    project.save_labels(project.entry("a"), (inst > 0).astype(np.uint8), inst)
    project.save()
    export_masks(project, tmp_path / "out", ["coco"])
    project.save_labels(project.entry("a"), np.full(SHAPE, 255, np.uint8),
                        np.zeros(SHAPE, np.uint32))
    import_masks(project, tmp_path / "out" / "coco.json", "coco", background="background")
    mask, got = _labels(Project.open(project.root), "a")
    np.testing.assert_array_equal(got, inst)
    np.testing.assert_array_equal(mask, (inst > 0).astype(np.uint8))


def _labelme(path, shapes, image="a.png"):
    path.write_text(json.dumps({"imagePath": image, "imageHeight": 40, "imageWidth": 56,
                                "shapes": shapes}))


def test_labelme_import_gives_one_object_per_shape(project, tmp_path):
    shapes = [
        {"label": "nucleus", "shape_type": "polygon", "points": [[2, 2], [10, 2], [10, 9]]},
        {"label": "nucleus", "shape_type": "rectangle", "points": [[11, 2], [20, 9]]},
        {"label": "cell", "shape_type": "circle", "points": [[35, 20], [35, 26]]},
        {"label": "nucleus", "shape_type": "rectangle", "points": [[40, 2], [44, 6]],
         "group_id": 3},
        {"label": "nucleus", "shape_type": "rectangle", "points": [[50, 2], [54, 6]],
         "group_id": 3},
        {"label": "nucleus", "shape_type": "line", "points": [[0, 39], [5, 39]]},
        {"label": "__ignore__", "shape_type": "rectangle", "points": [[0, 30], [4, 34]]},
    ]
    _labelme(tmp_path / "a.json", shapes)
    s = import_masks(project, tmp_path / "a.json", "labelme")
    assert s.imported == ("a",) and s.created_classes == ("cell",)
    mask, got = _labels(Project.open(project.root), "a")
    ids = [int(got[5, 7]), int(got[5, 15]), int(got[20, 35]), int(got[4, 42])]
    assert len(set(ids)) == 4 and 0 not in ids           # four objects, one of two parts
    assert got[4, 52] == got[4, 42]
    assert len(np.unique(got)) - 1 == 4
    assert mask[20, 35] == 2 and mask[5, 7] == 1 and mask[39, 2] == UNLABELLED
    assert (mask[30:35, 0:5] == UNLABELLED).all() and (got[30:35, 0:5] == 0).all()
    # a later shape covering an earlier one whole: noted
    _labelme(tmp_path / "b.json", [shapes[0], {**shapes[1], "points": [[0, 0], [30, 20]]}],
             "b.png")
    s = import_masks(project, tmp_path / "b.json", "labelme")
    assert any("covered" in t for t in s.skipped)


def test_instance_map_folder_import_replace_and_merge(project, tmp_path):
    src = tmp_path / "maps"
    src.mkdir()
    inst = instance_map(2)
    Image.fromarray(inst.astype(np.uint16)).save(src / "a.png")
    s = import_masks(project, src, "instances")
    assert s.imported == ("a",) and not s.failed
    mask, got = _labels(Project.open(project.root), "a")
    np.testing.assert_array_equal(got, inst)
    np.testing.assert_array_equal(mask, (inst > 0).astype(np.uint8))   # 0 = background
    # merge: a new object beside the old ones, with an id of its own
    extra = np.zeros(SHAPE, np.uint32)
    extra[30:36, 46:54] = 1
    Image.fromarray(extra.astype(np.uint16)).save(src / "a.png")
    p = Project.open(project.root)
    import_masks(p, src, "instances", mode="merge")
    _, got2 = _labels(Project.open(project.root), "a")
    new = np.unique(got2[30:36, 46:54])
    assert len(new) == 1 and new[0] > inst.max()
    keep = extra == 0
    np.testing.assert_array_equal(got2[keep], inst[keep])
    # a big id: the project keeps it as a TIFF, and the PNG of before is gone
    extra[extra > 0] = 70_000
    import tifffile

    (src / "a.png").unlink()
    tifffile.imwrite(src / "a.tif", extra)
    import_masks(p, src, "instances")
    e = p.entry("a")
    assert p.instance_path(e).suffix == ".tif"
    assert not (p.instances_dir / "a.png").exists()
    assert p.load_instances(e, SHAPE).max() == 70_000


def test_hostile_instance_inputs_fail_the_item_with_a_reason(project, tmp_path):
    src = tmp_path / "maps"
    src.mkdir()
    Image.fromarray(np.ones((10, 10), np.uint16)).save(src / "a.png")
    Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(src / "b.png")
    s = import_masks(project, src, "instances")
    assert not s.imported
    why = dict(s.failed)
    assert why["a.png"] == "instance map is 10 x 10 but the image is 56 x 40."
    assert "single-channel" in why["b.png"]
    assert not project.instances_dir.exists() or not any(project.instances_dir.iterdir())
    with pytest.raises(ConfigError, match="hold classes, not objects"):
        import_masks(project, src, "index")
    semantic = Project.create(tmp_path / "sem")
    semantic.save()
    with pytest.raises(ConfigError, match="need an instance project"):
        import_masks(semantic, src, "instances")
    with pytest.raises(ConfigError, match="need an instance project"):
        export_masks(semantic, tmp_path / "o", "index,measurements")


def test_project_file_is_written_last(tmp_path):
    make_dataset(tmp_path / "ds")
    import_instance_dataset(tmp_path / "ds", tmp_path / "p")
    with pytest.raises(ProjectError, match="already holds a project"):
        import_instance_dataset(tmp_path / "ds", tmp_path / "p")
    assert (tmp_path / "p" / PROJECT_FILE).exists()


def test_export_of_instance_predictions(project, tmp_path):
    from types import SimpleNamespace

    inst = instance_map(3)
    labels = (inst > 0).astype(np.uint8)
    conf = np.full(SHAPE, 200, np.uint8)
    preds = {"a": SimpleNamespace(labels=labels, confidence=conf, instances=inst,
                                  object_classes={int(i): 1 for i in np.unique(inst) if i}),
             "b": SimpleNamespace(labels=labels, confidence=conf)}      # a semantic model's
    s = export_masks(project, tmp_path / "out", None, "predictions", preds)
    assert s.exported == ("a", "b")
    assert s.failed == (("b", "the prediction holds no objects (a semantic model's): no "
                               "instance map, COCO or measurements"),)
    out = tmp_path / "out"
    np.testing.assert_array_equal(np.asarray(Image.open(out / "instances" / "a.png")), inst)
    assert (out / "masks" / "b.png").exists() and not (out / "instances" / "b.png").exists()
    rows = (out / "measurements.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and all(r.startswith("a,") for r in rows[1:])


def test_flat_layout_and_tiff_maps(tmp_path):
    import tifffile

    inst = write_sample(tmp_path / "ds", "a", 0, with_mask=False)
    big = inst.copy()
    big[big == big.max()] = 100_000
    (tmp_path / "ds/instances/a.png").unlink()
    tifffile.imwrite(tmp_path / "ds/instances/a.tif", big)
    p = import_instance_dataset(tmp_path / "ds", tmp_path / "p").project
    e = p.entry("a")
    assert e.split == "auto" and p.instance_path(e).suffix == ".tif"
    np.testing.assert_array_equal(p.load_instances(e, SHAPE), big)
    export_masks(p, tmp_path / "out", "instances")
    got = tifffile.imread(tmp_path / "out" / "instances" / "a.tif")
    assert got.dtype == np.uint32
    np.testing.assert_array_equal(got, big)
