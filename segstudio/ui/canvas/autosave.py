"""Autosave: masks are written in a worker thread, debounced after edits, immediately when the
user leaves an image, and synchronously (``flush``) before the project changes or the window
closes.

The GUI thread takes a ``FrozenSnapshot`` of the document (free; see ``document.py``), captures
the file path and the class table, and hands the job to a one-thread QThreadPool. The worker
assembles the snapshot, computes the labelled fraction and a checksum, and writes the PNG
atomically with ``segstudio.io.masks.write_mask``. It never touches the ``Project``: it pushes
a ``SaveResult`` onto a queue and pokes the GUI thread through a queued signal; the GUI thread
then updates the project (``set_labelled``) and emits ``saved`` or ``failed``.

At most one save per image runs at a time; a save requested meanwhile runs after it, so the
last file written is always the newest state.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal

from segstudio.core.classes import ClassInfo
from segstudio.core.history import mask_fingerprint
from segstudio.io.masks import labelled_fraction, write_mask
from segstudio.ui.canvas.document import FrozenSnapshot, MaskDocument


@dataclass
class SaveResult:
    doc: MaskDocument
    project: object
    serial: int
    ok: bool
    fraction: float = 0.0
    fingerprint: Optional[int] = None
    message: str = ""


class _Job(QRunnable):
    def __init__(self, saver: "Autosaver", doc: MaskDocument, project, snapshot: FrozenSnapshot,
                 path: Path, classes: list[ClassInfo], serial: int) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._saver = saver
        self._doc, self._project, self._snapshot = doc, project, snapshot
        self._path, self._classes, self._serial = path, classes, serial

    def run(self) -> None:  # worker thread
        try:
            snap = self._snapshot.materialize()
            frac = labelled_fraction(snap)
            fp = mask_fingerprint(snap)
            write_mask(self._path, snap, self._classes)
            del snap
            result = SaveResult(self._doc, self._project, self._serial, True, frac, fp)
        except Exception as exc:  # reported to the user, never raised in a worker
            self._snapshot.close()
            text = str(exc) or type(exc).__name__
            if not text.startswith("Could not save"):
                text = f"Could not save the mask of {self._doc.image_id}: {text}"
            result = SaveResult(self._doc, self._project, self._serial, False, message=text)
        self._saver._finished(result)


class Autosaver(QObject):
    saved = Signal(object)    # SaveResult (ok), GUI thread, after the project was updated
    failed = Signal(object)   # SaveResult (not ok), GUI thread
    _wake = Signal()

    def __init__(self, parent: Optional[QObject] = None, delay_ms: int = 800) -> None:
        super().__init__(parent)
        self.delay_ms = int(delay_ms)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer)
        self._scheduled: Optional[tuple[MaskDocument, object]] = None
        self._inflight: dict[int, tuple[MaskDocument, object]] = {}  # id(doc) -> (doc, project)
        self._again: dict[int, tuple[MaskDocument, object]] = {}
        # Saves that failed: kept (with their unsaved mask) so that switching back shows the
        # edits, and retried by the next request or flush.
        self._failed: dict[int, tuple[MaskDocument, object]] = {}
        self._results: collections.deque[SaveResult] = collections.deque()
        self._lock = threading.Lock()
        self._wake.connect(self._drain, Qt.QueuedConnection)

    # -------------------------------------------------------------- requests
    def schedule(self, doc: MaskDocument, project) -> None:
        """Save ``doc`` after ``delay_ms`` without further edits (debounced)."""
        if self._scheduled is not None and self._scheduled[0] is not doc:
            self.save_now(*self._scheduled)
        self._scheduled = (doc, project)
        self._timer.start(max(0, self.delay_ms))

    def save_now(self, doc: MaskDocument, project) -> None:
        """Start saving ``doc`` now if it has unsaved edits."""
        if self._scheduled is not None and self._scheduled[0] is doc:
            self._timer.stop()
            self._scheduled = None
        self._start(doc, project)

    def pending(self, doc: MaskDocument) -> bool:
        key = id(doc)
        return (key in self._inflight or key in self._again or key in self._failed
                or (self._scheduled is not None and self._scheduled[0] is doc))

    def pending_document(self, image_id: str, project) -> Optional[MaskDocument]:
        """A document of ``image_id`` in ``project`` whose newest state may not be on disk."""
        items = (list(self._inflight.values()) + list(self._again.values())
                 + list(self._failed.values()))
        if self._scheduled is not None:
            items.append(self._scheduled)
        for d, p in items:
            if d.image_id == image_id and p is project:
                return d
        return None

    def forget_failed(self) -> None:
        """Give up on saves that failed (the user was told); used when the project changes."""
        self._failed.clear()

    @property
    def busy(self) -> bool:
        return bool(self._inflight or self._again or self._scheduled or self._failed)

    def flush(self) -> None:
        """Save everything owed and block until it is written; results are delivered (signals
        emitted) before this returns."""
        if self._scheduled is not None:
            self.save_now(*self._scheduled)
        for doc, project in list(self._failed.values()):
            self._start(doc, project)  # one more try each
        while True:
            self._pool.waitForDone()
            self._drain()
            if not self._inflight and not self._again:
                break

    # --------------------------------------------------------------- internal
    def _on_timer(self) -> None:
        if self._scheduled is not None:
            doc, project = self._scheduled
            self._scheduled = None
            self._start(doc, project)

    def _start(self, doc: MaskDocument, project) -> None:
        if project is None or doc.entry is None:
            return
        key = id(doc)
        if key in self._inflight:
            self._again[key] = (doc, project)
            return
        self._failed.pop(key, None)
        if not doc.dirty:
            return
        path = project.mask_path(doc.entry)
        classes = list(project.classes)
        job = _Job(self, doc, project, doc.snapshot(), path, classes, doc.serial)
        self._inflight[key] = (doc, project)
        self._pool.start(job)

    def _finished(self, result: SaveResult) -> None:  # worker thread
        with self._lock:
            self._results.append(result)
        try:
            self._wake.emit()
        except RuntimeError:  # the saver is being destroyed; flush() delivers nothing more
            pass

    def _drain(self) -> None:  # GUI thread
        while True:
            with self._lock:
                if not self._results:
                    return
                result = self._results.popleft()
            doc = result.doc
            self._inflight.pop(id(doc), None)
            if result.ok:
                doc.saved_serial = max(doc.saved_serial, result.serial)
                if doc.serial == result.serial:
                    doc.history.fingerprint = result.fingerprint
                try:
                    result.project.set_labelled(doc.image_id, result.fraction)
                except (KeyError, AttributeError):
                    pass  # the image left the project meanwhile
                self.saved.emit(result)
            else:
                if doc.dirty:
                    self._failed[id(doc)] = (doc, result.project)
                self.failed.emit(result)
            again = self._again.pop(id(doc), None)
            if again is not None:
                self._start(*again)
