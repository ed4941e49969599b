"""Pad an image batch to a multiple of the network's total stride, and crop the result back.

Pooling halves the size at every level, so a network with ``levels`` levels needs H and W to be
multiples of 2**(levels - 1). We pad on the bottom/right only, so cropping back is ``[:h, :w]``
and pixel (0, 0) of the output always belongs to pixel (0, 0) of the input.

Padding replicates the edge pixels. Reflection would look nicer but is impossible when the pad
is larger than the image, and an ONNX graph cannot switch modes by input size; one mode
everywhere keeps PyTorch and exported models giving the same output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pad_amount(size: int, multiple: int, min_size: int = 0) -> int:
    """Pixels to add so that ``size`` becomes a multiple of ``multiple`` and >= ``min_size``."""
    target = max(size, min_size)
    return target + (-target) % multiple - size


def _traced_pad_amount(size: Tensor, multiple: int, min_size: int) -> Tensor:
    # Same formula with tensor ops: while tracing for export, shapes are tensors and the
    # arithmetic must stay in the graph so the exported model accepts any input size.
    target = torch.clamp(size, min=min_size)
    return target + (-target) % multiple - size


def pad_to_multiple(x: Tensor, multiple: int,
                    min_size: int = 0) -> tuple[Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) bottom/right to multiples of ``multiple`` (and at least ``min_size``);
    return it and the old (H, W)."""
    h, w = x.shape[-2], x.shape[-1]
    if isinstance(h, Tensor):  # torch.jit / ONNX tracing
        ph = _traced_pad_amount(h, multiple, min_size)
        pw = _traced_pad_amount(w, multiple, min_size)
        return F.pad(x, (0, pw, 0, ph), mode="replicate"), (h, w)
    ph, pw = pad_amount(h, multiple, min_size), pad_amount(w, multiple, min_size)
    if ph == 0 and pw == 0:
        return x, (h, w)
    return F.pad(x, (0, pw, 0, ph), mode="replicate"), (h, w)


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Undo :func:`pad_to_multiple` on a (N, C, H', W') output."""
    h, w = size
    return x[..., :h, :w]
