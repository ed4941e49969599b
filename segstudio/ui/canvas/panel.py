"""CanvasPanel: the central area - a tool bar above the canvas view - and the glue between the
view, the tools, the mask document, the per-image undo histories and autosave.

Its commands (tools, brush size, overlays, zoom, undo) are QActions made from
segstudio/ui/actions.py, which lists their shortcuts; keys that act inside a tool (polygon:
Enter, Esc, Backspace) go to the tool, Space+drag pans (the view).

In an instance project the document is the packed uint32 label array (class << 24 | id) and
the overlay an ``InstanceLayer``; which object an edit paints, and the object commands (new,
pick, merge, delete), are in ``objects.CanvasObjects``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QVBoxLayout, QWidget

from segstudio.core.document import MaskDocument
from segstudio.core.history import HistoryStore, reconcile_returning_mask
from segstudio.core.painting import Rect
from segstudio.project.labels import load_labels
from segstudio.project.project import ImageEntry, Project
from segstudio.ui.actions import class_actions, create_actions
from segstudio.ui.canvas.assist import CanvasAssist
from segstudio.ui.canvas.assist_tools import TOOLS
from segstudio.ui.canvas.autosave import Autosaver
from segstudio.ui.canvas.input import CanvasInput
from segstudio.ui.canvas.instance_layer import InstanceLayer
from segstudio.ui.canvas.layers import ImageLayer, LabelLayer
from segstudio.ui.canvas.objects import CanvasObjects
from segstudio.ui.canvas.toolbar import MAX_BRUSH, CanvasToolbar
from segstudio.ui.canvas.tools import Tool
from segstudio.ui.canvas.view import CanvasView


class CanvasPanel(CanvasInput, CanvasObjects, CanvasAssist, QWidget):
    mask_edited = Signal(str)          # image id, after each completed edit
    mask_saved = Signal(str, float)    # image id, labelled fraction (GUI thread)
    save_failed = Signal(str)          # message for the user
    notice = Signal(str)               # a tool did nothing, and says why (not an error)
    cursor_info = Signal(object)       # CursorInfo or None (outside the image)
    zoom_changed = Signal(float)       # 1.0 = 100 %
    active_class_changed = Signal(int)
    tool_changed = Signal(str)         # tool name (assist_tools.TOOLS: "brush", "wand", ...)
    object_changed = Signal(int)       # instance projects: the current object's id (0 = none)
    hint = Signal(str)                 # what a tool is doing (wand tolerance, superpixels)
    superpixels_ready = Signal(str)    # image id

    def __init__(self, parent: QWidget | None = None, *, autosave_delay_ms: int = 800,
                 history_bytes_per_image: int = 256 << 20,
                 history_bytes_total: int = 512 << 20) -> None:
        super().__init__(parent)
        self._project: Project | None = None
        self._doc: MaskDocument | None = None
        self._active_class = 0
        self._brush_size = 15
        self._preserve = False
        self._hover: tuple[float, float] | None = None
        self._last_info: object = None
        self._tools: dict[str, Tool] = {cls.name: cls() for cls in TOOLS}
        self._tool: Tool = self._tools["brush"]
        self._instances = False          # instance mode: see objects.py
        self._current_object = 0
        self._current_class = 0
        self._current_box: Rect | None = None
        self._new_armed = False
        self._next_ids: dict[str, int] = {}
        self._edit_value = 0
        self.paint_only = None

        self.histories = HistoryStore(history_bytes_per_image, history_bytes_total)
        self.autosaver = Autosaver(self, autosave_delay_ms)
        self.autosaver.saved.connect(self._on_saved)
        self.autosaver.failed.connect(self._on_save_failed)

        # Layer stack, bottom to top; the tool overlay is drawn by the view after the layers.
        self.image_layer = ImageLayer()
        self.prediction_layer = LabelLayer(opacity=0.35)
        self.prediction_layer.visible = True
        self.label_layer = LabelLayer(opacity=0.5)        # semantic projects
        self.instance_layer = InstanceLayer(opacity=0.5)  # instance projects
        self.mask_layer: LabelLayer | InstanceLayer = self.label_layer
        self._prediction_id: str | None = None
        self._init_assist()

        self.view = CanvasView(self)
        self._stack_layers()
        self.view.handler = self
        self.view.zoom_changed.connect(self._on_zoom)
        self.view.view_changed.connect(self._on_view_changed)
        self._hover_pos: QPointF | None = None

        self.commands = create_actions(self, "canvas", {
            "undo": self.undo, "redo": self.redo,
            "brush_bigger": lambda: self._step_brush(+1),
            "brush_smaller": lambda: self._step_brush(-1),
            "preserve_labels": self.set_preserve_labels,
            "fit": self.fit_to_window, "zoom_100": self.zoom_100,
            "zoom_in": lambda: self.view.zoom_by(self.view.WHEEL_STEP),
            "zoom_out": lambda: self.view.zoom_by(1 / self.view.WHEEL_STEP),
            "mask_overlay": self.set_overlay_visible,
            "opacity_up": lambda: self.set_overlay_opacity(self.mask_layer.opacity + 0.1),
            "opacity_down": lambda: self.set_overlay_opacity(self.mask_layer.opacity - 0.1),
            "show_prediction": self.set_prediction_visible,
            "new_object": self.new_object, "delete_object": self.delete_current_object,
            "object_colours": self.set_object_colours,
            "superpixel_boundaries": self.set_superpixel_boundaries,
            **{f"tool_{name}": self._tool_toggled(name) for name in self._tools}})
        self.commands.update(class_actions(self, self._choose_class))
        self._tool_group = QActionGroup(self)
        for name in self._tools:
            self._tool_group.addAction(self.commands[f"tool_{name}"])
        self.undo_action = self.commands["undo"]
        self.redo_action = self.commands["redo"]
        self.addActions(list(self.commands.values()))

        self.toolbar = CanvasToolbar(self.commands, self._brush_size, self.mask_layer.opacity,
                                     self)
        self.tool_buttons = self.toolbar.tool_buttons
        self.size_slider = self.toolbar.size_slider
        self.size_label = self.toolbar.size_label
        self.opacity_slider = self.toolbar.opacity_slider
        self.overlay_button = self.toolbar.overlay_button
        self.preserve_check = self.toolbar.preserve_check
        self.fit_button = self.toolbar.fit_button
        self.zoom100_button = self.toolbar.zoom100_button
        self.zoom_label = self.toolbar.zoom_label
        self.object_changed.connect(self._sync_object_label)
        self.size_slider.valueChanged.connect(self.set_brush_size)
        self.toolbar.superpixel_spin.valueChanged.connect(self.set_superpixel_size)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_overlay_opacity(v / 100.0))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.view, 1)
        self._sync_labels()
        self._set_instance_mode(False)
        self._update_actions()

    def _sync_labels(self) -> None:
        self.size_label.setText(f"{self._brush_size} px")
        self.zoom_label.setText(f"{self.view.scale * 100:.0f} %" if self.view.has_image else "")

    # ============================================================== public API
    def set_project(self, project: Project | None) -> None:
        """Start over with ``project`` (also when it is the same object, e.g. after its masks were
        rewritten on disk): the shown image, its unsaved edits (saved first) and every undo
        history are dropped."""
        self.clear()
        self.autosaver.forget_failed()
        self.histories.clear()
        self._project = project
        self._next_ids.clear()
        self._set_instance_mode(project is not None and project.is_instances)
        self.refresh_classes()

    def _set_instance_mode(self, on: bool) -> None:
        self._instances = bool(on)
        self.mask_layer = self.instance_layer if on else self.label_layer
        self._stack_layers()
        self.view.image_margin = 1 if on else 0
        for name in ("new_object", "delete_object", "object_colours"):
            self.commands[name].setEnabled(self._instances)
        self.toolbar.set_instance_mode(self._instances)
        self._new_armed = False
        self.set_current_object(0)

    def _stack_layers(self) -> None:
        self.view.layers = [self.image_layer, self.prediction_layer, self.uncertainty_layer,
                            self.mask_layer, self.boundary_layer]

    def _sync_object_label(self, _object_id: int = 0) -> None:
        if self._new_armed:
            text = "Object: new"
        elif self._current_object:
            text = f"Object {self._current_object}"
        else:
            text = "Object: –"
        self.toolbar.object_label.setText(text)

    @property
    def project(self) -> Project | None:
        return self._project

    def show_image(self, entry: ImageEntry, image: np.ndarray, mask: np.ndarray,
                   next_object_id: int = 0) -> None:
        """Show ``image`` with ``mask`` (the panel owns the mask from now on; in an instance
        project the packed uint32 label array of ``project.labels.load_labels``). The previous
        image's unsaved edits are saved first (in the background). ``next_object_id``: one
        above the largest id in ``mask`` when the caller knows it (else found on first use)."""
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
        old_size = (self.view._img_w, self.view._img_h)
        self._leave_document()
        doc = self.autosaver.pending_document(entry.id, self._project)
        if doc is not None and doc.mask.shape == mask.shape:
            doc.entry = entry  # its unsaved state is newer than the file just read
        else:
            dtype = np.uint32 if self._instances else np.uint8
            if mask.dtype != dtype or mask.ndim != 2:
                raise ValueError("a mask is a 2-D uint8 array" if not self._instances else
                                 "an instance project's labels are a 2-D packed uint32 array")
            if not mask.flags.c_contiguous or not mask.flags.writeable:
                mask = np.array(mask, dtype=dtype, order="C")
            history = self.histories.get(entry.id, mask.shape)
            mask = reconcile_returning_mask(
                history, mask, lambda: load_labels(self._project, entry, mask.shape)
                if self._project is not None else None)
            doc = MaskDocument(entry.id, mask, history, entry)
        self._doc = doc
        if next_object_id:
            self._next_ids[entry.id] = max(next_object_id, self._next_ids.get(entry.id, 1))
        self._new_armed = False
        self.set_current_object(0)
        self.image_layer.set_image(image)
        self.mask_layer.set_array(doc.mask)
        self.prediction_layer.set_array(None)
        self._prediction_id = None
        self._assist_image_changed()
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
        self._assist_image_changed()
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
        self.label_layer.set_classes(classes)
        self.instance_layer.set_classes(classes)
        self.prediction_layer.set_classes(classes)
        if classes and self._active_class >= len(classes):
            self.set_active_class(len(classes) - 1)
        self.view.update()

    def current_mask(self) -> np.ndarray | None:
        return self._doc.mask if self._doc is not None else None

    @property
    def document(self) -> MaskDocument | None:
        return self._doc

    @property
    def image_id(self) -> str | None:
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
        self.commands[f"tool_{name}"].setChecked(True)
        if tool is self._tool:
            return
        old_rect = self._tool.overlay_rect(self, self._hover)
        self._tool.cancel(self)
        self._tool = tool
        self._repaint_widget_rects(old_rect, tool.overlay_rect(self, self._hover))
        self.toolbar.show_superpixel_size(name == "superpixel")
        if name == "superpixel":
            self.superpixels()  # start computing them now, not on the first stroke
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
        self.commands["preserve_labels"].setChecked(self._preserve)

    def set_overlay_opacity(self, opacity: float) -> None:
        self.label_layer.set_opacity(opacity)
        self.instance_layer.set_opacity(opacity)
        v = int(round(self.mask_layer.opacity * 100))
        if self.opacity_slider.value() != v:
            self.opacity_slider.setValue(v)
        self.view.update()

    def set_overlay_visible(self, on: bool) -> None:
        self.label_layer.visible = self.instance_layer.visible = bool(on)
        self.commands["mask_overlay"].setChecked(bool(on))
        self.view.update()

    @property
    def overlay_visible(self) -> bool:
        return self.mask_layer.visible

    def set_object_colours(self, on: bool) -> None:
        """Instance projects: fill each object in its own colour (outline in the class colour),
        or fill in the class colour (outline in the object colour)."""
        self.instance_layer.set_object_colours(on)
        self.commands["object_colours"].setChecked(bool(on))
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
        assert self._doc is not None  # tools edit only while an image is shown
        self._doc.begin_edit()

    def area_changed(self, rect: Rect | None) -> None:
        self.view.update_image_rect(rect)
        if self._instances:
            self.grow_current_box(rect)

    def edit_finished(self) -> None:
        assert self._doc is not None
        changed = self._doc.end_edit()
        self.histories.enforce()
        self._update_actions()
        if changed:
            self._after_edit()

    def pick_class(self, index: int) -> None:
        self.set_active_class(index)

    def notify(self, text: str) -> None:
        self.notice.emit(text)

    def overlay_changed(self) -> None:
        self.view.update()

    def _after_edit(self) -> None:
        assert self._doc is not None
        self.mask_edited.emit(self._doc.image_id)
        self.autosaver.schedule(self._doc, self._project)
        if self._hover is not None:
            self._emit_hover_info(*self._hover)

    def _tool_toggled(self, name: str) -> Callable[[bool], None]:
        def toggled(on: bool) -> None:
            if on:
                self.set_tool(name)
        return toggled

    def _choose_class(self, index: int) -> None:
        """Keys 1-9: paint with that class (the eraser gives way to the brush)."""
        n = len(self._project.classes) if self._project is not None else 9
        if index < n:
            self.set_active_class(index)
            if self._tool.name == "eraser":
                self.set_tool("brush")

    def _step_brush(self, direction: int) -> None:
        s = self._brush_size
        self.set_brush_size(max(s + 1, round(s * 1.2)) if direction > 0
                            else min(s - 1, round(s / 1.2)))

    # =============================================================== helpers
    def _leave_document(self) -> None:
        doc = self._doc
        if doc is None:
            return
        self._tool.cancel(self)
        if doc.dirty:
            self.autosaver.save_now(doc, self._project)
        self._hover = None
        self._hover_pos = None

    def _on_zoom(self, scale: float) -> None:
        self._sync_labels()
        self.zoom_changed.emit(scale)

    def _on_saved(self, result) -> None:
        self.mask_saved.emit(result.doc.image_id, float(result.fraction))

    def _on_save_failed(self, result) -> None:
        self.save_failed.emit(result.message)
