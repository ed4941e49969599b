"""What the canvas edits for one image: the saved mask of a semantic project, or, in an
instance project, the mask and the instance map packed into one uint32 label array
(``segstudio.core.instances``)."""

from __future__ import annotations

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import pack
from segstudio.project.project import ImageEntry, Project


def load_labels(project: Project, entry: ImageEntry, shape: tuple[int, int]) -> np.ndarray:
    """The array an image is edited in: uint8 mask, or packed uint32 labels. Object ids on
    pixels the mask calls unlabelled are dropped (an unlabelled pixel belongs to no object)."""
    mask = project.load_mask(entry, shape)
    if not project.is_instances:
        return mask
    instances = project.load_instances(entry, shape)
    instances[mask == UNLABELLED] = 0
    return pack(mask, instances)
