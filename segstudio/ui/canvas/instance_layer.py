"""The label overlay of an instance project: the packed uint32 label array (class << 24 | id,
``segstudio.core.instances``) drawn as objects.

Each object is filled with its own colour (a fixed palette of 256 indexed by the id's low byte:
consecutive ids, usually neighbours because they were painted one after the other, are far apart
in hue) and
outlined in its class colour; with "Colour each object" off the fill is the class colour and the
outline the object colour, so touching objects stay apart either way. Background and pixels of a
class without an object are filled in their class colour; unlabelled pixels stay transparent.
The current object is outlined in white.

Outline pixels are the object pixels whose 4-neighbour holds another id, in image pixels: a
pixel's colour depends on the image alone, never on which screen rectangle is repainted, so a
brush stroke's small repaints and a full repaint agree. Zoomed out (below 100 %), where a screen
pixel skips image pixels, the neighbour compared is the one about a screen pixel away, so
outlines stay one screen pixel wide instead of dashed.

Like the semantic layer, it keeps no screen-sized caches and no copy of the labels: each paint
colours only the exposed rectangle (zoomed in: its source pixels plus a one-pixel margin, then
resampled; zoomed out: the sampled pixels and their neighbours). Colours come from 256-entry
tables through cv2.LUT on the class byte and the id's low byte (views of the packed values, no
shifts): a full 1600 x 1000 repaint costs about as much as the image's.
"""

from __future__ import annotations

import colorsys
import math
import sys

import cv2
import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage, QPainter

from segstudio.core.instances import ID_MASK
from segstudio.ui.canvas.layers import ClassMapLayer, Patch

PALETTE_SIZE = 256  # indexed by the id's low byte
_GOLDEN = 0.6180339887498949
_WHITE = np.uint32(0xFFFFFFFF)
CV2_MIN_PIXELS = 65536
# Byte positions in a packed value as stored: the class byte and the id's low byte.
_CLASS_BYTE, _LOW_BYTE = (3, 0) if sys.byteorder == "little" else (0, 3)


