"""Magic wand: the connected region of pixels whose colour is close to the clicked pixel's.

Unlike ``painting.flood_fill``, which fills a connected region of one *mask* value (on a
sparsely labelled image: nearly the whole image), the wand looks at the *image*: a pixel joins
when every channel lies within ``tolerance`` of the seed pixel's value (a fixed range, as in
the wands of image editors; a floating range would creep along gradients) and it is
4-connected to the seed through such pixels. With "preserve labels" labelled pixels are walls:
the region grows only through unlabelled pixels, so it never leaks around a labelled object.

Like the mask fill (``painting.grown_window_fill``) the search starts in a window around the
seed and grows it only while the region reaches the window's inner edge, so a 1 MP region in
an 8192^2 image costs a few megapixels of work, not 67.

The image is the uint8 picture the canvas shows (``io.images.to_display_rgb8`` of 16-bit or
float images): the tolerance is in those display units, 0-255, whatever the file's dtype.
numpy and cv2 only; no Qt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from segstudio.core.channels import as_uint8, colour_or_grey
from segstudio.core.painting import (
    Only,
    OnWrite,
    Rect,
    grown_window_fill,
    unlabelled_value,
    write_where,
)

DEFAULT_TOLERANCE = 24
MAX_TOLERANCE = 255

# Given a window of the image, which of its pixels the region may enter (None: all of them).
Passable = Callable[[Rect], np.ndarray | None] | None


def wand_region(image: np.ndarray, x: int, y: int, tolerance: float,
                passable: Passable = None, start_window: int = 512
                ) -> tuple[Rect, np.ndarray] | None:
    """The region the wand selects at pixel (x, y): its tight bounding box and a boolean
    array over that box; None outside the image or on a pixel ``passable`` excludes."""
    import cv2

    tol = float(max(0.0, min(float(MAX_TOLERANCE), tolerance)))

    def fill(win: Rect) -> tuple[np.ndarray, Sequence[int]] | None:
        sub = np.ascontiguousarray(as_uint8(colour_or_grey(image[win.slices])))
        ff = np.zeros((win.height + 2, win.width + 2), np.uint8)
        if passable is not None:
            ok = passable(win)
            if ok is not None:
                if not ok[y - win.y0, x - win.x0]:
                    return None
                ff[1:-1, 1:-1][~ok] = 2  # cv2 never fills where its mask is non-zero
        diff = (tol,) * 3 if sub.ndim == 3 else tol
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
        _, _, _, bbox = cv2.floodFill(sub, ff, (x - win.x0, y - win.y0), 0, diff, diff, flags)
        return ff[1:-1, 1:-1], bbox

    x, y = int(x), int(y)
    found = grown_window_fill(image.shape, x, y, fill, start_window)
    if found is None:
        return None
    box, region = found
    return box, region == 1


def unlabelled_passable(mask: np.ndarray) -> Passable:
    """"Preserve labels": the region may enter only unlabelled pixels of ``mask``."""
    unl = unlabelled_value(mask)
    return lambda win: mask[win.slices] >= unl


def wand_fill(mask: np.ndarray, image: np.ndarray, x: int, y: int, tolerance: float,
              value: int, preserve: bool = False, on_write: OnWrite = None,
              only: Only = None) -> Rect | None:
    """Write ``value`` into the wand's region at (x, y); the changed box, or None."""
    if mask.shape != image.shape[:2]:
        raise ValueError("the image and the mask differ in size")
    found = wand_region(image, x, y, tolerance, unlabelled_passable(mask) if preserve else None)
    if found is None:
        return None
    box, region = found
    return write_where(mask, box, region, value, preserve, on_write, only=only)
