"""Annotation assistants on the canvas: magic wand, superpixel brush, box to object (GrabCut)
and the model brush. The algorithms are in ``segstudio.core`` (wand, superpixels, grabcut,
accept); these classes turn mouse input into them, show a preview before anything is written,
and make each commit one undo step through the same context as the plain tools (tools.py).

Beyond tools.py's context they use:

    ctx.display_image        the uint8 picture the canvas shows (the wand's and GrabCut's input)
    ctx.active_rgb           the active class's colour (previews)
    ctx.wand_tolerance       int, kept between clicks;  ctx.set_wand_tolerance(t)
    ctx.superpixels()        the current image's Superpixels, or None (then computed)
    ctx.prediction_labels    the current image's predicted classes, or None
    ctx.request_prediction() ask the window to predict the current image
    ctx.run_assist(fn, done) run ``fn()`` off the GUI thread; ``done(result)`` in it, latest wins
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from segstudio.core import painting, wand
from segstudio.core.accept import accept_segment
from segstudio.core.grabcut import MIN_BOX, grabcut_object
from segstudio.core.painting import Rect, segment_pieces, write_where
from segstudio.core.superpixels import SuperpixelStroke
from segstudio.ui.canvas.assist import SUPERPIXEL_MAX_PIXELS
from segstudio.ui.canvas.tools import (
    BrushTool,
    EraserTool,
    PickerTool,
    PolygonTool,
    Tool,
    _draw_outline,
)

PREVIEW_ALPHA = 150
WAND_PX_PER_STEP = 3.0   # drag distance (widget pixels) per tolerance step


def region_widget_rect(ctx, box: Rect) -> QRect:
    return ctx.view.widget_rect_of(box, margin=2)


def draw_region(painter: QPainter, ctx, box: Rect, region: np.ndarray,
                rgb: tuple[int, int, int]) -> None:
    """A boolean region over ``box`` as a translucent fill in the class colour, scaled to the
    view (only the visible part is converted, so a 1 MP preview costs what is on screen)."""
    vis = ctx.view.visible_image_rect().intersect(box)
    if vis.empty:
        return
    sub = region[vis.y0 - box.y0:vis.y1 - box.y0, vis.x0 - box.x0:vis.x1 - box.x0]
    step = max(1, int(1.0 / max(ctx.view.scale, 1e-6)))  # zoomed out: every step-th pixel
    sub = np.ascontiguousarray(sub[::step, ::step]).view(np.uint8)
    img = QImage(sub.data, sub.shape[1], sub.shape[0], sub.shape[1], QImage.Format.Format_Indexed8)
    img.setColorTable([0, QColor(*rgb, PREVIEW_ALPHA).rgba()] + [0] * 254)
    a = ctx.view.image_to_widget(vis.x0, vis.y0)
    b = ctx.view.image_to_widget(vis.x0 + sub.shape[1] * step, vis.y0 + sub.shape[0] * step)
    painter.drawImage(QRectF(a, b), img)


class WandTool(Tool):
    """Click: the connected region of similar colour fills with the active class. Hold and drag
    (right or up: more, left or down: less) or turn the wheel to change the tolerance; the
    preview follows; release commits it as one undo step."""

    name, label, shortcut = "wand", "Fill", "F"
    tip = ("Magic wand fill (F): click fills the connected region of similar colour; hold and "
           "drag or turn the wheel to change the tolerance, release to fill.")

    def __init__(self) -> None:
        self._seed: tuple[int, int] | None = None
        self._press_pos: QPointF | None = None
        self._base = 0
        self._tolerance = 0
        self._found: tuple[Rect, np.ndarray] | None = None

    @property
    def busy(self) -> bool:
        return self._seed is not None

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton or ctx.display_image is None:
            return
        self._seed = (math.floor(u), math.floor(v))
        self._press_pos = ctx.view.image_to_widget(u, v)
        self._base = self._tolerance = int(ctx.wand_tolerance)
        self._update(ctx)

    def move(self, ctx, u, v, buttons) -> None:
        if self._seed is None or self._press_pos is None:
            return
        p = ctx.view.image_to_widget(u, v)
        d = (p.x() - self._press_pos.x()) - (p.y() - self._press_pos.y())
        self._set_tolerance(ctx, self._base + int(d / WAND_PX_PER_STEP))

    def wheel(self, ctx, steps: float) -> bool:
        if self._seed is None:
            return False
        self._base += int(round(steps * 2))
        self._set_tolerance(ctx, self._tolerance + int(round(steps * 2)))
        return True

    def _set_tolerance(self, ctx, t: int) -> None:
        t = max(0, min(wand.MAX_TOLERANCE, t))
        if t != self._tolerance:
            self._tolerance = t
            self._update(ctx)

    def _passable(self, ctx):
        if ctx.preserve_labels:
            return wand.unlabelled_passable(ctx.document.mask)
        return None

    def _update(self, ctx) -> None:
        assert self._seed is not None
        old = self._found
        self._found = wand.wand_region(ctx.display_image, *self._seed, self._tolerance,
                                       self._passable(ctx))
        for f in (old, self._found):
            if f is not None:
                ctx.view.update(region_widget_rect(ctx, f[0]))
        n = 0 if self._found is None else int(np.count_nonzero(self._found[1]))
        ctx.hint.emit(f"Wand tolerance {self._tolerance}: {n:,} pixels (drag or wheel to change, "
                 f"release to fill)")

    def release(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton or self._seed is None:
            return
        found, seed = self._found, self._seed
        ctx.set_wand_tolerance(self._tolerance)
        self.cancel(ctx)
        if found is None:
            return
        box, region = found
        ctx.edit_started()
        ctx.begin_object_edit(seed[0] + 0.5, seed[1] + 0.5, "new")
        rect = write_where(ctx.document.mask, box, region, ctx.paint_value(False),
                           ctx.preserve_labels, ctx.document.before_write, only=ctx.paint_only)
        ctx.area_changed(rect)
        ctx.edit_finished()

    def cancel(self, ctx) -> None:
        if self._found is not None:
            ctx.view.update(region_widget_rect(ctx, self._found[0]))
        self._seed = None
        self._found = None
        self._press_pos = None

    def paint_overlay(self, ctx, painter, hover) -> None:
        if self._found is not None:
            draw_region(painter, ctx, *self._found, ctx.active_rgb)


class MaskFillTool(Tool):
    """The fill of round one: the connected region of one *mask* value (closing a painted
    outline). Kept as "Fill Mask Region"; the default Fill looks at the image (WandTool)."""

    name, label, shortcut = "fill_region", "Fill region", "Shift+F"
    in_toolbar = False  # Tools menu and Shift+F: the tool bar keeps the default Fill
    tip = ("Fill mask region (Shift+F): flood-fill the connected region of one mask value "
           "under the click; an unenclosed unlabelled area over 10 % of the image needs "
           "Shift+click.")

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        doc = ctx.document
        confirmed = bool(ctx.press_modifiers & Qt.KeyboardModifier.ShiftModifier)
        ctx.edit_started()
        ctx.begin_object_edit(u, v, "fill")
        try:
            rect = painting.flood_fill(
                doc.mask, math.floor(u), math.floor(v), ctx.paint_value(False),
                ctx.preserve_labels, doc.before_write,
                max_open_fraction=None if confirmed else painting.OPEN_FILL_FRACTION)
        except painting.OpenFillError as exc:
            rect = None
            ctx.notify(str(exc))
        ctx.area_changed(rect)
        ctx.edit_finished()


class SuperpixelTool(BrushTool):
    """Drag: every superpixel the brush touches is labelled whole (once per stroke). The
    superpixels are computed in the background for each image and size."""

    name, label, shortcut = "superpixel", "Superpixels", "S"
    tip = ("Superpixel brush (S): a drag labels every superpixel it touches, whole; the "
           "superpixel size is set beside the brush size; View › Superpixel Boundaries shows "
           "them.")

    def __init__(self) -> None:
        super().__init__()
        self._stroke: SuperpixelStroke | None = None

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        sp = ctx.superpixels()
        if sp is None:
            ctx.notify("The superpixels of this image are being computed; paint again in a "
                       "moment." if ctx.superpixels_pending else
                       f"Superpixels are offered for images up to "
                       f"{SUPERPIXEL_MAX_PIXELS // 1_000_000} MP: use the brush or the wand.")
            return
        self._stroke = SuperpixelStroke(sp)
        super().press(ctx, u, v, button)

    def release(self, ctx, u, v, button) -> None:
        super().release(ctx, u, v, button)
        if self._last is None:
            self._stroke = None

    def cancel(self, ctx) -> None:
        super().cancel(ctx)
        self._stroke = None

    def _paint(self, ctx, au, av, bu, bv) -> None:
        if self._stroke is None:
            return
        doc = ctx.document
        rect = self._stroke.paint_segment(doc.mask, au, av, bu, bv, ctx.brush_size,
                                          self.value(ctx), ctx.preserve_labels,
                                          doc.before_write, only=ctx.paint_only)
        ctx.area_changed(rect)


class BoxTool(Tool):
    """Drag a box around one object: GrabCut cuts it out. While dragging, the cut of the box
    so far is previewed (computed in the background, the latest box wins); on release the cut
    of the final box becomes a new object / the active class, one undo step. Esc cancels."""

    name, label, shortcut = "box", "Box", "X"
    tip = ("Box to object (X): drag a box around one object; GrabCut cuts it out (preview "
           "while dragging), release adds it as one undo step; Esc cancels.")

    def __init__(self) -> None:
        self._a: tuple[float, float] | None = None
        self._b: tuple[float, float] | None = None
        self._preview: tuple[Rect, np.ndarray] | None = None
        self._preview_box: Rect | None = None
        self._pending: Rect | None = None     # the box released, waiting for its cut
        self._image_id: str | None = None

    @property
    def busy(self) -> bool:
        return self._a is not None

    def _box(self) -> Rect | None:
        if self._a is None or self._b is None:
            return None
        (au, av), (bu, bv) = self._a, self._b
        return Rect(math.floor(min(au, bu)), math.floor(min(av, bv)),
                    math.floor(max(au, bu)) + 1, math.floor(max(av, bv)) + 1)

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton or ctx.display_image is None:
            return
        self._a = self._b = (u, v)
        self._preview = None
        self._preview_box = None
        self._image_id = ctx.image_id
        ctx.overlay_changed()

    def move(self, ctx, u, v, buttons) -> None:
        if self._a is None:
            return
        self._b = (u, v)
        ctx.overlay_changed()
        box = self._box()
        if box is not None and box.width >= MIN_BOX and box.height >= MIN_BOX:
            self._cut(ctx, box, commit=False)

    def release(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton or self._a is None:
            return
        self._b = (u, v)
        box = self._box()
        self._a = None
        ctx.overlay_changed()
        if box is None or box.width < MIN_BOX or box.height < MIN_BOX:
            self._b = None
            return
        if self._preview_box == box and self._preview is not None:
            self._commit(ctx, self._preview)
            return
        self._pending = box
        self._cut(ctx, box, commit=True)

    def _cut(self, ctx, box: Rect, commit: bool) -> None:
        image, image_id = ctx.display_image, ctx.image_id

        def done(found) -> None:
            if ctx.image_id != image_id:
                return  # another image is shown now
            if commit:
                if self._pending == box:
                    self._pending = None
                    self._b = None
                    if found is None:
                        ctx.notify("GrabCut found no object in that box: draw it a little "
                                   "larger than the object, on a clear background.")
                    else:
                        self._commit(ctx, found)
                return
            if self._a is not None:  # still dragging: show it
                self._preview, self._preview_box = found, box
                ctx.overlay_changed()

        ctx.run_assist(lambda: grabcut_object(image, box), done, replace=not commit)

    def _commit(self, ctx, found: tuple[Rect, np.ndarray]) -> None:
        self._preview = None
        self._preview_box = None
        self._b = None
        box, region = found
        if ctx.document is None:
            return
        ys, xs = np.nonzero(region)
        ctx.edit_started()
        ctx.begin_object_edit(box.x0 + xs[0] + 0.5, box.y0 + ys[0] + 0.5, "new")
        rect = write_where(ctx.document.mask, box, region, ctx.paint_value(False),
                           ctx.preserve_labels, ctx.document.before_write, only=ctx.paint_only)
        ctx.area_changed(rect)
        ctx.edit_finished()
        ctx.overlay_changed()

    def key(self, ctx, key) -> bool:
        if key == Qt.Key.Key_Escape and (self.busy or self._pending is not None):
            self.cancel(ctx)
            return True
        return False

    def cancel(self, ctx) -> None:
        self._a = self._b = None
        self._preview = None
        self._preview_box = None
        self._pending = None
        ctx.overlay_changed()

    def paint_overlay(self, ctx, painter, hover) -> None:
        if self._preview is not None and self._a is not None:
            draw_region(painter, ctx, *self._preview, ctx.active_rgb)
        box = self._box() if self._b is not None else None
        if box is None:
            return
        a = ctx.view.image_to_widget(box.x0, box.y0)
        b = ctx.view.image_to_widget(box.x1, box.y1)
        r = QRectF(a, b)
        _draw_outline(painter, lambda p: p.drawRect(r))
        if self._pending is not None:
            painter.setPen(QPen(QColor(255, 255, 255)))
            painter.drawText(r.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft
                             | Qt.AlignmentFlag.AlignTop, "cutting…")


class ModelBrushTool(BrushTool):
    """Paint with the model: under the brush the current prediction is copied into the mask
    (one undo step per stroke); the prediction shows inside the brush outline as a preview.
    Without a prediction of the shown image the first click asks for one."""

    name, label, shortcut = "model_brush", "Model brush", "M"
    tip = ("Model brush (M): paint to accept the model's prediction under the brush; the "
           "outline shows the prediction. Needs a model: the first click predicts the image.")

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        if ctx.instance_mode:
            ctx.notify("The model brush copies classes; in an instance project accept the "
                       "predicted objects with Model › Accept Prediction instead.")
            return
        if ctx.prediction_labels is None:
            if ctx.request_prediction():
                ctx.notify("Predicting this image for the model brush; paint again when the "
                           "prediction shows.")
            else:
                ctx.notify("The model brush needs a model: train one or load one first.")
            return
        super().press(ctx, u, v, button)

    def _paint(self, ctx, au, av, bu, bv) -> None:
        labels = ctx.prediction_labels
        if labels is None:
            return
        doc = ctx.document
        rect = accept_segment(doc.mask, labels, au, av, bu, bv, ctx.brush_size,
                              ctx.preserve_labels, doc.before_write)
        ctx.area_changed(rect)

    def paint_overlay(self, ctx, painter, hover) -> None:
        labels = ctx.prediction_labels
        if hover is not None and labels is not None:
            # the dab a click would accept: the same footprint the stroke uses
            u, v = hover
            for box, foot in segment_pieces(u, v, u, v, ctx.brush_size, labels.shape):
                idx = np.ascontiguousarray(np.where(foot, labels[box.slices], 255),
                                           dtype=np.uint8)
                img = QImage(idx.data, idx.shape[1], idx.shape[0], idx.shape[1],
                             QImage.Format.Format_Indexed8)
                img.setColorTable(ctx.class_table(PREVIEW_ALPHA))
                painter.drawImage(QRectF(ctx.view.image_to_widget(box.x0, box.y0),
                                         ctx.view.image_to_widget(box.x1, box.y1)), img)
        super().paint_overlay(ctx, painter, hover)


# Every canvas tool in tool bar order (the panel makes one of each; "tool_<name>" actions).
TOOLS: tuple[type[Tool], ...] = (BrushTool, EraserTool, WandTool, MaskFillTool, SuperpixelTool,
                                 BoxTool, ModelBrushTool, PolygonTool, PickerTool)
