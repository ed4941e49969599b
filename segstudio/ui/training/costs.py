"""Measure U-Net++ depth costs from a checkpoint in a worker thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Task(QRunnable):
    def __init__(self, job: "DepthCostJob"):
        super().__init__()
        self.job = job

    def run(self) -> None:
        from segstudio.training.checkpoints import load_checkpoint
        from segstudio.training.prune_costs import measure_depth_costs

        try:
            ck = load_checkpoint(self.job.checkpoint)
            costs = measure_depth_costs(ck.model, int(ck.meta.get("channels", 1)))
        except Exception as exc:  # costs are a nicety: say so, never crash
            self.job.failed.emit(str(exc))
            return
        self.job.measured.emit(costs)


class DepthCostJob(QObject):
    measured = Signal(object)   # dict depth -> (parameters, ms)
    failed = Signal(str)

    def __init__(self, checkpoint: str, parent: QObject | None = None):
        super().__init__(parent)
        self.checkpoint = checkpoint

    def start(self) -> None:
        QThreadPool.globalInstance().start(_Task(self))
