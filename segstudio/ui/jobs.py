"""Run a slow function (an export, an import) in a worker thread and get its result, or its
error, back in the GUI thread, with progress."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from segstudio.errors import SegStudioError


class BackgroundJob(QObject):
    finished = Signal(object)        # the function's result
    failed = Signal(str)             # a message for the user
    progress = Signal(int, int)      # done, total

    _pool: QThreadPool | None = None

    def __init__(self, func: Callable[..., Any], parent: QObject | None = None) -> None:
        """``func(progress)`` is called in a worker; ``progress(done, total)`` reports."""
        super().__init__(parent)
        self.func = func
        self.result: Any = None
        self.error: str | None = None
        self.done = False

    def start(self) -> "BackgroundJob":
        if BackgroundJob._pool is None:
            BackgroundJob._pool = QThreadPool()
            BackgroundJob._pool.setMaxThreadCount(1)
        BackgroundJob._pool.start(_Task(self))
        return self

    @Slot(object)
    def _finish(self, result: Any) -> None:
        self.result, self.done = result, True
        self.finished.emit(result)

    @Slot(str)
    def _fail(self, message: str) -> None:
        self.error, self.done = message, True
        self.failed.emit(message)


class _Relay(QObject):
    ok = Signal(object)
    bad = Signal(str)
    step = Signal(int, int)


class _Task(QRunnable):
    def __init__(self, job: BackgroundJob) -> None:
        super().__init__()
        self.job = job
        self.relay = _Relay()
        self.relay.moveToThread(job.thread())
        self.relay.ok.connect(job._finish)
        self.relay.bad.connect(job._fail)
        self.relay.step.connect(job.progress)

    def run(self) -> None:
        try:
            result = self.job.func(lambda done, total: self.relay.step.emit(done, total))
        except SegStudioError as exc:
            self.relay.bad.emit(str(exc))
            return
        except Exception as exc:  # a bug: still a message, never a traceback dialog
            self.relay.bad.emit(f"{type(exc).__name__}: {exc}")
            return
        self.relay.ok.emit(result)
