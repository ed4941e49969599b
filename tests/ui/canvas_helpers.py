"""Helpers for the canvas tests: a small project on disk and real mouse/key input."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.project.project import Project

CLASSES = [ClassInfo("background", "#3b4cc0"), ClassInfo("cell", "#e69f00"),
           ClassInfo("nucleus", "#cc3355")]


def make_project(root, n_images=2, shape=(120, 160), seed=0, task="semantic") -> Project:
    """A project with ``n_images`` random RGB images of ``shape`` and three classes
    (``task="instances"``: an instance project)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_images):
        p = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, shape + (3,), dtype=np.uint8)).save(p)
        paths.append(p)
    project = Project.create(root, CLASSES, task=task)
    project.add_images(paths)
    project.save()
    return project


def load(project: Project, index: int):
    from segstudio.io.images import read_image

    entry = project.images[index]
    from segstudio.project.labels import load_labels

    image = read_image(project.image_path(entry)).data
    mask = load_labels(project, entry, image.shape[:2])  # packed labels in instance projects
    return entry, image, mask


def new_panel(qtbot, project=None, size=(640, 480), **kw):
    from segstudio.ui.canvas import CanvasPanel

    kw.setdefault("autosave_delay_ms", 60_000)  # tests that check autosave lower this
    panel = CanvasPanel(**kw)
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    if project is not None:
        panel.set_project(project)
    return panel


def at(view, col, row) -> QPoint:
    """A widget position whose mouse events act on image pixel (col, row)."""
    p = view.widget_pos_of_pixel(col, row)
    assert view.pixel_at(p) == (col, row), "pixel not reachable at this zoom"
    return p.toPoint()


def click(
    qtbot, view, pos: QPoint, button=Qt.MouseButton.LeftButton, mods=Qt.KeyboardModifier.NoModifier
):
    qtbot.mousePress(view, button, mods, pos)
    qtbot.mouseRelease(view, button, mods, pos)


def drag(
    qtbot, view, points, button=Qt.MouseButton.LeftButton, mods=Qt.KeyboardModifier.NoModifier
):
    """Press at points[0], one move event per further point (however far apart), release at the
    last point. QTest in Qt 6 carries the pressed buttons in move events."""
    qtbot.mousePress(view, button, mods, points[0])
    for p in points[1:]:
        QTest.mouseMove(view, p)
    qtbot.mouseRelease(view, button, mods, points[-1])


def key(qtbot, widget, k, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(widget, k, mods)


def grab_rgb(widget) -> np.ndarray:
    """The widget rendered offscreen, as an H x W x 3 uint8 array."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    a = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return a[:, :w * 3].reshape(h, w, 3).copy()


def grab_backing(widget) -> np.ndarray:
    """What is really on screen for ``widget``: its part of the window's backing store (unlike
    ``grab()``, which renders the widget afresh). H x W x 3 uint8."""
    flush_paint()
    pos = widget.mapTo(widget.window(), QPoint(0, 0))
    pix = widget.screen().grabWindow(widget.window().winId(), pos.x(), pos.y(),
                                     widget.width(), widget.height())
    img = pix.toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    a = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return a[:, :w * 3].reshape(h, w, 3).copy()


def flush_paint():
    QApplication.processEvents()


def reference_stroke(mask, points_uv, size, value, preserve=False):
    """What a brush stroke through ``points_uv`` must do, computed with the core directly."""
    from segstudio.core import painting as P

    m = mask.copy()
    for a, b in zip(points_uv[:1] + points_uv[:-1], points_uv, strict=False):
        P.paint_segment(m, a[0], a[1], b[0], b[1], size, value, preserve and value != UNLABELLED)
    return m


__all__ = ["CLASSES", "UNLABELLED", "make_project", "load", "new_panel", "at", "click", "drag",
           "key", "grab_rgb", "grab_backing", "flush_paint", "reference_stroke", "QPointF"]
