"""Masks and models in and out of the window: the Export Masks, Export Model and Import Masks
commands. The dialogs (export_dialogs.py) collect the choices; the work is segstudio.project's
and segstudio.inference's, run as TaskRunner jobs with progress in the status bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from segstudio.ui.tasks import Task, TaskRunner

if TYPE_CHECKING:
    from segstudio.ui.main_window import MainWindow


class TransferController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._runner = TaskRunner("import/export", parent=self)

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def _run(self, func: Callable[[Callable[[int, int], bool]], Any], what: str,
             on_done: Callable[[Any], None]) -> Task:
        bar = self.window.statusBar()

        def job(task: Task) -> Any:
            return func(lambda d, t: task.report((d, t)))

        bar.showMessage(f"{what}…")
        return self._runner.submit(
            job, on_done=on_done, on_error=self.window.show_error,
            on_report=lambda dt: bar.showMessage(f"{what}: {dt[0]} of {dt[1]}…"))

    # ------------------------------------------------------------------ masks
    def export_masks_to(self, out: str | Path, formats: list[str], which: str,
                        palette: bool = False) -> Task | None:
        from segstudio.project.mask_export import export_masks

        s = self.window.session
        if s is None:
            return None
        self.window.canvas.flush_saves()
        project = s.project
        preds = self.window.predictions.files() if which == "predictions" else None
        return self._run(
            lambda progress: export_masks(project, out, formats, which, preds,
                                          progress=progress, palette=palette),
            "Exporting masks", lambda summary: self.window.report(summary.describe()))

    def import_masks_from(self, source: str | Path, fmt: str, merge: bool = False) -> Task | None:
        from segstudio.project.mask_import import import_masks

        w = self.window
        if w.session is None:
            return None
        w.canvas.flush_saves()
        project = w.session.project
        # The import rewrites masks on disk: let go of the open one and its history first.
        w.canvas.set_project(project)
        return self._run(
            lambda progress: import_masks(project, source, fmt,
                                          mode="merge" if merge else "replace",
                                          progress=progress),
            "Importing masks", self._after_import)

    def _after_import(self, summary: Any) -> None:
        self.window.reload_masks()
        self.window.report(summary.describe(), "info" if summary.complete else "warning")

    # ------------------------------------------------------------------ model
    def export_model_to(self, out: str | Path, formats: list[str],
                        depth: int | None) -> Task | None:
        from segstudio.inference.model_export import export_model

        s = self.window.session
        if s is None or s.checkpoint is None:
            return None
        ckpt = s.checkpoint
        return self._run(lambda progress: export_model(ckpt, out, formats, depth),
                         "Exporting the model",
                         lambda summary: self.window.report(summary.describe()))

    # ---------------------------------------------------------------- dialogs
    def ask_export_masks(self) -> None:
        from segstudio.ui.export_dialogs import ExportMasksDialog

        s = self.window.session
        if s is None:
            return
        has_pred = bool(s.predictions) or (s.project.root / "predictions").is_dir()
        d = ExportMasksDialog(s.project.exports_dir, has_pred, self.window,
                              instances=s.project.is_instances)
        if d.exec() and d.formats():
            self.export_masks_to(d.folder.text(), d.formats(), d.which(), d.palette_png())

    def ask_export_model(self) -> None:
        from segstudio.inference.checkpoints import read_meta
        from segstudio.ui.export_dialogs import ExportModelDialog

        s = self.window.session
        if s is None or s.checkpoint is None:
            return
        arch = read_meta(s.checkpoint).get("architecture")
        depths = self.window.dashboard.prune.depths if arch == "unetpp" else []
        d = ExportModelDialog(s.project.exports_dir, depths, s.depth, self.window)
        if d.exec() and d.formats():
            self.export_model_to(d.folder.text(), d.formats(), d.chosen_depth())

    def ask_import_masks(self) -> None:
        from segstudio.ui.export_dialogs import ImportMasksDialog

        s = self.window.session
        if s is None:
            return
        d = ImportMasksDialog(s.project.root, self.window, instances=s.project.is_instances)
        if d.exec():
            self.import_masks_from(d.source.text(), d.format.currentData(), d.merge.isChecked())
