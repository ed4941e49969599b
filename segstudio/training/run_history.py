"""What the dashboard has seen of a run, kept as plain lists (no Qt), exportable as CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RunHistory:
    class_names: list[str] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    iteration_loss: list[float] = field(default_factory=list)
    smoothed_loss: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    epoch_iteration: list[int] = field(default_factory=list)   # global iteration at epoch end
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    miou: list[float] = field(default_factory=list)
    iou: list[list[float]] = field(default_factory=list)
    depth_miou: list[dict[int, float]] = field(default_factory=list)
    confusion: np.ndarray | None = None
    smoothing: float = 0.95

    _ema: float = field(default=0.0, repr=False)
    _n_finite: int = field(default=0, repr=False)
    # iteration, loss, smoothed loss as float64 columns, filled up to _n_arrays: redraws convert
    # only the new iterations (a GPU run reaches 10^5 of them; converting the lists every
    # redraw cost ~40 ms of the GUI thread at 2 * 10^5).
    _arrays: np.ndarray = field(default_factory=lambda: np.empty((3, 0)), repr=False)
    _n_arrays: int = field(default=0, repr=False)

    def add_iteration(self, iteration: int, loss: float) -> None:
        """Keeps a debiased exponential moving average (as TensorBoard's smoothing), so the
        curve does not start pinned to the first, noisiest value."""
        self.iterations.append(iteration)
        self.iteration_loss.append(loss)
        if math.isfinite(loss):
            b = self.smoothing
            self._ema = b * self._ema + (1 - b) * loss
            self._n_finite += 1
            self.smoothed_loss.append(self._ema / (1 - b ** self._n_finite))
        else:
            self.smoothed_loss.append(self.smoothed_loss[-1] if self.smoothed_loss else loss)

    def iteration_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """iterations, losses and smoothed losses as numpy arrays (views: copy to keep)."""
        n, done = len(self.iterations), self._n_arrays
        if n > self._arrays.shape[1]:
            grown = np.empty((3, max(1024, 2 * n)))
            grown[:, :done] = self._arrays[:, :done]
            self._arrays = grown
        if n > done:
            self._arrays[0, done:n] = self.iterations[done:]
            self._arrays[1, done:n] = self.iteration_loss[done:]
            self._arrays[2, done:n] = self.smoothed_loss[done:]
            self._n_arrays = n
        return self._arrays[0, :n], self._arrays[1, :n], self._arrays[2, :n]

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float | None, miou: float,
                  iou: tuple[float, ...], depth_miou: dict[int, float],
                  confusion: np.ndarray | None, iteration: int | None = None) -> None:
        """iteration: the run's iteration at the epoch's end (default: the last one seen)."""
        self.epochs.append(epoch)
        self.epoch_iteration.append(iteration if iteration is not None else
                                    self.iterations[-1] if self.iterations else 0)
        self.train_loss.append(train_loss)
        self.val_loss.append(float("nan") if val_loss is None else val_loss)
        self.miou.append(miou)
        self.iou.append(list(iou))
        self.depth_miou.append(dict(depth_miou))
        if confusion is not None:
            self.confusion = np.array(confusion, copy=True)

    def add_saved_epochs(self, metrics_path: str | Path, iterations_per_epoch: int) -> int:
        """The epochs a run folder's metrics.jsonl holds (a resumed run's earlier part), in
        front of what this run will add; returns how many. A missing file or a torn or foreign
        line ends the reading quietly: the history is a view, the run goes on either way."""
        try:
            lines = Path(metrics_path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return 0
        n = 0
        for line in lines:
            try:
                r = json.loads(line)
                epoch = int(r["epoch"])
                iou = tuple(float("nan") if v is None else float(v) for v in r["iou"])
                if len(iou) != len(self.class_names) or (self.epochs and
                                                         epoch <= self.epochs[-1]):
                    break
                self.add_epoch(epoch, float(r["train_loss"]),
                               None if r.get("val_loss") is None else float(r["val_loss"]),
                               float(r["miou"]), iou,
                               {int(k): float(v) for k, v in (r.get("depth_miou") or {}).items()},
                               None, iteration=epoch * iterations_per_epoch)
            except (ValueError, KeyError, TypeError, AttributeError):
                break
            n += 1
        return n

    def epoch_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        depths = sorted({d for dm in self.depth_miou for d in dm})
        w.writerow(["epoch", "iteration", "train_loss", "val_loss", "miou"] +
                   [f"iou_{n}" for n in self.class_names] + [f"miou_L{d}" for d in depths])
        for i, e in enumerate(self.epochs):
            row = [e, self.epoch_iteration[i], self.train_loss[i], self.val_loss[i],
                   self.miou[i]] + self.iou[i] + [self.depth_miou[i].get(d, "") for d in depths]
            w.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])
        return buf.getvalue()

    def iteration_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["iteration", "loss", "smoothed_loss"])
        w.writerows(zip(self.iterations, self.iteration_loss, self.smoothed_loss, strict=False))
        return buf.getvalue()


def row_normalised(cm: np.ndarray) -> np.ndarray:
    """Each row (true class) as fractions of its pixels; empty rows stay 0."""
    cm = np.asarray(cm, np.float64)
    sums = cm.sum(1, keepdims=True)
    return np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)
