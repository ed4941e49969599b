"""Runs the training generator as a TaskRunner job (ui/tasks.py) and relays its events.

The job reports each event; the controller (a GUI-thread QObject) re-emits them as typed
signals. Stop and pause go through TrainControl, which the loop checks between batches, so Stop
returns within one batch, and ``wait()`` needs no event loop (the window waits for the run to
end when it closes).
"""

from __future__ import annotations

import copy
import gc
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from segstudio.project.project import Project
from segstudio.training.config import TrainConfig
from segstudio.ui.tasks import Task, TaskRunner

TRAINING_NICE = 5


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
        # All cores train; at a lower OS priority the window still gets the CPU first when it
        # needs it (its share is small), so it stays fluid without giving up a core.
        self._runner = TaskRunner("training", parent=self, nice=TRAINING_NICE)
        self._task: Task | None = None
        self._control: Any = None
        self.fault_hook: Callable[[int], None] | None = None  # tests inject faults here
        self._switch_interval = sys.getswitchinterval()

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def paused(self) -> bool:
        return bool(self._control and self._control.paused)

    def start(self, project: Project, config: TrainConfig) -> bool:
        if self.running:
            return False
        from segstudio.training.loop import TrainControl, train

        control = self._control = TrainControl()
        # The loop reads a snapshot: edits in the window during training do not race with it.
        snapshot = copy.deepcopy(project)
        hook = self.fault_hook

        def job(task: Task) -> None:
            for ev in train(snapshot, config, control, gui=True, fault_hook=hook):
                task.report(ev)

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
        self._task = self._runner.submit(job, on_report=self._on_event, on_done=self._on_done,
                                         on_error=self._on_error)
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
        """Block until the run has ended and its last events were delivered (used on close)."""
        if self._task is None:
            return True
        return self._runner.wait(msecs)

    def _on_event(self, ev: object) -> None:
        from segstudio.training.events import (
            CheckpointSaved,
            EpochReport,
            IterationReport,
            Notice,
            RunFinished,
            RunStarted,
        )

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
            # The run is over once its last event is in: the thread only unwinds from here,
            # so whoever reacts to run_finished (open another project, train again) sees
            # ``running`` False.
            self._on_done(None)
            self.run_finished.emit(ev)

    def _on_error(self, message: str) -> None:
        # train() turns every failure into a RunFinished; this is a bug in the relay itself.
        from segstudio.training.events import EndReason, RunFinished

        self.run_finished.emit(RunFinished(EndReason.FAILED, message, None, None, 0, 0.0))
        self._on_done(None)

    def _on_done(self, _result: object) -> None:
        if self._task is None:
            return
        self._task = None
        self._control = None
        sys.setswitchinterval(self._switch_interval)
        gc.unfreeze()
        self.running_changed.emit(False)
