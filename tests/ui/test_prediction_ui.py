"""Predict, accept, undo, retrain from the window."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.window_helpers import open_project_window, train_tiny_demo


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_demo(tmp_path_factory.mktemp("p") / "demo")


@pytest.fixture
def window(qtbot, trained):
    root, ckpt = trained
    w = open_project_window(qtbot, root)
    assert w.load_model(ckpt)
    yield w
    w.close()


def test_predict_accept_undo(qtbot, window):
    image_id = window.current_image_id
    before = window.canvas.current_mask().copy()
    with qtbot.waitSignal(window.predictions.predicted, timeout=30000) as got:
        qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    pred = got.args[1]
    assert got.args[0] == image_id and pred.labels.shape == before.shape
    assert set(np.unique(pred.labels)) <= {0, 1, 2}
    assert window.accept_unlabelled_action.isEnabled()
    window.accept_unlabelled_action.trigger()
    after = window.canvas.current_mask()
    user = before != 255
    assert np.array_equal(after[user], before[user])             # strokes kept
    assert np.array_equal(after[~user], pred.labels[~user])      # gaps filled
    # One undo step brings back exactly the sparse strokes.
    window.canvas.undo_action.trigger()
    assert np.array_equal(window.canvas.current_mask(), before)
    window.canvas.redo_action.trigger()
    with qtbot.waitSignal(window.canvas.mask_saved, timeout=10000):
        pass
    from segstudio.io.masks import read_mask

    saved = read_mask(window.project.mask_path(window.project.entry(image_id)))
    assert np.array_equal(saved, after)
    assert window.project.entry(image_id).labelled == pytest.approx(1.0)


def test_predict_all_writes_index_masks(qtbot, window):
    with qtbot.waitSignal(window.predictions.all_finished, timeout=60000) as done:
        window.predict_all_action.trigger()
    ok, bad, folder = done.args
    assert (ok, bad) == (3, 0)
    from segstudio.io.masks import read_mask

    for e in window.project.images:
        m = read_mask(f"{folder}/{e.id}.png", num_classes=3)
        assert m.shape == (96, 96)


def test_bad_model_file_is_reported(qtbot, window, tmp_path):
    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(b"not a model")
    (tmp_path / "evil.json").write_text("{ broken")
    assert not window.load_model(str(bad))
    assert "evil.json" in window.message_bar.text()


def _answer_dialog(qtbot, fill):
    """Fill in and accept the modal dialog the next action opens, as a user would."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    def act():
        d = QApplication.activeModalWidget()
        if d is None:
            QTimer.singleShot(50, act)
            return
        fill(d)
        ok = d.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(50, act)


def test_export_masks_from_menu(qtbot, window, tmp_path):
    import json

    from segstudio.io.masks import read_mask

    out = tmp_path / "exported"

    def fill(d):
        d.folder.setText(str(out))
        d.color.setChecked(True)

    _answer_dialog(qtbot, fill)
    window.export_masks_action.trigger()
    qtbot.waitUntil(lambda: (out / "coco.json").exists(), timeout=30000)
    qtbot.waitUntil(lambda: "Exported" in window.message_bar.text(), timeout=10000)
    p = window.project
    labelled = [e for e in p.images if e.labelled > 0]
    for e in labelled:
        assert np.array_equal(read_mask(out / "masks" / f"{e.id}.png"),
                              read_mask(p.mask_path(e)))
        assert (out / "color" / f"{e.id}.png").exists()
    coco = json.loads((out / "coco.json").read_text())
    assert [c["name"] for c in coco["categories"]] == [c.name for c in p.classes]
    assert len(coco["images"]) == len(labelled)

    # ...and back in: a fresh project from the same images gets identical masks.

    before = {e.id: read_mask(p.mask_path(e)) for e in labelled}
    for e in labelled:
        p.mask_path(e).unlink()
    with qtbot.waitSignal(window.image_shown, timeout=30000):
        window.transfer.import_masks_from(out, "coco")
    for e in labelled:
        assert np.array_equal(read_mask(p.mask_path(e)), before[e.id])
    assert "Imported masks for" in window.message_bar.text()


def test_export_model_from_menu(qtbot, window, tmp_path):
    out = tmp_path / "model"

    def fill(d):
        d.folder.setText(str(out))
        d.torchscript.setChecked(False)

    _answer_dialog(qtbot, fill)
    window.export_model_action.trigger()
    qtbot.waitUntil(lambda: "Model exported" in window.message_bar.text(), timeout=60000)
    names = {f.name for f in out.iterdir()}
    assert any(n.endswith(".onnx") for n in names)
    assert any(n.endswith(".safetensors") for n in names)
    assert not any(n.endswith(".pt") for n in names)


def test_confidence_view(qtbot, window):
    with qtbot.waitSignal(window.predictions.predicted, timeout=30000) as got:
        window.predict_action.trigger()
    pred = got.args[1]
    layer = window.canvas.prediction_layer
    assert layer.array is pred.labels
    window.show_confidence_action.trigger()
    assert layer.array is pred.confidence
    table = layer.color_table()
    alpha = [(c >> 24) & 0xFF for c in table]
    assert alpha[255] == 0 and alpha[100] > alpha[200] > 0   # unsure pixels light up
    window.show_confidence_action.trigger()
    assert layer.array is pred.labels
