"""The main window's size, position and dock layout: restored from the settings, or on a first
launch sized to the screen with the docks at sizes that fit their content."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QRect, Qt
from PySide6.QtGui import QGuiApplication

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
            w.setGeometry(first_geometry(w.screen().availableGeometry() if w.screen() else
                                         QGuiApplication.primaryScreen().availableGeometry()))
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
        # The right column is as wide as the training panel's widest row (combo boxes, the
        # "Auto:" note, Stop), so nothing in it is cut off on a first launch.
        form = w.training_panel.settings_area.widget()
        right = max(300, (form.sizeHint().width() if form else 0) + 40)  # + scroll bar
        w.resizeDocks([w.images_dock, w.classes_dock], [220, right], Qt.Orientation.Horizontal)
        w.resizeDocks([w.classes_dock, w.training_dock],
                      [max(120, w.height() // 5), w.height()], Qt.Orientation.Vertical)

    def save(self) -> None:
        s = app_settings()
        s.setValue("window/geometry", self.window.saveGeometry())
        s.setValue("window/state", self.window.saveState())
        s.sync()


def first_geometry(screen: QRect) -> QRect:
    """A first launch fills 92 % of the screen's free area, centred: on 1920 x 1080 the canvas,
    both columns and the dashboard fit without dragging; on a laptop it is nearly maximised."""
    width, height = int(screen.width() * 0.92), int(screen.height() * 0.92)
    x = screen.x() + (screen.width() - width) // 2
    y = screen.y() + (screen.height() - height) // 2
    return QRect(x, y, width, height)
