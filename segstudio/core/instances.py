"""Instance labels: one id per object, and the class of each object.

On disk an image of an instance project has two files: the semantic index mask (masks/, as in
every project: 255 = not labelled, 0 = background, k = class k) and the instance map
(instances/: 0 = no object, 1..N one id per object). The class of an object is the class its
pixels hold in the semantic mask, so every semantic feature (training, metrics, export) keeps
working on the mask alone and the instance map only adds which pixels belong together.

While an image is edited the two are packed into one uint32 "label" array: the high 8 bits are
the semantic class (255 = not labelled), the low 24 bits the object id. One array means one undo
history, one autosave snapshot and brush/fill/polygon code that simply writes a value, and an
object can never drift apart from its class.

numpy only.
"""

from __future__ import annotations

import numpy as np

from segstudio.core.classes import UNLABELLED

ID_BITS = 24
ID_MASK = (1 << ID_BITS) - 1
MAX_OBJECTS = ID_MASK  # ids 1 .. 16,777,215 per image
UNLABELLED_LABEL = UNLABELLED << ID_BITS  # not labelled, no object
INSTANCE_DTYPE = np.uint32


def pack(mask: np.ndarray, instances: np.ndarray) -> np.ndarray:
    """The editing array from a semantic mask (uint8) and an instance map (ids)."""
    if mask.shape != instances.shape:
        raise ValueError(f"mask {mask.shape} and instance map {instances.shape} differ in size")
    if instances.size and int(instances.max()) > MAX_OBJECTS:
        raise ValueError(f"instance ids above {MAX_OBJECTS:,}")
    out = mask.astype(np.uint32) << ID_BITS
    out |= instances.astype(np.uint32, copy=False)
    return out


def label_value(class_index: int, object_id: int = 0) -> int:
    """The packed value of one pixel: ``class_index`` (255 = not labelled) and ``object_id``."""
    if not 0 <= object_id <= MAX_OBJECTS:
        raise ValueError(f"object id {object_id} out of range")
    return (int(class_index) << ID_BITS) | int(object_id)


def semantic_of(labels: np.ndarray) -> np.ndarray:
    """The semantic mask (uint8, 255 = not labelled) of a packed label array."""
    return (labels >> ID_BITS).astype(np.uint8)


def ids_of(labels: np.ndarray) -> np.ndarray:
    """The instance map (uint32, 0 = no object) of a packed label array."""
    return (labels & ID_MASK).astype(INSTANCE_DTYPE)


def unpack(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return semantic_of(labels), ids_of(labels)


def object_ids(instances: np.ndarray) -> np.ndarray:
    """The ids present (sorted, without 0)."""
    ids = np.unique(instances)
    return ids[ids != 0]


def count_objects(instances: np.ndarray) -> int:
    """How many distinct ids (not 0) an instance map holds, from a presence table filled band
    by band (np.unique's sort took ~25 s at 16384^2, this ~1 s)."""
    top = int(instances.max(initial=0))
    if top == 0:
        return 0
    seen = np.zeros(top + 1, bool)
    step = max(1, (1 << 20) // max(1, instances.shape[1]))
    for r0 in range(0, instances.shape[0], step):
        seen[instances[r0:r0 + step].ravel()] = True
    return int(np.count_nonzero(seen[1:]))


def next_free_id(instances: np.ndarray) -> int:
    """One above the largest id in use (ids of deleted objects are not reused while editing,
    so an undo can never bring back an object that collides with a newer one)."""
    top = int(instances.max(initial=0))
    if top >= MAX_OBJECTS:
        raise ValueError(f"an image holds at most {MAX_OBJECTS:,} objects")
    return top + 1


def object_classes(instances: np.ndarray, mask: np.ndarray) -> dict[int, int]:
    """Class of each object: the most frequent labelled class among its pixels (objects whose
    pixels are all unlabelled get class 255)."""
    if instances.shape != mask.shape:
        raise ValueError("mask and instance map differ in size")
    sel = instances != 0
    ids = instances[sel].astype(np.int64)
    cls = mask[sel].astype(np.int64)
    if ids.size == 0:
        return {}
    uniq, inv = np.unique(ids, return_inverse=True)
    counts = np.zeros((len(uniq), 256), np.int64)
    np.add.at(counts, (inv, cls), 1)
    labelled = counts[:, :UNLABELLED]
    best = np.where(labelled.sum(1) > 0, labelled.argmax(1), UNLABELLED)
    return {int(i): int(c) for i, c in zip(uniq, best, strict=True)}


def consistent_mask(instances: np.ndarray, mask: np.ndarray,
                    default_class: int = 1) -> np.ndarray:
    """``mask`` with every object pixel set to its object's class (an object without a
    labelled pixel gets ``default_class``). Imports use it so the invariant always holds."""
    out = mask.copy()
    classes = object_classes(instances, mask)
    if not classes:
        return out
    top = int(instances.max())
    lut = np.full(top + 1, UNLABELLED, np.uint8)
    for i, c in classes.items():
        lut[i] = default_class if c in (UNLABELLED, 0) else c
    sel = instances != 0
    out[sel] = lut[instances[sel]]
    return out


def relabel_sequential(instances: np.ndarray) -> np.ndarray:
    """Ids renumbered 1..N in order of first appearance value (sorted), 0 kept."""
    ids = object_ids(instances)
    if len(ids) == 0:
        return np.zeros(instances.shape, INSTANCE_DTYPE)
    lut = np.zeros(int(ids[-1]) + 1, INSTANCE_DTYPE)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=INSTANCE_DTYPE)
    return lut[instances]
