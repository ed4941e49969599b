"""ProjectSession: everything that belongs to one open project, replaced as a whole when another
project opens, so nothing of the first project (its model, predictions, run, lock) can act on
the second.

It holds the project and its lock, the image on the canvas, the current model (a checkpoint
whose classes match the project's), the U-Net++ depth predictions use, the predictions made
with that model, and the stopped run that can be resumed. Widgets show it; controllers change
it; the main window makes a new one in ``set_project`` and closes the old one.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.inference.model_classes import check_model_classes
from segstudio.project.lock import LockStatus, ProjectLock
from segstudio.project.project import Project

MAX_PREDICTIONS = 16   # predictions kept in memory (LRU), each H x W labels + confidence


class ProjectSession(QObject):
    model_changed = Signal()   # the current model, or its depth, changed

    def __init__(self, project: Project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.lock_status: LockStatus = ProjectLock(project.root, purpose="window").acquire()
        self._lock = self.lock_status.lock if self.lock_status.acquired else None
        # Touch the lock now and then, so a segstudio on another host sees we are alive.
        self._lock_timer = QTimer(self, interval=3600 * 1000)
        self._lock_timer.timeout.connect(self._refresh_lock)
        self._lock_timer.start()
        self.current_image_id: str | None = None
        self.current_image: np.ndarray | None = None      # raw pixels of the shown image
        self.checkpoint: str | None = None                # the model predictions use
        self.model_classes: list[str] = []
        depth = project.settings.get("unetpp_depth")
        self.depth: int | None = depth if isinstance(depth, int) else None
        self.predictions: OrderedDict[str, Any] = OrderedDict()  # image id -> Prediction
        self.resumable: tuple[str, Any] | None = None     # (last checkpoint, TrainConfig)
        self.closed = False

    # ------------------------------------------------------------------ model
    def set_model(self, checkpoint: str | None) -> None:
        """Make ``checkpoint`` the model predictions use (None: no model). A model trained for
        other classes than the project's is refused (ModelFileError) and changes nothing."""
        classes: list[str] = []
        if checkpoint is not None:
            from segstudio.inference.checkpoints import read_meta

            meta = read_meta(checkpoint)
            classes = [str(c["name"]) for c in meta["classes"]]
            check_model_classes(classes, [c.name for c in self.project.classes])
            checkpoint = str(Path(checkpoint).with_suffix(".safetensors"))
        self.checkpoint, self.model_classes = checkpoint, classes
        self.predictions.clear()
        self.model_changed.emit()

    def set_depth(self, depth: int | None) -> None:
        if depth == self.depth:
            return
        self.depth = depth
        self.project.settings["unetpp_depth"] = depth
        self.predictions.clear()
        self.model_changed.emit()

    @property
    def has_model(self) -> bool:
        return self.checkpoint is not None

    # ------------------------------------------------------------ predictions
    def add_prediction(self, image_id: str, prediction: Any, checkpoint: str,
                       depth: int | None) -> bool:
        """Keep a finished prediction if it is still of the current model and depth."""
        if self.closed or checkpoint != self.checkpoint or depth != self.depth:
            return False
        self.predictions[image_id] = prediction
        self.predictions.move_to_end(image_id)
        while len(self.predictions) > MAX_PREDICTIONS:
            self.predictions.popitem(last=False)
        return True

    def prediction(self, image_id: str | None) -> Any:
        return self.predictions.get(image_id) if image_id else None

    # ---------------------------------------------------------------- images
    def show(self, image_id: str | None, image: np.ndarray | None) -> None:
        self.current_image_id, self.current_image = image_id, image

    def forget_image(self, image_id: str) -> None:
        self.predictions.pop(image_id, None)
        if self.current_image_id == image_id:
            self.show(None, None)

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        """Let go of the project: the lock is released; later results are dropped."""
        self.closed = True
        self._lock_timer.stop()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _refresh_lock(self) -> None:
        if self._lock is not None:
            self._lock.refresh()
