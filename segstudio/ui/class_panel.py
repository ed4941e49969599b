"""The class list: pick the class to paint; add, rename (double-click), recolour, delete.

The panel only adapts the project's class table to widgets. Deleting asks the window (which
knows about open masks) via ``delete_requested``; the other edits are applied here and
announced with ``classes_changed``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segstudio.errors import SegStudioError
from segstudio.project.project import Project


def color_icon(color: str, size: int = 14) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(color))
    return QIcon(pm)


class ClassPanel(QWidget):
    class_selected = Signal(int)
    classes_changed = Signal()
    delete_requested = Signal(int)
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.list = QListWidget()
        self.list.setEditTriggers(
            QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed
        )
        self.list.currentRowChanged.connect(self._on_row)
        self.list.itemChanged.connect(self._on_item_changed)
        self.add_button = QPushButton("Add")
        self.color_button = QPushButton("Colour…")
        self.delete_button = QPushButton("Delete")
        self.add_button.setToolTip("Add a class")
        self.color_button.setToolTip("Change the selected class's colour")
        self.delete_button.setToolTip("Delete the selected class (asks first)")
        self.add_button.clicked.connect(lambda: self.add_class())
        self.color_button.clicked.connect(self._choose_color)
        self.delete_button.clicked.connect(self._request_delete)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.color_button, self.delete_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        self._updating = False

    # ------------------------------------------------------------------ model
    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.reload()
        if project and project.classes:
            self.list.setCurrentRow(0)

    def reload(self) -> None:
        self._updating = True
        row = self.list.currentRow()
        self.list.clear()
        if self.project:
            for i, c in enumerate(self.project.classes):
                item = QListWidgetItem(color_icon(c.color), c.name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(f"Class {i} · key {i + 1}" if i < 9 else f"Class {i}")
                self.list.addItem(item)
            if self.list.count():
                self.list.setCurrentRow(min(max(row, 0), self.list.count() - 1))
        self._updating = False
        enabled = self.project is not None
        for b in (self.add_button, self.color_button, self.delete_button):
            b.setEnabled(enabled)

    def current_class(self) -> int:
        return self.list.currentRow()

    def select_class(self, index: int) -> None:
        if 0 <= index < self.list.count():
            self.list.setCurrentRow(index)

    # ---------------------------------------------------------------- actions
    def add_class(self, name: str | None = None, color: str | None = None) -> int:
        if self.project is None:
            return -1
        if name is None:
            n = len(self.project.classes)
            existing = {c.name.lower() for c in self.project.classes}
            name = f"class {n}"
            while name.lower() in existing:
                n += 1
                name = f"class {n}"
        try:
            idx = self.project.add_class(name, color)
        except SegStudioError as exc:
            self.error.emit(str(exc))
            return -1
        self.reload()
        self.list.setCurrentRow(idx)
        self.classes_changed.emit()
        return idx

    def rename_class(self, index: int, name: str) -> bool:
        if self.project is None:
            return False
        try:
            self.project.rename_class(index, name)
        except SegStudioError as exc:
            self.error.emit(str(exc))
            self.reload()
            return False
        self.reload()
        self.classes_changed.emit()
        return True

    def recolor_class(self, index: int, color: str) -> None:
        if self.project is None:
            return
        try:
            self.project.recolor_class(index, color)
        except SegStudioError as exc:
            self.error.emit(str(exc))
            return
        self.reload()
        self.classes_changed.emit()

    def _choose_color(self) -> None:
        row = self.list.currentRow()
        if self.project is None or row < 0:
            return
        c = QColorDialog.getColor(QColor(self.project.classes[row].color), self, "Class colour")
        if c.isValid():
            self.recolor_class(row, c.name())

    def _request_delete(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.delete_requested.emit(row)

    def _on_row(self, row: int) -> None:
        if not self._updating and row >= 0:
            self.class_selected.emit(row)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating or self.project is None:
            return
        row = self.list.row(item)
        if 0 <= row < len(self.project.classes) and item.text() != self.project.classes[row].name:
            self.rename_class(row, item.text())
