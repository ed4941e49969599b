"""Canvas tools: one small class each. A tool turns mouse input (already mapped to image
coordinates by the view) into calls of ``segstudio.core.painting`` through a context - the
panel - that owns the document, the settings and the repaints:

    ctx.document            MaskDocument (mask, before_write, begin_edit / end_edit)
    ctx.active_class        int;  ctx.brush_size int;  ctx.preserve_labels bool
    ctx.view                CanvasView (for mapping image points to widget points)
    ctx.edit_started()      before the first write of an edit
    ctx.area_changed(rect)  pixels of ``rect`` changed: repaint them
    ctx.edit_finished()     the edit is complete (one undo step, autosave, mask_edited)
    ctx.pick_class(index)   make ``index`` the active class
    ctx.overlay_changed()   the tool's overlay (outline, polygon) must be repainted
    ctx.begin_object_edit(u, v, kind)  instance projects: which object the edit starting at
                            (u, v) paints (ui/canvas/objects.py); nothing in semantic ones
    ctx.paint_value(erase)  the value the edit writes;  ctx.paint_only  None, or which pixels
                            it may change (the instance eraser: one object's)
"""

from __future__ import annotations

import math
from functools import lru_cache

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from segstudio.core import painting


@lru_cache(maxsize=64)
def _outline_runs(size: int) -> tuple[tuple[int, int], ...]:
    """Per row of a ``size`` brush dab: the run [a, b) of painted columns."""
    foot = painting.disk_footprint(size)
    runs = []
    for row in foot:
        cols = row.nonzero()[0]
        runs.append((int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 0))
    return tuple(runs)


def dab_outline(view, cx: float, cy: float, size: int) -> QPolygonF:
    """The exact outline of a dab (pixel edges) centred at image point (cx, cy), in widget
    coordinates: the brush cursor shows precisely what a click paints."""
    x0, y0 = cx - size / 2.0, cy - size / 2.0
    runs = _outline_runs(size)
    s = view.scale
    ox, oy = view.offset
    right, left = [], []
    for i, (a, b) in enumerate(runs):
        yt, yb = oy + (y0 + i) * s, oy + (y0 + i + 1) * s
        right += [QPointF(ox + (x0 + b) * s, yt), QPointF(ox + (x0 + b) * s, yb)]
        left += [QPointF(ox + (x0 + a) * s, yt), QPointF(ox + (x0 + a) * s, yb)]
    return QPolygonF(right + left[::-1])


