"""The live dashboard: loss curves, mIoU and per-class IoU (with, for instance projects, the
object scores AP@0.5 and mean AP over IoU 0.5:0.95 beside them), the confusion matrix, and the
U-Net++ prune panel.

Events only append to a RunHistory and mark it dirty; a 10 Hz timer redraws what changed, so
the cost of plotting does not depend on how fast the loop reports.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from segstudio.io.atomic import atomic_write_text
from segstudio.training.run_log import METRICS_FILE, RunHistory, row_normalised
from segstudio.ui.dashboard.prune import PrunePanel

REDRAW_MS = 100
_SECTIONS = ("loss", "iou", "confusion")
_PEN_W = 2


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#333", size="10pt")
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.showGrid(x=True, y=True, alpha=0.25)
    w.addLegend(offset=(-5, 5), labelTextSize="8pt")
    w.setMinimumSize(150, 120)
    # No "(x0.001)" scale factors: an empty plot read "-400..400 (x0.001)" and a one-point
    # loss "725.478410720827 (x0.001)". Plain numbers, and a 0..1 frame until data comes.
    for side in ("left", "bottom"):
        w.getAxis(side).enableAutoSIPrefix(False)
    w.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    return w


def _frame_few_points(plot: pg.PlotWidget, xs: list[float], ys: list[float]) -> None:
    """Autorange needs a spread: with one point (or all equal) frame it from 0 instead."""
    finite = [y for y in ys if math.isfinite(y)]
    if finite and max(finite) - min(finite) > 1e-9 * max(1.0, abs(max(finite))):
        if plot.property("framed") is not False:  # once: a user's own zoom is kept after
            plot.enableAutoRange()
            plot.setProperty("framed", False)
        return
    plot.setProperty("framed", True)
    top = max(finite) if finite else 1.0
    plot.setRange(xRange=(0, max([1.0, *xs]) * 1.1), yRange=(min(0.0, top), abs(top) * 1.25
                                                              or 1.0), padding=0)


class ConfusionView(pg.GraphicsLayoutWidget):
    """K x K heatmap: rows = truth, columns = prediction, class names on both axes, counts or
    row percentages in the cells, and a colour bar."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.plot = self.addPlot(title="Confusion matrix (validation)")
        self.plot.setLabel("left", "truth")
        self.plot.setLabel("bottom", "prediction")
        self.plot.invertY(True)
        self.plot.setAspectLocked(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.cmap = pg.colormap.get("viridis")
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=self.cmap, interactive=False, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.texts: list[pg.TextItem] = []
        self.matrix: np.ndarray | None = None
        self.shown: np.ndarray | None = None
        self.names: list[str] = []
        self._ticks: list = []
        self.percent = True
        self.setMinimumSize(180, 140)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self._empty_frame()

    def _empty_frame(self) -> None:
        # No "-400..400 (x0.001)" before the first epoch: a plain 0..1 frame without ticks.
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTicks([[]])

    def set_matrix(self, cm: np.ndarray, names: list[str]) -> None:
        self.matrix = np.asarray(cm)
        self.names = list(names)
        self._draw()

    def clear_matrix(self) -> None:
        """No matrix: an empty plot (a new run, another project)."""
        self.matrix = self.shown = None
        self.image.clear()
        for t in self.texts:
            t.setText("")
        self._empty_frame()

    def set_percent(self, percent: bool) -> None:
        self.percent = percent
        self._draw()

    def _draw(self) -> None:
        if self.matrix is None:
            return
        cm = self.matrix
        k = cm.shape[0]
        shown = row_normalised(cm) if self.percent else cm.astype(np.float64)
        self.shown = shown
        top = float(shown.max()) if shown.size and shown.max() > 0 else 1.0
        self.image.setImage(shown, levels=(0, top))
        self.image.setRect(0, 0, k, k)
        self.bar.setLevels((0, top))
        ticks = [(i + 0.5, n) for i, n in enumerate(self.names[:k])]
        if ticks != self._ticks:  # axis layout is costly: only when classes change
            self._ticks = ticks
            self.plot.getAxis("left").setTicks([ticks])
            self.plot.getAxis("bottom").setTicks([ticks])
            self.plot.setRange(xRange=(0, k), yRange=(0, k), padding=0)
        n_cells = k * k if k <= 16 else 0
        if len(self.texts) != n_cells:
            for t in self.texts:
                self.plot.removeItem(t)
            font = QFont()
            font.setPointSize(8 if k > 6 else 9)
            self.texts = []
            for r in range(int(np.sqrt(n_cells))):
                for c in range(int(np.sqrt(n_cells))):
                    t = pg.TextItem("", anchor=(0.5, 0.5))
                    t.setFont(font)
                    t.setPos(c + 0.5, r + 0.5)
                    self.plot.addItem(t)
                    self.texts.append(t)
        for i, t in enumerate(self.texts):
            r, c = divmod(i, k)
            v = shown[r, c]
            t.setText(f"{v:.0%}" if self.percent else _count(int(cm[r, c])),
                      color=QColor("white" if v / top < 0.55 else "black"))

    def cell_texts(self) -> list[str]:
        return [t.toPlainText() for t in self.texts]


def _score(v: float) -> str:
    return f"{v:.3f}" if math.isfinite(v) else "n/a"


def _count(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    return str(n)


def _class_pen(i: int, colors: list[str]) -> pg.mkPen:
    return pg.mkPen(colors[i] if i < len(colors) else "#888", width=1.5)


class Dashboard(QWidget):
    depth_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False)
        self.history = RunHistory()
        self.colors: list[str] = []
        self.loss_plot = _plot("Loss", "loss", "iteration")
        # A long GPU run has 10^5 iterations: draw each pixel column's min and max only, and
        # only what is in view (with the history's incremental arrays, a redraw at 2 * 10^5
        # iterations went from 170 ms to 6-17 ms: benchmarks/dashboard_redraw.py).
        self.loss_plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.loss_plot.getPlotItem().setClipToView(True)
        self.raw_curve = self.loss_plot.plot(pen=pg.mkPen((120, 160, 220, 70), width=1))
        self.smooth_curve = self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=_PEN_W),
                                                name="train (smoothed)")
        self.train_epoch_curve = self.loss_plot.plot(
            pen=pg.mkPen("#1f77b4", width=1, style=Qt.PenStyle.DashLine), symbol="o", symbolSize=5,
            symbolBrush="#1f77b4", name="train / epoch")
        self.val_curve = self.loss_plot.plot(pen=pg.mkPen("#d62728", width=_PEN_W), symbol="o",
                                             symbolSize=5, symbolBrush="#d62728", name="validation")
        self.iou_plot = _plot("Validation IoU", "IoU", "epoch")
        self.iou_plot.setYRange(0, 1)
        self.miou_curve = self.iou_plot.plot(pen=pg.mkPen("k", width=2.5), symbol="o",
                                             symbolSize=5, name="mIoU")
        self.class_curves: list[pg.PlotDataItem] = []
        self._curve_key: tuple | None = None      # (class names, colours) of class_curves
        # Instance projects: made on the first epoch that has object scores.
        self.ap50_curve: pg.PlotDataItem | None = None
        self.map_curve: pg.PlotDataItem | None = None
        self.confusion = ConfusionView()
        self.percent_box = QCheckBox("Row %")
        self.percent_box.setChecked(True)
        self.percent_box.setToolTip("Show each true class's pixels as percentages (rows sum to "
                                    "100 %) instead of counts")
        self.percent_box.toggled.connect(self.confusion.set_percent)
        self.summary = QLabel("No run yet.")
        self.save_button = QPushButton("Save plots and history…")
        self.save_button.clicked.connect(self._ask_save)
        self.prune = PrunePanel()
        self.prune.depth_changed.connect(self.depth_changed)

        split = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.loss_plot, self.iou_plot, self.confusion, self.prune):
            split.addWidget(w)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 3)
        split.setStretchFactor(3, 2)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.percent_box)
        top.addWidget(self.save_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(split, 1)

        self._dirty: set[str] = set()
        self._next = 0
        self.redraws = 0
        self._timer = QTimer(self, interval=REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()

    def clear(self) -> None:
        """Show no run at all (another project was opened): empty curves and matrix, the
        prune panel back to its start."""
        self.history = RunHistory()
        for curve in (self.raw_curve, self.smooth_curve, self.train_epoch_curve, self.val_curve,
                      self.miou_curve, *self.class_curves):
            curve.setData([], [])
        self.loss_plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.iou_plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self._remove_object_curves()
        self.confusion.clear_matrix()
        self.prune.set_architecture("unet")
        self.summary.setText("No run yet.")
        self._dirty.clear()

    def stop_redrawing(self) -> None:
        """The window is closing: no more timer ticks."""
        self._timer.stop()

    # ------------------------------------------------------------------ feed
    def start_run(self, class_names: list[str], colors: list[str], architecture: str,
                  resumed_from: str | Path | None = None, iterations_per_epoch: int = 0) -> None:
        """A new run; resumed_from: the run folder of a resumed run, whose earlier epochs
        (metrics.jsonl) the curves then show too."""
        self.history = RunHistory(class_names=list(class_names))
        if resumed_from is not None:
            self.history.add_saved_epochs(Path(resumed_from) / METRICS_FILE,
                                          iterations_per_epoch)
        self.colors = list(colors)
        key = (tuple(class_names), tuple(colors))
        if key != self._curve_key:
            # Rebuilding the legend and curves costs ~10 ms in the GUI thread, at the moment the
            # worker starts loading data: done only when the classes changed since last run.
            for c in self.class_curves:
                self.iou_plot.removeItem(c)
            self.class_curves = [self.iou_plot.plot(pen=_class_pen(i, colors), name=n)
                                 for i, n in enumerate(class_names)]
            self._curve_key = key
        for curve in (self.raw_curve, self.smooth_curve, self.train_epoch_curve, self.val_curve,
                      self.miou_curve, *self.class_curves):
            curve.setData([], [])
        self._remove_object_curves()
        self.confusion.clear_matrix()
        self.prune.set_architecture(architecture)
        if self.history.depth_miou and self.history.depth_miou[-1]:
            self.prune.set_scores(self.history.depth_miou[-1])
        self.summary.setText("Training…")
        self._dirty = set(_SECTIONS)

    def add_iteration(self, ev) -> None:
        self.history.add_iteration(ev.iteration, ev.loss)
        self._dirty.add("loss")

    def add_epoch(self, ev) -> None:
        self.history.add_epoch(ev.epoch, ev.train_loss, ev.val_loss, ev.miou, ev.iou,
                               ev.depth_miou, ev.confusion,
                               instance_scores=getattr(ev, "instance_scores", None))
        if ev.depth_miou:
            self.prune.set_scores(ev.depth_miou)
        self._dirty.update(_SECTIONS)

    # ---------------------------------------------------------------- redraw
    def _redraw(self) -> None:
        """Draw at most one stale section per tick, round-robin: an epoch's update is then
        painted in several short passes instead of one long freeze."""
        for k in range(len(_SECTIONS)):
            section = _SECTIONS[(self._next + k) % len(_SECTIONS)]
            if section in self._dirty:
                self._dirty.discard(section)
                getattr(self, f"_draw_{section}")()
                self._next = (self._next + k + 1) % len(_SECTIONS)
                self.redraws += 1
                return

    def _draw_loss(self) -> None:
        h = self.history
        xs: list[float] = []
        ys: list[float] = []
        if h.iterations:
            x, raw, smooth = h.iteration_arrays()
            self.raw_curve.setData(x, raw)
            self.smooth_curve.setData(x, smooth)
            xs += [float(x[0]), float(x[-1])]
            ys += [float(np.nanmin(raw)), float(np.nanmax(raw))]
        if h.epochs:
            xi = np.asarray(h.epoch_iteration)
            self.train_epoch_curve.setData(xi, np.asarray(h.train_loss))
            val = np.asarray(h.val_loss)
            ok = np.isfinite(val)
            self.val_curve.setData(xi[ok], val[ok])
            xs += [float(v) for v in xi]
            ys += [float(v) for v in h.train_loss] + [float(v) for v in val[ok]]
        _frame_few_points(self.loss_plot, xs, ys)

    def _draw_iou(self) -> None:
        h = self.history
        if not h.epochs:
            return
        ep = np.asarray(h.epochs)
        self.miou_curve.setData(ep, np.asarray(h.miou))
        # The epochs come into view (the empty frame was 0..1); IoU stays on 0..1.
        self.iou_plot.setXRange(0, max(1.0, float(ep[-1])) + 0.5, padding=0)
        ious = np.asarray(h.iou, np.float64)
        for i, curve in enumerate(self.class_curves):
            col = ious[:, i]
            ok = np.isfinite(col)
            curve.setData(ep[ok], col[ok])
        parts = [f"{n} {v:.2f}" if math.isfinite(v) else f"{n} n/a"
                 for n, v in zip(h.class_names, h.iou[-1], strict=False)]
        objects = ""
        if h.has_instance_scores:
            self._draw_object_curves(ep)
            ap50, mean_ap = h.ap50[-1], h.map[-1]
            objects = (f" · AP@0.5 {_score(ap50)} · mAP 0.5:0.95 {_score(mean_ap)}")
        self.summary.setText(f"Epoch {h.epochs[-1]} · mIoU {h.miou[-1]:.3f}{objects} · "
                             + " · ".join(parts))

    def _draw_object_curves(self, ep: np.ndarray) -> None:
        if self.ap50_curve is None or self.map_curve is None:
            # Beside mIoU, on the same 0..1 axis; thick, dashed, with their own markers.
            self.ap50_curve = self.iou_plot.plot(
                pen=pg.mkPen("#2ca02c", width=2.5, style=Qt.PenStyle.DashLine), symbol="t",
                symbolSize=7, symbolBrush="#2ca02c", name="AP@0.5 (objects)")
            self.map_curve = self.iou_plot.plot(
                pen=pg.mkPen("#9467bd", width=2.5, style=Qt.PenStyle.DashDotLine), symbol="s",
                symbolSize=6, symbolBrush="#9467bd", name="mAP 0.5:0.95 (objects)")
            self.iou_plot.setTitle("Validation IoU and object AP", color="#333", size="10pt")
            self.iou_plot.setLabel("left", "IoU / AP")
        for curve, values in ((self.ap50_curve, self.history.ap50),
                              (self.map_curve, self.history.map)):
            col = np.asarray(values, np.float64)
            ok = np.isfinite(col)
            curve.setData(ep[ok], col[ok])

    def _remove_object_curves(self) -> None:
        """A run without object scores (a semantic project) shows no AP curves or legend."""
        for curve in (self.ap50_curve, self.map_curve):
            if curve is not None:
                self.iou_plot.removeItem(curve)
        if self.ap50_curve is not None:
            self.iou_plot.setTitle("Validation IoU", color="#333", size="10pt")
            self.iou_plot.setLabel("left", "IoU")
        self.ap50_curve = self.map_curve = None

    def _draw_confusion(self) -> None:
        if self.history.confusion is not None:
            self.confusion.set_matrix(self.history.confusion, self.history.class_names)

    def flush(self) -> None:
        """Draw every section now (tests, and before saving)."""
        for section in _SECTIONS:
            getattr(self, f"_draw_{section}")()
        self._dirty.clear()

    # ------------------------------------------------------------------ save
    def save(self, folder: str | Path) -> list[Path]:
        """PNG of each plot plus epoch and iteration CSVs into ``folder``."""
        from pyqtgraph.exporters import ImageExporter

        self.flush()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for name, item in (("loss", self.loss_plot.getPlotItem()),
                           ("iou", self.iou_plot.getPlotItem()),
                           ("confusion", self.confusion.plot)):
            path = folder / f"{name}.png"
            exporter = ImageExporter(item)
            exporter.parameters()["width"] = 800
            exporter.export(str(path))
            out.append(path)
        for name, text in (("history_epochs.csv", self.history.epoch_csv()),
                           ("history_iterations.csv", self.history.iteration_csv())):
            atomic_write_text(folder / name, text)
            out.append(folder / name)
        return out

    def _ask_save(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save plots and history into")
        if folder:
            self.save(folder)
