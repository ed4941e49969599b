"""The annotation assistants driven by real mouse events on the canvas at two zoom levels: the
magic wand (tolerance, drag and wheel, preserve labels), the superpixel brush, box to object
(GrabCut) and the model brush. Pixels are checked against oracles computed from what the
test image is made of, and every commit is one undo step."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import ID_MASK, semantic_of
from segstudio.project.project import Project
from tests.ui.canvas_helpers import CLASSES, at, click, drag, key, load, new_panel, reference_stroke

ZOOMS = [1.0, 2.5]
H, W = 120, 160
DISK = (60, 50, 22)          # row, col, radius of the bright cell


def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grey-noise background (30 +- 4), a bright disk (200 +- 4) and a mid-grey square
    (110 +- 4) as RGB; and the disk's and the square's pixels."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:H, :W]
    disk = (yy - DISK[0]) ** 2 + (xx - DISK[1]) ** 2 <= DISK[2] ** 2
    square = (yy >= 30) & (yy < 70) & (xx >= 100) & (xx < 140)
    grey = np.full((H, W), 30.0)
    grey[disk] = 200
    grey[square] = 110
    grey += rng.integers(-4, 5, (H, W))
    img = np.repeat(grey.clip(0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return img, disk, square


@pytest.fixture(params=["semantic", "instances"])
def task(request):
    return request.param


def make_scene_project(root, task="semantic") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    img, _, _ = scene()
    Image.fromarray(img).save(root / "cells.png")
    project = Project.create(root, CLASSES, task=task)
    project.add_images([root / "cells.png"])
    project.save()
    return project


def open_panel(qtbot, tmp_path, scale, task="semantic"):
    project = make_scene_project(tmp_path / "p", task)
    panel = new_panel(qtbot, project)
    entry, image, mask = load(project, 0)
    panel.show_image(entry, image, mask)
    panel.view.set_view(scale, 7.3, 6.3)
    return panel


def classes_of(panel) -> np.ndarray:
    m = panel.current_mask()
    return m if m.dtype == np.uint8 else semantic_of(m)


def wheel(view, pos: QPoint, notches: int, buttons=Qt.MouseButton.LeftButton) -> None:
    ev = QWheelEvent(QPointF(pos), QPointF(view.mapToGlobal(pos)), QPoint(0, 0),
                     QPoint(0, 120 * notches), buttons, Qt.KeyboardModifier.NoModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, ev)


def undo(qtbot, panel) -> None:
    key(qtbot, panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


# ---------------------------------------------------------------------------- wand

@pytest.mark.parametrize("scale", ZOOMS)
def test_wand_click_fills_the_similar_connected_region_one_undo_step(qtbot, tmp_path, scale):
    panel = open_panel(qtbot, tmp_path, scale)
    _, disk, square = scene()
    panel.set_active_class(1)
    key(qtbot, panel.view, Qt.Key.Key_F)
    assert panel.tool_name == "wand"
    panel.set_wand_tolerance(24)
    click(qtbot, panel.view, at(panel.view, DISK[1], DISK[0]))
    got = classes_of(panel)
    assert np.array_equal(got == 1, disk)             # the cell, nothing of the background
    assert (got[~disk] == UNLABELLED).all()
    undo(qtbot, panel)
    assert (classes_of(panel) == UNLABELLED).all()    # one undo step
    # Tolerance 0 on noise: only pixels of exactly the seed's value, connected to it.
    panel.set_wand_tolerance(0)
    click(qtbot, panel.view, at(panel.view, 5, 5))
    got = classes_of(panel)
    img, _, _ = scene()
    assert 1 <= np.count_nonzero(got == 1) < 200
    assert (img[got == 1][:, 0] == img[5, 5, 0]).all()
    panel.flush_saves()


@pytest.mark.parametrize("scale", ZOOMS)
def test_wand_drag_and_wheel_change_the_tolerance_with_a_preview(qtbot, tmp_path, scale):
    panel = open_panel(qtbot, tmp_path, scale)
    _, disk, square = scene()
    view = panel.view
    panel.set_active_class(2)
    key(qtbot, view, Qt.Key.Key_F)
    panel.set_wand_tolerance(0)
    start = at(view, 5, 5)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    assert panel.tool.busy and (classes_of(panel) == UNLABELLED).all()  # a preview only
    # Drag right by 30 steps of the tolerance: the whole noisy background joins, not the
    # disk or the square (their values are > 60 away from any background pixel).
    end = start + QPoint(int(30 * 3), 0)
    QTest.mouseMove(view, end)
    box, region = panel.tool._found
    assert np.count_nonzero(region) == np.count_nonzero(~disk & ~square)
    assert (classes_of(panel) == UNLABELLED).all()
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    got = classes_of(panel)
    assert np.array_equal(got == 2, ~disk & ~square)
    assert panel.wand_tolerance == 30                 # kept for the next click
    undo(qtbot, panel)
    assert (classes_of(panel) == UNLABELLED).all()
    # The wheel while the button is held: +2 per notch, and no zoom.
    panel.set_wand_tolerance(0)
    zoom = view.scale
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    wheel(view, start, 15)
    assert view.scale == zoom and panel.tool._tolerance == 30
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    assert np.array_equal(classes_of(panel) == 2, ~disk & ~square)
    wheel(view, start, 1, buttons=Qt.MouseButton.NoButton)   # not held: the wheel zooms
    assert view.scale > zoom
    panel.flush_saves()


@pytest.mark.parametrize("scale", ZOOMS)
def test_wand_with_preserve_labels_stops_at_labels_and_keeps_them(qtbot, tmp_path, scale):
    panel = open_panel(qtbot, tmp_path, scale)
    _, disk, _ = scene()
    m = panel.current_mask()
    m[:, 40:43] = 0      # a labelled wall through the cell
    before = m.copy()
    panel.set_preserve_labels(True)
    panel.set_active_class(1)
    key(qtbot, panel.view, Qt.Key.Key_F)
    panel.set_wand_tolerance(24)
    click(qtbot, panel.view, at(panel.view, DISK[1] + 5, DISK[0]))   # right of the wall
    got = classes_of(panel)
    cols = np.arange(W)[None, :]
    assert np.array_equal(got == 1, disk & (cols >= 43))   # the wall stops the region
    assert np.array_equal(got[before != UNLABELLED], before[before != UNLABELLED])
    click(qtbot, panel.view, at(panel.view, 41, DISK[0]))  # on the wall: nothing
    assert np.array_equal(classes_of(panel) == 1, disk & (cols >= 43))
    undo(qtbot, panel)
    assert np.array_equal(panel.current_mask(), before)
    panel.flush_saves()


def test_wand_in_an_instance_project_makes_a_new_object_and_spares_others(qtbot, tmp_path):
    panel = open_panel(qtbot, tmp_path, 1.0, "instances")
    _, disk, _ = scene()
    panel.set_active_class(1)
    key(qtbot, panel.view, Qt.Key.Key_F)
    panel.set_wand_tolerance(24)
    click(qtbot, panel.view, at(panel.view, DISK[1], DISK[0]))
    labels = panel.current_mask()
    first = int(labels[DISK[0], DISK[1]] & ID_MASK)
    assert first and np.array_equal((labels & ID_MASK) == first, disk)
    # A second click on the same cell is a second object, but takes no pixel of the first.
    click(qtbot, panel.view, at(panel.view, DISK[1], DISK[0]))
    assert np.array_equal(panel.current_mask(), labels)
    panel.flush_saves()


# ---------------------------------------------------------------------- superpixels

@pytest.mark.parametrize("scale", ZOOMS)
def test_superpixel_drag_labels_whole_superpixels_one_undo_step(qtbot, tmp_path, scale):
    panel = open_panel(qtbot, tmp_path, scale)
    view = panel.view
    panel.toolbar.superpixel_spin.setValue(12)
    with qtbot.waitSignal(panel.superpixels_ready, timeout=20000):
        key(qtbot, view, Qt.Key.Key_S)
    assert panel.tool_name == "superpixel" and panel.toolbar._superpixel_action.isVisible()
    sp = panel.superpixels()
    assert sp is not None and sp.labels.shape == (H, W) and sp.count > 20
    panel.set_active_class(2)
    panel.set_brush_size(3)
    pts = [at(view, 20, 100), at(view, 60, 105), at(view, 90, 100)]
    drag(qtbot, view, pts)
    # Oracle: the pixels the same stroke of the plain brush covers, and every superpixel that
    # has one of them.
    foot = reference_stroke(np.full((H, W), 255, np.uint8),
                            [view.widget_to_image(QPointF(p)) for p in pts], 3, 1) == 1
    touched = np.unique(sp.labels[foot])
    expected = np.isin(sp.labels, touched)
    got = classes_of(panel)
    assert np.array_equal(got == 2, expected)
    assert np.count_nonzero(expected) > np.count_nonzero(foot)   # whole superpixels
    undo(qtbot, panel)
    assert (classes_of(panel) == UNLABELLED).all()
    # Boundaries on request.
    panel.commands["superpixel_boundaries"].trigger()
    assert panel.boundary_layer.visible and panel.boundary_layer.array is not None
    assert np.array_equal(panel.boundary_layer.array.astype(bool), sp.boundaries())
    panel.flush_saves()


# ------------------------------------------------------------------------- box

@pytest.mark.parametrize("scale", ZOOMS)
def test_box_around_a_cell_gives_one_object_one_undo_step(qtbot, tmp_path, scale, task):
    panel = open_panel(qtbot, tmp_path, scale, task)
    _, disk, _ = scene()
    view = panel.view
    panel.set_active_class(1)
    key(qtbot, view, Qt.Key.Key_X)
    assert panel.tool_name == "box"
    r0, c0, rad = DISK
    a, b = at(view, c0 - rad - 6, r0 - rad - 6), at(view, c0 + rad + 6, r0 + rad + 6)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(view, (a + b) / 2)
    QTest.mouseMove(view, b)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    qtbot.waitUntil(lambda: (classes_of(panel) == 1).any(), timeout=20000)
    got = classes_of(panel) == 1
    iou = np.count_nonzero(got & disk) / np.count_nonzero(got | disk)
    assert iou >= 0.9
    if task == "instances":
        ids = np.unique(panel.current_mask()[got] & ID_MASK)
        assert ids.size == 1 and ids[0] != 0          # one new object
    undo(qtbot, panel)
    assert (classes_of(panel) == UNLABELLED).all()
    # Esc while dragging: nothing.
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(view, b)
    key(qtbot, view, Qt.Key.Key_Escape)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    panel.assist_runner.wait(20000)
    qtbot.wait(50)
    assert (classes_of(panel) == UNLABELLED).all()
    panel.flush_saves()


# ------------------------------------------------------------------ model brush

@pytest.mark.parametrize("scale", ZOOMS)
def test_model_brush_copies_the_prediction_under_the_brush_only(qtbot, tmp_path, scale):
    panel = open_panel(qtbot, tmp_path, scale)
    view = panel.view
    rng = np.random.default_rng(3)
    pred = rng.integers(0, 3, (H, W)).astype(np.uint8)
    pred[:, :30] = UNLABELLED                          # the model says nothing there
    m = panel.current_mask()
    m[80:90, :] = 0                                    # the user's own labels
    before = m.copy()
    # Without a prediction the first click asks for one and paints nothing.
    asked = []
    panel.prediction_request = lambda: asked.append(1) or True
    key(qtbot, view, Qt.Key.Key_M)
    with qtbot.waitSignal(panel.notice):
        click(qtbot, view, at(view, 50, 50))
    assert asked == [1] and np.array_equal(panel.current_mask(), before)
    panel.set_prediction_labels(panel.image_id, pred)
    panel.set_brush_size(9)
    panel.set_preserve_labels(True)
    pts = [at(view, 10, 85), at(view, 80, 85), at(view, 120, 40)]
    drag(qtbot, view, pts)
    foot = reference_stroke(np.full((H, W), 255, np.uint8),
                            [view.widget_to_image(QPointF(p)) for p in pts], 9, 1) == 1
    take = foot & (pred != UNLABELLED) & (before == UNLABELLED)
    got = panel.current_mask()
    assert np.array_equal(got[take], pred[take])
    assert np.array_equal(got[~take], before[~take])
    assert take.sum() > 100
    undo(qtbot, panel)
    assert np.array_equal(panel.current_mask(), before)
    panel.flush_saves()


def test_superpixels_of_an_image_too_large_are_refused_with_a_reason(qtbot, tmp_path,
                                                                      monkeypatch):
    import segstudio.ui.canvas.assist as assist

    panel = open_panel(qtbot, tmp_path, 1.0)
    monkeypatch.setattr(assist, "SUPERPIXEL_MAX_PIXELS", 100)   # this 160 x 120 image is "huge"
    key(qtbot, panel.view, Qt.Key.Key_S)
    with qtbot.waitSignal(panel.notice) as notice:
        click(qtbot, panel.view, at(panel.view, 50, 50))
    assert "offered for images up to" in notice.args[0] and not panel.superpixels_pending
    assert (classes_of(panel) == UNLABELLED).all()
    panel.flush_saves()


def test_the_next_image_gets_its_superpixels_without_a_first_stroke(qtbot, tmp_path):
    from tests.ui.canvas_helpers import make_project

    project = make_project(tmp_path / "two", n_images=2, shape=(60, 80))
    panel = new_panel(qtbot, project)
    entry, image, mask = load(project, 0)
    panel.show_image(entry, image, mask)
    with qtbot.waitSignal(panel.superpixels_ready, timeout=20000):
        key(qtbot, panel.view, Qt.Key.Key_S)
    entry, image, mask = load(project, 1)
    with qtbot.waitSignal(panel.superpixels_ready, timeout=20000) as ready:
        panel.show_image(entry, image, mask)          # the tool is still the superpixel brush
    assert ready.args[0] == entry.id and panel.superpixels() is not None
    panel.flush_saves()
