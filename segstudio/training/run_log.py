"""A run folder's metrics log, and what the dashboard has seen of a run.

One home for ``metrics.jsonl``: the training loop appends one line per epoch
(:func:`append_epoch`); the dashboard of a resumed run reads the earlier ones back
(:func:`read_epochs`, :meth:`RunHistory.add_saved_epochs`); :func:`latest_run` finds a
project's newest run with its config, epochs and checkpoint. A torn or foreign line (a run
killed mid-write, a file from elsewhere) ends the reading quietly: the log is a view, never a
reason to fail.

:class:`RunHistory` keeps the curves as plain lists (no Qt), exportable as CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.io.files import read_regular_bytes
from segstudio.project.project import Project
from segstudio.training.events import EpochReport

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
BEST_CHECKPOINT = "best.safetensors"
LAST_CHECKPOINT = "last.safetensors"


@dataclass(frozen=True)
class EpochRecord:
    """One line of metrics.jsonl: an epoch's scores (no confusion matrix)."""

    epoch: int
    train_loss: float
    val_loss: float | None
    miou: float
    iou: tuple[float, ...]                  # per class, NaN = n/a (null in the file)
    pixel_accuracy: float | None = None
    depth_miou: dict[int, float] = field(default_factory=dict)
    seconds: float | None = None
    # instance projects: object scores ("ap50", "map", ...; EpochReport.instance_scores)
    instance_scores: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_report(cls, r: EpochReport) -> EpochRecord:
        return cls(r.epoch, r.train_loss, r.val_loss, r.miou, tuple(r.iou), r.pixel_accuracy,
                   dict(r.depth_miou), r.seconds, dict(r.instance_scores))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "epoch": self.epoch, "train_loss": self.train_loss, "val_loss": self.val_loss,
            "miou": self.miou, "iou": [None if np.isnan(v) else v for v in self.iou],
            "pixel_accuracy": self.pixel_accuracy,
            "depth_miou": {str(k): v for k, v in self.depth_miou.items()},
            "seconds": self.seconds}
        if self.instance_scores:
            out["instance_scores"] = {k: None if not math.isfinite(v) else v
                                      for k, v in self.instance_scores.items()}
        return out

    @classmethod
    def from_json(cls, r: Any) -> EpochRecord:
        """Raises ValueError, KeyError, TypeError or AttributeError for a foreign line."""
        return cls(
            epoch=int(r["epoch"]),
            train_loss=float(r["train_loss"]),
            val_loss=None if r.get("val_loss") is None else float(r["val_loss"]),
            miou=float(r["miou"]),
            iou=tuple(float("nan") if v is None else float(v) for v in r["iou"]),
            pixel_accuracy=(None if r.get("pixel_accuracy") is None
                            else float(r["pixel_accuracy"])),
            depth_miou={int(k): float(v) for k, v in (r.get("depth_miou") or {}).items()},
            seconds=None if r.get("seconds") is None else float(r["seconds"]),
            instance_scores={str(k): float("nan") if v is None else float(v)
                             for k, v in (r.get("instance_scores") or {}).items()})


