"""Train from the window: real button presses, live dashboard, stop, prune slider, fluidity."""

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from segstudio.project.demo import generate_demo
from segstudio.ui.preload import wait_preloaded
from tests.ui.window_helpers import open_window, tiny_form


@pytest.fixture
def window(qtbot, tmp_path):
    project = generate_demo(tmp_path / "demo", n_images=4, size=128, labelled=3)
    w = open_window(qtbot, project)
    tiny_form(w)
    assert wait_preloaded(60)
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.canvas.current_mask() is not None, timeout=10000)
    qtbot.wait(300)  # first paint of every dock happens before the measurement
    yield w
    w.training.stop()
    w.training.wait()
    w.close()


class Heartbeat:
    """A 5 ms GUI timer; the largest gap between its ticks is how long the window froze."""

    def __init__(self):
        self.gaps = []
        self.at = []
        self.last = None
        self.timer = QTimer(interval=5)
        self.timer.timeout.connect(self.tick)

    def start(self):
        self.last = time.perf_counter()
        self.timer.start()

    def tick(self):
        t = time.perf_counter()
        self.gaps.append(t - self.last)
        self.at.append(t)
        self.last = t

    def stop(self):
        self.timer.stop()
        return max(self.gaps) * 1000 if self.gaps else 0.0

    def worst(self, n=5, since=0.0):
        """The n longest gaps as (ms, seconds after ``since`` when the gap ended)."""
        pairs = sorted(zip(self.gaps, self.at, strict=False), reverse=True)[:n]
        return [(round(g * 1000), round(t - since, 3)) for g, t in pairs]


def _train_measured(qtbot, window):
    """Press Train and measure the GUI heartbeat until the run ends."""
    epochs, log = [], []
    t0 = time.perf_counter()
    window.training.epoch_finished.connect(epochs.append)
    for name in ("run_started", "epoch_finished", "checkpoint_saved"):
        getattr(window.training, name).connect(
            lambda ev, n=name: log.append((n, round(time.perf_counter() - t0, 3))))
    beat = Heartbeat()
    beat.start()
    with qtbot.waitSignal(window.training.run_finished, timeout=120000) as finished:
        qtbot.mouseClick(window.training_panel.train_button, Qt.MouseButton.LeftButton)
        assert window.training.running
        assert not window.training_panel.train_button.isEnabled()
    max_gap = beat.stop()
    window.training.epoch_finished.disconnect(epochs.append)
    qtbot.waitUntil(lambda: not window.training.running)
    return max_gap, epochs, finished.args[0], f"{beat.worst(since=t0)} {log}"


def _only_this_window(qtbot, window):
    """Windows of earlier tests are not part of this app's state: close them (a closed window
    stops its timers) and collect what they left, so neither lands inside the measurement."""
    import gc

    from PySide6.QtWidgets import QApplication, QMainWindow

    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMainWindow) and w is not window:
            w.close()
    qtbot.wait(50)
    gc.collect()
    qtbot.wait(50)


# The 50 ms fluidity goal is a speed target: benchmarks/train_speed.py measures it
# (max_stall_ms, recorded in docs/benchmarks.md), as the project keeps timed goals out of
# tests. This test records the heartbeat's worst gap and fails only on a real freeze - the
# kind that training, loading or plotting on the GUI thread would cause (hundreds of ms) -
# so a busy CI machine cannot turn it red.
FROZEN_MS = 250.0


def test_train_button_fills_dashboard_and_stays_fluid(qtbot, window, record_property):
    _only_this_window(qtbot, window)
    max_gap, epochs, finished, where = _train_measured(qtbot, window)
    record_property("max_stall_ms", round(max_gap, 1))
    print(f"max GUI heartbeat gap during training: {max_gap:.1f} ms; worst {where}")
    assert finished.reason == "completed", finished.message
    qtbot.waitUntil(lambda: not window.training.running)
    assert [e.epoch for e in epochs] == [1, 2, 3]
    dash = window.dashboard
    dash.flush()
    xs, ys = dash.smooth_curve.getData()
    assert len(xs) == len(dash.history.iterations) > 0
    assert len(dash.miou_curve.getData()[0]) == 3
    assert np.allclose(dash.miou_curve.getData()[1], [e.miou for e in epochs])
    # The heatmap shows the last epoch's K x K matrix, with class names on both axes.
    cm = epochs[-1].confusion
    assert cm.shape == (3, 3) and np.array_equal(dash.confusion.matrix, cm)
    assert len(dash.confusion.cell_texts()) == 9
    names = [t[1] for t in dash.confusion.plot.getAxis("left")._tickLevels[0]]
    assert names == ["background", "cell", "nucleus"]
    row0 = cm[0] / cm[0].sum()
    assert dash.confusion.cell_texts()[0] == f"{row0[0]:.0%}"
    dash.percent_box.setChecked(False)
    assert dash.confusion.cell_texts()[1] == str(int(cm[0, 1]))
    assert f"mIoU {epochs[-1].miou:.3f}" in dash.summary.text()
    assert "Training finished" in window.training_panel.status.text()
    assert window.training_panel.train_button.isEnabled()
    assert max_gap < FROZEN_MS, f"the window froze for {max_gap:.0f} ms: {where}"


