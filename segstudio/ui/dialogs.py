"""The window's small dialogs: About, Keyboard Shortcuts (made from actions.py's table), and
the file-picking helpers of File › Add Images."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segstudio import __version__
from segstudio.io.images import is_image_file
from segstudio.project.project import find_images
from segstudio.ui.actions import shortcut_rows
from segstudio.ui.preferences import PreferencesDialog

__all__ = ["IMAGE_FILTER", "PreferencesDialog", "ShortcutsDialog", "about_text", "ask_task",
           "image_files", "show_about", "show_shortcuts"]

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp);;All files (*)"


def image_files(paths: list[Path]) -> list[Path]:
    """Image files among ``paths``, folders searched recursively."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(find_images(p))
        elif is_image_file(p):
            files.append(p)
    return files


TASK_CHOICES = (("semantic", "Semantic (classes)"), ("instances", "Instances (separate objects)"))


def ask_task(parent: QWidget, folder: Path) -> str | None:
    """What a new project in ``folder`` labels: "semantic", "instances", or None (cancelled)."""
    box = QMessageBox(parent)
    box.setWindowTitle("New project")
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(f"<b>{folder.name}</b> becomes a new project. What will you label?")
    box.setInformativeText(
        "<b>Semantic</b>: every pixel gets a class (tissue, background, …).<br>"
        "<b>Instances</b>: every object is told apart as well, so touching cells are "
        "separated and counted; each object still has a class.<br>The choice is kept in the "
        "project.")
    buttons = [(box.addButton(text, QMessageBox.ButtonRole.AcceptRole), task)
               for task, text in TASK_CHOICES]
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(buttons[0][0])
    box.exec()
    clicked = box.clickedButton()
    return next((task for button, task in buttons if button is clicked), None)


def about_text() -> str:
    from PySide6 import __version__ as pyside_version

    return (f"<h3>segstudio {__version__}</h3>"
            "<p>Paint class masks on your images, train a U-Net on them, correct its "
            "predictions, retrain, and export masks and models.</p>"
            f"<p>Qt for Python {pyside_version}. PyTorch is loaded when training starts.</p>"
            "<p>Keyboard shortcuts: Help › Keyboard Shortcuts. Documentation: the docs/ folder "
            "of segstudio's source (Help › Documentation).</p>"
            "<p>Licensed under the MIT licence.</p>")


def show_about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About segstudio", about_text())


class ShortcutsDialog(QDialog):
    """Every shortcut, by menu: the same table the QActions are made from."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows()
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "What"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self.resize(620, 560)


def show_shortcuts(parent: QWidget) -> None:
    ShortcutsDialog(parent).exec()
