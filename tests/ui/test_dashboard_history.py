"""The dashboard's run history (plain Python, no Qt): its incrementally filled arrays."""

import math

import numpy as np

from segstudio.ui.dashboard.history import RunHistory


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
