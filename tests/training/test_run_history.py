"""The dashboard's run history (plain Python, no Qt): its incrementally filled arrays."""

import math

import numpy as np

from segstudio.training.run_history import RunHistory


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
