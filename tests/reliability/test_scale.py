"""Scale: a project of 10,000 images opens in under 2 s and within 500 MB of memory, in the
library and in the window (whose image list decodes thumbnails only for visible rows); 1,000
undo steps stay within the history's byte bound and undo restores exact states."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from segstudio.project.project import PROJECT_FILE, Project

N_IMAGES = 10_000


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc; no psutil)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _has_proc() -> bool:
    return Path("/proc/self/status").exists()


@pytest.fixture(scope="module")
def big_project(tmp_path_factory) -> Path:
    """10,000 small PNGs (8 x 8, 8 varieties) in 100 sub-folders, a project JSON listing
    them (written directly: the point is opening it), and a few masks."""
    from PIL import Image

    root = tmp_path_factory.mktemp("big") / "project"
    blobs = []
    for k in range(8):
        buf = io.BytesIO()
        Image.fromarray(np.full((8, 8, 3), 30 * k, np.uint8)).save(buf, "PNG")
        blobs.append(buf.getvalue())
    images = []
    for i in range(N_IMAGES):
        folder = root / "images" / f"batch_{i // 100:03d}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        rel = f"images/batch_{i // 100:03d}/img_{i:05d}.png"
        (root / rel).write_bytes(blobs[i % 8])
        images.append({"id": f"img_{i:05d}", "path": rel,
                       "split": ("auto", "train", "val")[i % 3], "labelled": (i % 7) / 7})
    data = {"app": "segstudio", "schema": 1, "name": "big",
            "classes": [{"name": f"class {k}", "color": f"#{k * 20:02x}8040"} for k in range(5)],
            "images": images, "settings": {"last_image": "img_05000"}}
    (root / PROJECT_FILE).write_text(json.dumps(data, indent=1))
    return root


def _best_of(n: int, fn) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def test_project_of_10000_images_opens_fast(big_project, record_property):
    seconds = _best_of(3, lambda: Project.open(big_project))
    p = Project.open(big_project)
    assert len(p.images) == N_IMAGES and p.images[-1].id == "img_09999"
    record_property("open_10000_s", round(seconds, 3))
    assert seconds < 2.0, f"Project.open took {seconds:.2f} s"
    save_s = _best_of(1, p.save)
    record_property("save_10000_s", round(save_s, 3))
    assert save_s < 2.0


@pytest.mark.skipif(not _has_proc(), reason="reads /proc/self/status")
def test_window_opens_10000_images_lazily(qtbot, big_project, record_property):
    from segstudio.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    before = rss_mb()
    t0 = time.perf_counter()
    with qtbot.waitSignal(w.image_shown, timeout=20000):
        assert w.open_path(big_project)
    seconds = time.perf_counter() - t0
    model = w.image_list.list_model
    assert model.rowCount() == N_IMAGES
    assert w.current_image_id == "img_05000"          # where the user left off
    qtbot.wait(300)                                    # let the visible thumbnails load
    requested = len(model._thumbs) + len(model.loader._pending)
    grown = rss_mb() - before
    record_property("window_open_10000_s", round(seconds, 3))
    record_property("window_rss_growth_mb", round(grown, 1))
    record_property("thumbnails_requested", requested)
    assert seconds < 2.0, f"opening took {seconds:.2f} s"
    assert grown < 500, f"RSS grew by {grown:.0f} MB"
    assert 0 < requested < 200, f"{requested} thumbnails requested for one screen"
    # Scrolling to the end asks only for the rows that become visible.
    w.image_list.scrollToBottom()
    qtbot.wait(300)
    assert len(model._thumbs) + len(model.loader._pending) < 400
    w.close()


# -------------------------------------------------------------------------------- undo bound
def test_1000_undo_steps_stay_within_the_history_bound(qtbot, tmp_path):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from segstudio.core.history import mask_fingerprint
    from segstudio.core.painting import Rect
    from tests.ui.canvas_helpers import load, make_project, new_panel

    bound = 2 << 20                      # 2 MB per image: far less than 1,000 steps need
    project = make_project(tmp_path / "p", n_images=1, shape=(512, 512))
    panel = new_panel(qtbot, project, history_bytes_per_image=bound,
                      history_bytes_total=bound)
    panel.show_image(*load(project, 0))
    rng = np.random.default_rng(0)
    states = [mask_fingerprint(panel.current_mask())]
    view = panel.view
    for i in range(1000):
        panel.set_active_class(int(rng.integers(3)))
        if i % 4 == 0:                   # a brush drag with real mouse events
            panel.set_brush_size(int(rng.integers(3, 40)))
            pts = [view.widget_pos_of_pixel(int(rng.integers(512)), int(rng.integers(512)))
                   for _ in range(3)]
            pts = [QPoint(int(p.x()), int(p.y())) for p in pts]
            QTest.mousePress(
                view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[0]
            )
            for p in pts[1:]:
                QTest.mouseMove(view, p)
            QTest.mouseRelease(
                view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[-1]
            )
        else:                            # a block (accepting a prediction, a fill)
            x0, y0 = (int(v) for v in rng.integers(0, 480, 2))
            x1, y1 = x0 + int(rng.integers(1, 32)), y0 + int(rng.integers(1, 32))
            block = rng.integers(0, 3, (y1 - y0, x1 - x0)).astype(np.uint8)
            panel.apply_block(Rect(x0, y0, x1, y1), block)
        states.append(mask_fingerprint(panel.current_mask()))
        assert panel.history.nbytes <= bound and panel.histories.nbytes <= bound
    h = panel.history
    assert 100 < h.undo_steps < 1000   # the bound dropped the oldest steps, and kept many
    # Undo walks back through exactly the states the edits produced, redo forward again.
    # Undoing stores redo data within the same bound, so going back may drop the oldest undo
    # steps, and at the far end the farthest redo steps: every state reached is still exact.
    distinct = [states[0]] + [s for a, s in zip(states, states[1:], strict=False) if s != a]
    undone = 0
    while h.can_undo:
        panel.undo()
        undone += 1
        assert mask_fingerprint(panel.current_mask()) == distinct[-1 - undone]
        assert h.nbytes <= bound
    assert undone > 50
    redone = 0
    while h.can_redo:
        panel.redo()
        redone += 1
        assert mask_fingerprint(panel.current_mask()) == distinct[-1 - undone + redone]
        assert h.nbytes <= bound
    assert redone > 0.9 * undone
