"""Instance projects in the window: Predict, then Accept turns the predicted objects into new
objects on the pixels not labelled yet (one undo step), and the autosave writes them."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from segstudio.core.instances import unpack
from segstudio.project.project import Project
from tests.ui.window_helpers import open_project_window, train_tiny_demo


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root, ckpt = train_tiny_demo(tmp_path_factory.mktemp("p") / "demo", task="instances")
    assert Project.open(root).is_instances
    return root, ckpt


def test_predict_accept_objects_undo(qtbot, trained):
    from segstudio.io.instances import read_instances

    root, ckpt = trained
    w = open_project_window(qtbot, root)
    assert w.load_model(ckpt)
    before = w.canvas.current_mask().copy()
    assert before.dtype == np.uint32
    with qtbot.waitSignal(w.predictions.predicted, timeout=30000) as got:
        qtbot.keyClick(w, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    pred = got.args[1]
    assert pred.instances is not None and pred.instances.shape == before.shape
    w.accept_unlabelled_action.trigger()
    after = w.canvas.current_mask()
    _, ids_before = unpack(before)
    mask_after, ids_after = unpack(after)
    user = (before >> 24) != 255
    assert np.array_equal(after[user], before[user])  # the user's objects and strokes stay
    new_ids = set(np.unique(ids_after).tolist()) - set(np.unique(ids_before).tolist())
    top = int(ids_before.max())
    assert all(i > top for i in new_ids)  # new objects get ids after the user's
    for i in new_ids:  # each new object is one predicted object on unlabelled pixels
        sel = ids_after == i
        assert len(np.unique(pred.instances[sel])) == 1 and not user[sel].any()
        assert (mask_after[sel] == 1).all()
    w.canvas.undo_action.trigger()
    assert np.array_equal(w.canvas.current_mask(), before)
    w.canvas.redo_action.trigger()
    w.canvas.flush_saves()
    entry = w.project.entry(w.current_image_id)
    saved = read_instances(w.project.instance_path(entry))
    np.testing.assert_array_equal(saved, unpack(w.canvas.current_mask())[1])
    w.close()


def test_predict_all_writes_instance_maps_beside_the_class_masks(qtbot, trained):
    from pathlib import Path

    from segstudio.io.instances import read_instances
    from segstudio.io.masks import read_mask

    root, ckpt = trained
    w = open_project_window(qtbot, root)
    assert w.load_model(ckpt)
    with qtbot.waitSignal(w.predictions.all_finished, timeout=60000) as done:
        w.predict_all_action.trigger()
    ok, failed, folder = done.args
    assert failed == 0 and ok == len(w.project.images)
    from segstudio.inference.predictor import Predictor
    from segstudio.io.images import read_image

    predictor = Predictor.load(ckpt, device="cpu")
    for entry in w.project.images:
        classes = read_mask(Path(folder) / f"{entry.id}.png")
        inst = read_instances(Path(folder) / "instances" / f"{entry.id}.png")
        direct = predictor.predict(read_image(w.project.image_path(entry)).data)
        np.testing.assert_array_equal(classes, direct.labels)
        np.testing.assert_array_equal(inst, direct.instances)  # the model's own objects
    w.close()
