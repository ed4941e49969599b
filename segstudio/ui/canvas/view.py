"""CanvasView: a plain QWidget that shows the layer stack under its own zoom/pan transform.

Mapping (one place, used by painting *and* by the mouse): widget pixel column ``c`` shows image
column ``floor((c + 0.5 - ox) / scale)``, the same for rows; a mouse event at widget position
``p`` acts at image point ``((floor(p.x) + 0.5 - ox) / scale, ...)``. Both use the same float
expression, so the pixel a click paints is exactly the pixel drawn under the cursor at every
zoom level (Qt's own scaled drawImage samples in 16.16 fixed point and can disagree by one
pixel at boundaries; that is why layers resample themselves, see ``layers.Patch``).

Only exposed rectangles are rendered; edits call ``update_image_rect`` with the changed box.

Navigation lives here: wheel = zoom to the cursor, middle-drag or space + left-drag = pan.
Everything else (tools, keys) goes to ``handler`` - the panel - through ``canvas_*`` methods.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from segstudio.core.painting import Rect
from segstudio.ui.canvas.layers import Layer, Patch

BACKGROUND = QColor(48, 48, 52)


class CanvasView(QWidget):
    zoom_changed = Signal(float)
    view_changed = Signal()

    MAX_ZOOM = 64.0
    WHEEL_STEP = 1.25  # zoom factor per wheel notch

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMinimumSize(64, 64)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.layers: list[Layer] = []
        self.handler: Any = None  # the panel: canvas_press/move/release/double_click/key/leave
        self._img_w = 0
        self._img_h = 0
        self._scale = 1.0
        self._ox = 0.0
        self._oy = 0.0
        self._fit_mode = True
        self._pan_last: QPointF | None = None
        self._pan_button = Qt.MouseButton.NoButton
        self._space = False
        self.paint_count = 0        # paint events handled (benchmarks, tests)
        self.painted_pixels = 0     # widget pixels rendered from layers (benchmarks, tests)
        self.placeholder = "No image"
        # Image pixels repainted around every changed box: an instance project's outlines
        # depend on each pixel's neighbours (ui/canvas/instance_layer.py), so 1 there.
        self.image_margin = 0

    # -------------------------------------------------------------- geometry
    @property
    def has_image(self) -> bool:
        return self._img_w > 0 and self._img_h > 0

    @property
    def scale(self) -> float:
        return self._scale

    @property
    def offset(self) -> tuple[float, float]:
        return self._ox, self._oy

    @property
    def is_panning(self) -> bool:
        return self._pan_last is not None

    def set_image_size(self, width: int, height: int, fit: bool = True) -> None:
        self._img_w, self._img_h = int(width), int(height)
        if fit or not self.has_image:
            self.fit_to_window()
        else:
            self.update()

    def widget_to_image(self, pos: QPointF) -> tuple[float, float]:
        """The continuous image point a mouse event at ``pos`` acts on."""
        c, r = math.floor(pos.x()), math.floor(pos.y())
        return (c + 0.5 - self._ox) / self._scale, (r + 0.5 - self._oy) / self._scale

    def pixel_at(self, pos: QPointF) -> tuple[int, int]:
        u, v = self.widget_to_image(pos)
        return math.floor(u), math.floor(v)

    def contains_pixel(self, col: int, row: int) -> bool:
        return 0 <= col < self._img_w and 0 <= row < self._img_h

    def image_to_widget(self, u: float, v: float) -> QPointF:
        return QPointF(self._ox + u * self._scale, self._oy + v * self._scale)

    def widget_pos_of_pixel(self, col: int, row: int) -> QPointF:
        """A widget position (integer) whose mouse events act on pixel (col, row), or the
        nearest one when the pixel is smaller than a widget pixel (any maps there exactly)."""
        x = math.floor(self._ox + (col + 0.5) * self._scale)
        y = math.floor(self._oy + (row + 0.5) * self._scale)
        for dx in (0, -1, 1, -2, 2):
            for dy in (0, -1, 1, -2, 2):
                if self.pixel_at(QPointF(x + dx, y + dy)) == (col, row):
                    return QPointF(x + dx, y + dy)
        return QPointF(x, y)

    def widget_rect_of(self, rect: Rect, margin: int = 1) -> QRect:
        """Widget pixels that show any pixel of the image box ``rect``."""
        s = self._scale
        x0 = math.floor(self._ox + rect.x0 * s) - margin
        y0 = math.floor(self._oy + rect.y0 * s) - margin
        x1 = math.ceil(self._ox + rect.x1 * s) + margin
        y1 = math.ceil(self._oy + rect.y1 * s) + margin
        return QRect(x0, y0, x1 - x0, y1 - y0)

    def update_image_rect(self, rect: Rect | None) -> None:
        if rect is None or rect.empty:
            return
        if self.image_margin:
            # Zoomed out the outlines compare pixels about a screen pixel apart.
            m = self.image_margin * max(1, math.ceil(1.0 / self._scale))
            rect = Rect(rect.x0 - m, rect.y0 - m, rect.x1 + m, rect.y1 + m)
        r = self.widget_rect_of(rect).intersected(self.rect())
        if not r.isEmpty():
            self.update(r)

    def visible_image_rect(self) -> Rect:
        u0, v0 = self.widget_to_image(QPointF(0, 0))
        u1, v1 = self.widget_to_image(QPointF(self.width() - 1, self.height() - 1))
        return Rect(max(0, math.floor(u0)), max(0, math.floor(v0)),
                    min(self._img_w, math.floor(u1) + 1), min(self._img_h, math.floor(v1) + 1))

    # ------------------------------------------------------------ transform
    def fit_scale(self) -> float:
        if not self.has_image:
            return 1.0
        return max(1e-4, min(self.width() / self._img_w, self.height() / self._img_h))

    def min_zoom(self) -> float:
        return max(1e-4, min(self.fit_scale(), 1.0) / 4)

    def max_zoom(self) -> float:
        return max(self.MAX_ZOOM, self.fit_scale())

    def set_view(self, scale: float, ox: float, oy: float) -> None:
        """Set the transform exactly (tests, restoring a view)."""
        old = self._scale
        self._scale = float(scale)
        self._ox, self._oy = float(ox), float(oy)
        self._fit_mode = False
        self.update()
        self.view_changed.emit()
        if self._scale != old:
            self.zoom_changed.emit(self._scale)

    def set_zoom(self, scale: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under ``anchor`` (default: the view centre) in place."""
        if not self.has_image:
            return
        scale = min(self.max_zoom(), max(self.min_zoom(), float(scale)))
        if anchor is None:
            anchor = QPointF(self.width() / 2, self.height() / 2)
        ax, ay = math.floor(anchor.x()) + 0.5, math.floor(anchor.y()) + 0.5
        k = scale / self._scale
        ox = ax - (ax - self._ox) * k
        oy = ay - (ay - self._oy) * k
        self.set_view(scale, *self._clamped(scale, ox, oy))

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self._scale * factor, anchor)

    def fit_to_window(self) -> None:
        if not self.has_image:
            self.update()
            return
        s = self.fit_scale()
        self.set_view(
            s, (self.width() - self._img_w * s) / 2, (self.height() - self._img_h * s) / 2
        )
        self._fit_mode = True

    def show_rect(self, rect: Rect, margin: float = 0.15) -> None:
        """Zoom and pan so the image box ``rect`` (plus a margin) fills the view, centred."""
        if not self.has_image or rect.empty:
            return
        w = rect.width * (1 + 2 * margin)
        h = rect.height * (1 + 2 * margin)
        s = min(self.max_zoom(), max(self.min_zoom(), min(self.width() / w, self.height() / h)))
        cx, cy = (rect.x0 + rect.x1) / 2.0, (rect.y0 + rect.y1) / 2.0
        self.set_view(s, *self._clamped(s, self.width() / 2 - cx * s, self.height() / 2 - cy * s))

    def zoom_100(self) -> None:
        if not self.has_image:
            return
        if self._img_w <= self.width() and self._img_h <= self.height():
            self.set_view(1.0, float((self.width() - self._img_w) // 2),
                          float((self.height() - self._img_h) // 2))
        else:
            self.set_zoom(1.0)
            ox, oy = self.offset
            self.set_view(1.0, float(round(ox)), float(round(oy)))  # whole pixels at 100 %

    def pan_by(self, dx: float, dy: float) -> None:
        ox, oy = self._clamped(self._scale, self._ox + dx, self._oy + dy)
        sx, sy = ox - self._ox, oy - self._oy
        if sx == 0 and sy == 0:
            return
        if float(sx).is_integer() and float(sy).is_integer() and not self._fit_mode:
            # A whole-pixel shift maps every widget pixel to the same image pixel as its old
            # neighbour did, so the backing store can be scrolled and only the strip that comes
            # into view repainted (a full repaint costs ~15 ms at 1600 x 1000).
            self._ox, self._oy = ox, oy
            self.scroll(int(sx), int(sy))
            self.view_changed.emit()
            return
        self.set_view(self._scale, ox, oy)

    def _clamped(self, s: float, ox: float, oy: float) -> tuple[float, float]:
        """Keep at least a margin of the image on screen."""
        w, h = self._img_w * s, self._img_h * s
        mx, my = min(64.0, w), min(64.0, h)
        ox = min(max(ox, mx - w), self.width() - mx)
        oy = min(max(oy, my - h), self.height() - my)
        return ox, oy

    # ---------------------------------------------------------------- paint
    def _patch(self, r: QRect) -> Patch | None:
        """Source indices for the widget rectangle ``r`` clipped to the image."""
        if not self.has_image or r.isEmpty():
            return None
        s, ox, oy = self._scale, self._ox, self._oy
        cols = np.arange(r.left(), r.left() + r.width(), dtype=np.float64)
        rows = np.arange(r.top(), r.top() + r.height(), dtype=np.float64)
        ix = np.floor((cols + 0.5 - ox) / s).astype(np.int64)
        iy = np.floor((rows + 0.5 - oy) / s).astype(np.int64)
        vx = np.flatnonzero((ix >= 0) & (ix < self._img_w))
        vy = np.flatnonzero((iy >= 0) & (iy < self._img_h))
        if vx.size == 0 or vy.size == 0:
            return None
        ix = ix[vx[0]:vx[-1] + 1]
        iy = iy[vy[0]:vy[-1] + 1]
        sx0, sx1 = int(ix[0]), int(ix[-1]) + 1
        sy0, sy1 = int(iy[0]), int(iy[-1]) + 1
        return Patch(r.left() + int(vx[0]), r.top() + int(vy[0]), ix - sx0, iy - sy0,
                     sx0, sy0, sx1, sy1, s)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.paint_count += 1
        painter = QPainter(self)
        region = event.region()
        rects = (list(cast(Iterable[QRect], region)) if region.rectCount() <= 6
                 else [region.boundingRect()])
        for r in rects:
            painter.fillRect(r, BACKGROUND)
            patch = self._patch(r)
            if patch is None:
                continue
            self.painted_pixels += patch.width * patch.height
            for layer in self.layers:
                if layer.visible:
                    layer.render(painter, patch)
        if not self.has_image and self.placeholder:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
        if self.handler is not None:
            self.handler.canvas_paint_overlay(self, painter)
        painter.end()

    # --------------------------------------------------------------- events
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode and self.has_image:
            self.fit_to_window()

    def mousePressEvent(self, event) -> None:
        if self._pan_last is None and (
            event.button() == Qt.MouseButton.MiddleButton
            or (event.button() == Qt.MouseButton.LeftButton and self._space)
        ):
            self._pan_last = event.position()
            self._pan_button = event.button()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            if self.handler is not None:
                self.handler.canvas_pan_started(self)
            event.accept()
            return
        if self._pan_last is not None:
            event.accept()
            return
        if self.handler is not None and self.has_image:
            self.handler.canvas_press(self, event)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._pan_last is not None:
            p = event.position()
            d = p - self._pan_last
            self._pan_last = p
            self.pan_by(d.x(), d.y())
            event.accept()
            return
        if self.handler is not None and self.has_image:
            self.handler.canvas_move(self, event)
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_last is not None:
            if event.button() == self._pan_button:
                self._pan_last = None
                self._pan_button = Qt.MouseButton.NoButton
                self.setCursor(
                    Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.CrossCursor
                )
            event.accept()
            return
        if self.handler is not None and self.has_image:
            self.handler.canvas_release(self, event)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        if self._pan_last is None and self.handler is not None and self.has_image:
            self.handler.canvas_double_click(self, event)
        event.accept()

    def wheelEvent(self, event) -> None:
        dy = event.angleDelta().y() or event.angleDelta().x()
        if dy and self.handler is not None and self.handler.canvas_wheel(self, dy / 120.0):
            event.accept()  # a tool took it (the wand's tolerance while the button is held)
            return
        if dy and self.has_image:
            self.zoom_by(self.WHEEL_STEP ** (dy / 120.0), event.position())
        event.accept()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.modifiers():
            if not event.isAutoRepeat():
                self._space = True
                if self._pan_last is None:
                    self.setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if self.handler is not None and self.handler.canvas_key(self, event):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = False
                if self._pan_last is None:
                    self.setCursor(Qt.CursorShape.CrossCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space = False
        super().focusOutEvent(event)

    def leaveEvent(self, event) -> None:
        if self.handler is not None:
            self.handler.canvas_leave(self)
        super().leaveEvent(event)

    def image_rect_f(self) -> QRectF:
        return QRectF(self._ox, self._oy, self._img_w * self._scale, self._img_h * self._scale)
