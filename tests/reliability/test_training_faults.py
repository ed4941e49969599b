"""Training faults end in a usable state with a message, the best checkpoint intact: out of
memory (injected on the CPU; real on a CUDA GPU when there is one), NaN loss, images deleted
or replaced during training, Stop while a checkpoint is being written. Headless (the loop) and
through the window (message bar, buttons re-enabled). tests/training/test_loop.py covers the
loop's own OOM-halving and NaN cases; these add what a user sees."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from segstudio.inference.checkpoints import load_checkpoint
from segstudio.training.config import TrainConfig
from segstudio.training.events import CheckpointSaved, EpochReport, Notice
from segstudio.training.loop import TrainControl, train

TINY = dict(model={"base_width": 4, "levels": 3}, patch=64, batch=4, iterations_per_epoch=2,
            val_tile=256)


@pytest.fixture
def demo(tmp_path):
    from segstudio.project.demo import generate_demo

    return generate_demo(tmp_path / "demo", n_images=4, size=96, labelled=3)


def _oom(*_):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


# ------------------------------------------------------------------------------- headless
def test_images_deleted_and_replaced_during_training(demo):
    """The loop reads every image when it starts: deleting one and replacing another by an
    image of another size while it runs changes nothing for that run. The next run skips both
    with a note naming them, and no mask is touched."""
    from PIL import Image

    from tests.reliability.corpus import tree_digest

    labelled = [e for e in demo.images if demo.mask_path(e).exists()]
    gone, swapped = labelled[0], labelled[1]
    masks_before = tree_digest(demo.masks_dir)
    done = []

    def hook(it):
        if it == 2 and not done:
            demo.image_path(gone).unlink()
            Image.fromarray(np.zeros((50, 70), np.uint8)).save(demo.image_path(swapped))
            done.append(it)

    events = list(train(demo, TrainConfig(**TINY, epochs=2), fault_hook=hook))
    assert done and events[-1].reason == "completed", events[-1].message
    assert load_checkpoint(events[-1].best_checkpoint).meta["epoch"] in (1, 2)

    again = list(train(demo, TrainConfig(**TINY, epochs=1)))
    notes = " ".join(again[0].notes)
    assert f"Skipped {gone.id}:" in notes and "file not found" in notes
    assert f"Skipped {swapped.id}:" in notes and "but the image is 70 x 50" in notes
    assert again[-1].reason == "completed"
    assert tree_digest(demo.masks_dir) == masks_before


def test_every_labelled_image_gone_is_a_clear_error(demo):
    for e in demo.images:
        demo.image_path(e).unlink()
    fin = list(train(demo, TrainConfig(**TINY, epochs=1)))[-1]
    # The labels are there but their images are gone: the message names them.
    assert fin.reason == "failed" and fin.message.startswith("No usable labelled image")
    assert "cells_01.png: file not found" in fin.message


def test_stop_while_a_checkpoint_is_written(demo, monkeypatch):
    """Stop pressed while epoch 2's checkpoint is being written: the write completes (it is
    not torn), the run ends 'stopped' at the next check, every checkpoint loads, and the run
    can be resumed from 'last'."""
    import segstudio.inference.checkpoints as ck

    real = ck.save_checkpoint
    control = TrainControl()
    seen = []

    def slow_save(path, *a, **k):
        seen.append(str(path))
        if len(seen) == 3:               # epoch 2's "last" (epoch 1 wrote last and best)
            control.request_stop()
            time.sleep(0.3)
        return real(path, *a, **k)

    monkeypatch.setattr(ck, "save_checkpoint", slow_save)
    events = list(train(demo, TrainConfig(**TINY, epochs=5), control))
    fin = events[-1]
    assert fin.reason == "stopped" and fin.message == "Stopped by the user."
    assert [e.epoch for e in events if isinstance(e, EpochReport)] == [1, 2]
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    newest = {e.path: e.epoch for e in saved}          # "last" is rewritten every epoch
    assert newest[[e.path for e in saved if not e.best][0]] == 2   # the one written at Stop
    for path, epoch in newest.items():
        assert load_checkpoint(path).meta["epoch"] == epoch
    assert fin.best_checkpoint and load_checkpoint(fin.best_checkpoint)
    last = [e.path for e in saved if not e.best][-1]
    monkeypatch.setattr(ck, "save_checkpoint", real)
    more = list(train(demo, TrainConfig(**TINY, epochs=3, resume_from=last)))
    assert [e.epoch for e in more if isinstance(e, EpochReport)] == [3]
    assert more[-1].reason == "completed"


def test_out_of_memory_at_batch_one_fails_with_advice_and_keeps_best(demo):
    def hook(it):
        if it > 2:          # epoch 1 (2 iterations) completes and saves its best
            _oom()

    events = list(train(demo, TrainConfig(**TINY, epochs=3), fault_hook=hook))
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert notices == [f"Out of GPU memory: batch size halved to {b}; training goes on."
                       for b in (2, 1)]
    fin = events[-1]
    assert fin.reason == "failed" and fin.message.startswith("Out of memory even with a batch")
    assert fin.best_checkpoint and load_checkpoint(fin.best_checkpoint).meta["epoch"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_gpu_out_of_memory_halves_until_it_fits(tmp_path):
    """On a GPU, a batch far beyond its memory: real OOM errors, halved until it fits."""
    from segstudio.project.demo import generate_demo

    project = generate_demo(tmp_path / "demo", n_images=3, size=256, labelled=3)
    cfg = TrainConfig(model={"base_width": 64, "levels": 4}, patch=256, batch=8192,
                      iterations_per_epoch=2, epochs=1, device="cuda", val_tile=256)
    events = list(train(project, cfg))
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert notices and all("batch size halved" in n for n in notices)
    assert events[-1].reason == "completed", events[-1].message
    assert load_checkpoint(events[-1].best_checkpoint)


# ------------------------------------------------------------------------------ the window
@pytest.fixture
def window(qtbot, demo):
    from segstudio.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        w.set_project(demo)
    yield w
    w.training.stop()
    w.training.wait()
    w.close()


def _run_in_window(qtbot, window, hook=None, **cfg):
    window.training.fault_hook = hook
    with qtbot.waitSignal(window.training.run_finished, timeout=120000) as fin:
        assert window.coordinator.start(TrainConfig(**{**TINY, **cfg}))
    qtbot.waitUntil(lambda: not window.training.running, timeout=10000)
    panel = window.training_panel
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    return fin.args[0]


def test_window_out_of_memory_notice_then_completes(qtbot, window):
    calls = []

    def hook(it):
        calls.append(it)
        if len(calls) == 2:
            _oom()

    shown = []
    window.training.notice.connect(lambda n: shown.append(window.message_bar.text()))
    ev = _run_in_window(qtbot, window, hook, epochs=2)
    assert ev.reason == "completed"
    assert shown == ["Out of GPU memory: batch size halved to 2; training goes on."]
    assert window.last_checkpoint == ev.best_checkpoint


def test_window_nan_loss_message_and_best_kept(qtbot, window):
    def hook(it):
        if it > 2:
            raise FloatingPointError   # what the loop raises for a non-finite loss

    ev = _run_in_window(qtbot, window, hook, epochs=3)
    assert ev.reason == "failed"
    text = window.message_bar.text()
    assert window.message_bar.level == "error"
    assert text.startswith("The loss became NaN or infinite at epoch 2, iteration 1")
    assert "The best checkpoint was kept." in text
    assert window.last_checkpoint == ev.best_checkpoint
    assert load_checkpoint(ev.best_checkpoint).meta["epoch"] == 1
    assert window.predictions.predict_current()   # the kept model is usable at once


def test_window_stop_while_a_checkpoint_is_written(qtbot, window, monkeypatch):
    import segstudio.inference.checkpoints as ck

    real = ck.save_checkpoint
    writing = threading.Event()

    def slow_save(path, *a, **k):
        writing.set()
        time.sleep(0.4)
        return real(path, *a, **k)

    monkeypatch.setattr(ck, "save_checkpoint", slow_save)
    window.training.fault_hook = None
    with qtbot.waitSignal(window.training.run_finished, timeout=120000) as fin:
        assert window.coordinator.start(TrainConfig(**{**TINY, "epochs": 50}))
        qtbot.waitUntil(writing.is_set, timeout=60000)
        qtbot.mouseClick(window.training_panel.stop_button, Qt.MouseButton.LeftButton)
    ev = fin.args[0]
    qtbot.waitUntil(lambda: not window.training.running, timeout=10000)
    assert ev.reason == "stopped"
    panel = window.training_panel
    assert panel.train_button.isEnabled() and panel.resume_button.isVisible()
    assert panel.status.text().startswith("Stopped by the user.")
    assert ev.best_checkpoint and load_checkpoint(ev.best_checkpoint)
    assert window.last_checkpoint == ev.best_checkpoint
