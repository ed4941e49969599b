"""Start-up of the window. Nothing here imports torch: the window must paint within 2 s."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from segstudio import APP_NAME, __version__

# Hidden, for tests (tests/packaging/test_wheel.py starts an installed wheel's window): close
# the window this many milliseconds after it opened, as the user closing it would.
QUIT_AFTER_ENV = "SEGSTUDIO_QUIT_AFTER_MS"


def _quit_after_ms() -> int | None:
    text = os.environ.get(QUIT_AFTER_ENV, "").strip()
    try:
        return max(0, int(text)) if text else None
    except ValueError:
        return None


_collector: object = None


def collect_garbage_in_gui_thread() -> None:
    """Python's cyclic garbage collector runs in whichever thread an allocation trips it. In a
    worker thread it destroyed Qt wrappers of dead widgets there, which deadlocked against the
    GUI thread's own deletions (seen: a model export's deepcopy hung the window for good) or
    crashed. Automatic collection is turned off and done by a timer in the GUI thread instead
    (pyqtgraph's GarbageCollector). Call from the GUI thread; once is enough."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=1.0)


def create_app(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(
        argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    collect_garbage_in_gui_thread()
    return app


def open_initial(window, path: str | None) -> None:
    """Open ``path`` or, without one, the demo project (generated on first use)."""
    if path:
        window.open_path(path)
        return
    from segstudio.errors import SegStudioError
    from segstudio.project.demo import ensure_demo
    from segstudio.ui.settings import default_demo_dir

    window.statusBar().showMessage("Preparing the demo project…")
    try:
        project = ensure_demo(default_demo_dir())
    except (OSError, SegStudioError) as exc:
        window.show_error(f"The demo project could not be created: {exc}")
        return
    window.set_project(project)


def run_gui(path: str | None = None) -> int:
    app = create_app()
    from segstudio.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    # Open after the first paint so the window appears at once, even on first launch.
    QTimer.singleShot(0, lambda: open_initial(window, path))
    from segstudio.ui.preload import preload_torch

    QTimer.singleShot(1500, preload_torch)
    quit_after = _quit_after_ms()
    if quit_after is not None:
        QTimer.singleShot(quit_after, window.close)
    code = app.exec()
    # Every worker has ended in the window's closeEvent; a window closed some other way (the
    # session ends) gets the same here, before Python finalises.
    from segstudio.ui.tasks import shutdown_all

    shutdown_all()
    return int(code)


if __name__ == "__main__":
    raise SystemExit(run_gui(sys.argv[1] if len(sys.argv) > 1 else None))
