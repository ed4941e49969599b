"""Confusion matrix and scores against scikit-learn and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from segstudio.core.metrics import (
    ConfusionMatrix,
    dice_per_class,
    format_score,
    iou_per_class,
    miou,
    pixel_accuracy,
)
from segstudio.errors import MaskError
from segstudio.inference.tiling import logits_to_labels


@pytest.mark.parametrize("seed", range(5))
def test_confusion_matrix_matches_sklearn_over_batches(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    cm = ConfusionMatrix(k)
    all_t, all_p = [], []
    for i in range(4):
        shape = (int(rng.integers(1, 3)), int(rng.integers(3, 20)), int(rng.integers(3, 20)))
        t = rng.integers(0, k, shape).astype(np.uint8)
        t[rng.random(shape) < 0.3] = 255
        p = rng.integers(0, k, shape)
        # alternate numpy and torch inputs
        cm.update(torch.from_numpy(p) if i % 2 else p, torch.from_numpy(t) if i % 2 else t)
        keep = t != 255
        all_t.append(t[keep]), all_p.append(p[keep])
    oracle = sk_confusion_matrix(np.concatenate(all_t), np.concatenate(all_p), labels=range(k))
    assert np.array_equal(cm.matrix, oracle)
    tp = np.diag(oracle).astype(float)
    fp, fn = oracle.sum(0) - tp, oracle.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(cm.iou_per_class(), tp / (tp + fp + fn))
        np.testing.assert_allclose(cm.dice_per_class(), 2 * tp / (2 * tp + fp + fn))
    assert cm.pixel_accuracy() == pytest.approx(tp.sum() / oracle.sum())


def test_absent_class_is_nan_and_left_out_of_miou():
    # class 2 never appears in GT or prediction; class 3 is only predicted (false positive)
    t = np.array([0, 0, 1, 1, 1, 255])
    p = np.array([0, 3, 1, 1, 0, 2])   # the 2 sits on an unlabelled pixel: ignored
    cm = ConfusionMatrix(4)
    cm.update(p, t)
    iou = cm.iou_per_class()
    assert iou[0] == pytest.approx(1 / 3)    # TP 1, FP 1 (from class 1), FN 1 (predicted 3)
    assert iou[1] == pytest.approx(2 / 3)
    assert np.isnan(iou[2])
    assert iou[3] == 0.0
    assert cm.miou() == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert [format_score(v) for v in iou] == ["0.333", "0.667", "n/a", "0.000"]
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)
    assert dice_per_class(cm.matrix)[1] == pytest.approx(4 / 5)


def test_empty_matrix_scores_are_nan():
    cm = ConfusionMatrix(3)
    cm.update(np.zeros((4, 4)), np.full((4, 4), 255))
    assert cm.matrix.sum() == 0
    assert np.isnan(cm.miou()) and np.isnan(cm.pixel_accuracy())
    assert np.isnan(iou_per_class(cm.matrix)).all()


def test_perfect_prediction():
    t = np.random.default_rng(0).integers(0, 3, (5, 5))
    cm = ConfusionMatrix(3)
    cm.update(t, t)
    assert miou(cm.matrix) == 1.0 and pixel_accuracy(cm.matrix) == 1.0


def test_invalid_values():
    cm = ConfusionMatrix(3)
    with pytest.raises(MaskError):
        cm.update(np.zeros(3), np.array([0, 3, 255]))
    with pytest.raises(ValueError):
        cm.update(np.array([0, 5, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError):
        cm.update(np.zeros(3), np.zeros(4))


def test_logits_to_labels_binary_and_multiclass():
    z = torch.tensor([[[[-1.0, 0.5]]]])
    assert logits_to_labels(z).tolist() == [[[0, 1]]]
    zm = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]], [[0.5, -1.0]]]])
    assert logits_to_labels(zm).tolist() == [[[0, 1]]]


def test_reset_and_merge():
    a, b = ConfusionMatrix(2), ConfusionMatrix(2)
    a.update(np.array([0, 1]), np.array([0, 0]))
    b.update(np.array([1]), np.array([1]))
    a.merge(b)
    assert a.matrix.tolist() == [[1, 1], [0, 1]]
    a.reset()
    assert a.matrix.sum() == 0
