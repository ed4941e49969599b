"""Dashboard plots read as plain numbers (issue 13 #6): an empty plot showed "-400..400
(x0.001)" and a one-point loss plot "725.478410720827 (x0.001)"."""

from __future__ import annotations

from types import SimpleNamespace

from segstudio.ui.dashboard.widget import Dashboard


def _axis_text(plot, side: str) -> str:
    return plot.getAxis(side).labelString()


def test_empty_and_one_point_plots_have_sensible_axes(qtbot):
    d = Dashboard()
    qtbot.addWidget(d)
    d.resize(900, 400)
    d.show()
    for plot in (d.loss_plot, d.iou_plot):
        (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
        assert -0.1 < x0 <= 0 and 1 <= x1 < 1.1 and -0.1 < y0 <= 0 and 1 <= y1 < 1.1
        assert "x0.001" not in _axis_text(plot, "left")
    d.start_run(["background", "cell"], ["#000000", "#ff0000"], "unet")
    d.add_iteration(SimpleNamespace(iteration=1, loss=0.725478410720827))
    qtbot.waitUntil(lambda: "loss" not in d._dirty, timeout=3000)
    (_, _), (y0, y1) = d.loss_plot.getViewBox().viewRange()
    assert y0 <= 0.0 and y1 >= 0.8  # the point is framed from 0, not on a 1e-6 wide axis
    assert "(x0.001)" not in _axis_text(d.loss_plot, "left")
    assert d.loss_plot.getAxis("left").autoSIPrefixScale == 1.0
    d.add_iteration(SimpleNamespace(iteration=2, loss=0.5))
    d.add_iteration(SimpleNamespace(iteration=3, loss=0.4))
    qtbot.waitUntil(lambda: "loss" not in d._dirty, timeout=3000)
    d.clear()
    assert d.loss_plot.getViewBox().viewRange() == [[0, 1], [0, 1]]
