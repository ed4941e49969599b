"""CanvasPanel: the central area - a tool bar above the canvas view - and the glue between the
view, the tools, the mask document, the per-image undo histories and autosave.

Keys (with the canvas focused; tool-bar widgets never take focus): 1-9 class, B brush,
E eraser, F fill, P polygon, I picker (Alt+click picks with any tool), [ and ] brush size,
O mask overlay on/off, Shift+O prediction overlay on/off, Space+drag or middle-drag pan,
wheel zoom to the cursor, Ctrl+0 fit, Ctrl+1 100 %, + / - zoom, Ctrl+Z undo, Ctrl+Shift+Z and
Ctrl+Y redo; polygon: Enter or double-click fills, Esc cancels, Backspace removes a vertex.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QLabel, QSlider, QToolBar,
                               QToolButton, QVBoxLayout, QWidget)

from segstudio.core.classes import UNLABELLED
from segstudio.core.history import HistoryStore, mask_fingerprint
from segstudio.core.painting import Rect
from segstudio.core.project import ImageEntry, Project
from segstudio.ui.canvas.autosave import Autosaver
from segstudio.ui.canvas.document import MaskDocument
from segstudio.ui.canvas.layers import ImageLayer, LabelLayer
from segstudio.ui.canvas.tools import TOOLS, Tool
from segstudio.ui.canvas.view import CanvasView


@dataclass(frozen=True)
class CursorInfo:
    x: int
    y: int
    class_index: int | None  # None = not labelled


MAX_BRUSH = 400


class CanvasPanel(QWidget):
    mask_edited = Signal(str)          # image id, after each completed edit
    mask_saved = Signal(str, float)    # image id, labelled fraction (GUI thread)
    save_failed = Signal(str)          # message for the user
    cursor_info = Signal(object)       # CursorInfo or None (outside the image)
    zoom_changed = Signal(float)       # 1.0 = 100 %
    active_class_changed = Signal(int)
    tool_changed = Signal(str)         # tool name ("brush", "eraser", "fill", "polygon", "picker")

    def __init__(self, parent: Optional[QWidget] = None, *, autosave_delay_ms: int = 800,
                 history_bytes_per_image: int = 256 << 20,
                 history_bytes_total: int = 512 << 20) -> None:
        super().__init__(parent)
        self._project: Optional[Project] = None
        self._doc: Optional[MaskDocument] = None
        self._active_class = 0
        self._brush_size = 15
        self._preserve = False
        self._hover: Optional[tuple[float, float]] = None
        self._last_info: object = None
        self._tools: dict[str, Tool] = {cls.name: cls() for cls in TOOLS}
        self._tool: Tool = self._tools["brush"]

        self.histories = HistoryStore(history_bytes_per_image, history_bytes_total)
        self.autosaver = Autosaver(self, autosave_delay_ms)
        self.autosaver.saved.connect(self._on_saved)
        self.autosaver.failed.connect(self._on_save_failed)

        # Layer stack, bottom to top; the tool overlay is drawn by the view after the layers.
        self.image_layer = ImageLayer()
        self.prediction_layer = LabelLayer(opacity=0.35)
        self.prediction_layer.visible = True
        self.mask_layer = LabelLayer(opacity=0.5)
        self._prediction_id: Optional[str] = None

        self.view = CanvasView(self)
        self.view.layers = [self.image_layer, self.prediction_layer, self.mask_layer]
        self.view.handler = self
        self.view.zoom_changed.connect(self._on_zoom)
        self.view.view_changed.connect(self._on_view_changed)
        self._hover_pos: Optional[QPointF] = None

        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence(QKeySequence.Undo))
        self.undo_action.triggered.connect(self.undo)
        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.triggered.connect(self.redo)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)

        self._build_toolbar()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.view, 1)
        self._update_actions()

    # ================================================================ tool bar
    def _build_toolbar(self) -> None:
        # A QToolBar folds what does not fit behind its extension button, so the panel never
        # forces a minimum window width.
        bar = QToolBar("Canvas", self)
        bar.setObjectName("canvasToolbar")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        bar.setFocusPolicy(Qt.NoFocus)
        self.tool_buttons: dict[str, QToolButton] = {}
        self._tool_group = QButtonGroup(self)
        self._tool_group.setExclusive(True)
        for name, tool in self._tools.items():
            b = QToolButton(bar)
            b.setText(tool.label)
            b.setToolTip(tool.tip)
            b.setCheckable(True)
            b.setFocusPolicy(Qt.NoFocus)
            b.clicked.connect(lambda _=False, n=name: self.set_tool(n))
            self._tool_group.addButton(b)
            self.tool_buttons[name] = b
            bar.addWidget(b)
        self.tool_buttons["brush"].setChecked(True)
        bar.addSeparator()

        bar.addWidget(QLabel(" Size ", bar))
        self.size_slider = QSlider(Qt.Horizontal, bar)
        self.size_slider.setRange(1, MAX_BRUSH)
        self.size_slider.setValue(self._brush_size)
        self.size_slider.setFocusPolicy(Qt.NoFocus)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Brush size in image pixels ([ and ])")
        self.size_slider.valueChanged.connect(self.set_brush_size)
        bar.addWidget(self.size_slider)
        self.size_label = QLabel(bar)
        self.size_label.setMinimumWidth(46)
        bar.addWidget(self.size_label)

        bar.addWidget(QLabel(" Opacity ", bar))
        self.opacity_slider = QSlider(Qt.Horizontal, bar)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(int(round(self.mask_layer.opacity * 100)))
        self.opacity_slider.setFocusPolicy(Qt.NoFocus)
        self.opacity_slider.setFixedWidth(80)
        self.opacity_slider.setToolTip("Mask overlay opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.set_overlay_opacity(v / 100.0))
        bar.addWidget(self.opacity_slider)

        self.overlay_button = QToolButton(bar)
        self.overlay_button.setText("Overlay")
        self.overlay_button.setToolTip("Show the mask overlay (O)")
        self.overlay_button.setCheckable(True)
        self.overlay_button.setChecked(True)
        self.overlay_button.setFocusPolicy(Qt.NoFocus)
        self.overlay_button.toggled.connect(self.set_overlay_visible)
        bar.addWidget(self.overlay_button)

        self.preserve_check = QCheckBox("Preserve labels", bar)
        self.preserve_check.setToolTip("Brush, fill and polygon only change unlabelled pixels")
        self.preserve_check.setFocusPolicy(Qt.NoFocus)
        self.preserve_check.toggled.connect(self.set_preserve_labels)
        bar.addWidget(self.preserve_check)
        bar.addSeparator()

        self.fit_button = QToolButton(bar)
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Fit the image to the window (Ctrl+0)")
        self.fit_button.setFocusPolicy(Qt.NoFocus)
        self.fit_button.clicked.connect(self.fit_to_window)
        bar.addWidget(self.fit_button)
        self.zoom100_button = QToolButton(bar)
        self.zoom100_button.setText("100 %")
        self.zoom100_button.setToolTip("Show image pixels 1:1 (Ctrl+1)")
        self.zoom100_button.setFocusPolicy(Qt.NoFocus)
        self.zoom100_button.clicked.connect(self.zoom_100)
        bar.addWidget(self.zoom100_button)
        self.zoom_label = QLabel(bar)
        self.zoom_label.setMinimumWidth(52)
        self.zoom_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        bar.addWidget(self.zoom_label)
        self.toolbar = bar
        self._sync_labels()

    def _sync_labels(self) -> None:
        self.size_label.setText(f"{self._brush_size} px")
        self.zoom_label.setText(f"{self.view.scale * 100:.0f} %" if self.view.has_image else "")

    # ============================================================== public API
    def set_project(self, project: Optional[Project]) -> None:
        """Start over with ``project`` (also when it is the same object, e.g. after its masks were
        rewritten on disk): the shown image, its unsaved edits (saved first) and every undo
        history are dropped."""
        self.clear()
        self.autosaver.forget_failed()
        self.histories.clear()
        self._project = project
        self.refresh_classes()

    @property
    def project(self) -> Optional[Project]:
        return self._project

    def show_image(self, entry: ImageEntry, image: np.ndarray, mask: np.ndarray) -> None:
        """Show ``image`` with ``mask`` (the panel owns the mask from now on). The previous
        image's unsaved edits are saved first (in the background)."""
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
        old_size = (self.view._img_w, self.view._img_h)
        self._leave_document()
        doc = self.autosaver.pending_document(entry.id, self._project)
        if doc is not None and doc.mask.shape == mask.shape:
            doc.entry = entry  # its unsaved state is newer than the file just read
        else:
            if mask.dtype != np.uint8 or mask.ndim != 2:
                raise ValueError("a mask is a 2-D uint8 array")
            if not mask.flags.c_contiguous or not mask.flags.writeable:
                mask = np.array(mask, dtype=np.uint8, order="C")
            history = self.histories.get(entry.id, mask.shape)
            mask = self._check_returning_mask(entry, mask, history)
            doc = MaskDocument(entry.id, mask, history, entry)
        self._doc = doc
        self.image_layer.set_image(image)
        self.mask_layer.set_array(doc.mask)
        self.prediction_layer.set_array(None)
        self._prediction_id = None
        h, w = doc.mask.shape
        same_size = old_size == (w, h) and not self.view._fit_mode
        self.view.set_image_size(w, h, fit=not same_size)
        self.view.update()
        self._update_actions()
        self._sync_labels()
        self._emit_cursor(None)

    def clear(self) -> None:
        self._leave_document()
        self._doc = None
        self.image_layer.set_image(None)
        self.mask_layer.set_array(None)
        self.prediction_layer.set_array(None)
        self._prediction_id = None
        self.view.set_image_size(0, 0)
        self._update_actions()
        self._sync_labels()
        self._emit_cursor(None)

    def set_active_class(self, index: int) -> None:
        n = len(self._project.classes) if self._project is not None else 0
        index = int(index)
        if n:
            index = max(0, min(n - 1, index))
        if index != self._active_class:
            self._active_class = index
            self.active_class_changed.emit(index)

    @property
    def active_class(self) -> int:
        return self._active_class

    def refresh_classes(self) -> None:
        classes = list(self._project.classes) if self._project is not None else []
        self.mask_layer.set_classes(classes)
        self.prediction_layer.set_classes(classes)
        if classes and self._active_class >= len(classes):
            self.set_active_class(len(classes) - 1)
        self.view.update()

    def current_mask(self) -> Optional[np.ndarray]:
        return self._doc.mask if self._doc is not None else None

    @property
    def document(self) -> Optional[MaskDocument]:
        return self._doc

    @property
    def image_id(self) -> Optional[str]:
        return self._doc.image_id if self._doc is not None else None

    def flush_saves(self) -> None:
        """Finish any stroke in progress, save the current mask if it has unsaved edits and
        block until every pending autosave is written."""
        if self._doc is not None:
            self._tool.cancel(self)
            if self._doc.dirty:
                self.autosaver.save_now(self._doc, self._project)
        self.autosaver.flush()

    def fit_to_window(self) -> None:
        self.view.fit_to_window()

    def zoom_100(self) -> None:
        self.view.zoom_100()

    # ----------------------------------------------------------- extensions
    def set_tool(self, name: str) -> None:
        tool = self._tools[name]
        if tool is self._tool:
            self.tool_buttons[name].setChecked(True)
            return
        old_rect = self._tool.overlay_rect(self, self._hover)
        self._tool.cancel(self)
        self._tool = tool
        self.tool_buttons[name].setChecked(True)
        self._repaint_widget_rects(old_rect, tool.overlay_rect(self, self._hover))
        self.tool_changed.emit(name)

    @property
    def tool_name(self) -> str:
        return self._tool.name

    @property
    def tool(self) -> Tool:
        return self._tool

    @property
    def brush_size(self) -> int:
        return self._brush_size

    def set_brush_size(self, size: int) -> None:
        size = max(1, min(MAX_BRUSH, int(size)))
        if size == self._brush_size:
            return
        old = self._tool.overlay_rect(self, self._hover)
        self._brush_size = size
        if self.size_slider.value() != size:
            self.size_slider.setValue(size)
        self._sync_labels()
        self._repaint_widget_rects(old, self._tool.overlay_rect(self, self._hover))

    @property
    def preserve_labels(self) -> bool:
        return self._preserve

    def set_preserve_labels(self, on: bool) -> None:
        self._preserve = bool(on)
        if self.preserve_check.isChecked() != self._preserve:
            self.preserve_check.setChecked(self._preserve)

    def set_overlay_opacity(self, opacity: float) -> None:
        self.mask_layer.set_opacity(opacity)
        v = int(round(self.mask_layer.opacity * 100))
        if self.opacity_slider.value() != v:
            self.opacity_slider.setValue(v)
        self.view.update()

    def set_overlay_visible(self, on: bool) -> None:
        self.mask_layer.visible = bool(on)
        if self.overlay_button.isChecked() != bool(on):
            self.overlay_button.setChecked(bool(on))
        self.view.update()

    @property
    def overlay_visible(self) -> bool:
        return self.mask_layer.visible

    def set_prediction(self, image_id: str, prediction: Optional[np.ndarray]) -> None:
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
        self.view.update()

    def set_prediction_opacity(self, opacity: float) -> None:
        self.prediction_layer.set_opacity(opacity)
        self.view.update()

    @property
    def history(self):
        return self._doc.history if self._doc is not None else None

    @property
    def extra_bytes(self) -> int:
        """Bytes the canvas holds beyond the image and mask arrays it was given: the display
        copy of 16-bit/float images and the undo histories (bounded)."""
        return self.image_layer.extra_bytes + self.histories.nbytes

    def apply_block(self, rect: Rect, block: np.ndarray) -> bool:
        """Write ``block`` into the mask at ``rect`` as one undo step (accepting a prediction,
        imports): recorded, redrawn, autosaved like a stroke."""
        if self._doc is None:
            return False
        self._tool.cancel(self)
        self._doc.begin_edit()
        self._doc.before_write(rect)
        self._doc.mask[rect.y0:rect.y1, rect.x0:rect.x1] = block
        self.edit_finished()
        self.view.update_image_rect(rect)
        return True

    # ============================================================ undo / redo
    def undo(self) -> None:
        self._undo_redo(redo=False)

    def redo(self) -> None:
        self._undo_redo(redo=True)

    def _undo_redo(self, redo: bool) -> None:
        if self._doc is None:
            return
        self._tool.cancel(self)
        rect = self._doc.redo() if redo else self._doc.undo()
        self.histories.enforce()
        self._update_actions()
        if rect is not None:
            self.view.update_image_rect(rect)
            self._after_edit()

    def _update_actions(self) -> None:
        h = self._doc.history if self._doc is not None else None
        self.undo_action.setEnabled(bool(h and h.can_undo))
        self.redo_action.setEnabled(bool(h and h.can_redo))

    # ============================================== context for the tools
    def edit_started(self) -> None:
        self._doc.begin_edit()

    def area_changed(self, rect: Optional[Rect]) -> None:
        self.view.update_image_rect(rect)

    def edit_finished(self) -> None:
        changed = self._doc.end_edit()
        self.histories.enforce()
        self._update_actions()
        if changed:
            self._after_edit()

    def pick_class(self, index: int) -> None:
        self.set_active_class(index)

    def overlay_changed(self) -> None:
        self.view.update()

    def _after_edit(self) -> None:
        self.mask_edited.emit(self._doc.image_id)
        self.autosaver.schedule(self._doc, self._project)
        if self._hover is not None:
            self._emit_hover_info(*self._hover)

    # ======================================================== view handler
    def canvas_press(self, view: CanvasView, event) -> None:
        u, v = view.widget_to_image(event.position())
        if event.button() == Qt.LeftButton and event.modifiers() & Qt.AltModifier:
            self._tools["picker"].press(self, u, v, Qt.LeftButton)
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
        return self._handle_key(event)

    def keyPressEvent(self, event) -> None:  # keys that reach the panel (e.g. from the tool bar)
        if self._handle_key(event):
            event.accept()
        else:
            super().keyPressEvent(event)

    def _handle_key(self, event) -> bool:
        key = event.key()
        mods = event.modifiers() & (Qt.ShiftModifier | Qt.ControlModifier | Qt.AltModifier |
                                    Qt.MetaModifier)
        ctrl = bool(mods & Qt.ControlModifier)
        shift = bool(mods & Qt.ShiftModifier)
        if ctrl:
            if key == Qt.Key_Z and not shift:
                self.undo()
                return True
            if (key == Qt.Key_Z and shift) or (key == Qt.Key_Y and not shift):
                self.redo()
                return True
            if key == Qt.Key_0:
                self.fit_to_window()
                return True
            if key == Qt.Key_1:
                self.zoom_100()
                return True
            return False
        if mods & (Qt.AltModifier | Qt.MetaModifier):
            return False
        if self._doc is not None and self._tool.key(self, key):
            return True
        if Qt.Key_1 <= key <= Qt.Key_9 and not shift:
            n = len(self._project.classes) if self._project is not None else 9
            idx = key - Qt.Key_1
            if idx < n:
                self.set_active_class(idx)
                if self._tool.name == "eraser":
                    self.set_tool("brush")
            return True
        if key == Qt.Key_O:
            if shift:
                self.set_prediction_visible(not self.prediction_layer.visible)
            else:
                self.set_overlay_visible(not self.mask_layer.visible)
            return True
        if shift:
            if key == Qt.Key_Plus:
                self.view.zoom_by(self.view.WHEEL_STEP)
                return True
            return False
        for name, tool in self._tools.items():
            if key == ord(tool.shortcut):
                self.set_tool(name)
                return True
        if key == Qt.Key_BracketRight:
            s = self._brush_size
            self.set_brush_size(max(s + 1, round(s * 1.2)))
            return True
        if key == Qt.Key_BracketLeft:
            s = self._brush_size
            self.set_brush_size(min(s - 1, round(s / 1.2)))
            return True
        if key in (Qt.Key_Plus, Qt.Key_Equal):
            self.view.zoom_by(self.view.WHEEL_STEP)
            return True
        if key == Qt.Key_Minus:
            self.view.zoom_by(1 / self.view.WHEEL_STEP)
            return True
        return False

    # =============================================================== helpers
    def _check_returning_mask(self, entry: ImageEntry, mask: np.ndarray, history) -> np.ndarray:
        """An image edited earlier in this session comes back. Its history is valid only for
        the mask we last saved (``history.fingerprint``). A mask that differs was either read
        before our last save landed (then the file now holds our state: use it) or changed
        outside the canvas (then the old undo steps would corrupt it: drop them)."""
        if history.fingerprint is None:
            if history.can_undo or history.can_redo:
                history.clear()  # unsaved state of unknown fate: do not trust old steps
            return mask
        if mask_fingerprint(mask) == history.fingerprint:
            return mask
        if self._project is not None:
            try:
                disk = self._project.load_mask(entry, mask.shape)
            except Exception:
                disk = None
            if disk is not None and mask_fingerprint(disk) == history.fingerprint:
                return np.array(disk, dtype=np.uint8, order="C")
        history.clear()
        history.fingerprint = None
        return mask

    def _leave_document(self) -> None:
        doc = self._doc
        if doc is None:
            return
        self._tool.cancel(self)
        if doc.dirty:
            self.autosaver.save_now(doc, self._project)
        self._hover = None
        self._hover_pos = None

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
            self._emit_cursor(CursorInfo(col, row, None if val == UNLABELLED else val))
        else:
            self._emit_cursor(None)

    def _emit_cursor(self, info: Optional[CursorInfo]) -> None:
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

    def _on_zoom(self, scale: float) -> None:
        self._sync_labels()
        self.zoom_changed.emit(scale)

    def _on_saved(self, result) -> None:
        self.mask_saved.emit(result.doc.image_id, float(result.fraction))

    def _on_save_failed(self, result) -> None:
        self.save_failed.emit(result.message)
