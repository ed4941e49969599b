"""STUB - to be replaced by the real canvas (issue 3). Keeps the API the main window uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QImage, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from segstudio.core.project import ImageEntry, Project
from segstudio.io.images import to_display_rgb8


@dataclass(frozen=True)
class CursorInfo:
    x: int
    y: int
    class_index: int | None  # None = not labelled


class CanvasPanel(QWidget):
    mask_edited = Signal(str)          # image id, after each completed edit
    mask_saved = Signal(str, float)    # image id, labelled fraction (GUI thread)
    save_failed = Signal(str)          # message for the user
    cursor_info = Signal(object)       # CursorInfo or None (outside the image)
    zoom_changed = Signal(float)       # 1.0 = 100 %
    active_class_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = QLabel("No image", alignment=Qt.AlignCenter)
        lay = QVBoxLayout(self)
        lay.addWidget(self._label)
        self.undo_action = QAction("Undo", self)
        self.redo_action = QAction("Redo", self)
        self._project: Project | None = None
        self._entry: ImageEntry | None = None
        self._mask: np.ndarray | None = None

    def set_project(self, project: Project | None) -> None:
        self._project = project
        self.clear()

    def show_image(self, entry: ImageEntry, image: np.ndarray, mask: np.ndarray) -> None:
        self._entry, self._mask = entry, mask
        rgb = to_display_rgb8(image)
        qimg = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format_RGB888).copy()
        self._label.setPixmap(QPixmap.fromImage(qimg).scaled(800, 600, Qt.KeepAspectRatio))

    def clear(self) -> None:
        self._entry = self._mask = None
        self._label.setText("No image")

    def set_active_class(self, index: int) -> None:
        pass

    def refresh_classes(self) -> None:
        pass

    def current_mask(self) -> np.ndarray | None:
        return self._mask

    def flush_saves(self) -> None:
        pass

    def fit_to_window(self) -> None:
        pass

    def zoom_100(self) -> None:
        pass
