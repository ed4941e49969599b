"""Opening a second project leaves nothing of the first one: no curves, no run to resume, no
model, no prediction that could write the first project's class numbers into the second's
masks; a model of other classes is refused when loaded."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from segstudio.project.demo import generate_demo
from segstudio.ui.preload import wait_preloaded
from tests.ui.window_helpers import open_window, tiny_form


def _image_folder(root: Path) -> Path:
    """A folder of plain images: opening it makes a new two-class project."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (96, 128), dtype=np.uint8)).save(root / f"b{i}.png")
    return root


@pytest.fixture
def trained(qtbot, tmp_path):
    project = generate_demo(tmp_path / "a", n_images=4, size=128, labelled=3)
    w = open_window(qtbot, project)
    tiny_form(w, batch=2, epochs=2)
    p = w.training_panel
    assert wait_preloaded(60)
    qtbot.waitUntil(lambda: w.canvas.current_mask() is not None, timeout=10000)
    # Stop after the first epoch: a stopped run is what "Resume" would offer.
    w.training.checkpoint_saved.connect(lambda ev: ev.best or w.training.stop())
    with qtbot.waitSignal(w.training.run_finished, timeout=120000):
        qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    assert w.last_checkpoint is not None and w.dashboard.history.epochs
    assert p.resume_button.isVisibleTo(p)
    yield w
    w.close()


def _b_masks(window) -> dict[str, bytes]:
    folder = window.project.masks_dir
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))} if folder.is_dir() \
        else {}


def test_second_project_starts_clean(qtbot, trained, tmp_path):
    w = trained
    a_model = w.last_checkpoint
    # A prediction of A's model is under way when B opens: its result must go nowhere.
    assert w.predictions.predict_current()
    assert w.open_path(_image_folder(tmp_path / "b"))
    qtbot.waitUntil(lambda: w.canvas.current_mask() is not None, timeout=10000)
    w.predictions.wait()
    b = w.project
    assert [c.name for c in b.classes] == ["background", "foreground"]
    # Dashboard empty, nothing to resume or continue from.
    assert w.dashboard.history.epochs == [] and w.dashboard.history.iterations == []
    assert w.dashboard.summary.text() == "No run yet."
    assert w.dashboard.confusion.matrix is None
    assert not w.training_panel.resume_button.isVisibleTo(w.training_panel)
    assert not w.training_panel.continue_box.isEnabled()
    # No model: prediction, accepting and model export are off.
    assert w.last_checkpoint is None
    for name in ("predict", "predict_all", "accept_unlabelled", "accept_all", "export_model"):
        assert not w.commands[name].isEnabled(), name
    assert not w.predictions.predict_current() and not w.predictions.accept("everywhere")
    assert w.session.predictions == {}
    assert w.canvas.prediction_layer.array is None
    before = _b_masks(w)
    qtbot.keyClick(w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # accept
    w.canvas.flush_saves()
    assert _b_masks(w) == before
    # A's 3-class model is refused for B's 2 classes, with a message.
    assert not w.load_model(a_model)
    assert w.last_checkpoint is None
    assert w.message_bar.level == "error" and "other classes" in w.message_bar.text()
    assert not w.commands["predict"].isEnabled()


def test_model_of_other_classes_is_refused_in_its_own_project_too(qtbot, trained):
    """Renaming a class after training changes what the numbers mean: the model is refused."""
    w = trained
    model = w.last_checkpoint
    w.project.rename_class(1, "membrane")
    w.set_model(None)
    assert not w.load_model(model)
    assert "other classes" in w.message_bar.text()
    w.project.rename_class(1, "cell")
    assert w.load_model(model) and w.last_checkpoint == model
