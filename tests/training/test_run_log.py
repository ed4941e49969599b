"""The dashboard's run history (plain Python, no Qt): its incrementally filled arrays."""

import math

import numpy as np

from segstudio.training.run_log import RunHistory


def test_iteration_arrays_follow_the_lists_as_they_grow():
    h = RunHistory()
    rng = np.random.default_rng(0)
    for n in (0, 1, 5, 1024, 1025, 3000):       # across the buffer's growth steps
        while len(h.iterations) < n:
            i = len(h.iterations) + 1
            h.add_iteration(i, float("nan") if i % 97 == 0 else float(rng.random()))
        x, loss, smooth = h.iteration_arrays()
        assert len(x) == n
        np.testing.assert_array_equal(x, np.asarray(h.iterations, float))
        np.testing.assert_array_equal(loss, np.asarray(h.iteration_loss))   # NaN where NaN
        np.testing.assert_array_equal(smooth, np.asarray(h.smoothed_loss))
    # Views handed out earlier keep their values when the history grows.
    x_old, _, _ = h.iteration_arrays()
    first = x_old.copy()
    for i in range(3001, 9000):
        h.add_iteration(i, 0.5)
    np.testing.assert_array_equal(x_old, first)
    assert h.iteration_arrays()[0][-1] == 8999 and not math.isnan(h.iteration_arrays()[2][-1])


def test_saved_epochs_of_a_resumed_run_are_read_and_bad_lines_end_the_reading(tmp_path):
    import json

    path = tmp_path / "metrics.jsonl"
    rows = [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8, "miou": 0.4, "iou": [0.5, None],
             "pixel_accuracy": 0.7, "depth_miou": {"1": 0.3, "2": 0.4}, "seconds": 3.0},
            {"epoch": 2, "train_loss": 0.7, "val_loss": None, "miou": 0.5, "iou": [0.6, 0.4],
             "pixel_accuracy": 0.8, "depth_miou": {}, "seconds": 6.0}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"epoch": 3, "train_lo')
    h = RunHistory(class_names=["a", "b"])
    assert h.add_saved_epochs(path, iterations_per_epoch=10) == 2   # the torn line is skipped
    assert h.epochs == [1, 2] and h.epoch_iteration == [10, 20]
    assert h.miou == [0.4, 0.5] and math.isnan(h.iou[0][1]) and math.isnan(h.val_loss[1])
    assert h.depth_miou[0] == {1: 0.3, 2: 0.4} and h.confusion is None
    for i in range(21, 31):                                        # the resumed run goes on
        h.add_iteration(i, 0.5)
    h.add_epoch(3, 0.6, 0.5, 0.55, (0.6, 0.5), {}, np.eye(2))
    assert h.epochs == [1, 2, 3] and h.epoch_iteration == [10, 20, 30]
    assert h.epoch_csv().splitlines()[1].startswith("1,10,0.9,0.8,0.4,0.5,,0.3,0.4")
    assert h.confusion is not None and h.confusion.shape == (2, 2)
    assert RunHistory(class_names=["a", "b"]).add_saved_epochs(tmp_path / "none", 10) == 0
    # A file from a run with other classes is not drawn against these.
    assert RunHistory(class_names=["a", "b", "c"]).add_saved_epochs(path, 10) == 0


def test_epochs_appended_by_the_loop_read_back_with_the_latest_run(tmp_path):
    """What the loop appends (append_epoch) is what read_epochs and latest_run give back, with
    the run's config and its best checkpoint (else the last)."""
    from segstudio.project.demo import generate_demo
    from segstudio.training.config import TrainConfig
    from segstudio.training.events import EndReason, EpochReport, RunFinished
    from segstudio.training.loop import train
    from segstudio.training.run_log import find_runs, latest_run, read_epochs

    project = generate_demo(tmp_path / "demo", n_images=3, size=64, labelled=2)
    assert latest_run(project) is None and find_runs(tmp_path / "nowhere") == []
    cfg = TrainConfig(model={"base_width": 4, "levels": 2}, patch=32, batch=2,
                      iterations_per_epoch=2, epochs=2, val_tile=64, patience=None)
    events = list(train(project, cfg))
    fin = events[-1]
    assert isinstance(fin, RunFinished) and fin.reason is EndReason.COMPLETED
    assert fin.reason == "completed" and str(fin.reason) == "completed"
    reports = [e for e in events if isinstance(e, EpochReport)]
    run = latest_run(project)
    assert run is not None and find_runs(project) == [run.run_dir]
    assert str(run.run_dir) == events[0].run_dir
    assert run.config["train_config"]["epochs"] == 2 and len(run.config["classes"]) == 3
    assert [r.epoch for r in run.epochs] == [1, 2]
    assert [r.miou for r in run.epochs] == [r.miou for r in reports]
    assert run.epochs == read_epochs(run.run_dir / "metrics.jsonl", num_classes=3)
    assert run.last_checkpoint == run.run_dir / "last.safetensors"
    assert run.best_checkpoint is not None and run.checkpoint == run.best_checkpoint
    assert str(run.best_checkpoint) == fin.best_checkpoint
    # Without a best checkpoint the last one is the run's checkpoint.
    run.best_checkpoint.unlink()
    again = latest_run(project.runs_dir)
    assert again is not None and again.checkpoint == run.last_checkpoint


def test_latest_run_is_the_one_written_last(tmp_path):
    import json
    import os

    from segstudio.training.events import EpochReport
    from segstudio.training.run_log import append_epoch, find_runs, latest_run

    runs = tmp_path / "runs"
    for i, name in enumerate(["20240101-100000", "20240101-100000-2", "20240102-090000"]):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.json").write_text(json.dumps({"classes": [{}, {}]}))
        os.utime(runs / name / "config.json", (1000 + i, 1000 + i))
    (runs / "not-a-run").mkdir()
    (runs / "20240101-100000" / "config.json").with_name("notes.txt").write_text("x")
    assert [p.name for p in find_runs(runs)] == [
        "20240101-100000", "20240101-100000-2", "20240102-090000"]
    assert latest_run(runs).run_dir.name == "20240102-090000"
    # The oldest run resumed: its new epoch makes it the latest.
    append_epoch(runs / "20240101-100000",
                 EpochReport(1, 0.5, None, np.eye(2), (0.5, float("nan")), 0.5, 0.9))
    run = latest_run(runs)
    assert run.run_dir.name == "20240101-100000" and run.checkpoint is None
    assert run.epochs[0].val_loss is None and math.isnan(run.epochs[0].iou[1])
    # A config.json that is not JSON still names a run; its config reads as empty.
    (runs / "20240101-100000" / "config.json").write_text("{torn")
    assert latest_run(runs).config == {}
