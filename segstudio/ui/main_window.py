"""The main window: composes the image list, canvas, class list, training panel and dashboard,
and owns the ProjectSession of the open project (replaced as a whole when another opens).

The rules live below ui (core, project, inference, training); the widgets draw; the
controllers (prediction.py, transfer.py, training/coordinator.py) do the window's work in the
background. Commands and shortcuts come from actions.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QWidget

from segstudio.errors import SegStudioError
from segstudio.project.project import PROJECT_FILE, TASKS, Project, find_images, open_or_create
from segstudio.ui import dialogs
from segstudio.ui.actions import create_actions, fill_menus
from segstudio.ui.canvas import CanvasPanel
from segstudio.ui.central import CentralArea
from segstudio.ui.class_panel import ClassPanel
from segstudio.ui.dashboard.widget import Dashboard
from segstudio.ui.image_list import ImageListView
from segstudio.ui.images import ImageController, first_readable
from segstudio.ui.label_next import LabelNextController
from segstudio.ui.prediction import PredictionController
from segstudio.ui.preferences import max_image_pixels
from segstudio.ui.server_runs import ServerRunController
from segstudio.ui.session import ProjectSession
from segstudio.ui.settings import add_recent_project, recent_projects
from segstudio.ui.status import StatusLabels
from segstudio.ui.tasks import shutdown_all
from segstudio.ui.training.controller import TrainingController
from segstudio.ui.training.coordinator import TrainingCoordinator
from segstudio.ui.training.panel import TrainingPanel
from segstudio.ui.transfer import TransferController
from segstudio.ui.window_state import WindowState

DOCS_URL = "https://github.com/segstudio/segstudio/tree/main/docs"
NEW_PROJECT_TASK_ENV = "SEGSTUDIO_NEW_PROJECT_TASK"


class MainWindow(QMainWindow):
    project_opened = Signal(object)   # Project
    image_shown = Signal(str)         # image id, once it is on the canvas

    def __init__(self) -> None:
        super().__init__()
        from segstudio.ui.app import collect_garbage_in_gui_thread

        collect_garbage_in_gui_thread()  # never in a worker thread: see there
        self.setWindowTitle("segstudio")
        self.setAcceptDrops(True)
        self.session: ProjectSession | None = None
        self.canvas = CanvasPanel()
        self.central = CentralArea(self.canvas)
        self.message_bar = self.central.message_bar
        self.setCentralWidget(self.central)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.canvas.toolbar)
        self.image_list = ImageListView()
        self.class_panel = ClassPanel()
        self.training_panel = TrainingPanel()
        self.dashboard = Dashboard()
        self.images_dock = self._dock("Images", self.image_list,
                                      Qt.DockWidgetArea.LeftDockWidgetArea)
        self.classes_dock = self._dock("Classes", self.class_panel,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.training_dock = self._dock("Training", self.training_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.dashboard_dock = self._dock("Dashboard", self.dashboard,
                                         Qt.DockWidgetArea.BottomDockWidgetArea)
        self.training = TrainingController(self)
        self.predictions = PredictionController(self)
        self.transfer = TransferController(self)
        self.coordinator = TrainingCoordinator(self, self.training)
        self.images = ImageController(self)
        self.label_next = LabelNextController(self)
        self.server_runs = ServerRunController(self)
        self._save_timer = QTimer(self, singleShot=True, interval=800)
        self._save_timer.timeout.connect(self.save_project_file)
        self.status = StatusLabels(self.statusBar())
        self._build_actions()
        self._connect()
        self.window_state = WindowState(self)
        self.window_state.restore()

    # ------------------------------------------------------------- building
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        p, t = self.predictions, self.transfer
        self.commands = create_actions(self, "window", {
            "open": self._ask_open, "add_images": self._ask_add_images,
            "remove_image": self.remove_current_image, "import_masks": t.ask_import_masks,
            "export_masks": t.ask_export_masks, "save": self.save, "quit": self.close,
            "preferences": self.show_preferences, "predict": p.predict_current,
            "predict_all": p.predict_all, "accept_unlabelled": lambda: p.accept("unlabelled"),
            "accept_all": lambda: p.accept("everywhere"), "show_confidence": p.show_layer,
            "live_prediction": self._set_live_prediction,
            "label_next": self.label_next.label_next, "order_uncertain": self.label_next.set_order,
            "uncertainty_map": lambda _on: self.label_next.show_map(),
            "run_on_server": self.server_runs.ask_write_job,
            "run_import": self.server_runs.ask_import_run,
            "load_model": self._ask_load_model, "export_model": t.ask_export_model,
            "shortcuts": lambda: dialogs.show_shortcuts(self),
            "docs": lambda: QDesktopServices.openUrl(QUrl(DOCS_URL)),
            "about": lambda: dialogs.show_about(self)})
        every = {**self.commands, **self.canvas.commands}
        for name, action in every.items():
            setattr(self, f"{name}_action", action)
        menus = fill_menus(self.menuBar(), every)
        self.recent_menu = menus["File"].addMenu("Open &Recent")
        menus["File"].insertMenu(every["add_images"], self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menus["View"].addSeparator()
        for dock in (self.images_dock, self.classes_dock, self.training_dock,
                     self.dashboard_dock):
            menus["View"].addAction(dock.toggleViewAction())
        menus["View"].addAction(self.canvas.toolbar.toggleViewAction())
        self.update_actions()

    def _show_hint(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    def _on_model_changed(self) -> None:
        self.canvas.set_prediction_labels("", None)  # the model brush never paints an old model
        self.label_next.model_changed()
        self.update_actions()

    def _set_live_prediction(self, on: bool) -> None:
        self.coordinator.auto_refresh_prediction = bool(on)

    def _connect(self) -> None:
        self.class_panel.class_selected.connect(self.canvas.set_active_class)
        self.class_panel.classes_changed.connect(self._on_classes_changed)
        self.class_panel.delete_requested.connect(self.delete_class)
        self.class_panel.error.connect(self.show_error)
        self.canvas.save_failed.connect(self.show_error)
        self.canvas.notice.connect(lambda text: self.message_bar.show_message(text, "info"))
        self.canvas.hint.connect(self._show_hint)
        self.canvas.prediction_request = self.predictions.predict_current
        self.image_shown.connect(self.label_next.image_shown)
        self.canvas.cursor_info.connect(lambda info: self.status.show_cursor(info, self.project))
        self.canvas.zoom_changed.connect(self.status.show_zoom)
        self.canvas.active_class_changed.connect(self.class_panel.select_class)

    # ------------------------------------------------------- the open project
    @property
    def project(self) -> Project | None:
        return self.session.project if self.session is not None else None

    @property
    def current_image_id(self) -> str | None:
        return self.session.current_image_id if self.session is not None else None

    @property
    def last_checkpoint(self) -> str | None:
        return self.session.checkpoint if self.session is not None else None

    @property
    def prediction_depth(self) -> int | None:
        return self.session.depth if self.session is not None else None

    def open_path(self, path: str | Path) -> bool:
        """Open a project folder, a segstudio.json, or a folder of images (new project)."""
        if not self._may_leave_project():
            return False
        try:
            task = self._new_project_task(Path(path))
            if task is None:
                return False
            project = open_or_create(path, task=task)
        except SegStudioError as exc:
            self.show_error(str(exc))
            return False
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on resolve()
            self.show_error(f"{path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self.set_project(project)
        return True

    def _new_project_task(self, path: Path) -> str | None:
        """A folder of images without a project becomes one: ask what it labels (None:
        the user cancelled). Anything else keeps its own task."""
        if not path.is_dir() or (path / PROJECT_FILE).exists() or not find_images(path):
            return "semantic"  # not a new project (or an error open_or_create reports)
        return self.choose_task(path)

    def choose_task(self, folder: Path) -> str | None:
        """Ask semantic or instances. Hidden, for tests (a modal dialog would block them):
        $SEGSTUDIO_NEW_PROJECT_TASK answers without asking (tests/conftest.py sets it), and
        tests may replace this method."""
        preset = os.environ.get(NEW_PROJECT_TASK_ENV, "").strip()
        if preset in TASKS:
            return preset
        return dialogs.ask_task(self, folder)

    def _may_leave_project(self) -> bool:
        """A run trains the open project: stop it (if the user agrees) before another opens."""
        if not self.training.running:
            return True
        if not self.confirm("Stop training?", "A model is training on this project. Stop "
                            "the run (its checkpoints are kept) and open the other project?"):
            return False
        self.coordinator.stop_and_wait()
        return True

    def set_project(self, project: Project) -> None:
        """Replace the session: the old project's image, model, predictions, run and lock go."""
        self._close_session()
        self.session = ProjectSession(project, self)
        self.session.model_changed.connect(self._on_model_changed)
        self.canvas.set_project(project)
        self.image_list.set_project(project)
        self.class_panel.set_project(project)
        self.training_panel.set_project(project)
        self.dashboard.clear()
        self.coordinator.restore_latest_run()
        self.message_bar.dismiss()
        task = "instances" if project.is_instances else "semantic"
        self.setWindowTitle(f"{project.name} ({task}) — segstudio")
        self.status.show_task(project)
        add_recent_project(project.root)
        self.update_actions()
        self.project_opened.emit(project)
        last = project.settings.get("last_image")
        if project.images:
            ids = [e.id for e in project.images]
            self.image_list.select_image(last if last in ids else first_readable(project))
        else:
            self.message_bar.show_message("This project has no images yet: drop images or a "
                                          "folder here, or use File › Add Images.", "info")
        lock = self.session.lock_status
        if lock.held_by_other:
            self.message_bar.show_message(
                f"{lock.message} Close the other one before painting here.", "warning")
        elif lock.state == "unavailable":
            self.message_bar.show_message(lock.message, "info")

    def _close_session(self) -> None:
        if self.session is None:
            return
        self.canvas.flush_saves()
        self.save_project_file()
        self.images.loader.cancel()
        self.predictions.reset()
        self.label_next.reset()
        self.training_panel.set_resumable(None)
        self.training_panel.set_init_checkpoint(None)
        self.session.close()
        self.session.deleteLater()
        self.session = None
        self.canvas.set_project(None)

    def save(self) -> bool:
        self.canvas.flush_saves()
        return self.save_project_file()

    def save_project_file(self) -> bool:
        self._save_timer.stop()
        if self.session is None:
            return True
        if self.session.current_image_id:
            self.session.project.settings["last_image"] = self.session.current_image_id
        try:
            self.session.project.save()
        except SegStudioError as exc:
            self.show_error(str(exc))
            return False
        return True

    def schedule_project_save(self) -> None:
        self._save_timer.start()

    # --------------------------------------------------------------- images
    def show_image(self, image_id: str) -> None:
        self.images.show_image(image_id)

    def add_images(self, paths: list[Path]) -> int:
        return self.images.add_images(paths)

    def remove_current_image(self) -> bool:
        return self.images.remove_current()

    def reload_masks(self) -> None:
        self.images.reload_masks()

    # ---------------------------------------------------------------- models
    def set_model(self, checkpoint: str | None) -> None:
        """The model predictions (and the retrain option) use; refused (SegStudioError) when
        it was trained for other classes than the project's."""
        if self.session is None:
            return
        self.session.set_model(checkpoint)
        self.training_panel.set_init_checkpoint(self.session.checkpoint)

    def load_model(self, path: str) -> bool:
        try:
            self.set_model(path)
        except SegStudioError as exc:
            self.show_error(f"{Path(path).name}: {exc}")
            return False
        self.report(f"Model loaded: {Path(path).name}. Predictions use it now.")
        return True

    def _ask_load_model(self) -> None:
        start = str(self.project.runs_dir) if self.project else ""
        path, _ = QFileDialog.getOpenFileName(self, "Load a segstudio model", start,
                                              "segstudio models (*.safetensors)")
        if path:
            self.load_model(path)

    def update_actions(self) -> None:
        s = self.session
        has_model = s is not None and s.checkpoint is not None
        has_image = s is not None and s.current_image is not None
        has_pred = s is not None and s.prediction(s.current_image_id) is not None \
            and not s.project.is_instances  # accepting makes no objects (prediction.accept)
        a = self.commands
        for name, on in (("predict", has_model and has_image), ("predict_all", has_model),
                         ("export_model", has_model), ("accept_unlabelled", has_pred),
                         ("accept_all", has_pred), ("remove_image", has_image),
                         ("add_images", s is not None), ("import_masks", s is not None),
                         ("export_masks", s is not None), ("save", s is not None),
                         ("label_next", s is not None), ("run_on_server", s is not None),
                         ("run_import", s is not None)):
            a[name].setEnabled(on)

    # -------------------------------------------------------------- classes
    def _on_classes_changed(self) -> None:
        self.canvas.refresh_classes()
        self.save_project_file()

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no. Tests replace this method to answer without a modal dialog."""
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def delete_class(self, index: int) -> bool:
        project = self.project
        if project is None or not (0 <= index < len(project.classes)):
            return False
        if len(project.classes) <= 1:
            self.show_error("A project needs at least one class.")
            return False
        self.canvas.flush_saves()
        if not self.confirm("Delete class", project.class_deletion_impact(index).describe()):
            return False
        try:
            project.delete_class(index)
        except SegStudioError as exc:
            self.show_error(str(exc))
            return False
        self.save_project_file()
        self.reload_masks()
        return True

    # ---------------------------------------------------------------- messages
    def show_error(self, message: str) -> None:
        self.message_bar.show_message(message, "error")
        self.statusBar().showMessage(message.splitlines()[0], 8000)

    def report(self, text: str, level: str = "info") -> None:
        self.message_bar.show_message(text, level)
        self.statusBar().showMessage(text.splitlines()[0], 8000)

    def show_preferences(self) -> None:
        if dialogs.PreferencesDialog(self).exec():
            limit = max_image_pixels()
            self.images.loader.max_pixels = limit
            self.image_list.list_model.loader.max_pixels = limit

    def _ask_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a project or a folder of images")
        if folder:
            self.open_path(folder)

    def _ask_add_images(self) -> None:
        if self.project is not None:
            files, _ = QFileDialog.getOpenFileNames(self, "Add images", str(self.project.root),
                                                    dialogs.IMAGE_FILTER)
            if files:
                self.add_images([Path(f) for f in files])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = recent_projects()
        if not items:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for p in items:
            self.recent_menu.addAction(p).triggered.connect(
                lambda _=False, p=p: self.open_path(p))

    # ----------------------------------------------------------- drag & drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.handle_dropped_paths(paths)

    def handle_dropped_paths(self, paths: list[Path]) -> None:
        """A project folder opens; images and image folders are added to the open project
        (or, with none open, a dropped folder becomes a new project)."""
        one = paths[0] if len(paths) == 1 else None
        if one is not None and one.is_dir() and (one / PROJECT_FILE).exists():
            self.open_path(one)
        elif one is not None and one.name == PROJECT_FILE:
            self.open_path(one.parent)
        elif self.project is None and one is not None and one.is_dir():
            self.open_path(one)
        elif self.add_images(paths) == 0:
            self.show_error("Nothing to add: drop image files (PNG, JPEG, TIFF, BMP) or "
                            "folders that hold them.")

    # --------------------------------------------------------------- closing
    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.window_state.first_show()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the run, write every pending save, then join every worker thread: nothing may
        run Python code in the background while the interpreter shuts down."""
        self.coordinator.shutdown()
        self.dashboard.stop_redrawing()
        self._close_session()
        self.image_list.list_model.loader.cancel_all()
        shutdown_all()
        self.window_state.save()
        super().closeEvent(event)

