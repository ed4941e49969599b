"""Confusion matrix and the scores derived from it, accumulated over a whole dataset.

Conventions:
- Rows are ground truth, columns are predictions (as sklearn.metrics.confusion_matrix).
- Pixels whose target is 255 ("not labelled") are skipped entirely.
- Binary models (one logit channel) are scored as two classes, 0 and 1.
- IoU_k = TP / (TP + FP + FN), Dice_k = 2 TP / (2 TP + FP + FN). A class that appears in
  neither ground truth nor prediction has 0/0: it is NaN, shown as "n/a", and left out of
  the mean. mIoU = mean IoU over classes present in ground truth *or* prediction, so a
  false-positive class counts (IoU 0) and a class absent from the data does not.
Scores are computed from the dataset-wide matrix, not averaged per image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segstudio.errors import MaskError

IGNORE = 255


def _as_numpy(a: Any) -> np.ndarray:
    """numpy arrays as they are; torch tensors (duck-typed: core imports no torch) copied."""
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


class ConfusionMatrix:
    """K x K int64 counts, ``update`` it with every batch, read the scores at the end."""

    def __init__(self, num_classes: int) -> None:
        if num_classes < 2:
            raise ValueError("A confusion matrix needs >= 2 classes (binary is 2: 0 and 1).")
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def reset(self) -> None:
        self.matrix[:] = 0

    def update(self, pred: Any, target: Any) -> None:
        """Add predicted labels and target masks of the same shape (any number of dims)."""
        p = _as_numpy(pred).astype(np.int64, copy=False).ravel()
        t = _as_numpy(target).astype(np.int64, copy=False).ravel()
        if p.shape != t.shape:
            raise ValueError(f"pred and target sizes differ: {p.shape} vs {t.shape}")
        keep = t != IGNORE
        p, t = p[keep], t[keep]
        k = self.num_classes
        if t.size and (t.min() < 0 or t.max() >= k):
            raise MaskError(f"Mask holds class values outside 0..{k - 1} (and 255).")
        if p.size and (p.min() < 0 or p.max() >= k):
            raise ValueError(f"Predicted labels outside 0..{k - 1}.")
        self.matrix += np.bincount(t * k + p, minlength=k * k).reshape(k, k)

    def merge(self, other: ConfusionMatrix) -> None:
        self.matrix += other.matrix

    # scores ---------------------------------------------------------------------------
    def iou_per_class(self) -> np.ndarray:
        return iou_per_class(self.matrix)

    def dice_per_class(self) -> np.ndarray:
        return dice_per_class(self.matrix)

    def miou(self) -> float:
        return miou(self.matrix)

    def pixel_accuracy(self) -> float:
        return pixel_accuracy(self.matrix)


def _tp_fp_fn(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    return tp, cm.sum(0) - tp, cm.sum(1) - tp


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + FN) per class; NaN ("n/a") for classes in neither GT nor prediction."""
    tp, fp, fn = _tp_fp_fn(cm)
    return _safe_div(tp, tp + fp + fn)


def dice_per_class(cm: np.ndarray) -> np.ndarray:
    """2 TP / (2 TP + FP + FN) per class; NaN for classes in neither GT nor prediction."""
    tp, fp, fn = _tp_fp_fn(cm)
    return _safe_div(2 * tp, 2 * tp + fp + fn)


def miou(cm: np.ndarray) -> float:
    """Mean IoU over classes present in ground truth or prediction; NaN if there are none."""
    iou = iou_per_class(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def pixel_accuracy(cm: np.ndarray) -> float:
    """Correct labelled pixels / labelled pixels; NaN if nothing was labelled."""
    total = np.asarray(cm).sum()
    return float(np.trace(cm) / total) if total else float("nan")


def format_score(value: float, digits: int = 3) -> str:
    """A score for display: "n/a" for NaN (class absent), else fixed digits."""
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"


__all__ = [
    "ConfusionMatrix", "dice_per_class", "format_score", "iou_per_class", "miou",
    "pixel_accuracy",
]
