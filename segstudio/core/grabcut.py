"""Box to object: the object inside a dragged box, by OpenCV's GrabCut.

GrabCut models the colours inside and outside the box (Gaussian mixtures) and cuts the box's
pixels by a graph cut. The work runs on the box plus a margin of context; a box larger than
``max_side`` is cut on a downscaled copy and the result scaled back (GrabCut's cost grows with
the pixel count, and an object's outline at that scale is within a pixel or two). The object
is the largest connected piece of the result with its holes filled: one box, one object.

numpy, scipy and cv2; no Qt.
"""

from __future__ import annotations

import numpy as np

from segstudio.core.channels import as_uint8, colour_or_grey
from segstudio.core.painting import Rect, clip_rect

MIN_BOX = 3          # pixels per side; a smaller drag is a click, not a box
DEFAULT_ITERATIONS = 3
MAX_SIDE = 256       # longest side GrabCut sees, context included


def _bgr(sub: np.ndarray) -> np.ndarray:
    """GrabCut's input: 3 uint8 channels (a grey picture repeated)."""
    sub = as_uint8(colour_or_grey(sub))
    if sub.ndim == 2:
        sub = np.repeat(sub[:, :, None], 3, axis=2)
    return np.ascontiguousarray(sub)


def grabcut_object(image: np.ndarray, box: Rect, iterations: int = DEFAULT_ITERATIONS,
                   max_side: int = MAX_SIDE) -> tuple[Rect, np.ndarray] | None:
    """The object in ``box`` of ``image`` (the display uint8 image) as (its tight box, a
    boolean array over it), or None when the box is too small or GrabCut finds nothing."""
    import cv2
    from scipy import ndimage

    h, w = image.shape[:2]
    box = clip_rect(box, (h, w))
    if box.width < MIN_BOX or box.height < MIN_BOX:
        return None
    margin = max(8, int(0.15 * max(box.width, box.height)))
    ctx = clip_rect(Rect(box.x0 - margin, box.y0 - margin, box.x1 + margin, box.y1 + margin),
                    (h, w))
    sub = _bgr(image[ctx.slices])
    scale = min(1.0, max_side / float(max(ctx.width, ctx.height)))
    if scale < 1.0:
        sub = cv2.resize(sub, (max(1, round(ctx.width * scale)), max(1, round(ctx.height * scale))),
                         interpolation=cv2.INTER_AREA)
    sh, sw = sub.shape[:2]
    rx0 = int(np.floor((box.x0 - ctx.x0) * scale))
    ry0 = int(np.floor((box.y0 - ctx.y0) * scale))
    rx1 = min(sw, int(np.ceil((box.x1 - ctx.x0) * scale)))
    ry1 = min(sh, int(np.ceil((box.y1 - ctx.y0) * scale)))
    if rx1 - rx0 < 2 or ry1 - ry0 < 2:
        return None
    gc = np.zeros((sh, sw), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # A fixed seed: the mixtures start from k-means, and the same box must give the same cut.
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(sub, gc, (rx0, ry0, rx1 - rx0, ry1 - ry0), bgd, fgd, int(iterations),
                    cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return None  # e.g. a box of one flat colour: no mixture to fit
    fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    if scale < 1.0:
        fg = cv2.resize(fg.view(np.uint8), (ctx.width, ctx.height),
                        interpolation=cv2.INTER_NEAREST).astype(bool)
    inside = fg[box.y0 - ctx.y0:box.y1 - ctx.y0, box.x0 - ctx.x0:box.x1 - ctx.x0]
    pieces, n = ndimage.label(inside)
    if n == 0:
        return None
    sizes = np.bincount(pieces.ravel())[1:]
    obj = ndimage.binary_fill_holes(pieces == int(np.argmax(sizes)) + 1)
    rows, cols = np.flatnonzero(obj.any(axis=1)), np.flatnonzero(obj.any(axis=0))
    tight = Rect(box.x0 + int(cols[0]), box.y0 + int(rows[0]),
                 box.x0 + int(cols[-1]) + 1, box.y0 + int(rows[-1]) + 1)
    return tight, obj[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
