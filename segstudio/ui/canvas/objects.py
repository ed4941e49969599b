"""Instance mode of the canvas: which object an edit paints, and the object commands.

In an instance project the canvas edits the packed uint32 label array (class << 24 | object
id, ``segstudio.core.instances``); brush, fill and polygon write one packed value, so undo,
autosave and painting are the semantic ones. What that value is follows where the edit starts,
as with QuPath's brush and napari's labels layer:

* Brush or polygon starting **on an object** extends it: it becomes the current object and its
  class the active class. Starting **anywhere else** starts a **new object** (the next free id)
  of the active class. **N** (New Object) makes the next edit a new object even where it starts
  on one (to paint an object over a neighbour's spill).
* **Fill** on an object gives that connected region the active class and keeps its id
  (reclassifying); elsewhere it fills a new object.
* The active class **background** (class 0) never makes objects: it paints background over
  whatever is there (carving objects back), like the semantic brush.
* **Eraser**: erases to "not labelled" only what the stroke starts on: one object's pixels
  (or, started on background, background pixels only); started on unlabelled pixels it erases
  the current object. **Shift+drag** erases every label, as in a semantic project. Erasing
  gives "not labelled", not background: the user has not said what is there.
* **Picker** (I, Alt+click): the object under the click becomes current, its class active.
* **Ctrl+click** another object: merge it into the current object (its pixels take the current
  object's id and class); one undo step. Without a current object the click picks one.
* **Delete**: the current object's pixels become "not labelled"; one undo step.

Ids of deleted objects are not given out again while the project is open (the next id only
grows), so an undo can never bring back an object that collides with a newer one.

The current object is outlined in white. Changing it repaints only where the old and the new one
lie (their boxes, grown by every rectangle painted while current), not the whole view: a stroke
that starts a new object costs no full repaint.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from segstudio.core.classes import UNLABELLED
from segstudio.core.instance_edit import (
    has_id,
    max_object_id,
    object_at,
    object_box,
    relabel_object,
)
from segstudio.core.instances import ID_MASK, MAX_OBJECTS, UNLABELLED_LABEL, label_value
from segstudio.core.painting import Rect, flood_region

SCAN_PIXELS = 4096 * 4096  # up to here the current object's box is found by a full scan


def _nothing(sub: np.ndarray) -> np.ndarray:
    return np.zeros(sub.shape, bool)


def _no_object(sub: np.ndarray) -> np.ndarray:
    """Pixels of no object (unlabelled or background): what a new object may take."""
    return (sub & np.uint32(ID_MASK)) == 0


def _equal_to(value: int):
    v = np.uint32(value)
    return lambda sub: sub == v


class CanvasObjects:
    """The instance-mode half of CanvasPanel (mixed into it; the panel owns the state)."""

    # The panel's (CanvasPanel.__init__ / set_project).
    view: Any
    instance_layer: Any
    object_changed: Any
    active_class: Any
    set_active_class: Any
    notify: Any
    edit_started: Any
    area_changed: Any
    edit_finished: Any
    _tool: Any
    _doc: Any
    _project: Any
    _instances: bool
    _current_object: int
    _current_class: int
    _current_box: Rect | None
    _new_armed: bool
    _next_ids: dict[str, int]
    _edit_value: int
    paint_only: Any
    press_modifiers: Any

    # ----------------------------------------------------------------- state
    @property
    def instance_mode(self) -> bool:
        return self._instances

    @property
    def current_object(self) -> int:
        """The current object's id (0 = none)."""
        return self._current_object

    @property
    def new_object_armed(self) -> bool:
        return self._new_armed

    def set_current_object(self, object_id: int, class_index: int | None = None,
                           at: tuple[int, int] | None = None) -> None:
        """Make ``object_id`` current (0: none); ``at``: a pixel of it, whose connected piece
        is repainted with the white outline (without one, the whole view is)."""
        object_id = int(object_id)
        changed = object_id != self._current_object
        self._current_object = object_id
        if class_index is not None:
            self._current_class = int(class_index)
        if changed:
            old, self._current_box = self._current_box, None
            self.instance_layer.highlight = object_id
            if object_id and self._doc is not None:
                self._current_box = self._object_area(object_id, at)
            self.view.update_image_rect(old)
            self.view.update_image_rect(self._current_box)
        self._objects_changed()

    def _object_area(self, object_id: int, at: tuple[int, int] | None) -> Rect | None:
        """Where ``object_id`` lies: its bounding box (one scan of the labels, ~20 ms at
        4096^2), or on larger images the connected piece at ``at`` (cost of the piece; other
        pieces of the object get their white outline at their next repaint)."""
        labels = self._doc.mask
        if at is None and object_id == self.next_object_id() - 1:
            return None  # just given out: no pixels yet
        if at is None or labels.size <= SCAN_PIXELS:
            return object_box(labels, object_id)
        found = flood_region(labels, *at)
        return found[0] if found is not None else None

    def grow_current_box(self, rect: Rect | None) -> None:
        """Pixels of ``rect`` were painted: the current object may lie there now."""
        if self._current_object and rect is not None:
            self._current_box = rect.union(self._current_box)

    def new_object(self) -> None:
        """N: the next brush stroke, fill or polygon starts a new object."""
        if not self._instances or self._doc is None:
            return
        self._new_armed = True
        self._objects_changed()

    def next_object_id(self) -> int:
        """The id the next new object gets in the shown image."""
        assert self._doc is not None
        image_id = self._doc.image_id
        nid = self._next_ids.get(image_id)
        if nid is None:  # not known from the loader: one scan of the labels
            nid = max_object_id(self._doc.mask) + 1
            self._next_ids[image_id] = nid
        return nid

    def _take_new_id(self) -> int:
        nid = self.next_object_id()
        if nid > MAX_OBJECTS:
            self.notify(f"An image holds at most {MAX_OBJECTS:,} objects.")
            return 0
        self._next_ids[self._doc.image_id] = nid + 1
        return nid

    def _objects_changed(self) -> None:
        self.object_changed.emit(self._current_object)

    # ------------------------------------------------------ edits of the tools
    def paint_value(self, erase: bool) -> int:
        """The value the current edit writes (set by begin_object_edit in instance mode)."""
        if self._instances:
            return self._edit_value
        return UNLABELLED if erase else int(self.active_class)

    def begin_object_edit(self, u: float, v: float, kind: str) -> None:
        """At the start of an edit ("paint", "polygon", "fill", "erase", or "new": the wand and
        the box, which always make a new object and never take another object's pixels) at
        image point (u, v): choose the object it paints and what it may change (module
        docstring)."""
        if not self._instances or self._doc is None:
            return
        pixel = (math.floor(u), math.floor(v))
        oid, cls = object_at(self._doc.mask, *pixel)
        self.paint_only = None
        if kind == "erase":
            self._edit_value = UNLABELLED_LABEL
            if self.press_modifiers & Qt.KeyboardModifier.ShiftModifier:
                return  # Shift: erase every label
            target = oid or (self._current_object if cls == UNLABELLED else 0)
            if target:
                self.paint_only = has_id(target)
                if target != self._current_object:
                    self.set_current_object(target, cls if oid else None, at=pixel)
            elif cls != UNLABELLED:
                self.paint_only = _equal_to(label_value(cls, 0))
            else:
                self.paint_only = _nothing
                self.notify("The eraser erases the object it starts on: start on an object, "
                            "or Shift+drag to erase every label.")
            return
        active = int(self.active_class)
        if active == 0:
            self._edit_value = label_value(0, 0)  # background: never an object
            return
        n_classes = len(self._project.classes) if self._project is not None else 0
        if self._new_armed or not oid or kind == "new":
            self._new_armed = False
            nid = self._take_new_id()
            self.set_current_object(nid, active)
            self._edit_value = label_value(active, nid) if nid else label_value(active, 0)
            if not nid:
                self.paint_only = _nothing
            elif kind == "new":
                self.paint_only = _no_object
            return
        if kind == "fill" or not 0 < cls < n_classes:
            self.set_current_object(oid, active, at=pixel)  # fill reclassifies the object
            self._edit_value = label_value(active, oid)
            return
        self.set_current_object(oid, cls, at=pixel)  # extend the object under the start
        if cls != active:
            self.set_active_class(cls)
        self._edit_value = label_value(cls, oid)

    # ---------------------------------------------------------------- commands
    def pick_object(self, u: float, v: float) -> None:
        """Picker in instance mode: the object under (u, v) becomes current, its class active;
        on background (no object) only the class is picked."""
        if self._doc is None:
            return
        pixel = (math.floor(u), math.floor(v))
        oid, cls = object_at(self._doc.mask, *pixel)
        n_classes = len(self._project.classes) if self._project is not None else 0
        if cls < n_classes:
            self.set_active_class(cls)
        if oid:
            self.set_current_object(oid, cls, at=pixel)

    def merge_at(self, u: float, v: float) -> bool:
        """Ctrl+click: merge the object under (u, v) into the current object (one undo step)."""
        if self._doc is None:
            return False
        pixel = (math.floor(u), math.floor(v))
        oid, cls = object_at(self._doc.mask, *pixel)
        if not oid:
            self.notify("Ctrl+click an object to merge it into the current object.")
            return False
        cur = self._current_object
        if not cur or cur == oid:
            self.set_current_object(oid, cls, at=pixel)
            self.notify(f"Object {oid} is current: Ctrl+click another object to merge it "
                        "into this one.")
            return False
        value = label_value(self._current_class, cur)
        rect = self._object_edit(lambda doc: relabel_object(doc.mask, oid, value,
                                                            doc.before_write))
        if rect is not None:
            self.notify(f"Merged object {oid} into object {cur} (Ctrl+Z undoes it).")
        return rect is not None

    def delete_current_object(self) -> bool:
        """Delete: the current object's pixels become not labelled (one undo step)."""
        if not self._instances or self._doc is None:
            return False
        cur = self._current_object
        if not cur:
            self.notify("No current object to delete: pick one first (I or Alt+click).")
            return False
        rect = self._object_edit(lambda doc: relabel_object(doc.mask, cur, UNLABELLED_LABEL,
                                                            doc.before_write))
        self.set_current_object(0)
        if rect is None:
            self.notify(f"Object {cur} is not in this image.")
            return False
        self.notify(f"Deleted object {cur} (Ctrl+Z undoes it).")
        return True

    def _object_edit(self, write):
        """Run ``write(document)`` as one undo step, repaint and autosave what it changed."""
        self._tool.cancel(self)
        self.edit_started()
        rect = write(self._doc)
        self.area_changed(rect)
        self.edit_finished()
        return rect