def append_epoch(run_dir: str | Path, epoch: EpochRecord | EpochReport) -> None:
    """One line for the epoch at the end of the run folder's metrics.jsonl.

    A plain append (not atomic): a kill mid-write leaves a torn last line, which
    :func:`read_epochs` stops at. OSError (a full disk) is the caller's to report."""
    record = epoch if isinstance(epoch, EpochRecord) else EpochRecord.from_report(epoch)
    line = json.dumps(record.to_json())
    with open(Path(run_dir) / METRICS_FILE, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_epochs(path: str | Path, num_classes: int | None = None) -> list[EpochRecord]:
    """The epochs of a metrics.jsonl (or of the run folder holding one), in order.

    Reading ends quietly at a missing or unreadable file, a torn or foreign line, an epoch
    that does not follow the one before, or (with num_classes) a line with another number of
    classes: what came before it is returned."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    try:
        # never a FIFO or a device: a run folder may come from elsewhere (Import Run)
        lines = read_regular_bytes(path).decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    records: list[EpochRecord] = []
    for line in lines:
        try:
            record = EpochRecord.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError):
            break
        if (num_classes is not None and len(record.iou) != num_classes) or (
                records and record.epoch <= records[-1].epoch):
            break
        records.append(record)
    return records


def runs_dir_of(project_or_runs_dir: Project | str | Path) -> Path:
    if isinstance(project_or_runs_dir, Project):
        return project_or_runs_dir.runs_dir
    return Path(project_or_runs_dir)


def find_runs(project_or_runs_dir: Project | str | Path) -> list[Path]:
    """The run folders (those with a config.json) of a project or runs folder, oldest first
    by name (run folders are named by their start time, see new_run_dir)."""
    root = runs_dir_of(project_or_runs_dir)
    try:
        return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file())
    except OSError:
        return []


@dataclass(frozen=True)
class SavedRun:
    """A run folder as the loop left it: what it needs to be shown or resumed again."""

    run_dir: Path
    config: dict[str, Any]              # config.json ({} if unreadable); "train_config" inside
    epochs: list[EpochRecord]
    best_checkpoint: Path | None
    last_checkpoint: Path | None

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint to use: the best if there is one, else the last."""
        return self.best_checkpoint or self.last_checkpoint


def read_run(run_dir: str | Path) -> SavedRun:
    run_dir = Path(run_dir)
    try:
        config = json.loads(read_regular_bytes(run_dir / CONFIG_FILE).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    classes = config.get("classes")
    epochs = read_epochs(run_dir, len(classes) if isinstance(classes, list) else None)
    best, last = run_dir / BEST_CHECKPOINT, run_dir / LAST_CHECKPOINT
    return SavedRun(run_dir, config, epochs, best if best.is_file() else None,
                    last if last.is_file() else None)


def _last_written(run_dir: Path) -> float:
    times = []
    for name in (METRICS_FILE, LAST_CHECKPOINT, CONFIG_FILE):
        try:
            times.append((run_dir / name).stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def latest_run(project_or_runs_dir: Project | str | Path) -> SavedRun | None:
    """The run written to last (a resumed older run counts by its newest epoch), or None.

    Ties (same modification time) go to the later folder name."""
    runs = find_runs(project_or_runs_dir)
    if not runs:
        return None
    return read_run(max(runs, key=lambda p: (_last_written(p), p.name)))


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
    # instance projects, per epoch: AP at IoU 0.5 and the mean AP over 0.5:0.95 (NaN: none)
    ap50: list[float] = field(default_factory=list)
    map: list[float] = field(default_factory=list)
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
                  confusion: np.ndarray | None, iteration: int | None = None,
                  instance_scores: dict[str, float] | None = None) -> None:
        """iteration: the run's iteration at the epoch's end (default: the last one seen);
        instance_scores: an instance project's object scores ("ap50", "map")."""
        self.epochs.append(epoch)
        self.epoch_iteration.append(iteration if iteration is not None else
                                    self.iterations[-1] if self.iterations else 0)
        self.train_loss.append(train_loss)
        self.val_loss.append(float("nan") if val_loss is None else val_loss)
        self.miou.append(miou)
        self.iou.append(list(iou))
        self.depth_miou.append(dict(depth_miou))
        scores = instance_scores or {}
        self.ap50.append(float(scores.get("ap50", float("nan"))))
        self.map.append(float(scores.get("map", float("nan"))))
        if confusion is not None:
            self.confusion = np.array(confusion, copy=True)

    def add_saved_epochs(self, metrics_path: str | Path, iterations_per_epoch: int) -> int:
        """The epochs a run folder's metrics.jsonl holds (a resumed run's earlier part), in
        front of what this run will add; returns how many. A missing file or a torn or foreign
        line ends the reading quietly (read_epochs): the history is a view, the run goes on
        either way."""
        n = 0
        for r in read_epochs(metrics_path, len(self.class_names)):
            if self.epochs and r.epoch <= self.epochs[-1]:
                break
            self.add_epoch(r.epoch, r.train_loss, r.val_loss, r.miou, r.iou, r.depth_miou,
                           None, iteration=r.epoch * iterations_per_epoch,
                           instance_scores=r.instance_scores)
            n += 1
        return n

    @property
    def has_instance_scores(self) -> bool:
        return any(math.isfinite(v) for v in self.ap50 + self.map)

    def epoch_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        depths = sorted({d for dm in self.depth_miou for d in dm})
        objects = self.has_instance_scores
        w.writerow(["epoch", "iteration", "train_loss", "val_loss", "miou"] +
                   [f"iou_{n}" for n in self.class_names] + [f"miou_L{d}" for d in depths]
                   + (["ap50", "map"] if objects else []))
        for i, e in enumerate(self.epochs):
            row = [e, self.epoch_iteration[i], self.train_loss[i], self.val_loss[i],
                   self.miou[i]] + self.iou[i] + [self.depth_miou[i].get(d, "") for d in depths]
            if objects:
                row += [self.ap50[i], self.map[i]]
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