def _draw_outline(painter: QPainter, poly) -> None:
    """A two-tone outline that shows on any background."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for color, width in ((QColor(0, 0, 0, 200), 3), (QColor(255, 255, 255), 1)):
        pen = QPen(color, width)
        pen.setCosmetic(True)
        painter.setPen(pen)
        if isinstance(poly, QPolygonF):
            painter.drawPolygon(poly)
        else:
            poly(painter)


class Tool:
    name = ""
    label = ""
    shortcut = ""
    tip = ""
    in_toolbar = True

    def press(self, ctx, u: float, v: float, button) -> None:
        pass

    def move(self, ctx, u: float, v: float, buttons) -> None:
        pass

    def release(self, ctx, u: float, v: float, button) -> None:
        pass

    def double_click(self, ctx, u: float, v: float, button) -> None:
        pass

    def key(self, ctx, key: int) -> bool:
        return False

    def wheel(self, ctx, steps: float) -> bool:
        """The wheel turned ``steps`` notches while this tool is busy; True: used (no zoom)."""
        return False

    def cancel(self, ctx) -> None:
        """Finish or abandon whatever is in progress (tool switch, image switch, undo)."""

    @property
    def busy(self) -> bool:
        return False

    def overlay_rect(self, ctx, hover: tuple[float, float] | None) -> QRect | None:
        return None

    def paint_overlay(self, ctx, painter: QPainter, hover: tuple[float, float] | None) -> None:
        pass


class BrushTool(Tool):
    """Round brush; press-drag paints, each mouse move adds one interpolated segment."""

    name, label, shortcut = "brush", "Brush", "B"
    tip = "Paint the active class (B). [ and ] change the size."
    erase = False

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    @property
    def busy(self) -> bool:
        return self._last is not None

    def value(self, ctx) -> int:
        return ctx.paint_value(self.erase)

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        if self._last is not None:
            self.cancel(ctx)
        ctx.edit_started()
        ctx.begin_object_edit(u, v, "erase" if self.erase else "paint")
        self._last = (u, v)
        self._paint(ctx, u, v, u, v)

    def move(self, ctx, u, v, buttons) -> None:
        if self._last is None or not (buttons & Qt.MouseButton.LeftButton):
            return
        lu, lv = self._last
        self._last = (u, v)
        self._paint(ctx, lu, lv, u, v)

    def release(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton or self._last is None:
            return
        lu, lv = self._last
        if (lu, lv) != (u, v):
            self._paint(ctx, lu, lv, u, v)
        self._last = None
        ctx.edit_finished()

    def cancel(self, ctx) -> None:
        if self._last is not None:
            self._last = None
            ctx.edit_finished()

    def _paint(self, ctx, au, av, bu, bv) -> None:
        doc = ctx.document
        rect = painting.paint_segment(doc.mask, au, av, bu, bv, ctx.brush_size, self.value(ctx),
                                      ctx.preserve_labels and not self.erase, doc.before_write,
                                      only=ctx.paint_only)
        ctx.area_changed(rect)

    def overlay_rect(self, ctx, hover) -> QRect | None:
        if hover is None:
            return None
        size = ctx.brush_size
        cx, cy = painting.brush_center(hover[0], hover[1], size)
        a = ctx.view.image_to_widget(cx - size / 2.0, cy - size / 2.0)
        b = ctx.view.image_to_widget(cx + size / 2.0, cy + size / 2.0)
        return QRect(math.floor(a.x()) - 3, math.floor(a.y()) - 3,
                     math.ceil(b.x() - a.x()) + 8, math.ceil(b.y() - a.y()) + 8)

    def paint_overlay(self, ctx, painter, hover) -> None:
        if hover is None:
            return
        size = ctx.brush_size
        cx, cy = painting.brush_center(hover[0], hover[1], size)
        if size * ctx.view.scale < 4:  # too small to outline: a dot in a ring
            c = ctx.view.image_to_widget(cx, cy)
            _draw_outline(painter, lambda p: p.drawEllipse(c, 2.5, 2.5))
            return
        _draw_outline(painter, dab_outline(ctx.view, cx, cy, size))


class EraserTool(BrushTool):
    name, label, shortcut = "eraser", "Eraser", "E"
    tip = ("Erase back to 'not labelled' (E); in instance projects only the object the stroke "
           "starts on (Shift+drag: everything).")
    erase = True


class PickerTool(Tool):
    name, label, shortcut = "picker", "Picker", "I"
    tip = "Pick the class under the click (I, or Alt+click with any tool)."

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        if ctx.instance_mode:
            ctx.pick_object(u, v)
            return
        c = painting.pick(ctx.document.mask, math.floor(u), math.floor(v))
        if c is not None:
            ctx.pick_class(c)


class PolygonTool(Tool):
    """Click vertices, then double-click or Enter to fill; Esc cancels, Backspace removes the
    last vertex. Press and drag instead draws a freehand lasso, filled on release."""

    name, label, shortcut = "polygon", "Polygon", "P"
    tip = ("Polygon / lasso fill (P): click vertices, double-click or Enter fills, Esc cancels;"
           " or drag a freehand lasso.")
    LASSO_START_PX = 4.0  # drag distance (widget pixels) that turns a press into a lasso

    def __init__(self) -> None:
        self.points: list[tuple[int, int]] = []  # vertices as pixels (col, row)
        self._press: tuple[float, float] | None = None
        self._lasso = False

    @property
    def busy(self) -> bool:
        return bool(self.points) or self._press is not None

    @staticmethod
    def _pixel(u, v) -> tuple[int, int]:
        return math.floor(u), math.floor(v)

    def press(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        self._press = (u, v)
        self._lasso = False

    def move(self, ctx, u, v, buttons) -> None:
        if self._press is None or not (buttons & Qt.MouseButton.LeftButton):
            return
        if not self._lasso:
            pu, pv = self._press
            if math.hypot(u - pu, v - pv) * ctx.view.scale < self.LASSO_START_PX or self.points:
                return
            self._lasso = True
            self.points = [self._pixel(pu, pv)]
        p = self._pixel(u, v)
        if p != self.points[-1]:
            self.points.append(p)
            ctx.overlay_changed()

    def release(self, ctx, u, v, button) -> None:
        if button != Qt.MouseButton.LeftButton or self._press is None:
            return
        if self._lasso:
            p = self._pixel(u, v)
            if p != self.points[-1]:
                self.points.append(p)
            self._press = None
            self._lasso = False
            self.close(ctx)
            return
        pu, pv = self._press
        self._press = None
        p = self._pixel(pu, pv)
        if not self.points or self.points[-1] != p:
            self.points.append(p)
        ctx.overlay_changed()

    def double_click(self, ctx, u, v, button) -> None:
        if button == Qt.MouseButton.LeftButton:
            self._press = None
            self.close(ctx)

    def key(self, ctx, key) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.points:
            self.close(ctx)
            return True
        if key == Qt.Key.Key_Escape and self.busy:
            self.cancel(ctx)
            return True
        if key == Qt.Key.Key_Backspace and self.points:
            self.points.pop()
            ctx.overlay_changed()
            return True
        return False

    def close(self, ctx) -> None:
        pts, self.points = self.points, []
        self._press = None
        self._lasso = False
        ctx.overlay_changed()
        if len(pts) < 3:
            return
        doc = ctx.document
        ctx.edit_started()
        ctx.begin_object_edit(pts[0][0] + 0.5, pts[0][1] + 0.5, "polygon")
        rect = painting.fill_polygon(doc.mask, pts, ctx.paint_value(False), ctx.preserve_labels,
                                     doc.before_write)
        ctx.area_changed(rect)
        ctx.edit_finished()

    def cancel(self, ctx) -> None:
        if self.busy:
            self.points = []
            self._press = None
            self._lasso = False
            ctx.overlay_changed()

    def _widget_points(self, ctx, hover) -> list[QPointF]:
        pts = [ctx.view.image_to_widget(c + 0.5, r + 0.5) for c, r in self.points]
        if hover is not None and pts and not self._lasso:
            pts.append(ctx.view.image_to_widget(*hover))
        return pts

    def overlay_rect(self, ctx, hover) -> QRect | None:
        pts = self._widget_points(ctx, hover)
        if not pts:
            return None
        r = QPolygonF(pts).boundingRect().toAlignedRect()
        return r.adjusted(-6, -6, 6, 6)

    def paint_overlay(self, ctx, painter, hover) -> None:
        pts = self._widget_points(ctx, hover)
        if not pts:
            return
        poly = QPolygonF(pts)
        _draw_outline(painter, lambda p: p.drawPolyline(poly))
        if not self._lasso:
            painter.setPen(QPen(QColor(0, 0, 0), 1))
            painter.setBrush(QColor(255, 255, 255))
            for q in pts[:-1] if hover is not None else pts:
                painter.drawRect(QRectF(q.x() - 2.5, q.y() - 2.5, 5, 5))

