"""Instance projects in the window: the new-project choice, the task in the title and status
bar, object counts in the image list, the dashboard's object scores, and the demo."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import Qt

from segstudio.core.instances import ids_of, object_ids
from segstudio.project.project import Project
from segstudio.training.events import EpochReport
from segstudio.ui.image_list import SubtitleRole
from tests.ui.canvas_helpers import at, drag, make_project
from tests.ui.window_helpers import open_window


def _epoch(epoch, miou, scores=None):
    return EpochReport(epoch, 0.5, 0.4, np.eye(2, dtype=np.int64), (miou, miou), miou, 0.9,
                       instance_scores=scores or {})


def test_new_project_asks_semantic_or_instances(qtbot, tmp_path):
    folder = make_project(tmp_path / "src", n_images=2).root
    (folder / "segstudio.json").unlink()       # a plain folder of images
    w = open_window(qtbot)
    asked = []
    w.choose_task = lambda f: asked.append(f) or None      # cancelled: nothing is created
    assert not w.open_path(folder)
    assert asked == [folder] and not (folder / "segstudio.json").exists()
    w.choose_task = lambda f: "instances"
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        assert w.open_path(folder)
    assert w.project.is_instances and Project.open(folder).task == "instances"
    assert "(instances)" in w.windowTitle() and w.status.task_label.text() == "Instances"
    assert w.canvas.instance_mode and w.canvas.current_mask().dtype == np.uint32
    # An existing project is opened as it is, without asking.
    w.choose_task = lambda f: pytest.fail("asked again")
    semantic = make_project(tmp_path / "sem", n_images=1)
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        assert w.open_path(semantic.root)
    assert "(semantic)" in w.windowTitle() and w.status.task_label.text() == "Semantic"
    assert not w.canvas.instance_mode


def test_image_list_counts_objects(qtbot, tmp_path):
    project = make_project(tmp_path / "p", n_images=2, task="instances")
    w = open_window(qtbot)
    w.canvas.autosaver.delay_ms = 50
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        w.set_project(project)
    model = w.image_list.list_model
    row = model.index(project.index_of(w.current_image_id))
    assert row.data(SubtitleRole) == "0 objects · 0 % labelled"
    view = w.canvas.view
    w.canvas.set_active_class(1)
    w.canvas.set_brush_size(7)
    for y in (20, 50, 80):   # three separate strokes started off any object: three cells
        with qtbot.waitSignal(w.canvas.mask_saved, timeout=5000):
            drag(qtbot, view, [at(view, 20, y), at(view, 60, y)])
    assert list(object_ids(ids_of(w.canvas.current_mask()))) == [1, 2, 3]
    text = row.data(SubtitleRole)
    assert text.startswith("3 objects · ") and text.endswith("% labelled")
    assert "3 objects" in row.data(Qt.ItemDataRole.ToolTipRole)
    assert w.save()                           # masks and the project file (counts inside)
    assert Project.open(project.root).entry(w.current_image_id).objects == 3


def test_dashboard_shows_object_scores(qtbot, tmp_path):
    from segstudio.training.run_log import append_epoch
    from segstudio.ui.dashboard.widget import Dashboard

    d = Dashboard()
    qtbot.addWidget(d)
    d.start_run(["background", "cell"], ["#3b4cc0", "#e69f00"], "unet")
    d.add_epoch(_epoch(1, 0.5, {"ap50": 0.42, "map": 0.21, "aji": 0.3}))
    d.add_epoch(_epoch(2, 0.6, {"ap50": 0.71, "map": 0.38}))
    d.flush()
    assert d.ap50_curve is not None and d.map_curve is not None
    x, y = d.ap50_curve.getData()
    assert list(x) == [1, 2] and list(y) == pytest.approx([0.42, 0.71])
    assert list(d.map_curve.getData()[1]) == pytest.approx([0.21, 0.38])
    legend = [label.text for _, label in d.iou_plot.getPlotItem().legend.items]
    assert "mIoU" in legend and "AP@0.5 (objects)" in legend \
        and "mAP 0.5:0.95 (objects)" in legend
    assert "AP@0.5 0.710" in d.summary.text() and "mAP 0.5:0.95 0.380" in d.summary.text()
    assert "ap50,map" in d.history.epoch_csv().splitlines()[0]
    # A semantic run shows no object curves.
    d.start_run(["background", "cell"], ["#3b4cc0", "#e69f00"], "unet")
    d.add_epoch(_epoch(1, 0.5))
    d.flush()
    assert d.ap50_curve is None and "AP" not in d.summary.text()
    legend = [label.text for _, label in d.iou_plot.getPlotItem().legend.items]
    assert not any("AP" in t for t in legend)
    # A restored run reads the scores back from metrics.jsonl.
    run = tmp_path / "run"
    run.mkdir()
    for e in (_epoch(1, 0.5, {"ap50": 0.3, "map": 0.1}), _epoch(2, 0.55, {"ap50": 0.5,
                                                                          "map": 0.2})):
        append_epoch(run, e)
    d.start_run(["background", "cell"], ["#3b4cc0", "#e69f00"], "unet", resumed_from=run,
                iterations_per_epoch=10)
    d.flush()
    assert list(d.ap50_curve.getData()[1]) == pytest.approx([0.3, 0.5])


def test_demo_opens_as_instance_project(qtbot, tmp_path, monkeypatch):
    from segstudio.ui.app import open_initial

    monkeypatch.setenv("SEGSTUDIO_DEMO_DIR", str(tmp_path / "demo"))
    w = open_window(qtbot)
    with qtbot.waitSignal(w.image_shown, timeout=20000):
        open_initial(w, None)
    p = w.project
    assert p.is_instances and [c.name for c in p.classes] == ["background", "cell"]
    labels = w.canvas.current_mask()
    assert labels.dtype == np.uint32 and len(object_ids(ids_of(labels))) >= 3
    row = w.image_list.list_model.index(p.index_of(w.current_image_id))
    assert row.data(SubtitleRole).startswith("5 objects · ")
    assert "(instances)" in w.windowTitle()


@pytest.mark.parametrize("answer, task", [("Instances", "instances"), ("Semantic", "semantic"),
                                          ("Cancel", None)])
def test_task_question(qtbot, tmp_path, monkeypatch, answer, task):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from segstudio.ui.dialogs import ask_task
    from segstudio.ui.main_window import MainWindow

    def click():
        box = QApplication.activeModalWidget()
        assert box is not None and "instances" in box.informativeText().lower()
        for b in box.buttons():
            if b.text().replace("&", "").startswith(answer):
                b.click()

    QTimer.singleShot(200, click)
    assert ask_task(None, tmp_path) == task
    monkeypatch.setenv("SEGSTUDIO_NEW_PROJECT_TASK", "instances")   # preset: no question
    assert MainWindow.choose_task(None, tmp_path) == "instances"


def test_training_panel_counts_the_object_rims_the_loss_learns(qtbot, tmp_path):
    from segstudio.core.instances import pack

    project = make_project(tmp_path / "p", n_images=1, task="instances")
    entry = project.images[0]
    inst = np.zeros((120, 160), np.uint32)
    inst[10:20, 10:20] = 1
    mask = np.where(inst > 0, 1, 0).astype(np.uint8)
    project.save_labels(entry, mask, inst)
    project.save()
    assert pack(mask, inst).dtype == np.uint32
    w = open_window(qtbot)
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        assert w.open_path(project.root)
    panel = w.training_panel
    panel.refresh_weights()
    qtbot.waitUntil(lambda: "object boundary" in panel.weights_label.text(), timeout=10000)
    # three classes and the rims: 36 rim pixels of the 10 x 10 object, 64 inside it
    assert panel._counts.tolist() == [120 * 160 - 100, 64, 0, 36]
