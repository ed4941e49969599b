"""The one way the window runs work off the GUI thread.

    runner = TaskRunner("prediction", parent=self)
    runner.submit(lambda task: slow(task), on_done=show, on_error=say, replace="current")

A TaskRunner owns a small thread pool. ``fn(task)`` runs in a worker; its return value reaches
``on_done`` and its error (a message a user understands) ``on_error``, both called in the GUI
thread. ``task.report(value)`` sends intermediate values to ``on_report`` (training events,
per-image progress); ``task.cancelled`` is how long jobs notice a cancel. A job submitted with
``replace=key`` cancels the earlier jobs of that key and their results are dropped (the user
clicked on: the old result is stale).

Results are queued under a lock and delivered by a queued signal, and ``wait()`` delivers them
synchronously too, so a caller can block until work is done (saving before a project switch)
without depending on the event loop. ``shutdown_all()`` cancels and joins every runner's
threads: the window calls it before the interpreter exits, so no Python code runs in a worker
while Python finalises (that aborted the process: "terminate called without an active
exception").
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from segstudio.errors import SegStudioError

log = logging.getLogger(__name__)
_RUNNERS: weakref.WeakSet[TaskRunner] = weakref.WeakSet()


class Cancelled(Exception):
    """Raised inside a job (by ``task.check()``) to end it early; nothing is delivered."""


class Task:
    """A handle on one submitted job: shared by the worker and the GUI thread."""

    def __init__(self, runner: TaskRunner, fn: Callable[[Task], Any], key: str | None,
                 on_done: Callable[[Any], None] | None,
                 on_error: Callable[[str], None] | None,
                 on_report: Callable[[Any], None] | None) -> None:
        self.runner, self.fn, self.key = runner, fn, key
        self.on_done, self.on_error, self.on_report = on_done, on_error, on_report
        self._cancel = threading.Event()
        self.finished = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self._runnable: _Job | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop; it may still run to its next check. Nothing is delivered."""
        self._cancel.set()

    def check(self) -> None:
        """In the worker: raise Cancelled when the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled

    def report(self, value: Any) -> bool:
        """In the worker: deliver ``value`` to on_report (GUI thread). False once cancelled."""
        if self._cancel.is_set():
            return False
        if self.on_report is not None:
            self.runner._post(self, "report", value)
        return True

    @property
    def done(self) -> bool:
        return self.finished.is_set()


class _Job(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the Task keeps it: tryTake() needs it alive
        self.task = task

    def run(self) -> None:  # worker thread
        self.task.runner._execute(self.task)


class TaskRunner(QObject):
    """A pool of ``threads`` worker threads whose results come back to the GUI thread."""

    _wake = Signal()

    def __init__(self, name: str, threads: int = 1, parent: QObject | None = None,
                 nice: int = 0) -> None:
        """``nice``: run the jobs at this lower OS priority (Linux: per thread), so work the
        user did not wait for (superpixels, uncertainty scoring) never takes the CPU from
        the window on a small machine."""
        super().__init__(parent)
        self.name = name
        self.nice = int(nice)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[Task, str, Any]] = collections.deque()
        self._tasks: list[Task] = []
        self._wake_pending = False
        self._wake.connect(self.deliver, Qt.ConnectionType.QueuedConnection)
        _RUNNERS.add(self)

    # ---------------------------------------------------------------- GUI thread
    def submit(self, fn: Callable[[Task], Any], *, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None,
               on_report: Callable[[Any], None] | None = None,
               replace: str | None = None) -> Task:
        """Run ``fn(task)`` in a worker. ``replace``: cancel earlier jobs with this key."""
        if replace is not None:
            self.cancel(replace)
        task = Task(self, fn, replace, on_done, on_error, on_report)
        task._runnable = _Job(task)
        self._tasks = [t for t in self._tasks if not t.done] + [task]
        self._pool.start(task._runnable)
        return task

    def cancel(self, key: str | None = None) -> None:
        """Cancel every job (or those submitted with ``replace=key``); queued ones never run."""
        for t in self._tasks:
            if key is None or t.key == key:
                t.cancel()
                if t._runnable is not None and self._pool.tryTake(t._runnable):
                    t.finished.set()

    @property
    def busy(self) -> bool:
        return any(not t.done for t in self._tasks)

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until every job has finished, then deliver their results; False on time-out."""
        ok = bool(self._pool.waitForDone(timeout_ms))
        self.deliver()
        return ok

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        self.cancel()
        return self.wait(timeout_ms)

    def deliver(self) -> None:
        """Call the callbacks of what the workers finished (GUI thread)."""
        with self._lock:
            self._wake_pending = False
        while True:
            with self._lock:
                if not self._queue:
                    return
                task, kind, value = self._queue.popleft()
            if task.cancelled:
                continue  # stale: the user moved on
            callback = {"done": task.on_done, "error": task.on_error,
                        "report": task.on_report}[kind]
            if callback is not None:
                callback(value)

    # ---------------------------------------------------------------- worker threads
    def _execute(self, task: Task) -> None:
        try:
            if task.cancelled:
                return
            if self.nice:
                lower_thread_priority(self.nice)
            result = task.fn(task)
        except (Cancelled, InterruptedError):
            task.cancel()
        except SegStudioError as exc:
            task.error = str(exc)
            self._post(task, "error", task.error)
        except Exception as exc:  # a bug: a message in the window, the details in the log
            log.exception("background job %r failed", self.name)
            task.error = f"{type(exc).__name__}: {exc}"
            self._post(task, "error", task.error)
        else:
            task.result = result
            self._post(task, "done", result)
        finally:
            task.finished.set()

    def _post(self, task: Task, kind: str, value: Any) -> None:
        with self._lock:
            self._queue.append((task, kind, value))
            if self._wake_pending:
                return
            self._wake_pending = True
        try:
            self._wake.emit()
        except RuntimeError:  # the runner is being destroyed: wait() delivers nothing more
            pass


def lower_thread_priority(nice: int) -> None:
    """Make the calling thread ``nice`` steps nicer than the process (once per thread). On
    Linux a thread is a task of its own for setpriority; elsewhere this does nothing."""
    if getattr(_priority, "done", False) or not hasattr(os, "setpriority"):
        return
    _priority.done = True
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:  # not allowed here: run at normal priority
        pass


_priority = threading.local()


def shutdown_all(timeout_ms: int = 30000) -> bool:
    """Cancel every runner's jobs and join their threads (the window is closing)."""
    ok = True
    for runner in list(_RUNNERS):
        try:
            ok = runner.shutdown(timeout_ms) and ok
        except RuntimeError:  # its C++ side is already gone
            continue
    return ok
