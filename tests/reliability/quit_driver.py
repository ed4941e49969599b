"""Start the window on a project, optionally start training, then quit as Ctrl+Q does after a
delay; run by test_quit.py in a fresh process each time (an abort at exit kills the process)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def main() -> int:
    project, delay_ms, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    from segstudio.ui import app

    def act() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if hasattr(w, "coordinator"))
        if mode == "train":
            p = window.training_panel
            p.base_width.setValue(4)
            p.patch.setValue(64)
            p.batch.setValue(2)
            p.train_button.click()
        QTimer.singleShot(delay_ms, window.quit_action.trigger)

    create = app.create_app

    def create_then_schedule():  # timers need the application's event loop to exist
        qapp = create()
        QTimer.singleShot(200, act)
        return qapp

    app.create_app = create_then_schedule
    return app.run_gui(project)


if __name__ == "__main__":
    raise SystemExit(main())
