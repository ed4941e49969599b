"""The status bar's permanent labels: cursor position, the class under the cursor, zoom."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from segstudio.project.project import Project
from segstudio.ui.canvas import CursorInfo


class StatusLabels:
    def __init__(self, bar: QStatusBar) -> None:
        self.pos_label = QLabel("")
        self.class_label = QLabel("")
        self.zoom_label = QLabel("")
        for w in (self.pos_label, self.class_label, self.zoom_label):
            w.setMinimumWidth(90)
            bar.addPermanentWidget(w)

    def show_cursor(self, info: CursorInfo | None, project: Project | None) -> None:
        if info is None:
            self.pos_label.setText("")
            self.class_label.setText("")
            return
        self.pos_label.setText(f"x {info.x}  y {info.y}")
        if info.class_index is None:
            self.class_label.setText("not labelled")
        elif project is not None and info.class_index < len(project.classes):
            self.class_label.setText(project.classes[info.class_index].name)
        else:
            self.class_label.setText(f"class {info.class_index}")

    def show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")
