"""Model › Run on a Server… and Model › Import Run…: the window's side of
``training/job_folder.py``. The job is written from the training form as it is now (what Train
would run), in the background; an imported run is copied into the project's runs/ and shown
like the project's own latest run (dashboard curves, its best model current)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from segstudio.errors import SegStudioError
from segstudio.ui.tasks import Task, TaskRunner

if TYPE_CHECKING:
    from segstudio.ui.main_window import MainWindow


class ServerRunController(QObject):
    job_written = Signal(object)      # JobFolder
    run_imported = Signal(str)        # the run folder inside the project

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._runner = TaskRunner("server runs", parent=self)

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    # ------------------------------------------------------------------ job
    def ask_write_job(self) -> None:
        s = self.window.session
        if s is None:
            return
        parent = QFileDialog.getExistingDirectory(self.window, "Where to put the job folder",
                                                  str(s.project.root.parent))
        if not parent:
            return
        stamp = time.strftime("%Y%m%d-%H%M")
        dest = Path(parent) / f"{s.project.root.name}-job-{stamp}"
        copy = QMessageBox.question(
            self.window, "Copy the images?",
            "Copy the images into the job folder (a self-contained folder to move to the "
            "server)?\n\nNo: the job refers to the images where they are now (the server "
            "must see the same paths, e.g. a shared file system).") \
            == QMessageBox.StandardButton.Yes
        self.write_job(dest, copy_images=copy)

    def write_job(self, dest: str | Path, copy_images: bool = True, gpus: int = 1) -> Task | None:
        """Write the job folder for the form's current settings (in the background)."""
        from segstudio.training.job_folder import write_job_folder

        w = self.window
        s = w.session
        if s is None:
            return None
        try:
            config = w.training_panel.config()
        except SegStudioError as exc:
            w.show_error(str(exc))
            return None
        w.canvas.flush_saves()
        w.save_project_file()
        project = s.project
        w.statusBar().showMessage("Writing the job folder…")

        def done(job: Any) -> None:
            w.report(f"Job folder written: {job.root} ({job.images_copied} images copied, "
                     f"{job.masks} masks). On the server: bash run.sh (or sbatch run.sbatch); "
                     f"then Model › Import Run… on project/runs/<run>.")
            self.job_written.emit(job)

        return self._runner.submit(
            lambda task: write_job_folder(project, config, dest, copy_images=copy_images,
                                          gpus=gpus),
            on_done=done, on_error=w.show_error)

    # ------------------------------------------------------------------ import
    def ask_import_run(self) -> None:
        s = self.window.session
        if s is None:
            return
        path = QFileDialog.getExistingDirectory(self.window, "A run folder (runs/<start time>)",
                                                str(s.project.root.parent))
        if path:
            self.import_run(path)

    def import_run(self, path: str | Path) -> Task | None:
        """Copy a run folder into the project and show it (in the background)."""
        from segstudio.training.job_folder import import_run

        w = self.window
        s = w.session
        if s is None:
            return None
        if w.training.running:
            w.show_error("A model is training here: import the run when it has finished.")
            return None
        project = s.project

        def done(dest: Path) -> None:
            from segstudio.training.run_log import read_run

            if w.session is not s:
                return
            if w.coordinator.show_run(read_run(dest), "Imported run"):
                w.report(f"Imported the run {dest.name}: its curves are on the dashboard and "
                         "its model predicts.")
            self.run_imported.emit(str(dest))

        return self._runner.submit(lambda task: import_run(project, path), on_done=done,
                                   on_error=w.show_error)
