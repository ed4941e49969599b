"""Render the real main window offscreen on the demo project and save it as a PNG.

    QT_QPA_PLATFORM=offscreen python tools/screenshot.py docs/screenshot.png [--train]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SEGSTUDIO_SETTINGS", os.path.join(tempfile.mkdtemp(), "s.ini"))


def main(out: str) -> None:
    from segstudio.project.demo import generate_demo
    from segstudio.ui.app import create_app
    from segstudio.ui.main_window import MainWindow

    app = create_app()
    project = generate_demo(os.path.join(tempfile.mkdtemp(), "demo"))
    w = MainWindow()
    w.resize(1400, 860)
    w.show()
    w.set_project(project)
    deadline = time.time() + 10
    while time.time() < deadline and w.canvas.current_mask() is None:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(50):  # let thumbnails arrive
        app.processEvents()
        time.sleep(0.02)
    w.canvas.fit_to_window()
    if "--train" in sys.argv:
        # A short run so the dashboard and the prediction overlay show something real.
        from segstudio.ui.preload import wait_preloaded

        wait_preloaded(120)
        p = w.training_panel
        p.arch.setCurrentIndex(p.arch.findData("unetpp"))
        p.epochs.setValue(6)
        p.patch.setValue(128)
        w.start_training(p.config())
        while w.training.running:
            app.processEvents()
            time.sleep(0.01)
        deadline = time.time() + 30
        while time.time() < deadline and not w._predicted:
            app.processEvents()
            time.sleep(0.02)
        for _ in range(100):
            app.processEvents()
            time.sleep(0.01)
        w.dashboard.flush()
    app.processEvents()
    w.grab().save(out)
    print(f"saved {out}")
    w.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0] if args else "docs/screenshot.png")
