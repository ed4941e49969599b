"""Paint two touching objects with the mouse, undo, merge a third into one, export, re-import:
the instance map comes back exactly, and the COCO export decodes with pycocotools to the same
objects."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from pycocotools import mask as mask_utils
from PySide6.QtCore import Qt

from segstudio.cli import main
from segstudio.core.instances import ids_of, object_ids
from segstudio.io.instances import read_instances
from segstudio.project.project import Project
from tests.ui.canvas_helpers import at, click, drag, key, load, make_project, new_panel
from tests.ui.test_instances_canvas import two_touching_cells

CTRL = Qt.KeyboardModifier.ControlModifier
ALT = Qt.KeyboardModifier.AltModifier


def test_paint_undo_merge_export_reimport_round_trips(qtbot, tmp_path):
    project = make_project(tmp_path / "proj", n_images=1, shape=(120, 160), task="instances")
    panel = new_panel(qtbot, project)
    entry, image, labels = load(project, 0)
    panel.show_image(entry, image, labels)
    panel.view.set_view(2.0, 5.0, 5.0)
    two_touching_cells(qtbot, panel)
    view = panel.view
    drag(qtbot, view, [at(view, 30, 80), at(view, 40, 82)])      # a third object
    assert list(object_ids(ids_of(panel.current_mask()))) == [1, 2, 3]
    key(qtbot, view, Qt.Key.Key_Z, CTRL)                           # undone
    assert list(object_ids(ids_of(panel.current_mask()))) == [1, 2]
    drag(qtbot, view, [at(view, 30, 80), at(view, 40, 82)])      # painted again
    click(qtbot, view, at(view, 30, 40), mods=ALT)                 # pick object 1
    click(qtbot, view, at(view, 35, 81), mods=CTRL)                # merge the new one into it
    painted = ids_of(panel.current_mask())
    assert len(object_ids(painted)) == 2
    panel.flush_saves()
    project = Project.open(project.root)
    np.testing.assert_array_equal(project.load_instances(project.images[0], painted.shape),
                                  painted)
    out = tmp_path / "out"
    assert main(["export", str(project.root), "--out", str(out),
                 "--format", "instances,coco"]) == 0
    exported = read_instances(next((out / "instances").iterdir()))
    np.testing.assert_array_equal(exported, painted)
    doc = json.loads((out / "coco.json").read_text())
    assert len(doc["annotations"]) == 2
    for ann in doc["annotations"]:
        rle = ann["segmentation"]
        if isinstance(rle, list):  # polygons
            h, w = painted.shape
            rle = mask_utils.merge(mask_utils.frPyObjects(rle, h, w))
        elif isinstance(rle["counts"], str):
            rle = {**rle, "counts": rle["counts"].encode()}
        m = mask_utils.decode(rle).astype(bool)
        ids = np.unique(painted[m])
        assert len(ids) == 1 and ids[0] > 0 and m.sum() == (painted == ids[0]).sum()
    # re-import the exported maps into a fresh instance project: the same ids, pixel for pixel
    fresh = make_project(tmp_path / "fresh", n_images=1, shape=(120, 160), task="instances")
    src = tmp_path / "maps"
    src.mkdir()
    (src / f"{fresh.images[0].id}.png").write_bytes(
        next((out / "instances").iterdir()).read_bytes())
    assert main(["import-masks", str(fresh.root), str(src), "--format", "instances"]) == 0
    fresh = Project.open(fresh.root)
    np.testing.assert_array_equal(fresh.load_instances(fresh.images[0], painted.shape), painted)
