"""The U-Net++ prune slider: depth L1..L(levels - 1), what each depth costs (parameters, time per
image) and scores (validation mIoU), and which depth prediction and export use.

A U-Net++ of N levels has a trained head at depths 1..N-1 (the paper's 5 levels: L1..L4; the
default 4 levels: L1..L3). The slider's tick labels are those depths; the header names the
depth in use and its own score, never another depth's."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ["depth", "params", "ms/img", "mIoU"]


class TickLabels(QWidget):
    """"L1 … Ln" drawn exactly under the slider's ticks (positions from the slider's style)."""

    def __init__(self, slider: QSlider) -> None:
        super().__init__()
        self.slider = slider
        self.labels: list[str] = []
        self.setMinimumHeight(self.fontMetrics().height())

    def set_labels(self, labels: list[str]) -> None:
        self.labels = labels
        self.update()

    def positions(self) -> list[int]:
        """x of each tick, in this widget's coordinates."""
        s = self.slider
        opt = QStyleOptionSlider()
        s.initStyleOption(opt)
        handle = s.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                          QStyle.SubControl.SC_SliderHandle, s)
        span = s.width() - handle.width()
        dx = s.mapTo(self.window(), QPoint(0, 0)).x() - self.mapTo(self.window(),
                                                                   QPoint(0, 0)).x()
        return [dx + handle.width() // 2 + QStyle.sliderPositionFromValue(
            s.minimum(), s.maximum(), v, span) for v in range(s.minimum(), s.maximum() + 1)]

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self.labels:
            return
        p = QPainter(self)
        fm = self.fontMetrics()
        for x, text in zip(self.positions(), self.labels, strict=False):
            w = fm.horizontalAdvance(text)
            left = min(max(0, x - w // 2), self.width() - w)
            p.drawText(left, fm.ascent(), text)
        p.end()


class PrunePanel(QWidget):
    depth_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.depths = [1, 2, 3, 4]
        self.scores: dict[int, float] = {}
        self.costs: dict[int, tuple[int, float]] = {}   # depth -> (parameters, ms per image)
        self.title = QLabel("<b>Prune U-Net++</b>")
        self.depth_label = QLabel()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 4)
        self.slider.setValue(4)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setPageStep(1)
        self.ticks = TickLabels(self.slider)
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color: palette(mid);")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setToolTip("Parameters used by each depth, measured inference time for one "
                              "256 x 256 image, and validation mIoU of that depth's head")
        self.table.verticalHeader().hide()
        # Columns as wide as their text (stretched ones were cut to "aram", "ns/im" when the
        # dashboard is narrow); the last takes what is left.
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "ms / image")
        self.plot.setLabel("left", "val mIoU")
        self.plot.setMinimumSize(120, 90)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.scatter = pg.ScatterPlotItem(size=9, brush="#1f77b4")
        self.chosen = pg.ScatterPlotItem(size=14, brush=None, pen=pg.mkPen("#d62728", width=2))
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.chosen)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.depth_label)
        body = QHBoxLayout()
        body.addWidget(self.table, 3)
        body.addWidget(self.plot, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.slider)
        lay.addWidget(self.ticks)
        lay.addWidget(self.explain)
        lay.addLayout(body, 1)
        self.slider.valueChanged.connect(self._on_slider)
        self.set_architecture("unet")

    @property
    def chosen_depth(self) -> int:
        return self.slider.value()

    def set_architecture(self, architecture: str, depths: list[int] | None = None) -> None:
        is_pp = architecture == "unetpp"
        self.slider.setEnabled(is_pp)
        self.table.setEnabled(is_pp)
        # Without U-Net++ there is nothing to tabulate: an empty table and plot only took
        # the room the explanation needs.
        for w in (self.slider, self.ticks, self.table, self.plot):
            w.setVisible(is_pp)
        if depths:
            self._set_depths(list(depths))
        if is_pp:
            self.explain.setText("Smaller depths run faster; prediction and export use the "
                                 "depth chosen here.")
            self.slider.setValue(self.slider.maximum())
        else:
            self.explain.setText("Pruning needs U-Net++: its nested decoder has a trained head "
                                 "at every depth. Choose U-Net++ as architecture to use it.")
        self.scores, self.costs = {}, {}
        self._refresh()

    def _set_depths(self, depths: list[int]) -> None:
        self.depths = depths
        self.slider.blockSignals(True)
        self.slider.setRange(depths[0], depths[-1])
        self.slider.setValue(depths[-1])
        self.slider.blockSignals(False)

    def set_scores(self, scores: dict[int, float]) -> None:
        self.scores = {int(k): float(v) for k, v in scores.items()}
        depths = sorted(self.scores)
        if depths and depths != self.depths:  # the trained model's levels decide the depths
            self._set_depths(depths)
            self.depth_changed.emit(self.slider.value())
        self._refresh()

    def set_costs(self, costs: dict[int, tuple[int, float]]) -> None:
        self.costs = dict(costs)
        self._refresh()

    def _on_slider(self, value: int) -> None:
        self._refresh()
        self.depth_changed.emit(value)

    def _refresh(self) -> None:
        on = self.slider.isEnabled()
        d = self.slider.value()
        score = self.scores.get(d)
        text = f"Depth used: L{d}" if on else ""
        if on and score is not None and math.isfinite(score):
            text += f" · val mIoU {score:.3f}"
        self.depth_label.setText(text)
        self._refresh_ticks(on)
        shown = self.depths if on else []
        self.table.setRowCount(len(shown))
        xs, ys, cx, cy = [], [], [], []
        for row, depth in enumerate(shown):
            params, ms = self.costs.get(depth, (None, None))
            s = self.scores.get(depth)
            cells = [f"L{depth}", "…" if params is None else f"{params / 1e6:.3f} M",
                     "…" if ms is None else f"{ms:.1f}",
                     "n/a" if s is None or not math.isfinite(s) else f"{s:.3f}"]
            for col, cell in enumerate(cells):
                item = QTableWidgetItem(cell)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if depth == d:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(row, col, item)
            if ms is not None and s is not None and math.isfinite(s):
                xs.append(ms)
                ys.append(s)
                if depth == d:
                    cx, cy = [ms], [s]
        # Every row visible: the table is exactly as tall as its rows.
        rows_h = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(self.table.horizontalHeader().height() + rows_h + 4)
        self.scatter.setData(xs, ys)
        self.chosen.setData(cx, cy)

    def _refresh_ticks(self, on: bool) -> None:
        self.ticks.set_labels([f"L{d}" for d in self.depths] if on else [])

    def tick_texts(self) -> list[str]:
        return list(self.ticks.labels)

    def row_texts(self) -> list[list[str]]:
        def text(r: int, c: int) -> str:
            item = self.table.item(r, c)
            return item.text() if item is not None else ""

        return [[text(r, c) for c in range(len(COLUMNS))] for r in range(self.table.rowCount())]
