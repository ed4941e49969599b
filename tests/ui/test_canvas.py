"""The canvas driven by real mouse and key events at several zoom levels; mask pixels checked
exactly against the core painting functions."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from segstudio.core import painting as P
from segstudio.core.classes import UNLABELLED
from tests.ui.canvas_helpers import (
    at,
    click,
    drag,
    flush_paint,
    grab_backing,
    grab_rgb,
    key,
    load,
    make_project,
    new_panel,
    reference_stroke,
)

ZOOMS = [0.5, 1.0, 3.7]


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "proj", n_images=2, shape=(120, 160))


@pytest.fixture
def panel(qtbot, project):
    p = new_panel(qtbot, project)
    entry, image, mask = load(project, 0)
    p.show_image(entry, image, mask)
    yield p
    p.flush_saves()


def set_zoom(panel, scale):
    """A zoom level with a fractional offset, so pixel boundaries fall between widget pixels.
    (At 0.5 a widget pixel covers two image pixels; with this offset the even ones are the
    ones a click reaches.)"""
    panel.view.set_view(scale, 7.3, 6.3)


def uv_of(view, pos):
    return view.widget_to_image(QPointF(pos))


# ----------------------------------------------------------------- mapping

@pytest.mark.parametrize("scale", [0.37, 0.5, 1.0, 2.0, 3.7, 7.0])
def test_pixel_under_cursor_is_the_pixel_drawn_there(qtbot, project, scale):
    """Render an image whose colour encodes the pixel position; at every widget pixel the drawn
    pixel must be the one the mouse mapping names."""
    p = new_panel(qtbot, project, size=(300, 240))
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    coded = np.stack([xx, yy, np.full_like(xx, 77)], -1).astype(np.uint8)
    entry = project.images[0]
    p.show_image(entry, coded, np.full((h, w), UNLABELLED, np.uint8))
    p.view.set_view(scale, 3.3, -2.6)
    flush_paint()
    shot = grab_rgb(p.view)
    checked = 0
    for y in range(0, shot.shape[0], 2):
        for x in range(0, shot.shape[1], 2):
            col, row = p.view.pixel_at(QPointF(x, y))
            if 0 <= col < w and 0 <= row < h:
                assert tuple(shot[y, x]) == (col, row, 77), (x, y, col, row)
                checked += 1
    assert checked > 500


@pytest.mark.parametrize("scale", ZOOMS)
def test_brush_click_paints_exact_dab(qtbot, panel, scale):
    set_zoom(panel, scale)
    panel.set_active_class(1)
    panel.set_brush_size(5)
    view = panel.view
    before = panel.current_mask().copy()
    pos = at(view, 40, 30)
    with qtbot.waitSignal(panel.mask_edited, timeout=1000) as sig:
        click(qtbot, view, pos)
    assert sig.args == [panel.image_id]
    expected = before.copy()
    P.paint_dab(expected, 40.5, 30.5, 5, 1)
    assert np.array_equal(panel.current_mask(), expected)
    assert np.count_nonzero(expected == 1) == np.count_nonzero(P.disk_footprint(5))


@pytest.mark.parametrize("scale", ZOOMS)
def test_fast_drag_leaves_no_gaps(qtbot, panel, scale):
    set_zoom(panel, scale)
    panel.set_active_class(2)
    panel.set_brush_size(3)
    view = panel.view
    pts = [at(view, 4, 4), at(view, 150, 100), at(view, 10, 110)]  # two huge jumps
    before = panel.current_mask().copy()
    drag(qtbot, view, pts)
    uv = [uv_of(view, p) for p in pts]
    expected = reference_stroke(before, uv, 3, 2)
    got = panel.current_mask()
    assert np.array_equal(got, expected)
    # Continuous: one 8-connected painted component from end to end.
    import cv2

    n, _ = cv2.connectedComponents((got == 2).astype(np.uint8), connectivity=8)
    assert n == 2
    assert panel.history.undo_steps == 1  # one drag = one step


def test_many_small_moves_are_one_step_and_match_reference(qtbot, panel):
    set_zoom(panel, 3.7)
    panel.set_active_class(0)
    panel.set_brush_size(4)
    view = panel.view
    rng = np.random.default_rng(3)
    pts = [QPoint(int(x), int(y)) for x, y in
           zip(np.cumsum(rng.integers(-9, 12, 40)) + 200,
               np.cumsum(rng.integers(-8, 10, 40)) + 150, strict=True)]
    before = panel.current_mask().copy()
    drag(qtbot, view, pts)
    expected = reference_stroke(before, [uv_of(view, p) for p in pts], 4, 0)
    assert np.array_equal(panel.current_mask(), expected)
    assert panel.history.undo_steps == 1
    key(qtbot, view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(panel.current_mask(), before)


@pytest.mark.parametrize("scale", [0.5, 3.7])
def test_eraser(qtbot, panel, scale):
    set_zoom(panel, scale)
    m = panel.current_mask()
    m[20:60, 20:100] = 1  # the panel owns the mask; tests may prepare it directly
    panel.view.update()
    key(qtbot, panel.view, Qt.Key.Key_E)
    assert panel.tool_name == "eraser"
    panel.set_brush_size(6)
    panel.set_preserve_labels(True)  # ignored by the eraser
    before = m.copy()
    pts = [at(panel.view, 30, 40), at(panel.view, 90, 40)]
    drag(qtbot, panel.view, pts)
    expected = reference_stroke(before, [uv_of(panel.view, p) for p in pts], 6, UNLABELLED)
    assert np.array_equal(panel.current_mask(), expected)
    assert (panel.current_mask()[38:43, 35:85] == UNLABELLED).all()


@pytest.mark.parametrize("scale", ZOOMS)
def test_fill(qtbot, panel, scale):
    set_zoom(panel, scale)
    m = panel.current_mask()
    m[:, 50] = 0          # a wall
    m[70:80, 10:20] = 2   # an island on the left
    panel.set_active_class(1)
    key(qtbot, panel.view, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    before = m.copy()
    # The left half is unlabelled and open to the image edge: a plain click refuses and says
    # why (issue 13 #5), Shift+click fills.
    with qtbot.waitSignal(panel.notice) as notice:
        click(qtbot, panel.view, at(panel.view, 4, 4))
    assert "Shift+click" in notice.args[0] and np.array_equal(panel.current_mask(), before)
    assert not panel.undo_action.isEnabled()
    click(qtbot, panel.view, at(panel.view, 4, 4), mods=Qt.KeyboardModifier.ShiftModifier)
    expected = before.copy()
    P.flood_fill(expected, 4, 4, 1)
    got = panel.current_mask()
    assert np.array_equal(got, expected)
    assert (got[:, :50][before[:, :50] == UNLABELLED] == 1).all()
    assert (got[:, 51:] == UNLABELLED).all() and (got[70:80, 10:20] == 2).all()
    key(qtbot, panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(panel.current_mask(), before)


@pytest.mark.parametrize("scale", ZOOMS)
def test_polygon_enter_fills_box_inclusive(qtbot, panel, scale):
    set_zoom(panel, scale)
    panel.set_active_class(2)
    key(qtbot, panel.view, Qt.Key.Key_P)
    corners = [(20, 10), (70, 10), (70, 50), (20, 50)]
    for c in corners:
        click(qtbot, panel.view, at(panel.view, *c))
    assert panel.tool.points == corners
    assert (panel.current_mask() == UNLABELLED).all()  # nothing until closed
    with qtbot.waitSignal(panel.mask_edited, timeout=1000):
        key(qtbot, panel.view, Qt.Key.Key_Return)
    got = panel.current_mask()
    assert (got[10:51, 20:71] == 2).all()
    assert np.count_nonzero(got == 2) == 51 * 41


def test_polygon_double_click_escape_backspace_and_lasso(qtbot, panel):
    set_zoom(panel, 3.7)
    view = panel.view
    panel.set_active_class(1)
    key(qtbot, view, Qt.Key.Key_P)
    # Esc cancels.
    click(qtbot, view, at(view, 10, 10))
    click(qtbot, view, at(view, 30, 10))
    key(qtbot, view, Qt.Key.Key_Escape)
    assert panel.tool.points == []
    # Backspace removes the last vertex; double-click closes.
    for c in [(10, 10), (40, 10), (99, 99), (40, 30)]:
        click(qtbot, view, at(view, *c))
    key(qtbot, view, Qt.Key.Key_Backspace)
    key(qtbot, view, Qt.Key.Key_Backspace)
    click(qtbot, view, at(view, 40, 30))
    # A real double-click: press, release, double-click event, release.
    click(qtbot, view, at(view, 10, 30))
    qtbot.mouseDClick(
        view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(view, 10, 30)
    )
    qtbot.mouseRelease(
        view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(view, 10, 30)
    )
    expected = np.full_like(panel.current_mask(), UNLABELLED)
    P.fill_polygon(expected, [(10, 10), (40, 10), (40, 30), (10, 30)], 1)
    # The double-click's first click added (10, 30) as the last vertex.
    assert np.array_equal(panel.current_mask(), expected)
    assert panel.history.undo_steps == 1
    # Lasso: press and drag draws freehand; release fills.
    before = panel.current_mask().copy()
    path = [(60, 60), (90, 60), (90, 90), (60, 90)]
    drag(qtbot, view, [at(view, *c) for c in path])
    expected = before.copy()
    P.fill_polygon(expected, path, 1)
    assert np.array_equal(panel.current_mask(), expected)
    assert panel.history.undo_steps == 2


def test_preserve_labels(qtbot, panel):
    set_zoom(panel, 1.0)
    m = panel.current_mask()
    m[30:60, 30:60] = 2
    before = m.copy()
    qtbot.mouseClick(panel.preserve_check, Qt.MouseButton.LeftButton)
    assert panel.preserve_labels
    panel.set_active_class(0)
    panel.set_brush_size(11)
    pts = [at(panel.view, 20, 45), at(panel.view, 80, 45)]
    drag(qtbot, panel.view, pts)
    got = panel.current_mask()
    assert (got[30:60, 30:60] == 2).all()
    expected = reference_stroke(before, [uv_of(panel.view, p) for p in pts], 11, 0, preserve=True)
    assert np.array_equal(got, expected)
    assert got[45, 25] == 0 and got[45, 70] == 0
    # Fill and polygon respect it too.
    key(qtbot, panel.view, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    click(qtbot, panel.view, at(panel.view, 45, 45))  # a labelled region: not filled
    assert (got[30:60, 30:60] == 2).all()
    key(qtbot, panel.view, Qt.Key.Key_P)
    for c in [(25, 25), (65, 25), (65, 65), (25, 65)]:
        click(qtbot, panel.view, at(panel.view, *c))
    key(qtbot, panel.view, Qt.Key.Key_Return)
    assert (got[30:60, 30:60] == 2).all() and (got[25:30, 25:66] == 0).all()


def test_picker_key_and_alt_click(qtbot, panel):
    set_zoom(panel, 3.7)
    m = panel.current_mask()
    m[10:20, 10:20] = 2
    m[40:50, 40:50] = 1
    panel.set_active_class(0)
    key(qtbot, panel.view, Qt.Key.Key_I)
    assert panel.tool_name == "picker"
    with qtbot.waitSignal(panel.active_class_changed, timeout=1000) as sig:
        click(qtbot, panel.view, at(panel.view, 15, 15))
    assert sig.args == [2] and panel.active_class == 2
    before = m.copy()
    key(qtbot, panel.view, Qt.Key.Key_B)
    with qtbot.waitSignal(panel.active_class_changed, timeout=1000) as sig:
        click(qtbot, panel.view, at(panel.view, 45, 45), mods=Qt.KeyboardModifier.AltModifier)
    assert sig.args == [1]
    assert np.array_equal(panel.current_mask(), before)  # Alt+click picks, never paints
    click(
        qtbot, panel.view, at(panel.view, 5, 5), mods=Qt.KeyboardModifier.AltModifier
    )  # unlabelled: no change
    assert panel.active_class == 1


def test_keys_classes_tools_size_overlay(qtbot, panel):
    view = panel.view
    seen = []
    panel.active_class_changed.connect(seen.append)
    key(qtbot, view, Qt.Key.Key_3)
    key(qtbot, view, Qt.Key.Key_2)
    key(qtbot, view, Qt.Key.Key_9)  # only 3 classes: ignored
    assert seen == [2, 1] and panel.active_class == 1
    for k, name in [(Qt.Key.Key_E, "eraser"), (Qt.Key.Key_F, "wand"), (Qt.Key.Key_P, "polygon"),
                    (Qt.Key.Key_I, "picker"), (Qt.Key.Key_S, "superpixel"), (Qt.Key.Key_X, "box"),
                    (Qt.Key.Key_M, "model_brush"), (Qt.Key.Key_B, "brush")]:
        key(qtbot, view, k)
        assert panel.tool_name == name and panel.tool_buttons[name].isChecked()
    key(qtbot, view, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    assert panel.tool_name == "fill_region" and panel.commands["tool_fill_region"].isChecked()
    key(qtbot, view, Qt.Key.Key_E)
    key(qtbot, view, Qt.Key.Key_1)  # choosing a class while erasing goes back to the brush
    assert panel.tool_name == "brush"
    panel.set_brush_size(10)
    key(qtbot, view, Qt.Key.Key_BracketRight)
    assert panel.brush_size == 12 and panel.size_slider.value() == 12
    key(qtbot, view, Qt.Key.Key_BracketLeft)
    key(qtbot, view, Qt.Key.Key_BracketLeft)
    assert panel.brush_size < 12
    panel.set_brush_size(1)
    key(qtbot, view, Qt.Key.Key_BracketLeft)
    assert panel.brush_size == 1
    assert panel.overlay_visible
    key(qtbot, view, Qt.Key.Key_O)
    assert not panel.overlay_visible and not panel.overlay_button.isChecked()
    key(qtbot, view, Qt.Key.Key_O)
    assert panel.overlay_visible
    # The tool bar buttons work too and never steal the keyboard focus.
    qtbot.mouseClick(panel.tool_buttons["wand"], Qt.MouseButton.LeftButton)
    assert panel.tool_name == "wand"
    panel.opacity_slider.setValue(80)
    assert panel.mask_layer.opacity == pytest.approx(0.8)


def test_overlay_draws_class_colour_with_opacity_and_toggles(qtbot, panel):
    set_zoom(panel, 3.7)
    image = panel.image_layer.array
    m = panel.current_mask()
    m[40:60, 40:60] = 1
    panel.set_overlay_opacity(1.0)
    flush_paint()
    pos = at(panel.view, 50, 50)
    shot = grab_rgb(panel.view)
    assert tuple(shot[pos.y(), pos.x()]) == (0xe6, 0x9f, 0x00)
    panel.set_overlay_opacity(0.5)
    shot = grab_rgb(panel.view)
    blend = (np.array([0xe6, 0x9f, 0x00]) * 128 + image[50, 50].astype(int) * 127) / 255
    assert np.abs(shot[pos.y(), pos.x()].astype(int) - blend).max() <= 2
    key(qtbot, panel.view, Qt.Key.Key_O)
    shot = grab_rgb(panel.view)
    assert tuple(shot[pos.y(), pos.x()]) == tuple(image[50, 50])


def test_undo_redo_exact_after_random_edits_with_keys(qtbot, panel):
    """N random edits through real events, then Ctrl+Z all the way, Ctrl+Shift+Z / Ctrl+Y back:
    the mask equals the reference copy at every step."""
    set_zoom(panel, 2.0)
    view = panel.view
    rng = np.random.default_rng(11)
    states = [panel.current_mask().copy()]
    assert not panel.undo_action.isEnabled() and not panel.redo_action.isEnabled()

    def rnd_pos():
        return at(view, int(rng.integers(0, 160)), int(rng.integers(0, 120)))

    for i in range(24):
        kind = i % 5
        panel.set_active_class(int(rng.integers(0, 3)))
        panel.set_preserve_labels(bool(rng.random() < 0.3))
        if kind in (0, 1):
            key(qtbot, view, Qt.Key.Key_B if kind == 0 else Qt.Key.Key_E)
            panel.set_brush_size(int(rng.integers(1, 20)))
            drag(qtbot, view, [rnd_pos() for _ in range(int(rng.integers(1, 5)))])
        elif kind == 2:
            key(qtbot, view, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
            click(qtbot, view, rnd_pos())
        elif kind == 3:
            key(qtbot, view, Qt.Key.Key_P)
            for _ in range(4):
                click(qtbot, view, rnd_pos())
            key(qtbot, view, Qt.Key.Key_Return)
        else:
            key(qtbot, view, Qt.Key.Key_B)
            panel.set_brush_size(int(rng.integers(1, 40)))
            click(qtbot, view, rnd_pos())
        if not np.array_equal(panel.current_mask(), states[-1]):
            states.append(panel.current_mask().copy())
    n = len(states) - 1
    assert n >= 10 and panel.history.undo_steps == n
    assert panel.undo_action.isEnabled()
    for i in range(n, 0, -1):
        key(qtbot, view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert np.array_equal(panel.current_mask(), states[i - 1])
    assert not panel.undo_action.isEnabled() and panel.redo_action.isEnabled()
    for i in range(1, n + 1):
        if i % 2:
            key(
                qtbot,
                view,
                Qt.Key.Key_Z,
                Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
            )
        else:
            key(qtbot, view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
        assert np.array_equal(panel.current_mask(), states[i])
    assert not panel.redo_action.isEnabled()
    # The actions themselves (as the Edit menu triggers them).
    panel.undo_action.trigger()
    assert np.array_equal(panel.current_mask(), states[n - 1])
    panel.redo_action.trigger()
    assert np.array_equal(panel.current_mask(), states[n])
    # Every edit, undo and redo repainted what it changed: the screen equals a full repaint.
    shown = grab_backing(view)
    view.repaint()
    assert np.array_equal(shown, grab_backing(view))


def test_history_byte_bound(qtbot, project):
    bound = 48 * 1024
    p = new_panel(qtbot, project, history_bytes_per_image=bound, history_bytes_total=bound)
    entry, image, mask = load(project, 0)
    mask[:] = np.random.default_rng(0).integers(0, 3, mask.shape)  # noisy: no uniform tiles
    p.show_image(entry, image, mask)
    p.view.set_view(3.0, 0, 0)
    p.set_brush_size(3)
    states = [p.current_mask().copy()]
    for i in range(12):  # each stroke changes pixels in a new 64x64 tile region
        x = 5 + (i % 3) * 50
        y = 5 + (i // 3) * 28
        drag(qtbot, p.view, [at(p.view, x, y), at(p.view, x + 4, y)])
        states.append(p.current_mask().copy())
        assert p.history.nbytes <= bound
        assert p.histories.nbytes <= bound
    kept = p.history.undo_steps
    assert 0 < kept < 12  # the oldest steps were dropped
    undone = 0
    while p.history.can_undo:  # undo keeps redo data, so older steps make room again
        p.undo()
        undone += 1
        assert np.array_equal(p.current_mask(), states[12 - undone])
        assert p.history.nbytes <= bound
    assert 0 < undone <= kept
    p.flush_saves()


def test_zoom_pan_fit_100(qtbot, panel):
    view = panel.view
    zooms = []
    panel.zoom_changed.connect(zooms.append)
    view.set_view(2.0, 10.0, 20.0)
    anchor = QPoint(200, 150)
    before = view.widget_to_image(QPointF(anchor))
    QTest.mouseMove(view, anchor)
    from PySide6.QtCore import QPoint as QP
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication
    ev = QWheelEvent(
        QPointF(anchor),
        QPointF(view.mapToGlobal(anchor)),
        QP(0, 0),
        QP(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view, ev)
    assert view.scale == pytest.approx(2.5)
    after = view.widget_to_image(QPointF(anchor))
    assert after == pytest.approx(before, abs=1e-9)  # the point under the cursor stays put
    assert zooms[-1] == pytest.approx(2.5)
    # Middle-drag pans by exactly the mouse delta.
    ox, oy = view.offset
    drag(qtbot, view, [QPoint(100, 100), QPoint(130, 90)], button=Qt.MouseButton.MiddleButton)
    assert view.offset == pytest.approx((ox + 30, oy - 10))
    # Space + left drag pans and does not paint.
    before_mask = panel.current_mask().copy()
    ox, oy = view.offset
    qtbot.keyPress(view, Qt.Key.Key_Space)
    drag(qtbot, view, [QPoint(200, 200), QPoint(180, 230)])
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert view.offset == pytest.approx((ox - 20, oy + 30))
    assert np.array_equal(panel.current_mask(), before_mask)
    # Ctrl+1 = 100 %, Ctrl+0 = fit.
    key(qtbot, view, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert view.scale == 1.0
    assert zooms[-1] == 1.0
    key(qtbot, view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    fit = min(view.width() / 160, view.height() / 120)
    assert view.scale == pytest.approx(fit)
    r = view.image_rect_f()
    assert r.left() >= -1e-6 and r.top() >= -1e-6
    assert r.right() <= view.width() + 1e-6 and r.bottom() <= view.height() + 1e-6
    qtbot.mouseClick(panel.zoom100_button, Qt.MouseButton.LeftButton)
    assert view.scale == 1.0
    qtbot.mouseClick(panel.fit_button, Qt.MouseButton.LeftButton)
    assert view.scale == pytest.approx(fit)


def test_only_the_dirty_region_is_repainted(qtbot, panel):
    set_zoom(panel, 3.7)
    panel.set_brush_size(5)
    flush_paint()
    view = panel.view
    QTest.mouseMove(view, at(view, 10, 10))
    flush_paint()
    before = view.painted_pixels
    qtbot.mousePress(
        view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(view, 10, 10)
    )
    for x in range(12, 60, 4):
        QTest.mouseMove(view, at(view, x, 10))
        flush_paint()
    qtbot.mouseRelease(
        view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(view, 60, 10)
    )
    flush_paint()
    painted = view.painted_pixels - before
    whole = view.width() * view.height()
    assert 0 < painted < whole / 4  # brush strip + cursor outlines, not the whole view
    # ... and what is on screen equals a full repaint: the dirty rectangles covered every change.
    QTest.mouseMove(view, QPoint(0, 0))  # outline away from the stroke
    shown = grab_backing(view)
    view.repaint()
    assert np.array_equal(shown, grab_backing(view))


def test_cursor_info(qtbot, panel):
    set_zoom(panel, 3.7)
    panel.current_mask()[30, 40] = 2
    infos = []
    panel.cursor_info.connect(infos.append)
    QTest.mouseMove(panel.view, at(panel.view, 40, 30))
    assert (infos[-1].x, infos[-1].y, infos[-1].class_index) == (40, 30, 2)
    QTest.mouseMove(panel.view, at(panel.view, 41, 30))
    assert (infos[-1].x, infos[-1].y, infos[-1].class_index) == (41, 30, None)
    panel.view.set_view(3.7, 500, 400)  # image moved away from under the cursor
    QTest.mouseMove(panel.view, QPoint(5, 5))
    assert infos[-1] is None


def test_brush_outline_matches_dab(qtbot, panel):
    """The cursor outline encloses exactly the pixels a click paints."""
    set_zoom(panel, 7.0)
    panel.set_brush_size(6)
    panel.set_overlay_visible(False)
    view = panel.view
    pos = at(view, 30, 20)
    QTest.mouseMove(view, pos)
    flush_paint()
    from segstudio.ui.canvas.tools import dab_outline

    u, v = view.widget_to_image(QPointF(pos))
    cx, cy = P.brush_center(u, v, 6)
    poly = dab_outline(view, cx, cy, 6)
    m = np.full((120, 160), UNLABELLED, np.uint8)
    P.paint_dab(m, u, v, 6, 1)
    for row in range(14, 27):
        for col in range(24, 37):
            centre = view.image_to_widget(col + 0.5, row + 0.5)
            inside = poly.containsPoint(centre, Qt.FillRule.OddEvenFill)
            assert inside == (m[row, col] == 1), (col, row)


def test_16bit_and_float_images_display(qtbot, project):
    p = new_panel(qtbot, project, size=(300, 240))
    entry = project.images[0]
    g16 = (np.arange(120 * 160, dtype=np.uint32).reshape(120, 160) * 3).astype(np.uint16)
    p.show_image(entry, g16, np.full((120, 160), UNLABELLED, np.uint8))
    assert p.image_layer.array.dtype == np.uint8 and p.image_layer.array.ndim == 2
    assert p.image_layer.extra_bytes == 120 * 160  # one byte per pixel for a gray display copy
    frgb = np.random.default_rng(0).random((120, 160, 3)).astype(np.float32)
    p.show_image(entry, frgb, np.full((120, 160), UNLABELLED, np.uint8))
    assert p.image_layer.extra_bytes == 120 * 160 * 3
    rgb8 = np.zeros((120, 160, 3), np.uint8)
    p.show_image(entry, rgb8, np.full((120, 160), UNLABELLED, np.uint8))
    assert p.image_layer.extra_bytes == 0
    assert p.image_layer.array is rgb8  # shown without a copy
    flush_paint()
    grab_rgb(p)
    with pytest.raises(ValueError):
        p.show_image(entry, rgb8, np.full((10, 10), UNLABELLED, np.uint8))


def test_mask_is_shown_without_copy_and_prediction_layer(qtbot, panel):
    m = panel.current_mask()
    assert panel.mask_layer.array is m
    set_zoom(panel, 3.7)
    pred = np.full(m.shape, UNLABELLED, np.uint8)
    pred[0:60, :] = 0
    panel.set_overlay_visible(False)
    panel.set_prediction_opacity(1.0)
    panel.set_prediction("not-the-shown-image", pred)  # stale results are dropped
    assert panel.prediction_layer.array is None
    panel.set_prediction(panel.image_id, pred)
    flush_paint()
    pos = at(panel.view, 30, 30)
    shot = grab_rgb(panel.view)
    assert tuple(shot[pos.y(), pos.x()]) == (0x3b, 0x4c, 0xc0)
    key(qtbot, panel.view, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)
    assert not panel.prediction_layer.visible


def test_panning_scrolls_exactly(qtbot, panel):
    """Whole-pixel pans scroll the backing store and repaint only the new strip; the result
    must equal a full repaint at the new offset, with no brush outline smeared along."""
    view = panel.view
    m = panel.current_mask()
    m[20:70, 30:90] = 1
    view.set_view(2.0, 10.0, 20.0)
    QTest.mouseMove(view, QPoint(150, 120))  # brush outline visible
    flush_paint()
    before = view.painted_pixels
    drag(qtbot, view, [QPoint(150, 120), QPoint(170, 110), QPoint(200, 140)],
         button=Qt.MouseButton.MiddleButton)
    flush_paint()
    assert view.offset == (60.0, 40.0)
    assert view.painted_pixels - before < view.width() * view.height()  # strips, not full
    scrolled = grab_backing(view)
    view.repaint()
    assert np.array_equal(scrolled, grab_backing(view))


def test_fill_of_an_enclosed_unlabelled_area_needs_no_confirmation(qtbot, panel):
    m = panel.current_mask()
    m[20:41, 20] = m[20:41, 40] = m[20, 20:41] = m[40, 20:41] = 0  # a drawn outline
    before = m.copy()
    panel.set_active_class(1)
    key(qtbot, panel.view, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    click(qtbot, panel.view, at(panel.view, 30, 30))
    got = panel.current_mask()
    assert (got[21:40, 21:40] == 1).all()
    assert np.array_equal(got[before != UNLABELLED], before[before != UNLABELLED])
    assert (got[:20] == UNLABELLED).all()
