"""Instance mode of the canvas, driven by real mouse and key events at two zoom levels: the
packed label array (class << 24 | id) checked exactly against the core painting functions."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from segstudio.core import painting as P
from segstudio.core.instance_edit import has_id
from segstudio.core.instances import (
    UNLABELLED_LABEL,
    ids_of,
    label_value,
    object_ids,
    semantic_of,
)
from segstudio.ui.canvas.instance_layer import object_palette
from tests.ui.canvas_helpers import (
    CLASSES,
    UNLABELLED,
    at,
    click,
    drag,
    flush_paint,
    grab_rgb,
    key,
    load,
    make_project,
    new_panel,
    reference_stroke,
)

ZOOMS = [1.0, 3.7]
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
ALT = Qt.KeyboardModifier.AltModifier
A, B = label_value(1, 1), label_value(1, 2)  # the two cells the tests paint


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "proj", n_images=2, shape=(120, 160), task="instances")


@pytest.fixture
def panel(qtbot, project):
    p = new_panel(qtbot, project)
    entry, image, labels = load(project, 0)
    assert labels.dtype == np.uint32 and (labels == UNLABELLED_LABEL).all()
    p.show_image(entry, image, labels)
    yield p
    p.flush_saves()


def uv_of(view, pos):
    return view.widget_to_image(QPointF(pos))


def two_touching_cells(qtbot, panel):
    """Cell 1 from (20, 40) to (50, 40), cell 2 started just right of it (so it is a new
    object) and overlapping its end: they touch. Returns the states after each."""
    view = panel.view
    panel.set_active_class(1)
    panel.set_brush_size(9)
    before = panel.current_mask().copy()
    a = [at(view, 20, 40), at(view, 50, 40)]
    drag(qtbot, view, a)
    after_a = reference_stroke(before, [uv_of(view, p) for p in a], 9, A)
    assert np.array_equal(panel.current_mask(), after_a)
    b = [at(view, 58, 40), at(view, 90, 44)]  # col 58 is off cell 1 (it ends at col 54)
    drag(qtbot, view, b)
    after_b = reference_stroke(after_a, [uv_of(view, p) for p in b], 9, B)
    assert np.array_equal(panel.current_mask(), after_b)
    return after_a, after_b


@pytest.mark.parametrize("scale", ZOOMS)
def test_two_touching_objects_undo_redo(qtbot, panel, scale):
    panel.view.set_view(scale, 7.3, 6.3)
    after_a, after_b = two_touching_cells(qtbot, panel)
    labels = panel.current_mask()
    ids = ids_of(labels)
    assert list(object_ids(ids)) == [1, 2]
    assert ((ids[:, :-1] == 1) & (ids[:, 1:] == 2)).any()       # touching, left to right
    sem = semantic_of(labels)
    assert (sem[ids != 0] == 1).all() and (sem[ids == 0] == UNLABELLED).all()  # class "cell"
    assert panel.history.undo_steps == 2 and panel.current_object == 2
    key(qtbot, panel.view, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(panel.current_mask(), after_a)
    assert list(object_ids(ids_of(panel.current_mask()))) == [1]
    key(qtbot, panel.view, Qt.Key.Key_Z, CTRL | SHIFT)
    assert np.array_equal(panel.current_mask(), after_b)


@pytest.mark.parametrize("scale", ZOOMS)
def test_pick_and_merge_is_one_step(qtbot, panel, scale):
    panel.view.set_view(scale, 7.3, 6.3)
    _, two = two_touching_cells(qtbot, panel)
    click(qtbot, panel.view, at(panel.view, 30, 40), mods=ALT)   # pick cell 1 (brush stays)
    assert panel.current_object == 1 and panel.tool_name == "brush"
    steps = panel.history.undo_steps
    with qtbot.waitSignal(panel.mask_edited, timeout=1000):
        click(qtbot, panel.view, at(panel.view, 80, 42), mods=CTRL)  # merge cell 2 into it
    merged = panel.current_mask()
    assert list(object_ids(ids_of(merged))) == [1]
    assert np.array_equal(merged, np.where(two == B, A, two))
    assert panel.history.undo_steps == steps + 1
    key(qtbot, panel.view, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(panel.current_mask(), two)


@pytest.mark.parametrize("scale", ZOOMS)
def test_picker_then_delete(qtbot, panel, scale):
    panel.view.set_view(scale, 7.3, 6.3)
    _, two = two_touching_cells(qtbot, panel)
    panel.set_active_class(2)
    key(qtbot, panel.view, Qt.Key.Key_I)
    assert panel.tool_name == "picker"
    click(qtbot, panel.view, at(panel.view, 80, 42))
    assert panel.current_object == 2 and panel.active_class == 1  # its class became active
    steps = panel.history.undo_steps
    key(qtbot, panel.view, Qt.Key.Key_Delete)
    labels = panel.current_mask()
    assert np.array_equal(labels, np.where(two == B, UNLABELLED_LABEL, two))
    assert panel.history.undo_steps == steps + 1 and panel.current_object == 0
    key(qtbot, panel.view, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(panel.current_mask(), two)


@pytest.mark.parametrize("scale", ZOOMS)
def test_eraser_erases_one_object(qtbot, panel, scale):
    panel.view.set_view(scale, 7.3, 6.3)
    _, two = two_touching_cells(qtbot, panel)
    key(qtbot, panel.view, Qt.Key.Key_E)
    panel.set_brush_size(7)
    pts = [at(panel.view, 40, 40), at(panel.view, 75, 42)]  # starts on cell 1, crosses cell 2
    drag(qtbot, panel.view, pts)
    uv = [uv_of(panel.view, p) for p in pts]
    expected = two.copy()
    P.paint_segment(expected, *uv[0], *uv[1], 7, UNLABELLED_LABEL, only=has_id(1))
    got = panel.current_mask()
    assert np.array_equal(got, expected)
    assert (got[two == B] == B).all() and (got == UNLABELLED_LABEL).sum() > (
        two == UNLABELLED_LABEL).sum()
    assert panel.current_object == 1
    # Shift+drag erases every label under the stroke.
    pts = [at(panel.view, 62, 30), at(panel.view, 62, 55)]
    drag(qtbot, panel.view, pts, mods=SHIFT)
    uv = [uv_of(panel.view, p) for p in pts]
    P.paint_segment(expected, *uv[0], *uv[1], 7, UNLABELLED_LABEL)
    assert np.array_equal(panel.current_mask(), expected)


@pytest.mark.parametrize("scale", ZOOMS)
def test_stroke_on_an_object_extends_it_and_n_starts_a_new_one(qtbot, panel, scale):
    panel.view.set_view(scale, 7.3, 6.3)
    view = panel.view
    one, _ = two_touching_cells(qtbot, panel)
    key(qtbot, view, Qt.Key.Key_Z, CTRL)                         # cell 1 only
    key(qtbot, view, Qt.Key.Key_3)                               # class "nucleus" active
    assert panel.active_class == 2
    pts = [at(view, 30, 40), at(view, 30, 75)]                   # starts on cell 1
    drag(qtbot, view, pts)
    extended = reference_stroke(one, [uv_of(view, p) for p in pts], 9, A)
    assert np.array_equal(panel.current_mask(), extended)        # still object 1, a cell
    assert panel.current_object == 1 and panel.active_class == 1
    key(qtbot, view, Qt.Key.Key_N)                               # a new object, even on one
    assert panel.new_object_armed
    pts = [at(view, 40, 40), at(view, 40, 15)]
    drag(qtbot, view, pts)
    new = label_value(1, 3)  # id 2 was given to the undone stroke: ids are not reused
    assert np.array_equal(panel.current_mask(),
                          reference_stroke(extended, [uv_of(view, p) for p in pts], 9, new))
    assert panel.current_object == 3 and not panel.new_object_armed


@pytest.mark.parametrize("scale", ZOOMS)
def test_polygon_makes_an_object_fill_reclassifies_it_background_carves(qtbot, panel, scale):
    panel.view.set_view(scale, 7.3, 6.3)
    view = panel.view
    panel.set_active_class(1)
    key(qtbot, view, Qt.Key.Key_P)
    for c in [(100, 80), (130, 80), (130, 110), (100, 110)]:
        click(qtbot, view, at(view, *c))
    key(qtbot, view, Qt.Key.Key_Return)
    labels = panel.current_mask()
    assert (labels[80:111, 100:131] == label_value(1, 1)).all()
    assert (labels == label_value(1, 1)).sum() == 31 * 31
    panel.set_active_class(2)
    key(qtbot, view, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    click(qtbot, view, at(view, 115, 95))                        # fill on the object
    assert (panel.current_mask()[80:111, 100:131] == label_value(2, 1)).all()  # same id
    panel.set_active_class(0)                                    # background: no objects
    key(qtbot, view, Qt.Key.Key_B)
    panel.set_brush_size(9)
    before = panel.current_mask().copy()
    pts = [at(view, 90, 95), at(view, 140, 95)]
    drag(qtbot, view, pts)
    assert np.array_equal(panel.current_mask(), reference_stroke(
        before, [uv_of(view, p) for p in pts], 9, label_value(0, 0)))
    assert panel.history.undo_steps == 3


@pytest.mark.parametrize("scale", ZOOMS)
def test_objects_drawn_in_own_colours_outlined_in_class_colour(qtbot, panel, scale):
    panel.view.set_view(scale, 7.3, 6.3)
    two_touching_cells(qtbot, panel)
    click(qtbot, panel.view, at(panel.view, 100, 100), mods=ALT)  # nothing there: none current
    panel.set_current_object(0)
    panel.set_overlay_opacity(1.0)
    flush_paint()
    shot = grab_rgb(panel.view)
    palette = object_palette()
    cell = CLASSES[1].rgb

    def colour(col, row):
        p = at(panel.view, col, row)
        return tuple(int(c) for c in shot[p.y(), p.x()])

    assert colour(30, 40) == tuple(palette[1])        # inside cell 1
    assert colour(75, 42) == tuple(palette[2])        # inside cell 2
    assert palette[1].tolist() != palette[2].tolist()
    assert colour(53, 40) == cell and colour(54, 40) == cell  # the border they share
    assert colour(30, 36) == cell                     # cell 1's top edge (dab radius 4.5)
    # Off: class colour inside, object colours on the outlines.
    panel.set_object_colours(False)
    flush_paint()
    shot = grab_rgb(panel.view)
    assert colour(30, 40) == cell and colour(53, 40) == tuple(palette[1])
    assert colour(54, 40) == tuple(palette[2])


def test_autosave_writes_instance_map_and_mask(qtbot, project):
    from segstudio.io.instances import read_instances
    from segstudio.io.masks import read_mask
    from segstudio.project.labels import load_labels

    panel = new_panel(qtbot, project, autosave_delay_ms=50)
    entry, image, labels = load(project, 0)
    panel.show_image(entry, image, labels)
    panel.view.set_view(2.0, 3.3, 1.7)
    with qtbot.waitSignal(panel.mask_saved, timeout=5000):
        two_touching_cells(qtbot, panel)
    painted = panel.current_mask()
    inst_file = project.instances_dir / f"{entry.id}.png"
    assert np.array_equal(read_instances(inst_file, painted.shape), ids_of(painted))
    assert np.array_equal(read_mask(project.mask_path(entry)), semantic_of(painted))
    assert project.entry(entry.id).objects == 2
    assert sorted(p.name for p in project.instances_dir.iterdir()) == [f"{entry.id}.png"]
    assert np.array_equal(load_labels(project, project.entry(entry.id), painted.shape),
                          painted)
    # Undo is saved too: one object left on disk.
    with qtbot.waitSignal(panel.mask_saved, timeout=5000):
        key(qtbot, panel.view, Qt.Key.Key_Z, CTRL)
    assert list(object_ids(read_instances(inst_file))) == [1]
    assert project.entry(entry.id).objects == 1


def test_history_and_unsaved_edits_survive_switching_images(qtbot, project):
    panel = new_panel(qtbot, project)
    e0, im0, m0 = load(project, 0)
    e1, im1, m1 = load(project, 1)
    panel.show_image(e0, im0, m0)
    _, two = two_touching_cells(qtbot, panel)
    panel.show_image(e1, im1, m1)
    assert panel.current_object == 0
    panel.show_image(e0, im0, load(project, 0)[2])
    assert np.array_equal(panel.current_mask(), two)
    key(qtbot, panel.view, Qt.Key.Key_Z, CTRL)
    assert list(object_ids(ids_of(panel.current_mask()))) == [1]
    panel.flush_saves()


def test_semantic_projects_have_no_object_commands(qtbot, tmp_path):
    project = make_project(tmp_path / "sem", n_images=1)
    panel = new_panel(qtbot, project)
    entry, image, mask = load(project, 0)
    panel.show_image(entry, image, mask)
    assert panel.current_mask().dtype == np.uint8 and not panel.instance_mode
    assert panel.mask_layer is panel.label_layer
    for name in ("new_object", "delete_object", "object_colours"):
        assert not panel.commands[name].isEnabled()
    key(qtbot, panel.view, Qt.Key.Key_N)
    assert not panel.new_object_armed
    panel.set_active_class(1)
    click(qtbot, panel.view, at(panel.view, 10, 10), mods=CTRL)   # no merge: a brush dab
    assert panel.current_mask()[10, 10] == 1
    panel.flush_saves()
    assert not project.instances_dir.exists()


@pytest.mark.parametrize("scale", [0.37, 0.5, 1.0, 3.7])
def test_a_repainted_rectangle_matches_the_full_repaint(qtbot, panel, scale):
    """Outlines are a function of the image (and zoom), not of the rectangle repainted: a
    brush stroke's small repaints agree with a full one."""
    from PySide6.QtCore import QRect

    rng = np.random.default_rng(5)
    labels = panel.current_mask()
    labels[:] = rng.integers(0, 6, labels.shape, dtype=np.uint32) | (1 << 24)
    labels[:, :40] = UNLABELLED_LABEL
    panel.view.set_view(scale, 3.3, 2.6)
    layer = panel.instance_layer
    view = panel.view
    full_rect = QRect(0, 0, view.width(), view.height())
    full_patch = view._patch(full_rect)
    full = layer.patch_colours(full_patch)
    for _ in range(8):
        x, y = int(rng.integers(0, view.width() - 40)), int(rng.integers(0, view.height() - 40))
        r = QRect(x, y, int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        patch = view._patch(r)
        if patch is None:
            continue
        part = layer.patch_colours(patch)
        oy, ox = patch.top - full_patch.top, patch.left - full_patch.left
        assert np.array_equal(part, full[oy:oy + part.shape[0], ox:ox + part.shape[1]])
    cell_line = int(layer._class_line.view(np.uint32)[1])
    assert (full == cell_line).any()                       # outlines visible at every zoom


@pytest.mark.parametrize("scale", [0.5, 3.7])
def test_screen_after_edits_equals_a_fresh_render(qtbot, panel, scale):
    """Outlines follow the neighbours of changed pixels: what the incremental repaints left
    on screen is what a full repaint draws (no stale outline slivers at any zoom)."""
    from tests.ui.canvas_helpers import grab_backing

    view = panel.view
    view.set_view(scale, 7.3, 6.3)
    panel.set_overlay_opacity(1.0)
    flush_paint()
    two_touching_cells(qtbot, panel)
    click(qtbot, view, at(view, 30, 40), mods=ALT)     # pick 1: white outline
    flush_paint()                                      # (a user's clicks are repainted apart)
    click(qtbot, view, at(view, 80, 44), mods=CTRL)    # merge 2: the shared border goes
    assert list(object_ids(ids_of(panel.current_mask()))) == [1]
    panel.canvas_leave(view)  # no brush outline in either picture
    flush_paint()
    assert np.array_equal(grab_backing(view), grab_rgb(view))
    drag(qtbot, view, [at(view, 30, 42), at(view, 30, 70), at(view, 44, 72)])  # extend
    key(qtbot, view, Qt.Key.Key_E)
    flush_paint()
    drag(qtbot, view, [at(view, 80, 42), at(view, 70, 60)])                    # erase
    flush_paint()
    key(qtbot, view, Qt.Key.Key_Z, CTRL)
    flush_paint()
    key(qtbot, view, Qt.Key.Key_Z, CTRL)
    panel.canvas_leave(view)
    flush_paint()
    assert np.array_equal(grab_backing(view), grab_rgb(view))
