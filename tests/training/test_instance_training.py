"""Instance projects train end to end: targets with object rims, object scores per epoch,
thresholds chosen when the run ends, objects from the predictor and `segstudio evaluate`."""

import json

import numpy as np
import pytest

from segstudio.core.classes import UNLABELLED
from segstudio.inference.checkpoints import read_meta
from segstudio.inference.instance_model import (
    boundary_pixels,
    instance_target,
    object_maps,
    semantic_labels,
)
from segstudio.training.config import TrainConfig
from segstudio.training.events import EpochReport, Notice, RunFinished, RunStarted
from segstudio.training.loop import train
from tests.instance_data import make_instance_project

TINY = dict(model={"base_width": 4, "levels": 3}, patch=64, batch=4, iterations_per_epoch=3,
            epochs=2, val_tile=256)


def test_target_marks_the_rim_of_every_object_and_keeps_unlabelled():
    inst = np.zeros((6, 8), np.uint32)
    inst[1:5, 1:4] = 1
    inst[1:5, 4:7] = 2  # touches object 1 along a column
    mask = np.where(inst > 0, 1, 0).astype(np.uint8)
    mask[0, :] = UNLABELLED
    t = instance_target(mask, inst, num_classes=2)
    # the interiors: object pixels whose four neighbours are the same object
    interior = np.zeros_like(inst, bool)
    for y in range(6):
        for x in range(8):
            if inst[y, x] and all(0 <= y + dy < 6 and 0 <= x + dx < 8
                                  and inst[y + dy, x + dx] == inst[y, x]
                                  for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))):
                interior[y, x] = True
    np.testing.assert_array_equal(boundary_pixels(inst), (inst > 0) & ~interior)
    assert (t[interior] == 1).all() and (t[(inst > 0) & ~interior] == 2).all()
    assert (t[0] == UNLABELLED).all() and (t[5] == 0).all()
    assert t[2, 3] == 2 and t[2, 4] == 2  # two rim pixels where the objects touch


def test_boundary_counts_as_the_object_class_in_the_semantic_view():
    probs = np.zeros((4, 1, 3), np.float32)  # classes bg, a, b + boundary
    probs[:, 0, 0] = [0.4, 0.1, 0.2, 0.3]   # boundary joins b: b wins over bg
    probs[:, 0, 1] = [0.6, 0.1, 0.1, 0.2]   # bg
    probs[:, 0, 2] = [0.3, 0.35, 0.05, 0.3]  # boundary joins a
    labels, conf = semantic_labels(probs, 3)
    assert labels.tolist() == [[2, 0, 1]]
    assert conf[0, 0] == round(0.5 * 255)
    maps = object_maps(probs, 3)
    np.testing.assert_allclose(maps.foreground[0], [0.6, 0.4, 0.7])
    np.testing.assert_allclose(maps.interior[0], [0.3, 0.2, 0.4])


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    return make_instance_project(tmp_path_factory.mktemp("cells"), n_images=4,
                                 splits=("train", "train", "train", "val"))


def test_an_instance_run_reports_objects_and_stores_its_thresholds(cells):
    events = list(train(cells, TrainConfig(**TINY)))
    end = events[-1]
    assert isinstance(end, RunFinished) and end.reason == "completed", end.message
    start = events[0]
    assert isinstance(start, RunStarted)
    epochs = [e for e in events if isinstance(e, EpochReport)]
    assert epochs and all({"ap50", "map", "aji", "count_error"} <= set(e.instance_scores)
                          for e in epochs)
    assert epochs[0].confusion.shape == (2, 2)  # the project's classes, rims folded in
    assert any(isinstance(e, Notice) and "Object thresholds" in e.text for e in events)
    meta = read_meta(end.best_checkpoint)
    assert meta["task"] == "instances" and "seed_threshold" in meta["instance_params"]
    assert [c["name"] for c in meta["classes"]] == ["background", "cell"]
    lines = [json.loads(x) for x in
             (cells.runs_dir / start.run_dir.split("/")[-1] / "metrics.jsonl").read_text()
             .splitlines()]
    assert "map" in lines[-1]["instance_scores"]


