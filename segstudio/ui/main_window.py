"""The main window: a thin composer of the image list, canvas, class list and docks.

It owns the open Project and routes signals between widgets; the rules live in core, the
drawing in the widgets. Nothing slow runs here: images decode in a worker, masks save in one.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QScrollArea, QVBoxLayout, QWidget)

from segstudio import __version__
from segstudio.core.project import Project, find_images, open_or_create, PROJECT_FILE
from segstudio.errors import SegStudioError
from segstudio.io.images import is_image_file
from segstudio.ui.canvas import CanvasPanel, CursorInfo
from segstudio.ui.class_panel import ClassPanel
from segstudio.ui.dashboard.widget import Dashboard
from segstudio.ui.image_list import ImageListView
from segstudio.ui.message_bar import MessageBar
from segstudio.ui.prediction import PredictionService
from segstudio.ui.preferences import PreferencesDialog, max_image_pixels
from segstudio.ui.settings import add_recent_project, app_settings, recent_projects
from segstudio.ui.training.controller import TrainingController
from segstudio.ui.training.panel import TrainingPanel
from segstudio.ui.workers import ImageLoader, LoadedDocument


class MainWindow(QMainWindow):
    project_opened = Signal(object)   # Project
    image_shown = Signal(str)         # image id, once it is on the canvas

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("segstudio")
        self.setAcceptDrops(True)
        self.project: Project | None = None
        self.current_image_id: str | None = None

        self.message_bar = MessageBar()
        self.canvas = CanvasPanel()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.image_list = ImageListView()
        self.class_panel = ClassPanel()
        self.images_dock = self._dock("Images", self.image_list, Qt.LeftDockWidgetArea)
        self.classes_dock = self._dock("Classes", self.class_panel, Qt.RightDockWidgetArea)
        self.training_panel = TrainingPanel()
        self.dashboard = Dashboard()
        self.training = TrainingController(self)
        self.training_dock = self._dock("Training", _scrollable(self.training_panel),
                                        Qt.RightDockWidgetArea)
        self.dashboard_dock = self._dock("Dashboard", self.dashboard, Qt.BottomDockWidgetArea)
        self.prediction_depth: int | None = None  # U-Net++ depth chosen on the prune slider
        self.last_checkpoint: str | None = None   # the model predictions use
        self.predictions = PredictionService(self)
        self._predicted: OrderedDict[str, object] = OrderedDict()  # image id -> Prediction
        self._current_image = None                # raw pixels of the image on the canvas
        self.auto_refresh_prediction = True       # re-predict on each new best checkpoint

        self.loader = ImageLoader(max_pixels=max_image_pixels(), parent=self)
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(self._on_image_failed)

        self._save_timer = QTimer(self, singleShot=True, interval=800)
        self._save_timer.timeout.connect(self.save_project_file)

        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_geometry()

    # ------------------------------------------------------------- building
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.zoom_label = QLabel("")
        self.pos_label = QLabel("")
        self.class_label = QLabel("")
        for w in (self.pos_label, self.class_label, self.zoom_label):
            w.setMinimumWidth(90)
            self.statusBar().addPermanentWidget(w)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.open_action = self._action("&Open Project or Image Folder…", self._ask_open,
                                        QKeySequence.Open, "Open a project folder, or a folder of "
                                        "images to start a new project")
        self.add_images_action = self._action("&Add Images…", self._ask_add_images, None,
                                              "Add image files to this project")
        self.save_action = self._action("&Save", self.save, QKeySequence.Save,
                                        "Save masks and the project file")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.Quit)
        f.addAction(self.open_action)
        self.recent_menu = f.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        f.addAction(self.add_images_action)
        f.addSeparator()
        self.import_masks_action = self._action("&Import Masks…", self._ask_import_masks, None,
                                                "Masks from index PNGs, labelme or COCO")
        self.export_masks_action = self._action("&Export Masks…", self._ask_export_masks,
                                                "Ctrl+E", "Index PNG, colour PNG, COCO JSON")
        f.addAction(self.import_masks_action)
        f.addAction(self.export_masks_action)
        f.addSeparator()
        f.addAction(self.save_action)
        f.addSeparator()
        f.addAction(self.quit_action)

        e = mb.addMenu("&Edit")
        e.addAction(self.canvas.undo_action)
        e.addAction(self.canvas.redo_action)
        e.addSeparator()
        e.addAction(self._action("&Preferences…", self.show_preferences, QKeySequence.Preferences))

        v = mb.addMenu("&View")
        v.addAction(self._action("&Fit to Window", self.canvas.fit_to_window, "Ctrl+0"))
        v.addAction(self._action("&Actual Pixels (100 %)", self.canvas.zoom_100, "Ctrl+1"))
        v.addSeparator()
        for dock in (self.images_dock, self.classes_dock, self.training_dock, self.dashboard_dock):
            v.addAction(dock.toggleViewAction())

        m = mb.addMenu("&Model")
        self.predict_action = self._action("&Predict Current Image", self.predict_current,
                                           "Ctrl+P", "Segment the current image with the model")
        self.predict_all_action = self._action("Predict &All Images", self.predict_all, None,
                                               "Segment every image in the background")
        self.accept_unlabelled_action = self._action(
            "Accept Prediction into &Unlabelled Pixels", lambda: self.accept_prediction(
                "unlabelled"), "Ctrl+Return", "Copy the prediction where you have not labelled")
        self.accept_all_action = self._action(
            "Accept Prediction &Everywhere", lambda: self.accept_prediction("everywhere"), None,
            "Replace this image's mask with the prediction")
        self.show_prediction_action = self._action("&Show Prediction", self._toggle_prediction,
                                                   "Shift+O")
        self.show_prediction_action.setCheckable(True)
        self.show_prediction_action.setChecked(True)
        self.show_confidence_action = self._action(
            "Show &Confidence Instead", self._show_prediction_layer, "Shift+C",
            "Light up the pixels the model is unsure of (where to correct first)")
        self.show_confidence_action.setCheckable(True)
        self.load_model_action = self._action("&Load Model…", self._ask_load_model, None,
                                              "Use a saved segstudio model for predictions")
        self.export_model_action = self._action("E&xport Model…", self._ask_export_model, None,
                                                "safetensors, TorchScript, ONNX")
        for a in (self.predict_action, self.predict_all_action, None,
                  self.accept_unlabelled_action, self.accept_all_action, None,
                  self.show_prediction_action, self.show_confidence_action, None,
                  self.load_model_action,
                  self.export_model_action):
            m.addSeparator() if a is None else m.addAction(a)
        self._update_model_actions()

        h = mb.addMenu("&Help")
        h.addAction(self._action("&About segstudio", self.show_about))

    def _connect(self) -> None:
        self.image_list.image_selected.connect(self.show_image)
        self.class_panel.class_selected.connect(self._on_class_selected)
        self.class_panel.classes_changed.connect(self._on_classes_changed)
        self.class_panel.delete_requested.connect(self.delete_class)
        self.class_panel.error.connect(self.show_error)
        self.canvas.mask_saved.connect(self._on_mask_saved)
        self.canvas.save_failed.connect(self.show_error)
        self.canvas.cursor_info.connect(self._on_cursor)
        self.canvas.zoom_changed.connect(self._on_zoom)
        self.canvas.active_class_changed.connect(self.class_panel.select_class)
        self.training_panel.train_requested.connect(self.start_training)
        self.training_panel.stop_requested.connect(self.training.stop)
        self.training_panel.pause_toggled.connect(self._on_pause_toggled)
        self.training.running_changed.connect(self.training_panel.set_running)
        self.training.run_started.connect(self._on_run_started)
        self.training.iteration.connect(self._on_iteration)
        self.training.epoch_finished.connect(self._on_epoch)
        self.training.checkpoint_saved.connect(self._on_checkpoint)
        self.training.notice.connect(lambda n: self.message_bar.show_message(n.text, n.level))
        self.training.run_finished.connect(self._on_run_finished)
        self.dashboard.depth_changed.connect(self._on_depth_changed)
        self.predictions.predicted.connect(self._on_predicted)
        self.predictions.failed.connect(self._on_prediction_failed)
        self.predictions.all_progress.connect(self._on_predict_all_progress)
        self.predictions.all_finished.connect(self._on_predict_all_finished)
        self._progress_timer = QTimer(self, interval=100)
        self._progress_timer.timeout.connect(self._show_progress)
        self._last_iteration = None

    # ------------------------------------------------------------- projects
    def open_path(self, path: str | Path) -> bool:
        """Open a project folder, a segstudio.json, or a folder of images (new project)."""
        self._finish_current()
        try:
            project = open_or_create(path)
        except SegStudioError as exc:
            self.show_error(str(exc))
            return False
        except OSError as exc:
            self.show_error(f"{path}: {exc.strerror or exc}")
            return False
        self.set_project(project)
        return True

    def set_project(self, project: Project) -> None:
        from segstudio.core.lock import ProjectLock

        self._finish_current()
        self.loader.cancel()
        self._release_lock()
        lock_status = ProjectLock(project.root, purpose="window").acquire()
        self._lock = lock_status.lock if lock_status.acquired else None
        if not hasattr(self, "_lock_timer"):
            # Touch the lock now and then, so a segstudio on another host sees we are alive.
            self._lock_timer = QTimer(self, interval=3600 * 1000)
            self._lock_timer.timeout.connect(lambda: self._lock and self._lock.refresh())
            self._lock_timer.start()
        self.project = project
        self.current_image_id = None
        self._current_image = None
        self._predicted.clear()
        self.canvas.set_project(project)
        self.image_list.set_project(project)
        self.class_panel.set_project(project)
        self.training_panel.set_project(project)
        self.message_bar.dismiss()
        self.setWindowTitle(f"{project.name} — segstudio")
        add_recent_project(project.root)
        self.project_opened.emit(project)
        last = project.settings.get("last_image")
        if project.images:
            target = last if any(e.id == last for e in project.images) else project.images[0].id
            self.image_list.select_image(target)
        else:
            self.message_bar.show_message("This project has no images yet: drop images or a "
                                          "folder here, or use File › Add Images.", "info")
        if lock_status.held_by_other:
            self.message_bar.show_message(
                f"{lock_status.message} Close the other one before painting here.", "warning")
        elif lock_status.state == "unavailable":
            self.message_bar.show_message(lock_status.message, "info")

    def _release_lock(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release()
        self._lock = None

    def add_images(self, paths: list[Path]) -> int:
        if self.project is None:
            return 0
        files: list[Path] = []
        for p in paths:
            if p.is_dir():
                files.extend(find_images(p))
            elif is_image_file(p):
                files.append(p)
        added = self.project.add_images(files)
        if added:
            self.image_list.list_model.refresh()
            self.save_project_file()
            if self.current_image_id:
                self.image_list.select_image(self.current_image_id)
            else:
                self.image_list.select_image(added[0].id)
            self.statusBar().showMessage(f"Added {len(added)} image(s).", 4000)
        else:
            self.statusBar().showMessage("No new images to add.", 4000)
        return len(added)

    def save(self) -> bool:
        self.canvas.flush_saves()
        return self.save_project_file()

    def save_project_file(self) -> bool:
        self._save_timer.stop()
        if self.project is None:
            return True
        if self.current_image_id:
            self.project.settings["last_image"] = self.current_image_id
        try:
            self.project.save()
        except SegStudioError as exc:
            self.show_error(str(exc))
            return False
        return True

    def _schedule_project_save(self) -> None:
        self._save_timer.start()

    def _finish_current(self) -> None:
        if self.project is not None:
            self.canvas.flush_saves()
            self.save_project_file()

    # --------------------------------------------------------------- images
    def show_image(self, image_id: str) -> None:
        if self.project is None:
            return
        try:
            entry = self.project.entry(image_id)
        except KeyError:
            return
        self.current_image_id = image_id
        self.statusBar().showMessage(f"Loading {image_id}…")
        self.loader.request(image_id, self.project.image_path(entry),
                            self.project.mask_path(entry), len(self.project.classes))

    def _on_image_loaded(self, doc: LoadedDocument) -> None:
        if self.project is None or doc.image_id != self.current_image_id:
            return
        entry = self.project.entry(doc.image_id)
        self.canvas.show_image(entry, doc.image, doc.mask)
        self.canvas.view.setFocus()  # number keys, B/E/F/P and [ ] act on the canvas at once
        self._current_image = doc.image
        self._show_prediction_layer()
        self._update_model_actions()
        h, w = doc.image.shape[:2]
        note = f" — {doc.note}" if doc.note else ""
        self.statusBar().showMessage(f"{doc.image_id}: {w} x {h}{note}", 5000)
        if self.message_bar.level == "error":
            self.message_bar.dismiss()
        if doc.note:
            self.message_bar.show_message(f"{doc.image_id}: {doc.note}.", "info")
        self.image_shown.emit(doc.image_id)

    def _on_image_failed(self, image_id: str, message: str) -> None:
        self.image_list.list_model.mark_error(image_id, message)
        if image_id == self.current_image_id:
            self.canvas.clear()
        self.show_error(message)

    def _on_mask_saved(self, image_id: str, _fraction: float) -> None:
        self.image_list.list_model.image_changed(image_id)
        self._schedule_project_save()
        self._weights_timer_start()

    def _weights_timer_start(self) -> None:
        if not hasattr(self, "_weights_timer"):
            self._weights_timer = QTimer(self, singleShot=True, interval=1500)
            self._weights_timer.timeout.connect(self.training_panel.refresh_weights)
        self._weights_timer.start()

    # ------------------------------------------------------------- training
    def start_training(self, config) -> bool:
        if self.project is None or self.training.running:
            return False
        # The trainer reads masks from disk: write what is on the canvas first. The project
        # itself goes to the trainer as a snapshot, so its file is saved later, off this path.
        self.canvas.flush_saves()
        self._schedule_project_save()
        self.message_bar.dismiss()
        started = self.training.start(self.project, config)
        self._run_config = config
        self._last_saved = None
        if started:
            self._progress_timer.start()
            self.training_panel.show_progress(0.0, None, "Preparing data and model…")
        return started

    def _on_pause_toggled(self, paused: bool) -> None:
        if paused:
            self.training.pause()
            self.training_panel.status.setText("Paused. Press Resume to go on.")
        else:
            self.training.resume()

    def _on_run_started(self, ev) -> None:
        names = [c.name for c in self.project.classes] if self.project else []
        colors = [c.color for c in self.project.classes] if self.project else []
        # A resumed run writes into its old folder: its earlier epochs are drawn too.
        self.dashboard.start_run(names, colors, ev.architecture, resumed_from=ev.run_dir,
                                 iterations_per_epoch=ev.iterations_per_epoch)
        text = (f"{ev.architecture}, {ev.parameters / 1e6:.2f} M parameters on {ev.device}; "
                f"{ev.train_images} training / {ev.val_images} validation images.")
        self.training_panel.status.setText(text)
        if ev.notes:
            self.message_bar.show_message(" ".join(ev.notes), "info")

    def _on_iteration(self, ev) -> None:
        self.dashboard.add_iteration(ev)
        self._last_iteration = ev

    def _show_progress(self) -> None:
        ev = self._last_iteration
        if ev is not None and not self.training.paused:
            self.training_panel.show_progress(
                ev.progress, ev.eta_s, f"Epoch {ev.epoch} · loss {ev.loss:.4f} · "
                f"{ev.images_per_s:.1f} patches/s · batch {ev.batch_size}")

    def _on_epoch(self, ev) -> None:
        self.dashboard.add_epoch(ev)

    def _on_checkpoint(self, ev) -> None:
        if not ev.best:
            self._last_saved = ev.path
        if ev.best:
            self.set_model(ev.path)
            # Show what the model has learnt so far on the image being looked at.
            if self.auto_refresh_prediction and self._current_image is not None:
                self.predict_current()

    def _on_run_finished(self, ev) -> None:
        self._progress_timer.stop()
        self._show_progress()
        level = "error" if ev.reason == "failed" else "info"
        best = f" Best validation mIoU {ev.best_miou:.3f}." if ev.best_miou is not None else ""
        self.training_panel.status.setText(ev.message + best)
        if ev.reason == "failed":
            self.message_bar.show_message(ev.message, level)
        if ev.reason in ("stopped", "time-budget") and getattr(self, "_last_saved", None):
            self.training_panel.set_resumable(self._last_saved, self._run_config)
        if ev.best_checkpoint:
            self.set_model(ev.best_checkpoint)
            if self.dashboard.prune.slider.isEnabled():
                self._measure_depth_costs(ev.best_checkpoint)

    def _measure_depth_costs(self, checkpoint: str) -> None:
        from segstudio.ui.training.costs import DepthCostJob

        job = DepthCostJob(checkpoint, self)
        job.measured.connect(self.dashboard.prune.set_costs)
        job.start()
        self._cost_job = job

    def _on_depth_changed(self, depth: int) -> None:
        self.prediction_depth = depth
        if self.project is not None:
            self.project.settings["unetpp_depth"] = depth
            self._schedule_project_save()
        if self._predicted:
            self._predicted.clear()
            if self.current_image_id and self.last_checkpoint:
                self.predict_current()

    # ----------------------------------------------------------- prediction
    def set_model(self, checkpoint: str | None) -> None:
        """The model that predictions (and the retrain option) use."""
        self.last_checkpoint = checkpoint
        self._predicted.clear()
        self.training_panel.set_init_checkpoint(checkpoint)
        self._update_model_actions()

    def _update_model_actions(self) -> None:
        has_model = self.last_checkpoint is not None
        has_image = self._current_image is not None
        self.predict_action.setEnabled(has_model and has_image)
        self.predict_all_action.setEnabled(has_model and self.project is not None)
        self.export_model_action.setEnabled(has_model)
        has_pred = self.current_image_id in self._predicted
        self.accept_unlabelled_action.setEnabled(has_pred)
        self.accept_all_action.setEnabled(has_pred)

    def predict_current(self) -> bool:
        if not self.last_checkpoint or self._current_image is None or not self.current_image_id:
            return False
        self.statusBar().showMessage(f"Predicting {self.current_image_id}…")
        self.predictions.predict(self.current_image_id, self._current_image, self.last_checkpoint,
                                 self.prediction_depth)
        return True

    def _on_predicted(self, image_id: str, pred) -> None:
        self._predicted[image_id] = pred
        self._predicted.move_to_end(image_id)
        while len(self._predicted) > 16:
            self._predicted.popitem(last=False)
        if image_id == self.current_image_id:
            self._show_prediction_layer()
            mean_conf = float(pred.confidence.mean()) / 255
            self.statusBar().showMessage(f"Prediction ready (mean confidence {mean_conf:.0%}).",
                                         5000)
        self._update_model_actions()

    def _on_prediction_failed(self, image_id: str, message: str) -> None:
        self.show_error(message)

    def accept_prediction(self, mode: str = "unlabelled") -> bool:
        """Copy the current prediction into the mask as one undo step."""
        from segstudio.core.accept import plan_accept

        pred = self._predicted.get(self.current_image_id or "")
        mask = self.canvas.current_mask()
        if pred is None or mask is None or pred.labels.shape != mask.shape:
            return False
        plan = plan_accept(mask, pred.labels, mode)
        if plan is None:
            self.statusBar().showMessage("The prediction adds nothing here.", 4000)
            return False
        rect, block = plan
        self.canvas.apply_block(rect, block)
        return True

    def predict_all(self) -> bool:
        if self.project is None or not self.last_checkpoint:
            return False
        items = [(e.id, self.project.image_path(e)) for e in self.project.images]
        self.training_panel.show_progress(0.0, None, f"Predicting {len(items)} images…")
        self.predictions.predict_all(items, self.last_checkpoint, self.prediction_depth,
                                     self.project.root / "predictions", self.project.classes)
        return True

    def _on_predict_all_progress(self, done: int, total: int) -> None:
        self.training_panel.show_progress(done / max(total, 1), None,
                                          f"Predicted {done} of {total} images…")

    def _on_predict_all_finished(self, ok: int, bad: int, folder: str) -> None:
        text = f"Predicted {ok} image(s) into {folder}."
        if bad:
            text += f" {bad} could not be predicted (see the messages)."
        self.training_panel.status.setText(text)
        self.statusBar().showMessage(text, 8000)

    # ------------------------------------------------------ import / export
    def _run_job(self, func, what: str, on_done) -> "BackgroundJob":
        from segstudio.ui.jobs import BackgroundJob

        job = BackgroundJob(func, self)
        job.progress.connect(lambda d, t: self.statusBar().showMessage(
            f"{what}: {d} of {t}…"))
        job.failed.connect(self.show_error)
        job.finished.connect(on_done)
        self._jobs = [j for j in getattr(self, "_jobs", []) if not j.done] + [job]
        self.statusBar().showMessage(f"{what}…")
        return job.start()

    def predicted_masks(self) -> "dict[str, object]":
        """Predictions on disk (Predict All) and in memory, by image id, read lazily."""
        from segstudio.ui.prediction import PredictionFiles

        return PredictionFiles(self.project.root / "predictions", dict(self._predicted))

    def export_masks_to(self, out: str | Path, formats: list[str], which: str):
        from segstudio.io.mask_export import export_masks

        if self.project is None:
            return None
        self.canvas.flush_saves()
        project = self.project
        preds = self.predicted_masks() if which == "predictions" else None
        return self._run_job(
            lambda progress: export_masks(project, out, formats, which, preds,
                                          progress=progress),
            "Exporting masks", lambda summary: self._report(summary.describe()))

    def export_model_to(self, out: str | Path, formats: list[str], depth: int | None):
        from segstudio.io.model_export import export_model

        if not self.last_checkpoint:
            return None
        ckpt = self.last_checkpoint
        return self._run_job(lambda progress: export_model(ckpt, out, formats, depth),
                             "Exporting the model",
                             lambda summary: self._report(summary.describe()))

    def import_masks_from(self, source: str | Path, fmt: str, merge: bool = False):
        from segstudio.io.mask_import import import_masks

        if self.project is None:
            return None
        self.canvas.flush_saves()
        # The import rewrites masks on disk: let go of the open one and its history first.
        self.canvas.set_project(self.project)
        project = self.project
        return self._run_job(
            lambda progress: import_masks(project, source, fmt,
                                          mode="merge" if merge else "replace",
                                          progress=progress),
            "Importing masks", self._after_import)

    def _after_import(self, summary) -> None:
        self.class_panel.reload()
        self.canvas.set_project(self.project)
        self.image_list.list_model.refresh()
        self.training_panel.refresh_weights()
        if self.current_image_id:
            self.image_list.select_image(self.current_image_id)
            self.show_image(self.current_image_id)
        self._report(summary.describe(), "info" if summary.complete else "warning")

    def _report(self, text: str, level: str = "info") -> None:
        self.message_bar.show_message(text, level)
        self.statusBar().showMessage(text.splitlines()[0], 8000)

    def _ask_export_masks(self) -> None:
        from segstudio.ui.export_dialogs import ExportMasksDialog

        if self.project is None:
            return
        has_pred = bool(self._predicted) or (self.project.root / "predictions").is_dir()
        d = ExportMasksDialog(self.project.exports_dir, has_pred, self)
        if d.exec() and d.formats():
            self.export_masks_to(d.folder.text(), d.formats(), d.which())

    def _ask_export_model(self) -> None:
        from segstudio.ui.export_dialogs import ExportModelDialog
        from segstudio.training.checkpoints import read_meta

        if not self.last_checkpoint or self.project is None:
            return
        arch = read_meta(self.last_checkpoint).get("architecture")
        depths = self.dashboard.prune.depths if arch == "unetpp" else []
        d = ExportModelDialog(self.project.exports_dir, depths, self.prediction_depth, self)
        if d.exec() and d.formats():
            self.export_model_to(d.folder.text(), d.formats(), d.chosen_depth())

    def _ask_import_masks(self) -> None:
        from segstudio.ui.export_dialogs import ImportMasksDialog

        if self.project is None:
            return
        d = ImportMasksDialog(self.project.root, self)
        if d.exec():
            self.import_masks_from(d.source.text(), d.format.currentData(), d.merge.isChecked())

    def _toggle_prediction(self) -> None:
        self.canvas.set_prediction_visible(self.show_prediction_action.isChecked())

    def _show_prediction_layer(self) -> None:
        """Put the current image's prediction (classes, or confidence) on the canvas."""
        pred = self._predicted.get(self.current_image_id or "")
        mask = self.canvas.current_mask()
        if pred is None or mask is None or pred.labels.shape != mask.shape:
            return
        confidence = self.show_confidence_action.isChecked()
        self.canvas.prediction_layer.set_confidence_mode(confidence)
        self.canvas.set_prediction(self.current_image_id,
                                   pred.confidence if confidence else pred.labels)
        self.canvas.set_prediction_visible(self.show_prediction_action.isChecked())

    def _ask_load_model(self) -> None:
        start = str(self.project.runs_dir) if self.project else ""
        path, _ = QFileDialog.getOpenFileName(self, "Load a segstudio model", start,
                                              "segstudio models (*.safetensors)")
        if path:
            self.load_model(path)

    def load_model(self, path: str) -> bool:
        from segstudio.errors import SegStudioError
        from segstudio.training.checkpoints import read_meta

        try:
            meta = read_meta(path)
        except SegStudioError as exc:
            self.show_error(str(exc))
            return False
        names = [c.get("name") for c in meta.get("classes", [])]
        if self.project and names != [c.name for c in self.project.classes]:
            self.message_bar.show_message(
                "This model was trained with other classes (" + ", ".join(map(str, names)) +
                "); its predictions use those class numbers.", "warning")
        self.set_model(str(Path(path).with_suffix(".safetensors")))
        return True

    # -------------------------------------------------------------- classes
    def _on_class_selected(self, index: int) -> None:
        self.canvas.set_active_class(index)

    def _on_classes_changed(self) -> None:
        self.canvas.refresh_classes()
        self.save_project_file()

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no. Tests replace this method to answer without a modal dialog."""
        return QMessageBox.question(self, title, text) == QMessageBox.Yes

    def delete_class(self, index: int) -> bool:
        if self.project is None or not (0 <= index < len(self.project.classes)):
            return False
        if len(self.project.classes) <= 1:
            self.show_error("A project needs at least one class.")
            return False
        self.canvas.flush_saves()
        impact = self.project.class_deletion_impact(index)
        if not self.confirm("Delete class", impact.describe()):
            return False
        try:
            self.project.delete_class(index)
        except SegStudioError as exc:
            self.show_error(str(exc))
            return False
        self.save_project_file()
        self.class_panel.reload()
        self.canvas.set_project(self.project)  # masks on disk changed: drop open state
        self.image_list.list_model.refresh()
        if self.current_image_id:
            self.image_list.select_image(self.current_image_id)
            self.show_image(self.current_image_id)
        return True

    # ---------------------------------------------------------------- status
    def _on_cursor(self, info: CursorInfo | None) -> None:
        if info is None:
            self.pos_label.setText("")
            self.class_label.setText("")
            return
        self.pos_label.setText(f"x {info.x}  y {info.y}")
        if info.class_index is None:
            self.class_label.setText("not labelled")
        elif self.project and info.class_index < len(self.project.classes):
            self.class_label.setText(self.project.classes[info.class_index].name)
        else:
            self.class_label.setText(f"class {info.class_index}")

    def _on_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")

    def show_error(self, message: str) -> None:
        self.message_bar.show_message(message, "error")
        self.statusBar().showMessage(message.splitlines()[0], 8000)

    def show_preferences(self) -> None:
        if PreferencesDialog(self).exec():
            limit = max_image_pixels()
            self.loader.max_pixels = limit
            self.image_list.list_model.loader.max_pixels = limit

    def show_about(self) -> None:
        QMessageBox.about(self, "About segstudio", about_text())

    # ---------------------------------------------------------------- dialogs
    def _ask_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a project or a folder of images")
        if folder:
            self.open_path(folder)

    def _ask_add_images(self) -> None:
        if self.project is None:
            return
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add images", str(self.project.root),
            "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp);;All files (*)")
        if files:
            self.add_images([Path(f) for f in files])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = recent_projects()
        if not items:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
        for p in items:
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))

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
        if len(paths) == 1 and paths[0].is_dir() and (paths[0] / PROJECT_FILE).exists():
            self.open_path(paths[0])
        elif len(paths) == 1 and paths[0].name == PROJECT_FILE:
            self.open_path(paths[0].parent)
        elif self.project is None and len(paths) == 1 and paths[0].is_dir():
            self.open_path(paths[0])
        else:
            if self.add_images(paths) == 0:
                self.show_error("Nothing to add: drop image files (PNG, JPEG, TIFF, BMP) or "
                                "folders that hold them.")

    # --------------------------------------------------------------- closing
    def _restore_geometry(self) -> None:
        s = app_settings()
        geo = s.value("window/geometry")
        state = s.value("window/state")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        self._default_layout = not (isinstance(state, QByteArray) and not state.isEmpty())
        if not self._default_layout:
            self.restoreState(state)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_default_layout", False):
            # First launch: the canvas gets most of the window, the dashboard a strip.
            self._default_layout = False
            self.resizeDocks([self.dashboard_dock], [max(180, self.height() // 4)], Qt.Vertical)
            self.resizeDocks([self.images_dock, self.classes_dock], [220, 300], Qt.Horizontal)
            self.resizeDocks([self.classes_dock, self.training_dock],
                             [max(120, self.height() // 5), self.height()], Qt.Vertical)

    def closeEvent(self, event) -> None:
        if self.training.running:
            self.training.stop()
            self.training.wait(30000)
        self.predictions.cancel_all()
        self.predictions.wait(30000)
        self.dashboard.stop_redrawing()
        self._progress_timer.stop()
        self._finish_current()
        self.loader.cancel()
        self.image_list.list_model.loader.cancel_all()
        self._release_lock()
        s = app_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()
        super().closeEvent(event)


def _scrollable(widget: QWidget) -> QScrollArea:
    """Tall forms scroll instead of forcing a window taller than a laptop screen."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    return area


def about_text() -> str:
    from PySide6 import __version__ as pyside_version

    return (f"<h3>segstudio {__version__}</h3>"
            "<p>Paint class masks on your images, train a U-Net on them, correct its "
            "predictions, retrain, and export masks and models.</p>"
            f"<p>Qt for Python {pyside_version}. PyTorch is loaded when training starts.</p>"
            "<p>Licensed under the MIT licence.</p>")
