"""What a training run does to the window: the panel's progress and status, the dashboard's
curves, the session's model (each new best checkpoint), resuming a stopped run, and the U-Net++
depth costs once a run is over. The run itself is TrainingController's; this module only routes
its events, and only to the session that started the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from segstudio.errors import SegStudioError
from segstudio.ui.tasks import Task, TaskRunner
from segstudio.ui.training.controller import TrainingController

if TYPE_CHECKING:
    from segstudio.training.config import TrainConfig
    from segstudio.ui.main_window import MainWindow
    from segstudio.ui.session import ProjectSession


class TrainingCoordinator(QObject):
    def __init__(self, window: MainWindow, controller: TrainingController) -> None:
        super().__init__(window)
        self.window = window
        self.controller = controller
        self.panel = window.training_panel
        self.dashboard = window.dashboard
        self._session: ProjectSession | None = None     # the one the run belongs to
        self._config: TrainConfig | None = None
        self._last_saved: str | None = None
        self._last_iteration: Any = None
        # Re-predict on each new best: opt-in (Model > Predict While Training), since a new
        # user took the overlay appearing over their strokes for their own labels.
        self.auto_refresh_prediction = False
        self._costs = TaskRunner("depth costs", parent=self)
        self._progress_timer = QTimer(self, interval=100)
        self._progress_timer.timeout.connect(self._show_progress)
        c = controller
        c.running_changed.connect(self.panel.set_running)
        c.run_started.connect(self._on_run_started)
        c.iteration.connect(self._on_iteration)
        c.epoch_finished.connect(self.on_epoch)
        c.checkpoint_saved.connect(self._on_checkpoint)
        c.notice.connect(self._on_notice)
        c.run_finished.connect(self._on_run_finished)
        self.panel.train_requested.connect(self.start)
        self.panel.stop_requested.connect(c.stop)
        self.panel.pause_toggled.connect(self._on_pause_toggled)
        self.dashboard.depth_changed.connect(self._on_depth_changed)

    def _mine(self) -> ProjectSession | None:
        """The window's session if the run belongs to it (else None: ignore the event)."""
        s = self.window.session
        return s if s is not None and s is self._session else None

    # ---------------------------------------------------------------- control
    def start(self, config: TrainConfig) -> bool:
        w = self.window
        if w.session is None or self.controller.running:
            return False
        # The trainer reads masks from disk: write what is on the canvas first. The project
        # itself goes to the trainer as a snapshot, so its file is saved later, off this path.
        w.canvas.flush_saves()
        w.schedule_project_save()
        w.message_bar.dismiss()
        self._session, self._config, self._last_saved = w.session, config, None
        self.panel.remember_settings(config)
        self._last_iteration = None
        started = self.controller.start(w.session.project, config)
        if started:
            self._progress_timer.start()
            self.panel.show_progress(0.0, None, "Preparing data and model…")
        return started

    def stop_and_wait(self, msecs: int = 30000) -> bool:
        if self.controller.running:
            self.controller.stop()
        ok = self.controller.wait(msecs)
        self._progress_timer.stop()
        return ok

    def shutdown(self) -> None:
        self.stop_and_wait()
        self._costs.shutdown()

    def _on_pause_toggled(self, paused: bool) -> None:
        if paused:
            self.controller.pause()
            self.panel.set_status("Paused. Press Resume to go on.")
        else:
            self.controller.resume()

    # ----------------------------------------------------------------- events
    def _on_notice(self, ev: Any) -> None:
        if self._mine():
            self.window.message_bar.show_message(ev.text, ev.level)

    def _on_run_started(self, ev: Any) -> None:
        s = self._mine()
        if s is None:
            return
        project = s.project
        # A resumed run writes into its old folder: its earlier epochs are drawn too.
        self.dashboard.start_run([c.name for c in project.classes],
                                 [c.color for c in project.classes], ev.architecture,
                                 resumed_from=ev.run_dir,
                                 iterations_per_epoch=ev.iterations_per_epoch)
        self.panel.set_status(
            f"{ev.architecture}, {ev.parameters / 1e6:.2f} M parameters on {ev.device}; "
            f"{ev.train_images} training / {ev.val_images} validation images.")
        if ev.notes:
            self.window.message_bar.show_message(" ".join(ev.notes), "info")

    def _on_iteration(self, ev: Any) -> None:
        if self._mine():
            self.dashboard.add_iteration(ev)
            self._last_iteration = ev

    def _show_progress(self) -> None:
        ev = self._last_iteration
        if ev is not None and not self.controller.paused:
            self.panel.show_progress(
                ev.progress, ev.eta_s, f"Epoch {ev.epoch} · loss {ev.loss:.4f} · "
                f"{ev.images_per_s:.1f} patches/s · batch {ev.batch_size}")

    def on_epoch(self, ev: Any) -> None:
        if self._mine():
            self.dashboard.add_epoch(ev)

    def _on_checkpoint(self, ev: Any) -> None:
        s = self._mine()
        if s is None:
            return
        if not ev.best:
            self._last_saved = ev.path
            return
        if self._use_model(ev.path) and self.auto_refresh_prediction \
                and s.current_image is not None:
            # Show what the model has learnt so far on the image being looked at.
            self.window.predictions.predict_current()

    def _on_run_finished(self, ev: Any) -> None:
        self._progress_timer.stop()
        s = self._mine()
        if s is None:
            return
        self._show_progress()
        # an instance run keeps its best epoch by mean AP (training/loop.py)
        score = "mean AP" if s.project.is_instances else "mIoU"
        best = (f" Best validation {score} {ev.best_miou:.3f}." if ev.best_miou is not None
                else "")
        self.panel.set_status(ev.message + best)
        if ev.reason == "failed":
            self.window.message_bar.show_message(ev.message, "error")
        if ev.reason in ("stopped", "time-budget") and self._last_saved:
            s.resumable = (self._last_saved, self._config)
            self.panel.set_resumable(self._last_saved, self._config)
        if ev.best_checkpoint and self._use_model(ev.best_checkpoint) \
                and self.dashboard.prune.slider.isEnabled():
            self._measure_depth_costs(ev.best_checkpoint)

    def restore_latest_run(self) -> bool:
        """A project reopened (in this window or after a restart, trained here or with
        `segstudio train`) shows its latest run: the dashboard from the run's metrics log and
        its best checkpoint (else its last) as the current model."""
        from segstudio.training.run_log import latest_run

        s = self.window.session
        if s is None:
            return False
        run = latest_run(s.project)
        if run is None or not run.epochs:
            return False
        return self.show_run(run)

    def show_run(self, run: Any, label: str = "Latest run") -> bool:
        """Show a saved run (runs/<stamp>/): its curves on the dashboard, its best model (else
        its last) as the current one."""
        s = self.window.session
        if s is None or not run.epochs:
            return False
        project = s.project
        train_config = run.config.get("train_config")
        tc = train_config if isinstance(train_config, dict) else {}
        ipe = run.config.get("iterations_per_epoch") or tc.get("iterations_per_epoch") or 1
        self.dashboard.start_run([c.name for c in project.classes],
                                 [c.color for c in project.classes],
                                 str(tc.get("architecture", "unet")), resumed_from=run.run_dir,
                                 iterations_per_epoch=int(ipe))
        best = max(run.epochs, key=lambda e: e.miou)
        text = (f"{label} {run.run_dir.name}: {len(run.epochs)} epoch(s), best validation "
                f"mIoU {best.miou:.3f} (epoch {best.epoch}).")
        objects = run.epochs[-1].instance_scores
        if "ap50" in objects and "map" in objects:
            text += (f" Last epoch: AP@0.5 {objects['ap50']:.3f}, mAP 0.5:0.95 "
                     f"{objects['map']:.3f}.")
        self.dashboard.summary.setText(text)
        if run.checkpoint is not None:
            try:
                self.window.set_model(str(run.checkpoint))
                text += f" Its model ({run.checkpoint.name}) predicts."
            except SegStudioError as exc:  # the classes changed since
                text += f" Its model is not used: {exc}"
        self.panel.set_status(text)
        return True

    def _use_model(self, checkpoint: str) -> bool:
        try:
            self.window.set_model(checkpoint)
        except SegStudioError as exc:  # the classes changed during the run
            self.window.show_error(str(exc))
            return False
        return True

    # ----------------------------------------------------------------- U-Net++
    def _measure_depth_costs(self, checkpoint: str) -> None:
        def job(task: Task) -> dict:
            from segstudio.inference.checkpoints import load_checkpoint
            from segstudio.inference.prune_costs import measure_depth_costs

            ck = load_checkpoint(checkpoint)
            return measure_depth_costs(ck.model, int(ck.meta.get("channels", 1)))

        # Costs are a nicety: a failure leaves the table's "…", nothing else.
        self._costs.submit(job, replace="costs", on_done=self.dashboard.prune.set_costs)

    def _on_depth_changed(self, depth: int) -> None:
        s = self.window.session
        if s is None:
            return
        had = bool(s.predictions)
        s.set_depth(depth)
        self.window.schedule_project_save()
        if had and s.current_image_id and s.checkpoint:
            self.window.predictions.predict_current()
