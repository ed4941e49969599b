"""Label here next, in the window: after each new model (a new best checkpoint, a loaded
model) every image is scored in the background (``inference/uncertainty.py``; a newer model
cancels an unfinished pass). Model › Label Here Next (Ctrl+U) goes to the image and region the
model is least sure of, Order Images by Uncertainty sorts the image list, and Show Uncertainty
Map lights up the unsure pixels of the shown image. The shown image's score is brought up to
date with the user's strokes from its kept heat map, without predicting again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.ui.tasks import Task, TaskRunner


def _class_mask(mask: np.ndarray) -> np.ndarray:
    """The class mask of the canvas's array (an instance project's packed labels too)."""
    from segstudio.core.instances import semantic_of

    return mask if mask.dtype == np.uint8 else semantic_of(mask)


if TYPE_CHECKING:
    from segstudio.inference.uncertainty import ImageScore
    from segstudio.ui.main_window import MainWindow
    from segstudio.ui.session import ProjectSession


class LabelNextController(QObject):
    scored = Signal(str, float)      # image id, score
    pass_finished = Signal(int)      # images scored

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.scores: dict[str, ImageScore] = {}
        self._key: tuple[Any, ...] | None = None   # (session, checkpoint, depth) scored for
        self._running = False
        self._pending_region: str | None = None      # image to zoom into once it is shown
        self._visited: set[str] = set()              # gone to since the scores came
        self._runner = TaskRunner("uncertainty", parent=self, nice=10)
        # New best checkpoints come every epoch: wait a moment so a burst makes one pass.
        self._timer = QTimer(self, singleShot=True, interval=1500)
        self._timer.timeout.connect(self._start)

    @property
    def session(self) -> ProjectSession | None:
        return self.window.session

    def reset(self) -> None:
        """Another project: forget every score."""
        self._runner.cancel()
        self._timer.stop()
        self.scores.clear()
        self._visited.clear()
        self._key = None
        self._running = False
        self._apply_order()

    def wait(self, msecs: int = 60000) -> bool:
        return self._runner.wait(msecs)

    def model_changed(self) -> None:
        """The session's model changed: score again (soon, in the background)."""
        self._runner.cancel()
        self.scores.clear()
        self._visited.clear()
        self._key = None
        self._running = False
        s = self.session
        if s is not None and s.checkpoint is not None:
            self._timer.start()
        self._apply_order()

    # ------------------------------------------------------------- scoring
    def _start(self) -> None:
        s = self.session
        if s is None or s.checkpoint is None:
            return
        key = (s, s.checkpoint, s.depth)
        cache, device, project = self.window.predictions.cache, self.window.predictions.device, \
            s.project
        ckpt, depth = s.checkpoint, s.depth
        self._running = True

        def job(task: Task) -> int:
            from segstudio.inference.uncertainty import score_project

            predictor = cache.get(ckpt, device)
            done = score_project(predictor, project, depth=depth,
                                 cancelled=lambda: task.cancelled,
                                 on_score=lambda sc: task.report(sc))
            return len(done)

        self._runner.submit(job, replace="pass",
                            on_report=lambda sc: self._on_score(key, sc),
                            on_done=lambda n: self._on_done(key, n),
                            on_error=lambda m: self._on_done(key, 0, m))

    def _current_key(self) -> tuple[Any, ...] | None:
        s = self.session
        return None if s is None else (s, s.checkpoint, s.depth)

    def _on_score(self, key: tuple[Any, ...], score: ImageScore) -> None:
        if key != self._current_key():
            return
        self._key = key
        self.scores[score.image_id] = score
        self.scored.emit(score.image_id, score.score)
        if score.image_id == self.window.current_image_id:
            self.show_map()
        self._apply_order()

    def _on_done(self, key: tuple[Any, ...], n: int, message: str = "") -> None:
        if key != self._current_key():
            return
        self._running = False
        if message:
            self.window.statusBar().showMessage(f"Could not score the images: {message}", 8000)
        self.pass_finished.emit(n)

    def start_now(self) -> None:
        """Score now (tests, and Label Here Next pressed before any pass ran)."""
        self._timer.stop()
        self._start()

    # ------------------------------------------------------------- using it
    def current_scores(self) -> dict[str, float]:
        """Every scored image's score, the shown one against its newest mask."""
        out = {k: v.score for k, v in self.scores.items()}
        cur = self.window.current_image_id
        mask = self.window.canvas.current_mask()
        if cur in self.scores and mask is not None:
            out[cur] = self._class_mask_score(self.scores[cur], mask)
        return out

    @staticmethod
    def _class_mask_score(score: ImageScore, mask: Any) -> float:
        return score.rescored(_class_mask(mask)).score

    def label_next(self) -> bool:
        """Go to the least sure image not visited since the scores came (its least sure
        region), so that pressing again walks down the order; after the last, from the top."""
        from segstudio.core.uncertainty import order_by_uncertainty

        s, bar = self.session, self.window.statusBar()
        if s is None:
            return False
        if s.checkpoint is None:
            self.window.message_bar.show_message(
                "Label Here Next needs a model: train one (or load one) first.", "info")
            return False
        if not self.scores:
            if not self._running:
                self.start_now()
            bar.showMessage("Scoring the images by the model's uncertainty… press again in a "
                            "moment.", 6000)
            return False
        order = order_by_uncertainty(self.current_scores())
        fresh = [i for i in order if i not in self._visited]
        if not fresh:  # every image visited: start again from the least sure
            self._visited.clear()
            fresh = order
        target = fresh[0]
        self._visited.add(target)
        if target == self.window.current_image_id:
            region = self._region(target)
            if region is not None:
                self.window.canvas.view.show_rect(region)
            bar.showMessage(self._describe(target), 6000)
            return True
        self._pending_region = target
        self.window.image_list.select_image(target)  # read in the background: image_shown
        bar.showMessage(self._describe(target), 6000)
        return True

    def image_shown(self, image_id: str) -> None:
        """An image reached the canvas: its map, and the region Label Here Next chose."""
        if image_id == self._pending_region:
            self._pending_region = None
            region = self._region(image_id)
            if region is not None:
                self.window.canvas.view.show_rect(region)
        self.show_map()

    def _region(self, image_id: str | None) -> Any:
        if image_id is None or image_id not in self.scores:
            return None
        mask = self.window.canvas.current_mask() if image_id == self.window.current_image_id \
            else None
        return self.scores[image_id].region(_class_mask(mask) if mask is not None else None)

    def _describe(self, image_id: str) -> str:
        score = self.current_scores().get(image_id, 0.0)
        return f"Label here next: {image_id} (model uncertainty {score:.0%} over its " \
               f"unlabelled pixels)."

    def show_map(self) -> None:
        """Put the shown image's uncertainty map on the canvas (or take it off)."""
        on = self.window.commands["uncertainty_map"].isChecked()
        canvas, cur = self.window.canvas, self.window.current_image_id
        canvas.set_uncertainty_visible(on)
        if cur is None:
            return
        score = self.scores.get(cur)
        mask = canvas.current_mask()
        if on and score is not None and mask is not None and mask.shape == score.shape:
            certainty = score.full_certainty()
            certainty[_class_mask(mask) != 255] = 255  # labelled pixels need no more work
            canvas.set_uncertainty(cur, certainty)
        else:
            canvas.set_uncertainty(cur, None)

    def set_order(self, on: bool) -> None:
        self._apply_order()

    def _apply_order(self) -> None:
        from segstudio.core.uncertainty import order_by_uncertainty

        on = self.window.commands["order_uncertain"].isChecked()
        scores = self.current_scores() if self.scores else {}
        self.window.image_list.set_uncertainty(
            scores, order_by_uncertainty(scores) if on and scores else None)
