"""What the training loop reports. Small, frozen, picklable-free: no tensors, only numbers and
numpy arrays, so they cross threads (Qt signals) and print on the command line alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class EndReason(str, Enum):
    """Why a run ended. A str, so ``finished.reason == "failed"`` reads as before."""

    COMPLETED = "completed"          # all epochs done
    STOPPED = "stopped"              # the user asked
    EARLY_STOPPED = "early-stopped"  # no gain in validation mIoU for `patience` epochs
    TIME_BUDGET = "time-budget"      # the time budget is used up
    FAILED = "failed"                # NaN loss, out of memory at batch 1, full disk, an error

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    device: str
    architecture: str
    parameters: int
    train_images: int
    val_images: int
    total_epochs: int
    iterations_per_epoch: int
    class_weights: tuple[float, ...] | None  # per class (or (pos_weight,) for binary)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class IterationReport:
    epoch: int            # 1-based
    iteration: int        # global, 1-based
    loss: float
    lr: float
    images_per_s: float
    batch_size: int
    progress: float       # 0..1 of the whole run
    eta_s: float | None


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    train_loss: float
    val_loss: float | None
    confusion: np.ndarray          # K x K int64, rows = truth, cols = prediction
    iou: tuple[float, ...]         # per class, NaN = n/a (absent in truth and prediction)
    miou: float
    pixel_accuracy: float
    depth_miou: dict[int, float] = field(default_factory=dict)  # U-Net++: depth -> val mIoU
    seconds: float = 0.0
    best: bool = False
    # instance projects: object scores on the validation images ("ap50", "map", "aji",
    # "count_error"; core/instance_metrics.py); empty for semantic projects
    instance_scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    best: bool


@dataclass(frozen=True)
class Notice:
    """Something the user should know that does not stop the run (OOM recovery, skipped
    image)."""
    text: str
    level: str = "warning"


@dataclass(frozen=True)
class RunFinished:
    reason: EndReason
    message: str
    best_checkpoint: str | None
    best_miou: float | None
    epochs: int
    seconds: float
