"""The channels an image algorithm works on: colour (3) or grey (1), whatever the picture has.

The assistants (wand, GrabCut, superpixels) see the picture the canvas shows; alpha is not a
colour, a single channel axis is grey, and grey + alpha is grey. numpy only."""

from __future__ import annotations

import numpy as np


def colour_or_grey(a: np.ndarray) -> np.ndarray:
    """``a`` as H x W (grey) or H x W x 3 (colour), a view where it can be."""
    if a.ndim == 3:
        return a[:, :, :3] if a.shape[2] >= 3 else a[:, :, 0]
    return a


def as_uint8(a: np.ndarray) -> np.ndarray:
    """8-bit values (the display picture already is; others are clipped to 0..255)."""
    return a if a.dtype == np.uint8 else np.clip(a, 0, 255).astype(np.uint8)