def test_predictor_and_evaluate_give_objects(cells):
    from segstudio.inference.predictor import Predictor
    from segstudio.io.images import read_image

    runs = sorted(cells.runs_dir.iterdir())
    best = runs[-1] / "best.safetensors"
    if not best.exists():
        events = list(train(cells, TrainConfig(**TINY)))
        best = events[-1].best_checkpoint
    pred = Predictor.load(best, device="cpu")
    assert pred.is_instances
    image = read_image(cells.image_path(cells.images[0])).data
    out = pred.predict(image)
    assert out.instances is not None and out.instances.shape == image.shape[:2]
    assert out.labels.max() <= 1  # classes only: the boundary channel is folded in
    assert set(out.object_classes) == set(np.unique(out.instances[out.instances > 0]).tolist())


def test_cli_evaluate_prints_object_scores(cells, capsys):
    from segstudio.cli import main

    events = list(train(cells, TrainConfig(**TINY)))
    best = events[-1].best_checkpoint
    assert main(["evaluate", str(cells.root), best, "--split", "val", "--json",
                 "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("ap50", "ap75", "map", "aji", "count_error", "iou"):
        assert isinstance(out[key], float), key
    assert out["class_iou"].keys() == {"background", "cell"}
    assert main(["evaluate", str(cells.root), best, "--split", "val", "--device", "cpu"]) == 0
    assert "AP@0.5" in capsys.readouterr().out


def test_sparse_instance_labels_train(tmp_path):
    project = make_instance_project(tmp_path, n_images=3, sparse=True,
                                    splits=("train", "train", "val"))
    events = list(train(project, TrainConfig(**TINY)))
    assert events[-1].reason == "completed", events[-1].message
    epochs = [e for e in events if isinstance(e, EpochReport)]
    assert "ap50" in epochs[-1].instance_scores


@pytest.mark.parametrize("arch,options", [("unetpp", {"base_width": 4, "levels": 3}),
                                          ("unet3p", {"base_width": 4, "levels": 3})])
def test_every_architecture_trains_an_instance_model(cells, arch, options):
    cfg = TrainConfig(**{**TINY, "architecture": arch, "model": options, "epochs": 1})
    events = list(train(cells, cfg))
    assert events[-1].reason == "completed", events[-1].message
    epochs = [e for e in events if isinstance(e, EpochReport)]
    assert "map" in epochs[-1].instance_scores
    if arch == "unetpp":
        assert epochs[-1].depth_miou  # every pruning depth scored in the project's classes


def test_cli_predict_instances_writes_maps_coco_and_measurements(cells, tmp_path, capsys):
    import csv

    from pycocotools import mask as mask_utils

    from segstudio.cli import main
    from segstudio.io.instances import read_instances

    events = list(train(cells, TrainConfig(**TINY)))
    best = events[-1].best_checkpoint
    image = cells.image_path(cells.images[0])
    out = tmp_path / "pred"
    assert main(["predict", best, str(image), "--out", str(out), "--instances",
                 "--device", "cpu"]) == 0
    inst = read_instances(out / "objects" / "instances" / f"{image.stem}.png")
    doc = json.loads((out / "objects" / "coco.json").read_text())
    rows = list(csv.DictReader((out / "objects" / "measurements.csv").open()))
    ids = sorted(np.unique(inst[inst > 0]).tolist())
    assert len(doc["annotations"]) == len(rows) == len(ids)
    for ann in doc["annotations"]:  # every annotation decodes to one predicted object
        rle = ann["segmentation"]
        assert isinstance(rle, dict), "objects are written as RLE"
        if isinstance(rle["counts"], str):
            rle = {**rle, "counts": rle["counts"].encode()}
        m = mask_utils.decode(rle).astype(bool)
        assert len(np.unique(inst[m])) == 1 and inst[m][0] > 0
        assert m.sum() == (inst == inst[m][0]).sum()
    assert {int(r["area"]) for r in rows} == {int((inst == i).sum()) for i in ids}
