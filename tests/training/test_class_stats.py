"""Training-set class statistics: labelled pixels only, weights as documented."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.errors import ConfigError, MaskError
from segstudio.training.class_stats import (
    auto_alpha,
    class_weights,
    count_labelled_pixels,
    mask_value_count,
    pos_weight,
)


def test_counts_skip_unlabelled_and_accumulate_over_masks():
    rng = np.random.default_rng(0)
    masks = [rng.choice([0, 1, 2, 255], size=(rng.integers(5, 30), 17)).astype(np.uint8)
             for _ in range(6)]
    counts = count_labelled_pixels(iter(masks), 3)  # a generator works too
    allpix = np.concatenate([m.ravel() for m in masks])
    assert counts.tolist() == [int((allpix == k).sum()) for k in range(3)]
    assert counts.dtype == np.int64


def test_invalid_mask_values_raise():
    with pytest.raises(MaskError, match=r"\[5\]"):
        count_labelled_pixels([np.array([[0, 5, 255]], np.uint8)], 3)


def test_binary_uses_two_mask_values():
    assert mask_value_count(1) == 2 and mask_value_count(4) == 4
    counts = count_labelled_pixels([np.array([[0, 0, 0, 1, 255, 255]], np.uint8)], 2)
    assert pos_weight(counts) == 3.0  # 3 negatives / 1 positive; 255s are not negatives
    with pytest.raises(ConfigError):
        pos_weight(np.array([4, 0]))


def test_inverse_and_median_frequency_weights():
    counts = np.array([600, 300, 100, 0])
    inv = class_weights(counts, "inverse")
    # N / (K' n_k) with K' = 3 classes that occur
    assert inv.tolist() == pytest.approx([1000 / 1800, 1000 / 900, 1000 / 300, 0.0])
    med = class_weights(counts, "median")
    # frequencies 0.6, 0.3, 0.1 -> median 0.3
    assert med.tolist() == pytest.approx([0.5, 1.0, 3.0, 0.0])
    with pytest.raises(ConfigError):
        class_weights(counts, "log")
    with pytest.raises(ConfigError):
        class_weights(np.zeros(3), "inverse")


def test_auto_alpha_sums_to_one_and_matches_binary_formula():
    a = auto_alpha(np.array([900, 100]))
    assert a.tolist() == pytest.approx([0.1, 0.9])


def test_sqrt_weights_are_the_root_of_median_frequency_weights():
    counts = np.array([700, 200, 90, 10])
    med = class_weights(counts, "median")
    np.testing.assert_allclose(class_weights(counts, "sqrt"), np.sqrt(med))
    np.testing.assert_allclose(class_weights(np.array([5, 0, 20]), "sqrt")[1], 0.0)