def test_stop_returns_within_a_second(qtbot, window):
    window.training_panel.epochs.setValue(500)
    first = []
    window.training.iteration.connect(lambda ev: first.append(time.perf_counter()))
    qtbot.mouseClick(window.training_panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(first) >= 2, timeout=60000)
    with qtbot.waitSignal(window.training.run_finished, timeout=5000) as finished:
        t0 = time.perf_counter()
        qtbot.mouseClick(window.training_panel.stop_button, Qt.MouseButton.LeftButton)
    elapsed = time.perf_counter() - t0
    assert finished.args[0].reason == "stopped"
    assert elapsed < 1.0, f"Stop took {elapsed:.2f} s"


def test_pause_and_resume(qtbot, window):
    its = []
    window.training.iteration.connect(its.append)
    qtbot.mouseClick(window.training_panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(its) >= 1, timeout=60000)
    qtbot.mouseClick(window.training_panel.pause_button, Qt.MouseButton.LeftButton)
    assert window.training.paused and window.training_panel.pause_button.text() == "Resume"
    qtbot.wait(300)
    n = len(its)
    qtbot.wait(700)
    assert len(its) == n
    with qtbot.waitSignal(window.training.run_finished, timeout=120000) as finished:
        qtbot.mouseClick(window.training_panel.pause_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].reason == "completed" and len(its) > n


def test_prune_slider_changes_depth(qtbot, window):
    prune = window.dashboard.prune
    assert not prune.slider.isEnabled() and "U-Net++" in prune.explain.text()
    panel = window.training_panel
    panel.arch.setCurrentIndex(panel.arch.findData("unetpp"))
    panel.levels.setValue(4)
    panel.epochs.setValue(1)
    with qtbot.waitSignal(window.training.run_finished, timeout=120000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert prune.slider.isEnabled()
    assert prune.depths == [1, 2, 3] and prune.slider.value() == 3
    # Costs are measured in a worker after the run; each depth gets parameters and time.
    qtbot.waitUntil(lambda: all("…" not in c for r in prune.row_texts() for c in r), timeout=30000)
    rows = prune.row_texts()
    params = [float(r[1].split()[0]) for r in rows]
    assert params == sorted(params) and params[0] < params[-1]
    assert all(r[3] != "n/a" for r in rows)
    prune.slider.setFocus()
    qtbot.keyClick(prune.slider, Qt.Key.Key_Left)
    assert prune.slider.value() == 2 and window.prediction_depth == 2
    assert window.project.settings["unetpp_depth"] == 2


def test_stopped_run_resumes_and_dashboard_saves(qtbot, window, tmp_path):
    import csv

    panel = window.training_panel
    panel.epochs.setValue(4)
    epochs = []
    window.training.epoch_finished.connect(epochs.append)
    window.training.epoch_finished.connect(
        lambda ev: ev.epoch == 2 and window.training.stop())
    with qtbot.waitSignal(window.training.run_finished, timeout=120000) as fin:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert fin.args[0].reason == "stopped"
    qtbot.waitUntil(lambda: not window.training.running)
    assert panel.resume_button.isVisible()
    window.training.epoch_finished.disconnect()
    window.training.epoch_finished.connect(window.coordinator.on_epoch)
    window.training.epoch_finished.connect(epochs.append)
    with qtbot.waitSignal(window.training.run_finished, timeout=120000) as fin:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert fin.args[0].reason == "completed"
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    files = window.dashboard.save(tmp_path / "plots")
    assert {f.name for f in files} >= {"loss.png", "iou.png", "confusion.png",
                                       "history_epochs.csv", "history_iterations.csv"}
    rows = list(csv.DictReader(open(tmp_path / "plots" / "history_epochs.csv")))
    # The resumed run's curves start with the epochs of its first part (from metrics.jsonl).
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["miou"]) for r in rows] == pytest.approx([e.miou for e in epochs])
    ipe = int(rows[1]["iteration"]) // 2
    assert [int(r["iteration"]) for r in rows] == [ipe, 2 * ipe, 3 * ipe, 4 * ipe]
    assert len(window.dashboard.miou_curve.getData()[0]) == 4
    from PIL import Image

    assert Image.open(tmp_path / "plots" / "confusion.png").size[0] == 800
