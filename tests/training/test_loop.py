"""The training loop headless: events, checkpoints, stop, pause, faults, resume."""

import json
import threading
import time

import numpy as np
import pytest
import torch

from segstudio.inference.checkpoints import load_checkpoint, read_meta
from segstudio.project.demo import generate_demo
from segstudio.training.config import TrainConfig
from segstudio.training.events import (
    CheckpointSaved,
    EpochReport,
    IterationReport,
    Notice,
    RunFinished,
    RunStarted,
)
from segstudio.training.loop import TrainControl, lr_at, train

TINY = dict(model={"base_width": 4, "levels": 3}, patch=64, batch=4, iterations_per_epoch=3,
            epochs=2, val_tile=256)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("demo"), n_images=4, size=96, labelled=3)


def _run(project, control=None, **kw):
    cfg = TrainConfig(**{**TINY, **kw})
    return list(train(project, cfg, control, fault_hook=kw.pop("_hook", None)))


def test_events_and_checkpoints(demo):
    events = _run(demo)
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert events[-1].reason == "completed", events[-1].message
    its = [e for e in events if isinstance(e, IterationReport)]
    assert [e.iteration for e in its] == list(range(1, 7))
    epochs = [e for e in events if isinstance(e, EpochReport)]
    assert [e.epoch for e in epochs] == [1, 2]
    r = epochs[-1]
    assert r.confusion.shape == (3, 3)
    # The confusion matrix counts exactly the labelled validation pixels.
    start = events[0]
    assert start.val_images == 1
    cfg = json.loads((__import__("pathlib").Path(start.run_dir) / "config.json").read_text())
    val_id = cfg["val_images"][0]
    from segstudio.io.masks import read_mask

    m = read_mask(demo.mask_path(demo.entry(val_id)))
    assert r.confusion.sum() == int((m != 255).sum())
    assert r.confusion.sum(1).tolist() == [int((m == k).sum()) for k in range(3)]
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert any(e.best for e in saved)
    ck = load_checkpoint(events[-1].best_checkpoint)
    assert [c["name"] for c in ck.classes] == ["background", "cell", "nucleus"]
    assert ck.meta["channels"] == 1 and len(ck.meta["normalisation"]["mean"]) == 1


def test_stop_returns_within_a_batch(demo):
    control = TrainControl()
    events, t_stop = [], []
    gen = train(demo, TrainConfig(**{**TINY, "epochs": 50, "iterations_per_epoch": 50}), control)
    for e in gen:
        events.append(e)
        if isinstance(e, IterationReport) and e.iteration == 3:
            control.request_stop()
            t_stop.append(time.perf_counter())
    assert events[-1].reason == "stopped"
    assert time.perf_counter() - t_stop[0] < 1.0 + 0.5  # one batch + a validation pass
    assert max(e.iteration for e in events if isinstance(e, IterationReport)) == 3


def test_pause_blocks_and_resume_continues(demo):
    control = TrainControl()
    seen = []

    def consume():
        for e in train(demo, TrainConfig(**TINY), control):
            seen.append(e)

    control.pause()
    t = threading.Thread(target=consume)
    t.start()
    time.sleep(1.0)
    n_paused = sum(isinstance(e, IterationReport) for e in seen)
    control.resume()
    t.join(60)
    assert n_paused == 0
    assert isinstance(seen[-1], RunFinished) and seen[-1].reason == "completed"


def test_out_of_memory_halves_batch_and_goes_on(demo):
    calls = []

    def hook(it):
        calls.append(it)
        if len(calls) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    events = list(train(demo, TrainConfig(**TINY), fault_hook=hook))
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "batch size halved to 2" in notices[0].text
    its = [e for e in events if isinstance(e, IterationReport)]
    assert its[0].batch_size == 4 and its[-1].batch_size == 2
    assert events[-1].reason == "completed"