def object_palette(n: int = PALETTE_SIZE) -> np.ndarray:
    """RGB (n x 3 uint8) of ids 0..n-1 (id k uses entry k % n): hues step by the golden
    ratio, saturation and value alternate, so neighbouring ids never look alike."""
    out = np.zeros((n, 3), np.uint8)
    for i in range(1, n):
        hue = (i * _GOLDEN) % 1.0
        sat = (0.95, 0.7, 0.85)[i % 3]
        val = (1.0, 0.82)[(i // 3) % 2]
        out[i] = [round(c * 255) for c in colorsys.hsv_to_rgb(hue, sat, val)]
    return out


def _premultiplied(rgb: np.ndarray, alpha: float) -> np.ndarray:
    """ARGB32-premultiplied values of RGB rows at ``alpha`` (0..1), as int32 (cv2.LUT's
    table type; the bits are the uint32 pixel)."""
    a = int(round(min(1.0, max(0.0, alpha)) * 255))
    c = (rgb.astype(np.uint32) * a + 127) // 255
    argb = (np.uint32(a) << 24) | (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    return argb.astype(np.uint32).view(np.int32)


def _byte(values: np.ndarray, index: int) -> np.ndarray:
    """One byte of each packed value, contiguous uint8 (for cv2.LUT)."""
    return np.ascontiguousarray(values.view(np.uint8).reshape(values.shape + (4,))[..., index])


def take(src: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``src[ys][:, xs]`` for sorted index vectors, as a contiguous array (uint32 or uint8x4):
    numpy for small patches, cv2.remap (on a two-channel uint16 view) for large ones."""
    y0, y1 = int(ys[0]), int(ys[-1]) + 1
    x0, x1 = int(xs[0]), int(xs[-1]) + 1
    sub = src[y0:y1, x0:x1]
    ly, lx = ys - y0, xs - x0
    if ly.size == sub.shape[0] and lx.size == sub.shape[1]:
        return np.ascontiguousarray(sub)  # sorted and as many as the range: 1:1 (100 %)
    if ly.size * lx.size >= CV2_MIN_PIXELS and max(sub.shape) < 32767:
        m = np.empty((ly.size, lx.size, 2), np.int16)
        m[..., 0] = lx[None, :]
        m[..., 1] = ly[:, None]
        pairs = sub.view(np.uint16).reshape(sub.shape[0], sub.shape[1], 2)
        out = cv2.remap(pairs, m, None, cv2.INTER_NEAREST)
        return np.ascontiguousarray(out).view(np.uint32).reshape(ly.size, lx.size)
    return np.ascontiguousarray(sub[ly[:, None], lx[None, :]])


def borders(values: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Object pixels (``has``) with a 4-neighbour of another value (another object, or no
    object), inside ``values``."""
    b = np.zeros(values.shape, bool)
    d = values[:, 1:] != values[:, :-1]
    b[:, 1:] |= d
    b[:, :-1] |= d
    d = values[1:] != values[:-1]
    b[1:] |= d
    b[:-1] |= d
    b &= has
    return b


class InstanceLayer(ClassMapLayer):
    """Shows a packed uint32 label array; the same interface as ``LabelLayer``."""

    DTYPE = np.uint32
    WRONG_ARRAY = "an instance layer shows a 2-D uint32 label array"

    def __init__(self, opacity: float = 0.5) -> None:
        super().__init__(opacity)
        self._palette = object_palette()
        self.object_colours = True
        self.highlight = 0  # the current object's id (outlined in white), 0 = none
        self._rebuild()

    def set_object_colours(self, on: bool) -> None:
        self.object_colours = bool(on)

    def _rebuild(self) -> None:
        rgb = np.zeros((256, 3), np.uint8)
        for i, c in enumerate(self._classes[:255]):
            rgb[i] = c.rgb
        line_alpha = 0.0 if self._opacity <= 0 else max(0.85, self._opacity)
        self._class_fill = _premultiplied(rgb, self._opacity)
        self._class_fill[255:] = 0  # not labelled: transparent
        self._class_line = _premultiplied(rgb, line_alpha)
        self._object_fill = _premultiplied(self._palette, self._opacity)
        self._object_line = _premultiplied(self._palette, line_alpha)

    # ------------------------------------------------------------------ paint
    def colours(self, values: np.ndarray, has: np.ndarray, border: np.ndarray) -> np.ndarray:
        """Premultiplied ARGB32 (uint32) of packed ``values``; ``has``: pixels of an object,
        ``border``: their outline pixels."""
        cls, low = _byte(values, _CLASS_BYTE), _byte(values, _LOW_BYTE)
        out = cv2.LUT(cls, self._class_fill)
        if self.object_colours:
            np.copyto(out, cv2.LUT(low, self._object_fill), where=has)
            np.copyto(out, cv2.LUT(cls, self._class_line), where=border)
        else:
            np.copyto(out, cv2.LUT(low, self._object_line), where=border)
        out = out.view(np.uint32)
        if self.highlight and border.any():
            mine = (values & np.uint32(ID_MASK)) == np.uint32(self.highlight)
            out[border & mine] = _WHITE
        return out

    def patch_colours(self, patch: Patch) -> np.ndarray:
        """The patch's pixels as premultiplied ARGB32 (contiguous, patch.height x width)."""
        src = self._array
        assert src is not None
        h, w = src.shape
        if patch.scale >= 1.0:
            # Zoomed in: colour the source box (+1 pixel for the outlines), then resample.
            y0, y1 = max(0, patch.sy0 - 1), min(h, patch.sy1 + 1)
            x0, x1 = max(0, patch.sx0 - 1), min(w, patch.sx1 + 1)
            region = src[y0:y1, x0:x1]
            has = (region & np.uint32(ID_MASK)) != 0
            rgba = self.colours(region, has, borders(region, has))
            oy, ox = patch.sy0 - y0, patch.sx0 - x0
            return take(rgba, patch.ys + oy, patch.xs + ox)
        # Zoomed out: the sampled pixels, compared with the pixels about a screen pixel away.
        d = max(1, math.ceil(1.0 / patch.scale))
        ys, xs = patch.ys + patch.sy0, patch.xs + patch.sx0
        centre = take(src, ys, xs)
        has = (centre & np.uint32(ID_MASK)) != 0
        border = np.zeros(centre.shape, bool)
        for dy, dx in ((-d, 0), (d, 0), (0, -d), (0, d)):
            nb = take(src, np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1))
            border |= nb != centre
        border &= has
        return self.colours(centre, has, border)

    def render(self, painter: QPainter, patch: Patch) -> None:
        if self._array is None or not self.visible or self._opacity <= 0.0:
            return
        px = self.patch_colours(patch)
        img = QImage(px.data, px.shape[1], px.shape[0], px.shape[1] * 4,
                     QImage.Format.Format_ARGB32_Premultiplied)
        painter.drawImage(QPoint(patch.left, patch.top), img)
