"""Runs the training generator in a worker QObject on a QThread and relays its events.

The worker emits each event as a Python object through one queued signal; the controller (a
GUI-thread QObject) re-emits them as typed signals. Stop and pause go through TrainControl,
which the loop checks between batches, so Stop returns within one batch.
"""

from __future__ import annotations

import copy
import gc
import sys

from PySide6.QtCore import QObject, QThread, Signal, Slot

from segstudio.core.project import Project
from segstudio.training.config import TrainConfig


class _Worker(QObject):
    event = Signal(object)
    done = Signal()

    def __init__(self, project: Project, config: TrainConfig, control, fault_hook=None):
        super().__init__()
        self.project, self.config, self.control = project, config, control
        self.fault_hook = fault_hook

    @Slot()
    def run(self) -> None:
        from segstudio.training.loop import train

        try:
            for ev in train(self.project, self.config, self.control, gui=True,
                            fault_hook=self.fault_hook):
                self.event.emit(ev)
        finally:
            self.done.emit()


class TrainingController(QObject):
    run_started = Signal(object)       # RunStarted
    iteration = Signal(object)         # IterationReport
    epoch_finished = Signal(object)    # EpochReport
    checkpoint_saved = Signal(object)  # CheckpointSaved
    notice = Signal(object)            # Notice
    run_finished = Signal(object)      # RunFinished
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._control = None
        self.fault_hook = None  # tests inject faults here
        self._switch_interval = sys.getswitchinterval()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return bool(self._control and self._control.paused)

    def start(self, project: Project, config: TrainConfig) -> bool:
        if self.running:
            return False
        from segstudio.training.loop import TrainControl

        self._control = TrainControl()
        # The loop reads a snapshot: edits in the window during training do not race with it.
        snapshot = copy.deepcopy(project)
        self._thread = QThread()
        self._thread.setObjectName("segstudio-training")
        self._worker = _Worker(snapshot, config, self._control, self.fault_hook)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.event.connect(self._on_event)
        self._worker.done.connect(self._on_done)
        # The loop's Python code between tensor ops holds the GIL for up to the switch
        # interval (5 ms by default); a shorter one lets the window's thread in sooner.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        # A full garbage collection walks every object of the process (Qt wrappers, torch
        # modules...) while holding the GIL: tens of milliseconds of frozen window each time
        # the loop's allocations trigger one. Objects alive now are long-lived: take them out
        # of the collector's walks for the run (gc.freeze is cheap; gc.collect here would be
        # the very pause we avoid). gc.unfreeze() hands them back when the run ends.
        gc.freeze()
        self._thread.start()
        self.running_changed.emit(True)
        return True

    def stop(self) -> None:
        if self._control:
            self._control.request_stop()

    def pause(self) -> None:
        if self._control:
            self._control.pause()

    def resume(self) -> None:
        if self._control:
            self._control.resume()

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the worker thread ended (used on close)."""
        if self._thread is None:
            return True
        return self._thread.wait(msecs)

    @Slot(object)
    def _on_event(self, ev: object) -> None:
        from segstudio.training.events import (CheckpointSaved, EpochReport, IterationReport,
                                               Notice, RunFinished, RunStarted)

        if isinstance(ev, IterationReport):
            self.iteration.emit(ev)
        elif isinstance(ev, EpochReport):
            self.epoch_finished.emit(ev)
        elif isinstance(ev, CheckpointSaved):
            self.checkpoint_saved.emit(ev)
        elif isinstance(ev, Notice):
            self.notice.emit(ev)
        elif isinstance(ev, RunStarted):
            self.run_started.emit(ev)
        elif isinstance(ev, RunFinished):
            self.run_finished.emit(ev)

    @Slot()
    def _on_done(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(5000)
        self._thread = None
        self._worker = None
        self._control = None
        sys.setswitchinterval(self._switch_interval)
        gc.unfreeze()
        self.running_changed.emit(False)
