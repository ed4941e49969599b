"""Autosave (threaded, debounced, atomic, one-moment snapshots) and per-image undo history that
survives switching images."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from segstudio.core import painting as P
from segstudio.core.classes import UNLABELLED
from segstudio.core.document import MaskDocument
from segstudio.core.history import History
from segstudio.io.masks import labelled_fraction
from tests.ui.canvas_helpers import at, drag, key, load, make_project, new_panel


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "proj", n_images=2, shape=(90, 130))


def disk_mask(project, entry):
    with Image.open(project.mask_path(entry)) as im:
        return np.asarray(im).copy()


def stroke(qtbot, panel, a, b, cls=1, size=5):
    panel.set_active_class(cls)
    panel.set_brush_size(size)
    drag(qtbot, panel.view, [at(panel.view, *a), at(panel.view, *b)])


def test_autosave_after_stroke_writes_exact_mask(qtbot, project):
    panel = new_panel(qtbot, project, autosave_delay_ms=50)
    entry, image, mask = load(project, 0)
    panel.show_image(entry, image, mask)
    panel.view.set_view(2.0, 3.3, 1.7)
    with qtbot.waitSignal(panel.mask_saved, timeout=5000) as sig:
        stroke(qtbot, panel, (5, 5), (100, 60))
    image_id, fraction = sig.args
    assert image_id == entry.id
    on_disk = disk_mask(project, entry)
    assert np.array_equal(on_disk, panel.current_mask())
    assert fraction == pytest.approx(labelled_fraction(panel.current_mask()))
    assert project.entry(entry.id).labelled == pytest.approx(fraction)  # set in the GUI thread
    assert not panel.document.dirty
    with Image.open(project.mask_path(entry)) as im:
        assert im.mode == "P"
    # No temporary files left behind by the atomic write.
    assert sorted(p.name for p in project.masks_dir.iterdir()) == [f"{entry.id}.png"]


def test_autosave_is_debounced(qtbot, project):
    panel = new_panel(qtbot, project, autosave_delay_ms=300)
    entry, image, mask = load(project, 0)
    panel.show_image(entry, image, mask)
    saves = []
    panel.mask_saved.connect(lambda i, f: saves.append(i))
    stroke(qtbot, panel, (5, 5), (40, 40))
    stroke(qtbot, panel, (50, 5), (60, 40), cls=2)
    key(qtbot, panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert saves == [] and not project.mask_path(entry).exists()
    qtbot.waitUntil(lambda: len(saves) == 1, timeout=5000)
    qtbot.wait(500)
    assert len(saves) == 1  # three edits, one write
    assert np.array_equal(disk_mask(project, entry), panel.current_mask())


def test_switching_image_saves_previous_and_flush_blocks(qtbot, project):
    panel = new_panel(qtbot, project)  # debounce of a minute: only the switch can save
    e0, im0, m0 = load(project, 0)
    panel.show_image(e0, im0, m0)
    stroke(qtbot, panel, (5, 5), (60, 30))
    edited = panel.current_mask().copy()
    e1, im1, m1 = load(project, 1)
    with qtbot.waitSignal(panel.mask_saved, timeout=5000) as sig:
        panel.show_image(e1, im1, m1)
    assert sig.args[0] == e0.id
    assert np.array_equal(disk_mask(project, e0), edited)
    # flush_saves() returns only when the file is written, signals delivered.
    stroke(qtbot, panel, (10, 50), (100, 50), cls=2)
    saved = []
    panel.mask_saved.connect(lambda i, f: saved.append(i))
    panel.flush_saves()
    assert saved == [e1.id]
    assert np.array_equal(disk_mask(project, e1), panel.current_mask())


def test_flush_finishes_a_stroke_in_progress(qtbot, project):
    panel = new_panel(qtbot, project)
    e0, im0, m0 = load(project, 0)
    panel.show_image(e0, im0, m0)
    v = panel.view
    qtbot.mousePress(v, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(v, 10, 10))
    from PySide6.QtTest import QTest
    QTest.mouseMove(v, at(v, 50, 10))
    panel.flush_saves()  # e.g. the window closes mid-drag
    assert np.array_equal(disk_mask(project, e0), panel.current_mask())
    assert panel.history.undo_steps == 1
    qtbot.mouseRelease(v, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(v, 50, 10))


def test_history_survives_switching_images(qtbot, project):
    panel = new_panel(qtbot, project)
    e0, im0, m0 = load(project, 0)
    e1, im1, m1 = load(project, 1)
    panel.show_image(e0, im0, m0)
    s0 = panel.current_mask().copy()
    stroke(qtbot, panel, (5, 5), (60, 30), cls=1)
    s1 = panel.current_mask().copy()
    stroke(qtbot, panel, (5, 60), (60, 60), cls=2)
    s2 = panel.current_mask().copy()
    panel.show_image(e1, im1, m1)
    assert not panel.undo_action.isEnabled()  # image 1 has no history of its own
    stroke(qtbot, panel, (20, 20), (30, 70), cls=0)
    b1 = panel.current_mask().copy()
    panel.flush_saves()
    # Back to image 0, its mask read from disk as the main window does.
    e0, im0, m0 = load(project, 0)
    assert np.array_equal(m0, s2)
    panel.show_image(e0, im0, m0)
    assert panel.undo_action.isEnabled() and panel.history.undo_steps == 2
    key(qtbot, panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(panel.current_mask(), s1)
    key(qtbot, panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(panel.current_mask(), s0)
    key(qtbot, panel.view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(panel.current_mask(), s1)
    # And image 1's history is still there, separately.
    panel.flush_saves()
    e1, im1, m1 = load(project, 1)
    panel.show_image(e1, im1, m1)
    assert panel.history.undo_steps == 1
    panel.undo()
    assert (panel.current_mask() == UNLABELLED).all()
    assert not np.array_equal(b1, panel.current_mask())


def test_mask_changed_outside_drops_history(qtbot, project):
    panel = new_panel(qtbot, project)
    e0, im0, m0 = load(project, 0)
    e1, im1, m1 = load(project, 1)
    panel.show_image(e0, im0, m0)
    stroke(qtbot, panel, (5, 5), (60, 30))
    panel.show_image(e1, im1, m1)
    panel.flush_saves()
    # Someone rewrites the mask (e.g. a class was deleted): old steps must not be replayed.
    from segstudio.io.masks import write_mask
    changed = np.full((90, 130), 2, np.uint8)
    write_mask(project.mask_path(e0), changed, project.classes)
    e0, im0, m0 = load(project, 0)
    panel.show_image(e0, im0, m0)
    assert not panel.undo_action.isEnabled()
    assert np.array_equal(panel.current_mask(), changed)


def test_returning_before_the_save_landed_keeps_the_edits(qtbot, project):
    """The main window may read a mask file while our save of it is still being written; the
    canvas must show its own newer state, not the stale file."""
    panel = new_panel(qtbot, project)
    e0, im0, m0 = load(project, 0)
    e1, im1, m1 = load(project, 1)
    stale = m0.copy()
    panel.show_image(e0, im0, m0)
    stroke(qtbot, panel, (5, 5), (60, 30))
    edited = panel.current_mask().copy()
    panel.show_image(e1, im1, m1)           # starts saving image 0
    panel.show_image(e0, im0, stale.copy())  # save may be in flight: in-memory doc reused
    assert np.array_equal(panel.current_mask(), edited)
    panel.show_image(e1, im1, m1)
    panel.flush_saves()                      # now the save has certainly landed
    panel.show_image(e0, im0, stale.copy())  # a read from before it landed
    assert np.array_equal(panel.current_mask(), edited)
    assert panel.history.undo_steps == 1
    panel.undo()
    assert np.array_equal(panel.current_mask(), stale)


def test_save_failure_is_reported_and_edits_kept(qtbot, project):
    panel = new_panel(qtbot, project, autosave_delay_ms=20)
    e0, im0, m0 = load(project, 0)
    panel.show_image(e0, im0, m0)
    project.masks_dir.mkdir(exist_ok=True)
    project.masks_dir.rmdir()
    project.masks_dir.write_text("not a folder")  # writing any mask now fails
    with qtbot.waitSignal(panel.save_failed, timeout=5000) as sig:
        stroke(qtbot, panel, (5, 5), (60, 30))
    assert "Could not save" in sig.args[0]
    assert panel.document.dirty
    edited = panel.current_mask().copy()
    e1, im1, m1 = load(project, 1)
    with qtbot.waitSignal(panel.save_failed, timeout=5000):
        panel.show_image(e1, im1, m1)
    panel.show_image(e0, im0, m0)  # the unsaved edits come back
    assert np.array_equal(panel.current_mask(), edited)
    project.masks_dir.unlink()
    with qtbot.waitSignal(panel.mask_saved, timeout=5000):
        panel.flush_saves()
    assert np.array_equal(disk_mask(project, e0), edited)


def test_set_project_drops_state(qtbot, project, tmp_path):
    panel = new_panel(qtbot, project)
    e0, im0, m0 = load(project, 0)
    panel.show_image(e0, im0, m0)
    stroke(qtbot, panel, (5, 5), (60, 30))
    panel.set_project(project)  # e.g. masks rewritten on disk: saved, then dropped
    panel.flush_saves()
    assert panel.current_mask() is None and not panel.undo_action.isEnabled()
    assert project.mask_path(e0).exists()
    panel.show_image(e0, im0, load(project, 0)[2])
    assert not panel.undo_action.isEnabled()


# ------------------------------------------------------- snapshots (no Qt)

def _doc(shape=(300, 400), tile=64):
    mask = np.full(shape, UNLABELLED, np.uint8)
    return MaskDocument("x", mask, History(shape, tile=tile))


def test_snapshot_is_the_mask_at_its_moment():
    doc = _doc()
    doc.mask[10:50, 10:50] = 1
    moment = doc.mask.copy()
    snap = doc.snapshot()
    for i in range(5):  # edits after the snapshot, including undo and redo
        doc.begin_edit()
        P.paint_segment(doc.mask, 5, 5 + 40 * i, 390, 290 - 30 * i, 9, i % 3, False,
                        doc.before_write)
        doc.end_edit()
    doc.undo()
    doc.redo()
    assert not np.array_equal(doc.mask, moment)
    assert np.array_equal(snap.materialize(), moment)
    assert snap.frozen_bytes > 0 and not snap.is_open
    # After materializing, writes cost nothing more.
    before = snap.frozen_bytes
    doc.begin_edit()
    P.paint_dab(doc.mask, 100, 100, 30, 2, False, doc.before_write)
    doc.end_edit()
    assert snap.frozen_bytes == before


def test_snapshot_under_concurrent_painting():
    """The worker assembles the snapshot while the GUI thread keeps painting: the result is
    still exactly the mask at the snapshot moment (no torn mix)."""
    rng = np.random.default_rng(0)
    for trial in range(3):
        doc = _doc((1024, 1536), tile=64)
        doc.mask[:] = rng.integers(0, 3, doc.mask.shape)
        moment = doc.mask.copy()
        snap = doc.snapshot()
        snap.BAND_BYTES = 16 * 1536  # slow, many bands: maximise interleaving
        out = {}
        t = threading.Thread(
            target=lambda out=out, snap=snap: out.setdefault("m", snap.materialize()))
        t.start()
        n = 0
        while t.is_alive() or n < 20:
            doc.begin_edit()
            x, y = rng.uniform(0, 1536, 2), rng.uniform(0, 1024, 2)
            P.paint_segment(doc.mask, x[0], y[0], x[1], y[1], int(rng.integers(1, 40)),
                            int(rng.integers(0, 3)), False, doc.before_write)
            doc.end_edit()
            n += 1
        t.join()
        assert np.array_equal(out["m"], moment), f"trial {trial}"
