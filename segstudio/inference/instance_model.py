"""How an instance model sees objects: what it is trained to predict and how its output becomes
objects again.

An instance project with classes 0..K-1 (0 = background) trains a model with K + 1 softmax
channels: the K classes, where an object's pixels hold its class, plus one "boundary" channel
for the rim of every object (the pixels of an object that touch another object, background or
the image edge). Two touching nuclei are then two interiors separated by a boundary band, and
a seeded watershed (inference/instance_postprocess.py) grows each interior back over its rim.
This is the "cell centre / cell border" formulation nnU-Net and the DSB2018 winners used; it
needs no distance regression, works with every architecture and loss, and ignores unlabelled
pixels like any semantic target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from segstudio.core.classes import UNLABELLED

TASK_INSTANCES = "instances"
BOUNDARY_NAME = "object boundary"


def is_instance_meta(meta: dict[str, Any]) -> bool:
    """Whether a checkpoint's sidecar describes an instance model."""
    return meta.get("task") == TASK_INSTANCES


def boundary_pixels(instances: np.ndarray) -> np.ndarray:
    """Object pixels whose 4-neighbour is not the same object (another object, background,
    not labelled, or the image edge): a one-pixel inner rim, two pixels where objects touch."""
    inst = instances
    rim = np.zeros(inst.shape, bool)
    if inst.size == 0:
        return rim
    obj = inst != 0
    rim[0, :] = obj[0, :]
    rim[-1, :] = obj[-1, :]
    rim[:, 0] |= obj[:, 0]
    rim[:, -1] |= obj[:, -1]
    diff_v = inst[1:, :] != inst[:-1, :]
    diff_h = inst[:, 1:] != inst[:, :-1]
    rim[1:, :] |= diff_v
    rim[:-1, :] |= diff_v
    rim[:, 1:] |= diff_h
    rim[:, :-1] |= diff_h
    return rim & obj


def instance_target(mask: np.ndarray, instances: np.ndarray, num_classes: int) -> np.ndarray:
    """The training target of one image: ``mask`` (classes, 255 = not labelled) with every
    object's rim set to the boundary class ``num_classes``. Object pixels not labelled stay
    not labelled."""
    target = mask.copy()
    rim = boundary_pixels(instances) & (mask != UNLABELLED)
    target[rim] = num_classes
    return target


@dataclass(frozen=True)
class ObjectMaps:
    """The per-pixel maps the watershed needs, from one image's K + 1 probabilities."""
    foreground: np.ndarray   # H x W float32: 1 - p(background)
    interior: np.ndarray     # H x W float32: p(some class's interior)
    class_probs: np.ndarray  # (K - 1) x H x W float32: p(interior of class k), k = 1..K-1


def object_maps(probs: np.ndarray, num_classes: int) -> ObjectMaps:
    """probs: (K + 1) x H x W softmax output of an instance model with K classes."""
    if probs.shape[0] != num_classes + 1:
        raise ValueError(f"an instance model of {num_classes} classes has {num_classes + 1} "
                         f"channels, not {probs.shape[0]}")
    class_probs = probs[1:num_classes].astype(np.float32, copy=False)
    interior = class_probs.sum(0) if num_classes > 2 else class_probs[0]
    foreground = 1.0 - probs[0].astype(np.float32, copy=False)
    return ObjectMaps(foreground, interior, class_probs)


def semantic_labels(probs: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class labels (uint8) and confidence (uint8, x 255) of an instance model's output, the
    boundary counted as the likeliest object class there: what IoU and the window's semantic
    view use."""
    merged = probs[:num_classes].astype(np.float32, copy=True)
    if num_classes == 2:
        merged[1] += probs[num_classes]
    else:
        best = probs[1:num_classes].argmax(0) + 1
        for c in range(1, num_classes):
            merged[c] += np.where(best == c, probs[num_classes], 0)
    labels = merged.argmax(0).astype(np.uint8)
    conf = np.take_along_axis(merged, labels[None].astype(np.int64), 0)[0]
    return labels, np.clip(conf * 255 + 0.5, 0, 255).astype(np.uint8)
