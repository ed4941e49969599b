"""Superpixels: SLIC (scikit-image) regions of about ``size`` x ``size`` pixels that follow the
image's edges, and the superpixel brush that labels whole superpixels.

A ``Superpixels`` holds the label image (int32, 0..n-1) and each superpixel's bounding box
(``scipy.ndimage.find_objects``), so labelling one costs its box, not the image. The canvas
computes them in the background per image and size; a stroke then labels every superpixel the
brush touches, once per stroke (``SuperpixelStroke`` remembers which are done).

numpy, scipy and scikit-image; no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segstudio.core.channels import colour_or_grey
from segstudio.core.painting import Only, OnWrite, Rect, segment_pieces, write_where

DEFAULT_SIZE = 24   # pixels across one superpixel
MIN_SIZE, MAX_SIZE = 4, 256
HALF_SIZE_FROM = 16             # superpixels this large or larger ...
HALF_PIXELS_FROM = 1_000_000    # ... of images this large are found at half size


@dataclass
class Superpixels:
    labels: np.ndarray                    # H x W int32, 0..n-1
    boxes: list[Rect]                     # a box holding every pixel of superpixel i (tight
                                          # when found at full size)
    size: int                             # the size they were made for
    _edges: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def count(self) -> int:
        return len(self.boxes)

    def region(self, index: int) -> tuple[Rect, np.ndarray]:
        box = self.boxes[index]
        return box, self.labels[box.slices] == index

    def boundaries(self) -> np.ndarray:
        """H x W bool: pixels whose right or lower neighbour is another superpixel (made once:
        the canvas asks for it in its worker, so the window only shows it)."""
        if self._edges is None:
            lab = self.labels
            edge = np.zeros(lab.shape, bool)
            edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
            edge[:-1, :] |= lab[:-1, :] != lab[1:, :]
            self._edges = edge
        return self._edges


def compute_superpixels(image: np.ndarray, size: int = DEFAULT_SIZE,
                        compactness: float = 10.0) -> Superpixels:
    """SLIC superpixels of ``image`` (H x W or H x W x C, any dtype) about ``size`` pixels
    across. Colour images are clustered in Lab; grey ones on intensity scaled to 0..1."""
    from scipy import ndimage
    from skimage.segmentation import slic

    size = int(max(MIN_SIZE, min(MAX_SIZE, size)))
    img = colour_or_grey(image)
    h, w = img.shape[:2]
    n = max(1, int(round(h * w / float(size * size))))
    # SLIC's cost is per pixel: superpixels of 16 px and more are found on a half-size copy
    # (4x less work; their outlines are then placed to within a pixel) and scaled back.
    half = size >= HALF_SIZE_FROM and h * w >= HALF_PIXELS_FROM
    if half:
        import cv2

        img = cv2.resize(np.ascontiguousarray(img), (max(1, w // 2), max(1, h // 2)),
                         interpolation=cv2.INTER_AREA)
    if img.ndim == 3:  # colour
        # max_num_iter 5: SLIC's clusters barely move after that; it halves the time
        labels = slic(img, n_segments=n, compactness=compactness, start_label=0,
                      max_num_iter=5, channel_axis=-1, convert2lab=True)
    else:
        g = img.astype(np.float32)
        lo, hi = float(g.min()), float(g.max())
        g = (g - lo) / (hi - lo) if hi > lo else np.zeros_like(g)
        # compactness is relative to the value range: 0.1 on 0..1 is SLIC's 10 on Lab's 0..100
        labels = slic(g, n_segments=n, compactness=compactness / 100.0, start_label=0,
                      max_num_iter=5, channel_axis=None)
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    # find_objects holds the GIL (tens of ms at 4 MP, felt by the window's painting): on the
    # half-size labels it is 4x shorter; their boxes, scaled and grown by a pixel, cover the
    # full-size superpixels (``region`` compares labels inside the box, so that is enough)
    objects = ndimage.find_objects(labels + 1)
    if half:
        import cv2

        sh, sw = labels.shape
        fx, fy = w / float(sw), h / float(sh)
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        boxes = [Rect(max(0, int(s[1].start * fx) - 1), max(0, int(s[0].start * fy) - 1),
                      min(w, int(np.ceil(s[1].stop * fx)) + 1),
                      min(h, int(np.ceil(s[0].stop * fy)) + 1)) if s is not None
                 else Rect(0, 0, 0, 0) for s in objects]
    else:
        boxes = [Rect(s[1].start, s[0].start, s[1].stop, s[0].stop) if s is not None
                 else Rect(0, 0, 0, 0) for s in objects]
    return Superpixels(labels, boxes, size)


@dataclass
class SuperpixelStroke:
    """One drag of the superpixel brush: labels each superpixel the brush touches, once."""
    superpixels: Superpixels
    done: set[int] = field(default_factory=set)

    def paint_segment(self, mask: np.ndarray, ax: float, ay: float, bx: float, by: float,
                      brush_size: int, value: int, preserve: bool = False,
                      on_write: OnWrite = None, only: Only = None) -> Rect | None:
        if mask.shape != self.superpixels.labels.shape:
            raise ValueError("the superpixels were made for another image size")
        touched: set[int] = set()
        for box, foot in segment_pieces(ax, ay, bx, by, brush_size, mask.shape):
            touched.update(np.unique(self.superpixels.labels[box.slices][foot]).tolist())
        out: Rect | None = None
        for index in sorted(touched - self.done):
            self.done.add(index)
            box, region = self.superpixels.region(index)
            changed = write_where(mask, box, region, value, preserve, on_write, only=only)
            if changed is not None:
                out = changed if out is None else out.union(changed)
        return out
