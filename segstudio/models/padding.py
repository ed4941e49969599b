"""Pad an image batch to a multiple of the network's total stride, and crop the result back.

Pooling halves the size at every level, so a network with ``levels`` levels needs H and W to be
multiples of 2**(levels - 1). We pad on the bottom/right only, so cropping back is ``[:h, :w]``
and pixel (0, 0) of the output always belongs to pixel (0, 0) of the input.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pad_amount(size: int, multiple: int, min_size: int = 0) -> int:
    """Pixels to add so that ``size`` becomes a multiple of ``multiple`` and >= ``min_size``."""
    target = max(size + (-size) % multiple, min_size + (-min_size) % multiple)
    return target - size


def pad_to_multiple(x: Tensor, multiple: int,
                    min_size: int = 0) -> tuple[Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) bottom/right to multiples of ``multiple`` (and at least ``min_size``);
    return it and the old (H, W).

    Reflection keeps image statistics near the border (like the U-Net paper's mirroring); it
    needs the pad to be smaller than the image side, otherwise we fall back to edge replication.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    ph, pw = pad_amount(h, multiple, min_size), pad_amount(w, multiple, min_size)
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Undo :func:`pad_to_multiple` on a (N, C, H', W') output."""
    h, w = size
    return x[..., :h, :w]
