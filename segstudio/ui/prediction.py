"""Predictions in the background: the current image (stale results dropped) and all images
(with progress, cancellable). The model is loaded in the worker and kept while its file is
unchanged; results come back as queued signals to this GUI-thread object."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from segstudio.core.classes import ClassInfo


class _Relay(QObject):
    done = Signal(int, str, object)        # ticket, image id, Prediction
    failed = Signal(int, str, str)         # ticket, image id, message
    progress = Signal(int, int, int)       # ticket, done, total
    all_done = Signal(int, int, int, str)  # ticket, ok, failed, folder


class _Cache:
    """One loaded Predictor, reloaded when the checkpoint path or its mtime changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.predictor = None

    def get(self, path: str, device: str):
        from segstudio.training.predict import Predictor

        key = (path, os.path.getmtime(Path(path).with_suffix(".json")), device)
        with self.lock:
            if key != self.key:
                self.predictor = Predictor.load(path, device=device)
                self.key = key
            return self.predictor


class _PredictOne(QRunnable):
    def __init__(self, svc: "PredictionService", ticket: int, image_id: str, image: np.ndarray,
                 checkpoint: str, depth: int | None):
        super().__init__()
        self.svc, self.ticket, self.image_id, self.image = svc, ticket, image_id, image
        self.checkpoint, self.depth = checkpoint, depth

    def run(self) -> None:
        try:
            predictor = self.svc._cache.get(self.checkpoint, self.svc.device)
            pred = predictor.predict(self.image, self.depth,
                                     progress=lambda f: self.ticket == self.svc._ticket)
        except InterruptedError:
            return
        except Exception as exc:
            self.svc._relay.failed.emit(self.ticket, self.image_id, _message(exc))
            return
        self.svc._relay.done.emit(self.ticket, self.image_id, pred)


class _PredictAll(QRunnable):
    def __init__(self, svc: "PredictionService", ticket: int, items: list[tuple[str, Path]],
                 checkpoint: str, depth: int | None, folder: Path, classes: list[ClassInfo]):
        super().__init__()
        self.svc, self.ticket, self.items = svc, ticket, items
        self.checkpoint, self.depth, self.folder, self.classes = checkpoint, depth, folder, classes

    def run(self) -> None:
        from segstudio.io.images import read_image
        from segstudio.io.masks import write_mask

        ok = bad = 0
        try:
            predictor = self.svc._cache.get(self.checkpoint, self.svc.device)
        except Exception as exc:
            self.svc._relay.failed.emit(self.ticket, "", _message(exc))
            self.svc._relay.all_done.emit(self.ticket, 0, len(self.items), str(self.folder))
            return
        for i, (image_id, path) in enumerate(self.items):
            if self.ticket != self.svc._all_ticket:
                break
            try:
                pred = predictor.predict(read_image(path).data, self.depth)
                write_mask(self.folder / f"{image_id}.png", pred.labels, self.classes)
                ok += 1
            except Exception as exc:
                bad += 1
                self.svc._relay.failed.emit(self.ticket, image_id, _message(exc))
            self.svc._relay.progress.emit(self.ticket, i + 1, len(self.items))
        self.svc._relay.all_done.emit(self.ticket, ok, bad, str(self.folder))


def _message(exc: BaseException) -> str:
    from segstudio.errors import SegStudioError

    if isinstance(exc, SegStudioError):
        return str(exc)
    return f"Prediction failed: {type(exc).__name__}: {exc}"


class PredictionService(QObject):
    predicted = Signal(str, object)        # image id, Prediction
    failed = Signal(str, str)              # image id ("" = the model), message
    all_progress = Signal(int, int)        # done, total
    all_finished = Signal(int, int, str)   # ok, failed, folder

    def __init__(self, parent: QObject | None = None, device: str = "auto") -> None:
        super().__init__(parent)
        self.device = device
        self._cache = _Cache()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._all_pool = QThreadPool(self)
        self._all_pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        self._relay.progress.connect(self._on_progress)
        self._relay.all_done.connect(self._on_all_done)
        self._ticket = 0
        self._all_ticket = 0

    @property
    def busy_all(self) -> bool:
        return self._all_pool.activeThreadCount() > 0

    def predict(self, image_id: str, image: np.ndarray, checkpoint: str,
                depth: int | None = None) -> None:
        """Predict one image; an earlier request still running is cancelled."""
        self._ticket += 1
        self._pool.clear()
        self._pool.start(_PredictOne(self, self._ticket, image_id, image, checkpoint, depth))

    def predict_all(self, items: list[tuple[str, Path]], checkpoint: str, depth: int | None,
                    folder: Path, classes: list[ClassInfo]) -> None:
        self._all_ticket += 1
        folder.mkdir(parents=True, exist_ok=True)
        self._all_pool.start(_PredictAll(self, self._all_ticket, items, checkpoint, depth,
                                         folder, list(classes)))

    def cancel_all(self) -> None:
        self._all_ticket += 1

    def wait(self, msecs: int = 60000) -> bool:
        return self._pool.waitForDone(msecs) and self._all_pool.waitForDone(msecs)

    @Slot(int, str, object)
    def _on_done(self, ticket: int, image_id: str, pred) -> None:
        if ticket == self._ticket:
            self.predicted.emit(image_id, pred)

    @Slot(int, str, str)
    def _on_failed(self, ticket: int, image_id: str, message: str) -> None:
        if ticket in (self._ticket, self._all_ticket):
            self.failed.emit(image_id, message)

    @Slot(int, int, int)
    def _on_progress(self, ticket: int, done: int, total: int) -> None:
        if ticket == self._all_ticket:
            self.all_progress.emit(done, total)

    @Slot(int, int, int, str)
    def _on_all_done(self, ticket: int, ok: int, bad: int, folder: str) -> None:
        self.all_finished.emit(ok, bad, folder)


class PredictionFiles(dict):
    """{image id: labels}: predictions kept in memory, else read from ``folder/<id>.png``
    (written by Predict All) when first asked for."""

    def __init__(self, folder: Path, in_memory: dict) -> None:
        super().__init__(in_memory)
        self.folder = folder
        if folder.is_dir():
            for p in folder.glob("*.png"):
                if p.stem not in self:
                    dict.__setitem__(self, p.stem, None)

    def __getitem__(self, key: str):
        value = dict.__getitem__(self, key)
        if value is None:
            from segstudio.io.masks import read_mask

            value = read_mask(self.folder / f"{key}.png")
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        return ((k, self[k]) for k in self.keys())

    def values(self):
        return (self[k] for k in self.keys())
