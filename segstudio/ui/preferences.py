"""Preferences: the largest image segstudio will open (a guard against out-of-memory)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from segstudio.io.images import DEFAULT_MAX_PIXELS
from segstudio.ui.settings import app_settings

KEY_MAX_MP = "images/max_megapixels"


def max_image_pixels() -> int:
    value = app_settings().value(KEY_MAX_MP, DEFAULT_MAX_PIXELS // 1_000_000)
    try:
        mp = int(value)  # type: ignore[call-overload]  # QSettings values are untyped
    except (TypeError, ValueError):
        mp = DEFAULT_MAX_PIXELS // 1_000_000
    return max(1, mp) * 1_000_000


class PreferencesDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.max_mp = QSpinBox(minimum=1, maximum=100_000, suffix=" megapixels")
        self.max_mp.setValue(max_image_pixels() // 1_000_000)
        note = QLabel("Larger images are refused with a message instead of exhausting memory. "
                      "An RGB image needs about 3 bytes per pixel, its mask 1 more.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Largest image", self.max_mp)
        form.addRow(note)
        form.addRow(buttons)

    def accept(self) -> None:
        app_settings().setValue(KEY_MAX_MP, self.max_mp.value())
        super().accept()
