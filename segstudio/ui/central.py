"""The central area: the canvas, with the message bar floating over its top edge. The bar is
not in the layout, so a message never pushes the canvas down or changes its zoom."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from segstudio.ui.message_bar import MessageBar

MARGIN = 8


class CentralArea(QWidget):
    def __init__(self, canvas: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(canvas)
        self.message_bar = MessageBar(self)
        self.message_bar.installEventFilter(self)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_bar()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.message_bar and event.type() in (QEvent.Type.Show,
                                                             QEvent.Type.LayoutRequest):
            self._place_bar()
        return False

    def _place_bar(self) -> None:
        bar = self.message_bar
        width = max(100, self.width() - 2 * MARGIN)
        bar.setFixedWidth(width)
        bar.adjustSize()
        bar.setGeometry(MARGIN, MARGIN, width, bar.heightForWidth(width)
                        if bar.hasHeightForWidth() else bar.sizeHint().height())
        bar.raise_()
