"""The packed label array and the object helpers of core/instances.py."""

import numpy as np
import pytest

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import (
    MAX_OBJECTS,
    UNLABELLED_LABEL,
    consistent_mask,
    count_objects,
    label_value,
    next_free_id,
    object_classes,
    pack,
    relabel_sequential,
    unpack,
)


def test_pack_unpack_round_trip_keeps_classes_ids_and_unlabelled():
    rng = np.random.default_rng(0)
    mask = rng.choice([0, 1, 2, UNLABELLED], size=(31, 17)).astype(np.uint8)
    inst = rng.integers(0, 70000, size=(31, 17)).astype(np.uint32)
    labels = pack(mask, inst)
    m2, i2 = unpack(labels)
    assert m2.dtype == np.uint8 and i2.dtype == np.uint32
    np.testing.assert_array_equal(m2, mask)
    np.testing.assert_array_equal(i2, inst)
    assert label_value(UNLABELLED) == UNLABELLED_LABEL
    assert unpack(np.array([[label_value(3, 9)]], np.uint32))[0][0, 0] == 3


def test_pack_refuses_ids_beyond_24_bits_and_size_mismatch():
    with pytest.raises(ValueError):
        pack(np.zeros((2, 2), np.uint8), np.full((2, 2), MAX_OBJECTS + 1, np.uint32))
    with pytest.raises(ValueError):
        pack(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint32))


def test_object_classes_majority_and_unlabelled_objects():
    inst = np.array([[1, 1, 1, 2], [3, 3, 0, 2]], np.uint32)
    mask = np.array([[4, 4, 2, UNLABELLED], [1, 0, 0, UNLABELLED]], np.uint8)
    assert object_classes(inst, mask) == {1: 4, 2: UNLABELLED, 3: 0}  # a tie goes to the lower
    fixed = consistent_mask(inst, mask, default_class=1)
    np.testing.assert_array_equal(fixed, [[4, 4, 4, 1], [1, 1, 0, 1]])


def test_counts_next_id_and_relabel():
    inst = np.array([[0, 7, 7], [3, 0, 9]], np.uint32)
    assert count_objects(inst) == 3
    assert next_free_id(inst) == 10
    assert next_free_id(np.zeros((2, 2), np.uint32)) == 1
    np.testing.assert_array_equal(relabel_sequential(inst), [[0, 2, 2], [1, 0, 3]])
