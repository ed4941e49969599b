"""Autosave: masks are written in a worker thread, debounced after edits, immediately when the
user leaves an image, and synchronously (``flush``) before the project changes or the window
closes.

The GUI thread takes a ``FrozenSnapshot`` of the document (free; see core/document.py), captures
the file path and the class table, and hands the job to a one-thread TaskRunner (ui/tasks.py).
The worker assembles the snapshot, computes the labelled fraction and a checksum, and writes
the PNG atomically with ``segstudio.io.masks.write_mask``. It never touches the ``Project``: its
``SaveResult`` comes back to the GUI thread, which then updates the project (``set_labelled``)
and emits ``saved`` or ``failed``.

In an instance project the document is the packed label array: the worker writes the
instance map (``ids_of``) and then the mask (``semantic_of``), in the order and with the writers
of ``Project.save_labels`` (instances first, so a mask never names objects that were not saved),
but without its ``set_labelled``: the object count comes back in the result like the labelled
fraction, and the GUI thread records both.

At most one save per image runs at a time; a save requested meanwhile runs after it, so the
last file written is always the newest state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.core.classes import ClassInfo
from segstudio.core.document import FrozenSnapshot, MaskDocument
from segstudio.core.history import mask_fingerprint
from segstudio.core.instances import count_objects, ids_of, semantic_of
from segstudio.io.instances import write_instances
from segstudio.io.masks import labelled_fraction, write_mask
from segstudio.ui.tasks import TaskRunner


@dataclass
class SaveResult:
    doc: MaskDocument
    project: Any  # the Project the mask belongs to (set_labelled is called on it)
    serial: int
    ok: bool
    fraction: float = 0.0
    fingerprint: int | None = None
    message: str = ""
    objects: int | None = None  # instance projects: objects in the saved instance map


def _save(doc: MaskDocument, project: object, snapshot: FrozenSnapshot, path: Path,
          classes: list[ClassInfo], serial: int,
          instances_path: Path | None = None) -> SaveResult:
    """Worker thread: write the snapshot (with ``instances_path``: a packed label array, as
    instance map and mask); failures become a result, never an exception."""
    try:
        snap = snapshot.materialize()
        fp = mask_fingerprint(snap)
        objects = None
        if instances_path is not None:
            ids = ids_of(snap)
            snap = semantic_of(snap)
            instances_path.parent.mkdir(parents=True, exist_ok=True)
            write_instances(instances_path, ids)
            objects = count_objects(ids)
            del ids
        frac = labelled_fraction(snap)
        write_mask(path, snap, classes)
        del snap
        return SaveResult(doc, project, serial, True, frac, fp, objects=objects)
    except Exception as exc:  # reported to the user, never raised in a worker
        snapshot.close()
        text = str(exc) or type(exc).__name__
        if not text.startswith("Could not save"):
            text = f"Could not save the mask of {doc.image_id}: {text}"
        return SaveResult(doc, project, serial, False, message=text)


class Autosaver(QObject):
    saved = Signal(object)    # SaveResult (ok), GUI thread, after the project was updated
    failed = Signal(object)   # SaveResult (not ok), GUI thread

    def __init__(self, parent: QObject | None = None, delay_ms: int = 800) -> None:
        super().__init__(parent)
        self.delay_ms = int(delay_ms)
        self._runner = TaskRunner("autosave", parent=self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer)
        self._scheduled: tuple[MaskDocument, object] | None = None
        self._inflight: dict[int, tuple[MaskDocument, object]] = {}  # id(doc) -> (doc, project)
        self._again: dict[int, tuple[MaskDocument, object]] = {}
        # Saves that failed: kept (with their unsaved mask) so that switching back shows the
        # edits, and retried by the next request or flush.
        self._failed: dict[int, tuple[MaskDocument, object]] = {}

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

    def pending_document(self, image_id: str, project) -> MaskDocument | None:
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
            self._runner.wait()  # delivers the results: _done may start the saves owed next
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
        instances_path = (project.instances_dir / f"{doc.image_id}.png"
                          if doc.mask.dtype == np.uint32 else None)
        classes = list(project.classes)
        snapshot, serial = doc.snapshot(), doc.serial
        self._inflight[key] = (doc, project)
        self._runner.submit(
            lambda task: _save(doc, project, snapshot, path, classes, serial, instances_path),
            on_done=self._done)

    def _done(self, result: SaveResult) -> None:  # GUI thread
        doc = result.doc
        self._inflight.pop(id(doc), None)
        if result.ok:
            doc.saved_serial = max(doc.saved_serial, result.serial)
            if doc.serial == result.serial:
                doc.history.fingerprint = result.fingerprint
            try:
                result.project.set_labelled(doc.image_id, result.fraction, result.objects)
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
