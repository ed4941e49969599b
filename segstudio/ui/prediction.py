"""Predictions in the window: the current image (stale results dropped), all images (with
progress, cancellable), the prediction or confidence layer on the canvas, and accepting a
prediction into the mask as one undo step.

Work runs in TaskRunner jobs; the model is loaded in the worker and kept while its file is
unchanged. Every result carries the model and depth it was made with, and the session keeps it
only if those are still current: a prediction of another project's model, or of an older
model, never reaches a mask.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from segstudio.ui.tasks import Task, TaskRunner

if TYPE_CHECKING:
    from segstudio.ui.main_window import MainWindow
    from segstudio.ui.session import ProjectSession


class PredictorCache:
    """One loaded Predictor, reloaded when the checkpoint path or its mtime changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.predictor: Any = None

    def get(self, path: str, device: str = "auto") -> Any:
        from segstudio.inference.predictor import Predictor

        key = (path, os.path.getmtime(Path(path).with_suffix(".json")), device)
        with self.lock:
            if key != self.key:
                self.predictor = Predictor.load(path, device=device)
                self.key = key
            return self.predictor


class PredictionController(QObject):
    predicted = Signal(str, object)        # image id, Prediction
    failed = Signal(str, str)              # image id ("" = the model), message
    all_progress = Signal(int, int)        # done, total
    all_finished = Signal(int, int, str)   # ok, failed, folder

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.device = "auto"
        self.cache = PredictorCache()
        self._one = TaskRunner("prediction", parent=self)
        self._all = TaskRunner("predict all", parent=self)

    @property
    def session(self) -> ProjectSession | None:
        return self.window.session

    def reset(self) -> None:
        """Another project (or model) comes: whatever runs now is for the old one."""
        self._one.cancel()
        self._all.cancel()

    def wait(self, msecs: int = 60000) -> bool:
        return self._one.wait(msecs) and self._all.wait(msecs)

    # ------------------------------------------------------------ current image
    def predict_current(self) -> bool:
        s = self.session
        if s is None or s.checkpoint is None or s.current_image is None \
                or s.current_image_id is None:
            return False
        image_id, image, ckpt, depth = s.current_image_id, s.current_image, s.checkpoint, s.depth
        cache, device = self.cache, self.device

        def job(task: Task) -> Any:
            predictor = cache.get(ckpt, device)
            return predictor.predict(image, depth, progress=lambda f: not task.cancelled)

        self.window.statusBar().showMessage(f"Predicting {image_id}…")
        self._one.submit(job, replace="current",
                         on_done=lambda pred: self._on_predicted(s, image_id, pred, ckpt, depth),
                         on_error=lambda m: self._on_failed(s, image_id, m))
        return True

    def _on_predicted(self, session: ProjectSession, image_id: str, pred: Any, ckpt: str,
                      depth: int | None) -> None:
        if session is not self.session or not session.add_prediction(image_id, pred, ckpt,
                                                                     depth):
            return
        if image_id == session.current_image_id:
            self.show_layer()
            mean_conf = float(pred.confidence.mean()) / 255
            self.window.statusBar().showMessage(
                f"Prediction ready (mean confidence {mean_conf:.0%}).", 5000)
        self.window.update_actions()
        self.predicted.emit(image_id, pred)

    def _on_failed(self, session: ProjectSession, image_id: str, message: str) -> None:
        if session is self.session:
            self.window.show_error(message)
            self.failed.emit(image_id, message)

    # ----------------------------------------------------------------- layer
    def show_layer(self) -> None:
        """Put the current image's prediction (classes, or confidence) on the canvas."""
        s, canvas = self.session, self.window.canvas
        pred = s.prediction(s.current_image_id) if s is not None else None
        mask = canvas.current_mask()
        if s is None or s.current_image_id is None or pred is None or mask is None \
                or pred.labels.shape != mask.shape:
            return
        confidence = self.window.commands["show_confidence"].isChecked()
        canvas.prediction_layer.set_confidence_mode(confidence)
        canvas.set_prediction(s.current_image_id, pred.confidence if confidence
                              else pred.labels)
        canvas.set_prediction_labels(s.current_image_id, pred.labels)  # the model brush
        canvas.set_prediction_visible(canvas.commands["show_prediction"].isChecked())

    # ---------------------------------------------------------------- accept
    def accept(self, mode: str = "unlabelled") -> bool:
        """Copy the current prediction into the mask as one undo step."""
        from segstudio.core.accept import plan_accept

        s, canvas = self.session, self.window.canvas
        pred = s.prediction(s.current_image_id) if s is not None else None
        mask = canvas.current_mask()
        if pred is None or mask is None or pred.labels.shape != mask.shape:
            return False
        if canvas.instance_mode:
            return self._accept_objects(pred, mask, mode)
        plan = plan_accept(mask, pred.labels, mode)
        if plan is None:
            self.window.statusBar().showMessage("The prediction adds nothing here.", 4000)
            return False
        rect, block = plan
        before = mask[rect.y0:rect.y1, rect.x0:rect.x1]
        changed = int(np.count_nonzero(before != block))
        canvas.apply_block(rect, block)
        where = "unlabelled pixels" if mode == "unlabelled" else "pixels"
        self.window.statusBar().showMessage(
            f"Accepted the prediction into {changed:,} {where} (Ctrl+Z undoes it).", 6000)
        return True

    def _accept_objects(self, pred: Any, labels: np.ndarray, mode: str) -> bool:
        """Instance projects: the predicted objects become objects (new ids), one undo step."""
        from segstudio.core.accept import plan_accept_objects
        from segstudio.core.instances import ID_MASK

        bar = self.window.statusBar()
        if pred.instances is None:
            # a class map has no object ids: copying it would label pixels of no object
            bar.showMessage("This model predicts classes, not objects: train it in this "
                            "instance project to accept its objects.", 6000)
            return False
        plan = plan_accept_objects(labels, pred.labels, pred.instances,
                                   "everywhere" if mode == "everywhere" else "unlabelled")
        if plan is None:
            bar.showMessage("The prediction adds nothing here.", 4000)
            return False
        rect, block = plan
        before = labels[rect.y0:rect.y1, rect.x0:rect.x1]
        added = len(set(np.unique(block & ID_MASK).tolist())
                    - set(np.unique(before & ID_MASK).tolist()))
        self.window.canvas.apply_block(rect, block)
        bar.showMessage(f"Accepted {added:,} predicted object(s) (Ctrl+Z undoes it).", 6000)
        return True

    # ------------------------------------------------------------ all images
    def predict_all(self) -> bool:
        s = self.session
        if s is None or s.checkpoint is None:
            return False
        project = s.project
        items = [(e.id, project.image_path(e)) for e in project.images]
        folder = project.root / "predictions"
        ckpt, depth, classes = s.checkpoint, s.depth, list(project.classes)
        cache, device = self.cache, self.device

        def job(task: Task) -> tuple[int, int]:
            from segstudio.inference.predict_many import predict_many
            from segstudio.io.instance_export import write_instance_map
            from segstudio.io.masks import write_mask

            predictor = cache.get(ckpt, device)

            def sink(name: str, pred: Any, _path: Any) -> None:
                write_mask(folder / f"{name}.png", pred.labels, classes)
                if pred.instances is not None:  # an instance model: its objects too
                    write_instance_map(folder / "instances" / f"{name}.png", pred.instances)

            result = predict_many(
                predictor, items, sink,
                depth=depth, progress=lambda d, t: task.report((d, t)),
                cancelled=lambda: task.cancelled,
                on_failure=lambda f: task.report((f.name, f.message)))
            return result.written, len(result.failed)

        def report(value: tuple) -> None:
            if isinstance(value[0], int):
                self._on_all_progress(*value)
            else:
                self.failed.emit(*value)
                self.window.show_error(value[1])

        self.window.training_panel.show_progress(0.0, None, f"Predicting {len(items)} images…")
        self._all.submit(job, replace="all", on_report=report,
                         on_done=lambda r: self._on_all_finished(s, r[0], r[1], str(folder)),
                         on_error=lambda m: self._on_failed(s, "", m))
        return True

    def _on_all_progress(self, done: int, total: int) -> None:
        self.window.training_panel.show_progress(done / max(total, 1), None,
                                                 f"Predicted {done} of {total} images…")
        self.all_progress.emit(done, total)

    def _on_all_finished(self, session: ProjectSession, ok: int, bad: int, folder: str) -> None:
        if session is not self.session:
            return
        text = f"Predicted {ok} image(s) into {folder}."
        if bad:
            text += f" {bad} could not be predicted (see the messages)."
        self.window.training_panel.set_status(text)
        self.window.statusBar().showMessage(text, 8000)
        self.all_finished.emit(ok, bad, folder)

    def files(self) -> PredictionFiles:
        """Predictions on disk (Predict All) and in memory, by image id, read lazily."""
        s = self.session
        assert s is not None
        return PredictionFiles(s.project.root / "predictions", dict(s.predictions))


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

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if value is None:
            from segstudio.io.masks import read_mask

            value = read_mask(self.folder / f"{key}.png")
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def items(self) -> Any:
        return ((k, self[k]) for k in self.keys())

    def values(self) -> Any:
        return (self[k] for k in self.keys())