@pytest.mark.parametrize("pipelined", [False, True])  # True: what GPUs get (losses read late)
def test_nan_loss_stops_and_keeps_best(demo, monkeypatch, pipelined):
    from segstudio.training import losses

    events = []
    control = TrainControl()
    real = losses.model_loss
    state = {"n": 0}

    def poisoned(*a, **k):
        state["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if state["n"] > 4 else out

    monkeypatch.setattr(losses, "model_loss", poisoned)
    events = list(train(demo, TrainConfig(**{**TINY, "epochs": 3, "pipelined": pipelined}),
                        control))
    fin = events[-1]
    assert fin.reason == "failed" and "NaN" in fin.message and "best checkpoint" in fin.message
    assert "epoch 2, iteration 2" in fin.message   # the 5th step of 3 per epoch
    assert all(np.isfinite(e.loss) for e in events if isinstance(e, IterationReport))
    assert fin.best_checkpoint and load_checkpoint(fin.best_checkpoint).meta["epoch"] == 1


def test_resume_continues_the_run(demo):
    control = TrainControl()
    events = []
    for e in train(demo, TrainConfig(**{**TINY, "epochs": 4}), control):
        events.append(e)
        if isinstance(e, EpochReport) and e.epoch == 2:
            control.request_stop()
    assert events[-1].reason == "stopped"
    last = [e for e in events if isinstance(e, CheckpointSaved) and not e.best][-1].path
    assert read_meta(last)["epoch"] in (2, 3)
    done = read_meta(last)["epoch"]
    more = list(train(demo, TrainConfig(**{**TINY, "epochs": 4, "resume_from": last})))
    epochs = [e.epoch for e in more if isinstance(e, EpochReport)]
    assert epochs == list(range(done + 1, 5))
    assert more[-1].reason == "completed"


def test_unreadable_image_is_skipped_and_reported(tmp_path):
    p = generate_demo(tmp_path / "d", n_images=3, size=64, labelled=3)
    p.image_path(p.images[0]).write_bytes(b"gone bad")
    events = _run(p, epochs=1)
    assert any("Skipped cells_01" in n for n in events[0].notes)
    assert events[-1].reason == "completed"


def test_no_labels_is_a_clear_failure(tmp_path):
    p = generate_demo(tmp_path / "d", n_images=2, size=64, labelled=0)
    events = _run(p)
    assert len(events) == 1 and events[0].reason == "failed"
    assert "No labelled pixels" in events[0].message


def test_lr_schedule_warms_up_then_decays():
    lrs = [lr_at(s, 100, 10, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(0.01, abs=0.01)


def test_retrain_continues_from_a_model(demo, tmp_path):
    first = _run(demo, epochs=1)
    best = first[-1].best_checkpoint
    again = _run(demo, epochs=1, init_from=best, architecture="unetpp")
    assert again[-1].reason == "completed"
    # The continued model keeps its own architecture, whatever the form says, and says so.
    assert again[0].architecture == "unet"
    assert load_checkpoint(again[-1].best_checkpoint).architecture == "unet"
    p = generate_demo(tmp_path / "more", n_images=3, size=64, labelled=3)
    p.add_class("debris")
    entry = p.images[0]
    mask = p.load_mask(entry, (64, 64))
    mask[:4, :4] = 3  # labelled, so what is refused is the model's classes
    p.save_mask(entry, mask)
    failed = _run(p, epochs=1, init_from=best)
    assert failed[-1].reason == "failed" and "from scratch" in failed[-1].message


def test_only_broken_masks_are_named(tmp_path):
    p = generate_demo(tmp_path / "d", n_images=2, size=64, labelled=1)
    p.mask_path(p.images[0]).write_bytes(b"garbage")
    events = _run(p)
    assert events[-1].reason == "failed"
    assert "No usable labelled image" in events[-1].message and "cells_01" in events[-1].message


def test_early_stop_waits_for_the_second_half_of_the_schedule(demo, monkeypatch):
    from segstudio.training import loop

    real = loop.validate_epoch

    def flat(*a, **k):  # a validation score that never improves after epoch 1
        return EpochReport(**{**real(*a, **k).__dict__, "miou": 0.5})

    monkeypatch.setattr(loop, "validate_epoch", flat)
    events = _run(demo, epochs=10, patience=2, iterations_per_epoch=1)
    assert events[-1].reason == "early-stopped"
    # Epochs 2-4 fall in the first half (high learning rate) and do not count; 5 and 6 do.
    assert [e.epoch for e in events if isinstance(e, EpochReport)] == [1, 2, 3, 4, 5, 6]


def test_schedule_progress_by_steps_or_budget():
    from segstudio.training.loop import schedule_progress

    assert schedule_progress(30, 100, 999.0, None) == pytest.approx(0.3)
    assert schedule_progress(30, 100, 450.0, 900.0) == pytest.approx(0.5)  # time leads
    assert schedule_progress(90, 100, 10.0, 900.0) == pytest.approx(0.9)   # steps lead
    assert schedule_progress(500, 100, 10.0, None) == 1.0


def test_budget_run_reports_progress_and_eta_by_time(demo):
    events = _run(demo, epochs=10_000, time_budget_s=2.0, patience=None)
    assert events[-1].reason == "time-budget"
    its = [e for e in events if isinstance(e, IterationReport)]
    # By steps the run would be < 1 % done (10,000 epochs): the budget is what ends it.
    assert its[-1].progress > 0.3 and its[-1].iteration < 0.01 * 10_000 * 3
    assert all(0 <= e.eta_s <= 2.0 for e in its)
    assert all(a.progress <= b.progress for a, b in zip(its, its[1:], strict=False))


def test_a_class_without_training_labels_is_refused(tmp_path):
    # Issue 13 #4: training a class that has no labelled pixel at all spends the budget on
    # a class the model cannot learn and averages it into mIoU; the run is refused instead.
    from segstudio.core.classes import ClassInfo

    p = generate_demo(tmp_path / "d", n_images=3, size=64, labelled=3)
    p.classes.append(ClassInfo("debris", "#00ff00"))
    p.save()
    events = _run(p, epochs=1)
    assert len(events) == 1 and events[0].reason == "failed"
    assert "debris" in events[0].message and "No labels at all" in events[0].message
