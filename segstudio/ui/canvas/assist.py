"""The assistants' half of the canvas panel (mixed into CanvasPanel like CanvasObjects): what
assist_tools.py's tools ask of their context - the shown picture, the wand's tolerance, the
current image's superpixels (computed in the background, one image at a time), the shown
prediction for the model brush, background jobs - and the superpixel-boundary and
uncertainty overlays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtGui import QColor

from segstudio.core import wand
from segstudio.core.superpixels import DEFAULT_SIZE, Superpixels, compute_superpixels
from segstudio.ui.canvas.layers import LabelLayer
from segstudio.ui.tasks import TaskRunner

# SLIC labels cost 4 bytes a pixel and ~1 s per 4 MP here: past this the brush is not offered.
SUPERPIXEL_MAX_PIXELS = 16_000_000
ASSIST_NICE = 5  # the assistants' worker: below the window, above the uncertainty scoring


class BoundaryLayer(LabelLayer):
    """A 0/1 map drawn as thin yellow lines (superpixel boundaries)."""

    def _rebuild(self) -> None:
        table = [0] * 256
        table[1] = QColor(255, 225, 40, int(round(self.opacity * 255))).rgba()
        self._table = table


class CanvasAssist:
    """Set up by ``_init_assist`` (called from CanvasPanel.__init__)."""

    # Provided by CanvasPanel.
    _doc: Any
    _project: Any
    _instances: bool
    _prediction_id: str | None
    image_layer: Any
    prediction_layer: Any
    commands: dict[str, Any]
    view: Any
    hint: Any                  # Signal(str)
    superpixels_ready: Any     # Signal(str)

    def _init_assist(self) -> None:
        self.wand_tolerance = wand.DEFAULT_TOLERANCE
        self.superpixel_size = DEFAULT_SIZE
        self._superpixels: tuple[str, int, Superpixels] | None = None
        self._superpixels_pending: tuple[str, int] | None = None
        self._prediction_labels: tuple[str, np.ndarray] | None = None
        # Set by the window: predict the shown image, False when there is no model.
        self.prediction_request: Callable[[], bool] | None = None
        self.assist_runner = TaskRunner("assistants", parent=self,  # type: ignore[arg-type]
                                        nice=ASSIST_NICE)
        self.boundary_layer = BoundaryLayer(opacity=0.8)
        self.boundary_layer.visible = False
        self.uncertainty_layer = LabelLayer(opacity=0.6)
        self.uncertainty_layer.set_confidence_mode(True)
        self.uncertainty_layer.visible = False

    # ------------------------------------------------------------ tool context
    @property
    def display_image(self) -> np.ndarray | None:
        return self.image_layer.array

    @property
    def active_rgb(self) -> tuple[int, int, int]:
        classes = self._project.classes if self._project is not None else []
        i = int(getattr(self, "active_class", 0))
        return tuple(classes[i].rgb) if 0 <= i < len(classes) else (255, 255, 255)

    def class_table(self, alpha: int) -> list[int]:
        table = [0] * 256
        classes = self._project.classes if self._project is not None else []
        for i, c in enumerate(classes[:255]):
            r, g, b = c.rgb
            table[i] = QColor(r, g, b, alpha).rgba()
        return table

    def set_wand_tolerance(self, t: int) -> None:
        self.wand_tolerance = int(max(0, min(wand.MAX_TOLERANCE, t)))

    def run_assist(self, fn: Callable[[], Any], done: Callable[[Any], None],
                   replace: bool = True) -> None:
        """``fn()`` in the assistants' worker; ``done(result)`` in the GUI thread. With
        ``replace`` a newer job drops the result of an older one still running (a preview)."""
        self.assist_runner.submit(lambda task: fn(), on_done=done,
                                  on_error=lambda m: self.hint.emit(m),
                                  replace="preview" if replace else None)

    # ---------------------------------------------------------------- prediction
    def set_prediction(self, image_id: str, prediction: np.ndarray | None) -> None:
        """Show a predicted class map (uint8 H x W, 255 = none) under the mask overlay. Results
        for an image that is no longer shown are dropped."""
        if self._doc is None or image_id != self._doc.image_id:
            return
        if prediction is not None and prediction.shape != self._doc.mask.shape:
            raise ValueError("prediction size does not match the mask")
        self.prediction_layer.set_array(prediction)
        self._prediction_id = image_id if prediction is not None else None
        self.view.update()

    def set_prediction_visible(self, on: bool) -> None:
        self.prediction_layer.visible = bool(on)
        self.commands["show_prediction"].setChecked(bool(on))
        self.view.update()

    def set_prediction_opacity(self, opacity: float) -> None:
        self.prediction_layer.set_opacity(opacity)
        self.view.update()

    @property
    def prediction_labels(self) -> np.ndarray | None:
        p = self._prediction_labels
        if p is None or self._doc is None or p[0] != self._doc.image_id \
                or p[1].shape != self._doc.mask.shape:
            return None
        return p[1]

    def set_prediction_labels(self, image_id: str, labels: np.ndarray | None) -> None:
        """The shown image's predicted classes (the model brush's source)."""
        self._prediction_labels = None if labels is None else (image_id, labels)

    def request_prediction(self) -> bool:
        """Ask the window for a prediction of the shown image; False without a model."""
        return bool(self.prediction_request()) if self.prediction_request is not None else False

    # ---------------------------------------------------------------- superpixels
    def set_superpixel_size(self, size: int) -> None:
        self.superpixel_size = int(size)
        if getattr(self, "tool_name", "") == "superpixel" or self.boundary_layer.visible:
            self.superpixels()

    def superpixels(self) -> Superpixels | None:
        """The shown image's superpixels at the current size, or None while they are being
        computed (started here) or when the image is too large."""
        if self._doc is None or self.display_image is None:
            return None
        key = (self._doc.image_id, self.superpixel_size)
        if self._superpixels is not None and self._superpixels[:2] == key:
            return self._superpixels[2]
        h, w = self._doc.mask.shape
        if h * w > SUPERPIXEL_MAX_PIXELS:
            self.hint.emit(f"Superpixels are offered for images up to "
                           f"{SUPERPIXEL_MAX_PIXELS // 1_000_000} MP; this one has "
                           f"{h * w / 1e6:.0f} MP.")
            return None
        if self._superpixels_pending != key:
            self._superpixels_pending = key
            image, size = self.display_image, self.superpixel_size
            self.hint.emit("Computing superpixels…")
            def job(task: Any) -> Superpixels:
                sp = compute_superpixels(image, size)
                sp.boundaries()  # made here, not in the window's thread when they are shown
                return sp

            self.assist_runner.submit(
                job,
                on_done=lambda sp: self._on_superpixels(key, sp),
                on_error=lambda m: self.hint.emit(m), replace="superpixels")
        return None

    @property
    def superpixels_pending(self) -> bool:
        """Superpixels of the shown image are being computed."""
        return self._superpixels_pending is not None

    def _on_superpixels(self, key: tuple[str, int], sp: Superpixels) -> None:
        if self._superpixels_pending == key:
            self._superpixels_pending = None
        if self._doc is None or key != (self._doc.image_id, self.superpixel_size):
            return  # another image or size by now
        self._superpixels = (key[0], key[1], sp)
        self.hint.emit(f"{sp.count:,} superpixels of about {sp.size} px ready.")
        if self.boundary_layer.visible:
            self.boundary_layer.set_array(sp.boundaries().view(np.uint8))
            self.view.update()
        self.superpixels_ready.emit(key[0])

    def set_superpixel_boundaries(self, on: bool) -> None:
        self.boundary_layer.visible = bool(on)
        sp = self.superpixels() if on else None
        self.boundary_layer.set_array(sp.boundaries().view(np.uint8) if sp is not None
                                      else None)
        self.view.update()

    def _assist_image_changed(self) -> None:
        """A new image is shown: forget the old one's superpixels, prediction and map."""
        self._superpixels = None
        self._superpixels_pending = None
        self.boundary_layer.set_array(None)
        self.uncertainty_layer.set_array(None)
        if getattr(self, "tool_name", "") == "superpixel" or self.boundary_layer.visible:
            self.superpixels()  # start now; _on_superpixels shows the boundaries if asked

    # ---------------------------------------------------------------- uncertainty
    def set_uncertainty(self, image_id: str, certainty: np.ndarray | None) -> None:
        """Show a map of how sure the model is (uint8, 255 = sure, the image's size) for the
        shown image; unsure pixels glow."""
        if self._doc is None or image_id != self._doc.image_id:
            return
        if certainty is not None and certainty.shape != self._doc.mask.shape:
            raise ValueError("uncertainty map size does not match the mask")
        self.uncertainty_layer.set_array(certainty)
        self.view.update()

    def set_uncertainty_visible(self, on: bool) -> None:
        self.uncertainty_layer.visible = bool(on)
        self.view.update()
