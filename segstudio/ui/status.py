"""The status bar's permanent labels: cursor position, the class (and object) under the
cursor, zoom, and what the project labels (semantic or instances)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from segstudio.project.project import Project
from segstudio.ui.canvas import CursorInfo


class StatusLabels:
    def __init__(self, bar: QStatusBar) -> None:
        self.pos_label = QLabel("")
        self.class_label = QLabel("")
        self.zoom_label = QLabel("")
        self.task_label = QLabel("")
        for w in (self.pos_label, self.class_label, self.zoom_label, self.task_label):
            w.setMinimumWidth(90)
            bar.addPermanentWidget(w)

    def show_task(self, project: Project | None) -> None:
        if project is None:
            self.task_label.setText("")
        elif project.is_instances:
            self.task_label.setText("Instances")
            self.task_label.setToolTip("An instance project: every object has its own id")
        else:
            self.task_label.setText("Semantic")
            self.task_label.setToolTip("A semantic project: every pixel has a class")

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
        if info.object_id:
            self.class_label.setText(f"{self.class_label.text()} · object {info.object_id}")

    def show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")
