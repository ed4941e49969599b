"""A main window on a project with a training form small enough to train in seconds here."""

from __future__ import annotations

from segstudio.ui.main_window import MainWindow


def open_window(qtbot, project=None) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1300, 900)
    w.show()
    if project is not None:
        w.set_project(project)
    return w


def tiny_form(window: MainWindow, *, levels: int = 3, batch: int = 4, epochs: int = 3) -> None:
    p = window.training_panel
    p.base_width.setValue(4)
    p.levels.setValue(levels)
    p.patch.setValue(64)
    p.batch.setValue(batch)
    p.epochs.setValue(epochs)
