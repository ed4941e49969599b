"""The main window's size, position and dock layout: restored from the settings, or on a first
launch sized to the screen with the docks at sizes that fit their content."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, Qt

from segstudio.ui.settings import app_settings

if TYPE_CHECKING:
    from segstudio.ui.main_window import MainWindow


class WindowState:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self._default_layout = False

    def restore(self) -> None:
        w = self.window
        s = app_settings()
        geo, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            w.restoreGeometry(geo)
        else:
            w.resize(1280, 800)
        self._default_layout = not (isinstance(state, QByteArray) and not state.isEmpty())
        if not self._default_layout:
            w.restoreState(state)

    def first_show(self) -> None:
        """First launch: the canvas gets most of the window, the dashboard a strip."""
        if not self._default_layout:
            return
        self._default_layout = False
        w = self.window
        w.resizeDocks([w.dashboard_dock], [max(180, w.height() // 4)], Qt.Orientation.Vertical)
        w.resizeDocks([w.images_dock, w.classes_dock], [220, 300], Qt.Orientation.Horizontal)
        w.resizeDocks([w.classes_dock, w.training_dock],
                      [max(120, w.height() // 5), w.height()], Qt.Orientation.Vertical)

    def save(self) -> None:
        s = app_settings()
        s.setValue("window/geometry", self.window.saveGeometry())
        s.setValue("window/state", self.window.saveState())
        s.sync()
