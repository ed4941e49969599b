"""A non-modal bar at the top of the window for errors and notes.

Users' mistakes (a corrupt image, a file that cannot be saved) are reported here, never in a
modal traceback dialog, so nothing blocks and the message stays readable until dismissed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background:#fdecea; color:#611a15; border:1px solid #f5c2c0;",
    "warning": "background:#fff4e5; color:#663c00; border:1px solid #ffd699;",
    "info": "background:#e8f4fd; color:#0d3c61; border:1px solid #b3dbf7;",
}


class MessageBar(QWidget):
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self._label, 1)
        lay.addWidget(close)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.level = ""
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self._label.setText(text)
        self.setStyleSheet(f"#messageBar {{{_STYLES.get(level, _STYLES['info'])}}}")
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self._label.text()

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
