"""Label here next and the model brush in the window, with a real (tiny) model: the images
are scored in the background after the model arrives, the list order and Ctrl+U follow a
direct computation of the same uncertainty, the map shows on request, and the model brush
predicts on its first click and then copies that prediction."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from segstudio.core.uncertainty import order_by_uncertainty
from tests.ui.canvas_helpers import at, click, drag, reference_stroke
from tests.ui.window_helpers import open_project_window, train_tiny_demo
from tests.uncertainty_oracle import direct_scores


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_demo(tmp_path_factory.mktemp("p") / "demo", n_images=4)


@pytest.fixture
def window(qtbot, trained):
    root, ckpt = trained
    w = open_project_window(qtbot, root)
    yield w, ckpt
    w.close()


def test_scores_order_map_and_jump_follow_a_direct_computation(qtbot, window):
    w, ckpt = window
    ctl = w.label_next
    # Before any model (the project's last run gave it one: take it away): it says so.
    w.set_model(None)
    w.commands["label_next"].trigger()
    assert "needs a model" in w.message_bar.text()
    with qtbot.waitSignal(ctl.pass_finished, timeout=60000):
        assert w.load_model(ckpt)
    direct = direct_scores(w.project, ckpt)
    got = ctl.current_scores()
    assert set(got) == set(direct)
    for k in direct:
        assert got[k] == pytest.approx(direct[k], abs=2e-3)   # heat kept as uint8
    expected = order_by_uncertainty(direct)
    # Ordering the list on request.
    w.commands["order_uncertain"].trigger()
    model = w.image_list.list_model
    shown = [model.index(r).data(Qt.ItemDataRole.UserRole + 1) for r in range(model.rowCount())]
    assert shown == order_by_uncertainty(got)
    assert shown[:2] == expected[:2] or np.isclose(direct[shown[0]], direct[expected[0]],
                                                   atol=2e-3)
    assert "unsure" in model.index(0).data(Qt.ItemDataRole.UserRole + 5)
    # Ctrl+U: the least sure image, zoomed to its region.
    top = order_by_uncertainty(got)[0]
    if w.current_image_id == top:
        qtbot.keyClick(w, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
        assert w.current_image_id == top
    else:
        with qtbot.waitSignal(w.image_shown, timeout=10000) as shown_sig:
            qtbot.keyClick(w, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
        assert shown_sig.args[0] == top
    region = ctl._region(top)
    vis = w.canvas.view.visible_image_rect()
    assert region is not None and vis.intersect(region) == region    # the region is on screen
    assert vis.area < 96 * 96                                   # zoomed in
    # Pressing again goes on down the order: the second least sure image, then the third.
    for expected in order_by_uncertainty(got)[1:3]:
        with qtbot.waitSignal(w.image_shown, timeout=10000) as shown_sig:
            qtbot.keyClick(w, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
        assert shown_sig.args[0] == expected
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        w.image_list.select_image(top)
    # The map on request: sure = 255, over the shown image.
    w.commands["uncertainty_map"].trigger()
    layer = w.canvas.uncertainty_layer
    assert layer.visible and layer.array is not None and layer.array.shape == (96, 96)
    # Labelling the whole image drops its score to 0 without predicting again.
    m = w.canvas.current_mask()
    m[:] = 0
    assert ctl.current_scores()[top] == 0.0


def test_model_brush_predicts_then_copies_the_prediction(qtbot, window):
    w, ckpt = window
    assert w.load_model(ckpt)
    canvas = w.canvas
    view = canvas.view
    before = canvas.current_mask().copy()
    canvas.set_tool("model_brush")
    with qtbot.waitSignal(w.predictions.predicted, timeout=30000) as got:
        click(qtbot, view, at(view, 40, 40))      # no prediction yet: it asks for one
    assert np.array_equal(canvas.current_mask(), before)
    pred = got.args[1].labels
    canvas.set_brush_size(11)
    pts = [at(view, 20, 30), at(view, 70, 60)]
    drag(qtbot, view, pts)
    foot = reference_stroke(np.full(before.shape, 255, np.uint8),
                            [view.widget_to_image(QPointF(p)) for p in pts], 11, 1) == 1
    after = canvas.current_mask()
    assert np.array_equal(after[foot], pred[foot])
    assert np.array_equal(after[~foot], before[~foot])
    canvas.undo_action.trigger()
    assert np.array_equal(canvas.current_mask(), before)
