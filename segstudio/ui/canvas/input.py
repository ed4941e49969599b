"""Mouse and key input of the canvas: the view hands its events to these methods (the panel is
the view's handler), which map them to the current tool, keep the hover position for the tool's
outline, and report the pixel under the cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import ID_BITS, ID_MASK
from segstudio.ui.actions import trigger_matching
from segstudio.ui.canvas.view import CanvasView


@dataclass(frozen=True)
class CursorInfo:
    x: int
    y: int
    class_index: int | None  # None = not labelled
    object_id: int | None = None  # instance projects: the object's id (None: no object)


class CanvasInput:
    """The view-handler half of CanvasPanel (mixed into it; the panel owns the state)."""

    # Set by CanvasPanel.__init__.
    view: CanvasView
    commands: dict[str, Any]
    cursor_info: Any
    _tools: dict[str, Any]
    _tool: Any
    _doc: Any
    _hover: tuple[float, float] | None
    _hover_pos: QPointF | None
    _last_info: object
    _instances: bool
    merge_at: Any
    press_modifiers: Any = Qt.KeyboardModifier.NoModifier

    def canvas_press(self, view: CanvasView, event) -> None:
        u, v = view.widget_to_image(event.position())
        self.press_modifiers = event.modifiers()  # read by tools (Shift+click confirms a fill)
        if (
            event.button() == Qt.MouseButton.LeftButton
            and event.modifiers() & Qt.KeyboardModifier.AltModifier
        ):
            self._tools["picker"].press(self, u, v, Qt.MouseButton.LeftButton)
            return
        if (self._instances and event.button() == Qt.MouseButton.LeftButton
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.merge_at(u, v)  # Ctrl+click: merge that object into the current one
            return
        self._tool.press(self, u, v, event.button())
        self._hover_pos = event.position()
        self._set_hover(u, v)

    def canvas_move(self, view: CanvasView, event) -> None:
        u, v = view.widget_to_image(event.position())
        self._tool.move(self, u, v, event.buttons())
        self._hover_pos = event.position()
        self._set_hover(u, v)

    def canvas_release(self, view: CanvasView, event) -> None:
        u, v = view.widget_to_image(event.position())
        self._tool.release(self, u, v, event.button())

    def canvas_double_click(self, view: CanvasView, event) -> None:
        u, v = view.widget_to_image(event.position())
        self._tool.double_click(self, u, v, event.button())

    def canvas_wheel(self, view: CanvasView, steps: float) -> bool:
        """The wheel turned ``steps`` notches: a busy tool may use it instead of the zoom."""
        return bool(self._doc is not None and self._tool.busy and self._tool.wheel(self, steps))

    def canvas_pan_started(self, view: CanvasView) -> None:
        # The tool overlay is not part of the image: hide it so scrolling cannot smear it.
        old = self._tool.overlay_rect(self, self._hover)
        self._hover = None
        self._hover_pos = None
        if old is not None:  # now, before the first scroll moves it along with the image
            view.repaint(old.intersected(view.rect()))

    def canvas_leave(self, view: CanvasView) -> None:
        if self._tool.busy:
            return  # keep the outline while a drag leaves and re-enters
        old = self._tool.overlay_rect(self, self._hover)
        self._hover = None
        self._hover_pos = None
        self._repaint_widget_rects(old, None)
        self._emit_cursor(None)

    def canvas_paint_overlay(self, view: CanvasView, painter) -> None:
        if self._doc is not None:
            self._tool.paint_overlay(self, painter, self._hover)

    def canvas_key(self, view: CanvasView, event) -> bool:
        """Keys that act inside the current tool (polygon: Enter, Esc, Backspace); any other
        key is one of the panel's QAction shortcuts (segstudio/ui/actions.py)."""
        mods = event.modifiers() & (Qt.KeyboardModifier.ShiftModifier
                                    | Qt.KeyboardModifier.ControlModifier
                                    | Qt.KeyboardModifier.AltModifier
                                    | Qt.KeyboardModifier.MetaModifier)
        if self._doc is not None and not mods and self._tool.key(self, event.key()):
            return True
        return trigger_matching(self.commands, event)

    def _set_hover(self, u: float, v: float) -> None:
        old = self._tool.overlay_rect(self, self._hover)
        self._hover = (u, v)
        self._repaint_widget_rects(old, self._tool.overlay_rect(self, self._hover))
        self._emit_hover_info(u, v)

    def _emit_hover_info(self, u: float, v: float) -> None:
        if self._doc is None:
            return
        col, row = int(np.floor(u)), int(np.floor(v))
        h, w = self._doc.mask.shape
        if 0 <= col < w and 0 <= row < h:
            val = int(self._doc.mask[row, col])
            if self._instances:
                cls, oid = val >> ID_BITS, val & ID_MASK
                self._emit_cursor(CursorInfo(col, row, None if cls == UNLABELLED else cls,
                                             oid or None))
            else:
                self._emit_cursor(CursorInfo(col, row, None if val == UNLABELLED else val))
        else:
            self._emit_cursor(None)

    def _emit_cursor(self, info: CursorInfo | None) -> None:
        if info != self._last_info:
            self._last_info = info
            self.cursor_info.emit(info)

    def _repaint_widget_rects(self, *rects) -> None:
        for r in rects:
            if r is not None:
                r = r.intersected(self.view.rect())
                if not r.isEmpty():
                    self.view.update(r)

    def _on_view_changed(self) -> None:
        # The view repaints itself entirely; the cursor now points at another image pixel.
        if self._hover_pos is not None and self._doc is not None:
            self._hover = self.view.widget_to_image(self._hover_pos)
            self._emit_hover_info(*self._hover)

