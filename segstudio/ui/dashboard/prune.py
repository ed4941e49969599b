"""The U-Net++ prune slider: depth L1..L4, what each depth costs (parameters, time per image)
and scores (validation mIoU), and which depth prediction and export use."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSlider, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)


class PrunePanel(QWidget):
    depth_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.depths = [1, 2, 3, 4]
        self.scores: dict[int, float] = {}
        self.costs: dict[int, tuple[int, float]] = {}   # depth -> (parameters, ms per image)
        self.title = QLabel("<b>Prune U-Net++</b>")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(1, 4)
        self.slider.setValue(4)
        self.slider.setTickPosition(QSlider.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setPageStep(1)
        self.depth_label = QLabel()
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["depth", "params", "ms/img", "mIoU"])
        self.table.setToolTip("Parameters used by each depth, measured inference time for one "
                              "256 x 256 image, and validation mIoU of that depth's head")
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.NoSelection)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "ms / image")
        self.plot.setLabel("left", "val mIoU")
        self.plot.setMinimumHeight(80)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.scatter = pg.ScatterPlotItem(size=9, brush="#1f77b4")
        self.chosen = pg.ScatterPlotItem(size=14, brush=None, pen=pg.mkPen("#d62728", width=2))
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.chosen)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for w in (self.title, self.slider, self.depth_label, self.explain, self.table, self.plot):
            lay.addWidget(w)
        self.slider.valueChanged.connect(self._on_slider)
        self.set_architecture("unet")

    @property
    def depth(self) -> int:
        return self.slider.value()

    def set_architecture(self, architecture: str, depths: list[int] | None = None) -> None:
        is_pp = architecture == "unetpp"
        self.slider.setEnabled(is_pp)
        self.table.setEnabled(is_pp)
        if depths:
            self.depths = list(depths)
            self.slider.setRange(min(depths), max(depths))
        if is_pp:
            self.explain.setText("Move the slider to cut the network to depth L: smaller "
                                 "depths run faster; prediction and export use this depth.")
            self.slider.setValue(self.slider.maximum())
        else:
            self.explain.setText("Pruning needs U-Net++: its nested decoder has a trained head "
                                 "at every depth. Choose U-Net++ as architecture to use it.")
        self.scores, self.costs = {}, {}
        self._refresh()

    def set_scores(self, scores: dict[int, float]) -> None:
        self.scores = {int(k): float(v) for k, v in scores.items()}
        depths = sorted(self.scores)
        if depths and depths != self.depths:  # the trained model's levels decide the depths
            self.depths = depths
            self.slider.blockSignals(True)
            self.slider.setRange(depths[0], depths[-1])
            self.slider.setValue(depths[-1])
            self.slider.blockSignals(False)
            self.depth_changed.emit(self.slider.value())
        self._refresh()

    def set_costs(self, costs: dict[int, tuple[int, float]]) -> None:
        self.costs = dict(costs)
        self._refresh()

    def _on_slider(self, value: int) -> None:
        self._refresh()
        self.depth_changed.emit(value)

    def _refresh(self) -> None:
        d = self.slider.value()
        self.depth_label.setText(f"Depth used: L{d}" if self.slider.isEnabled() else "")
        self.table.setRowCount(len(self.depths) if self.slider.isEnabled() else 0)
        xs, ys, cx, cy = [], [], [], []
        for row, depth in enumerate(self.depths if self.slider.isEnabled() else []):
            params, ms = self.costs.get(depth, (None, None))
            score = self.scores.get(depth)
            cells = [f"L{depth}", "…" if params is None else f"{params / 1e6:.3f} M",
                     "…" if ms is None else f"{ms:.1f}",
                     "n/a" if score is None or not math.isfinite(score) else f"{score:.3f}"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignCenter)
                if depth == d:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(row, col, item)
            if ms is not None and score is not None and math.isfinite(score):
                xs.append(ms)
                ys.append(score)
                if depth == d:
                    cx, cy = [ms], [score]
        self.scatter.setData(xs, ys)
        self.chosen.setData(cx, cy)

    def row_texts(self) -> list[list[str]]:
        return [[self.table.item(r, c).text() for c in range(4)]
                for r in range(self.table.rowCount())]
