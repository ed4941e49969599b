"""Reopening a project brings its latest run back (issue 13 #3): the dashboard from the run's
log and its best checkpoint as the model, for runs made in the window and with
`segstudio train`; the training form is kept per project; a prediction appears during
training only when asked for (issue 13 #2)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from segstudio.cli import main
from segstudio.project.demo import generate_demo
from segstudio.ui.preload import wait_preloaded
from tests.ui.window_helpers import open_window, tiny_form

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_project_trained_on_the_command_line_opens_with_its_run(qtbot, tmp_path, capsys):
    p = generate_demo(tmp_path / "cli", n_images=3, size=96, labelled=3)
    assert main(["train", str(p.root), "--epochs", "2", "--iterations", "2", "--patch", "64",
                 "--batch", "2", "--model-options", '{"base_width": 4, "levels": 2}']) == 0
    capsys.readouterr()
    w = open_window(qtbot)
    assert w.open_path(p.root)
    assert w.dashboard.history.epochs == [1, 2]
    qtbot.waitUntil(lambda: w.dashboard.summary.text().startswith("Epoch 2"), timeout=5000)
    assert w.session.checkpoint is not None and "runs" in str(w.session.checkpoint)
    assert w.predict_action.isEnabled() and w.export_model_action.isEnabled()
    assert "Latest run" in w.training_panel.status.text()


def test_form_is_kept_per_project_and_live_prediction_is_opt_in(qtbot, tmp_path):
    a = generate_demo(tmp_path / "a", n_images=3, size=96, labelled=3)
    b = generate_demo(tmp_path / "b", n_images=2, size=96, labelled=2)
    w = open_window(qtbot)
    assert w.open_path(a.root)
    p = w.training_panel
    p.arch.setCurrentIndex(p.arch.findData("unet3p"))
    tiny_form(w, levels=2, batch=2, epochs=2)
    p.budget.setValue(7)
    assert wait_preloaded(60)
    qtbot.waitUntil(lambda: w.canvas.current_mask() is not None, timeout=10000)
    assert not w.live_prediction_action.isChecked()
    with qtbot.waitSignal(w.training.run_finished, timeout=120000):
        qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    w.predictions.wait()
    # Off by default: the canvas showed the user's labels only, no prediction was made.
    assert w.session.predictions == {} and w.canvas.prediction_layer.array is None
    assert w.open_path(b.root)
    assert p.arch.currentData() == "unet" and p.budget.value() == 0  # b's own (default) form
    assert w.open_path(a.root)
    assert p.arch.currentData() == "unet3p" and p.budget.value() == 7
    assert p.base_width.value() == 4 and p.epochs.value() == 2
    assert len(w.dashboard.history.epochs) == 2 and w.session.checkpoint is not None
    w.live_prediction_action.trigger()
    assert w.coordinator.auto_refresh_prediction
