"""The canvas's layer stack: image, prediction overlay, mask overlay (bottom to top); the tool
overlay (brush outline, polygon) is drawn by the tool on top, in widget coordinates. (The mask
overlay of an instance project is ``instance_layer.InstanceLayer``.)

Layers hold no screen-sized caches and make no copies of the mask: each paint resamples only
the exposed screen rectangle straight from the layer's array (nearest neighbour, with the exact
index arithmetic the view uses to map the mouse, see ``ViewTransform``), wraps the small result
in a QImage and lets Qt blit it. Label layers (mask, prediction) are drawn through a 256-entry
colour table (Format_Indexed8), so changing opacity or class colours is free.

Display memory per image pixel: 0 bytes for uint8 gray, RGB and RGBA images (shown straight
from the decoded array), 1 byte for 16-bit/float gray, 3 bytes for 16-bit/float RGB(A) (one
stretched uint8 copy), 0 bytes for the mask and prediction overlays.
"""

from __future__ import annotations

from dataclasses import dataclass

# cv2.remap is 5-10x faster than numpy fancy indexing for screen-sized gathers.
import cv2
import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QImage, QPainter

from segstudio.core.classes import ClassInfo
from segstudio.io.images import to_display_rgb8


@dataclass
class Patch:
    """What one paint pass needs from every layer: the screen rectangle (left, top, w, h),
    and for its columns/rows the source pixel indices, relative to (sx0, sy0)."""
    left: int
    top: int
    xs: np.ndarray  # int, len w: source column - sx0 of each screen column
    ys: np.ndarray  # int, len h
    sx0: int
    sy0: int
    sx1: int
    sy1: int
    scale: float = 1.0  # widget pixels per image pixel
    _map: np.ndarray | None = None

    CV2_MIN_PIXELS = 65536

    @property
    def width(self) -> int:
        return int(self.xs.size)

    @property
    def height(self) -> int:
        return int(self.ys.size)

    def gather(self, src: np.ndarray) -> np.ndarray:
        """The patch's pixels of ``src`` (H x W or H x W x C), contiguous."""
        sub = src[self.sy0:self.sy1, self.sx0:self.sx1]
        # Small patches (what a brush stroke repaints) with numpy: no thread-pool wake-ups,
        # which cost milliseconds of tail latency on a loaded 2-core machine. Large patches
        # (full-view repaints) with cv2.remap, 5-10x faster there.
        if (self.height * self.width >= self.CV2_MIN_PIXELS
                and sub.shape[0] < 32767 and sub.shape[1] < 32767
                and (sub.ndim == 2 or sub.shape[2] <= 4)):
            if self._map is None:
                m = np.empty((self.height, self.width, 2), np.int16)
                m[..., 0] = self.xs[None, :]
                m[..., 1] = self.ys[:, None]
                self._map = m
            out = cv2.remap(sub, self._map, None, cv2.INTER_NEAREST)
            if out.ndim == 2 and sub.ndim == 3:  # cv2 drops a single channel
                out = out[:, :, None]
            return np.ascontiguousarray(out)
        return np.ascontiguousarray(sub[self.ys[:, None], self.xs[None, :]])


def display_array(image: np.ndarray) -> tuple[np.ndarray, QImage.Format, int]:
    """An array Qt can show for a decoded image, its QImage format, and how many bytes were
    allocated for it (0 when the decoded array is shown as it is)."""
    a = image
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"cannot display an image of shape {image.shape}")
    if a.dtype == np.uint8:
        extra = 0
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
            extra = a.nbytes
    elif a.ndim == 2:
        a = _stretch_gray(a)
        extra = a.nbytes
    else:
        a = to_display_rgb8(a)
        extra = a.nbytes
    if a.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif a.shape[2] == 3:
        fmt = QImage.Format.Format_RGB888
    else:
        fmt = QImage.Format.Format_RGBA8888
    return a, fmt, extra


def _stretch_gray(a: np.ndarray) -> np.ndarray:
    """16-bit/float gray to uint8, stretched between the 0.5th and 99.5th percentile (sampled),
    as ``to_display_rgb8`` does, but staying one channel (1 byte per pixel, not 3)."""
    step = max(1, int(np.sqrt(a.shape[0] * a.shape[1] / 250_000)))
    sample = a[::step, ::step].astype(np.float32)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if hi <= lo:
        hi = lo + 1.0
    out = np.empty(a.shape, np.uint8)
    for r0 in range(0, a.shape[0], 1024):
        blk = np.nan_to_num(a[r0:r0 + 1024].astype(np.float32), nan=lo)
        out[r0:r0 + 1024] = np.clip((blk - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)
    return out


class Layer:
    """Something drawn over the image area. ``render`` paints one patch."""

    visible = True

    def render(self, painter: QPainter, patch: Patch) -> None:  # pragma: no cover
        raise NotImplementedError

    @property
    def extra_bytes(self) -> int:
        """Bytes this layer allocated beyond the arrays it was given."""
        return 0


class ImageLayer(Layer):
    def __init__(self) -> None:
        self._array: np.ndarray | None = None
        self._format = QImage.Format.Format_RGB888
        self._extra = 0

    def set_image(self, image: np.ndarray | None) -> None:
        if image is None:
            self._array, self._extra = None, 0
            return
        self._array, self._format, self._extra = display_array(image)

    @property
    def array(self) -> np.ndarray | None:
        return self._array

    @property
    def extra_bytes(self) -> int:
        return self._extra

    def render(self, painter: QPainter, patch: Patch) -> None:
        if self._array is None or not self.visible:
            return
        px = patch.gather(self._array)
        ch = 1 if px.ndim == 2 else px.shape[2]
        img = QImage(px.data, px.shape[1], px.shape[0], px.shape[1] * ch, self._format)
        painter.drawImage(QPoint(patch.left, patch.top), img)


class ClassMapLayer(Layer):
    """A 2-D array drawn through the project's classes at an opacity: what the mask overlays
    share (LabelLayer here, instance_layer.InstanceLayer). Subclasses draw it (``render``) and
    make their colours (``_rebuild``, called again when the opacity or the classes change)."""

    DTYPE: type = np.uint8
    WRONG_ARRAY = "a label layer shows a 2-D uint8 array"

    def __init__(self, opacity: float = 0.5) -> None:
        self._array: np.ndarray | None = None
        self._classes: list[ClassInfo] = []
        self._opacity = float(opacity)

    @property
    def array(self) -> np.ndarray | None:
        return self._array

    def set_array(self, array: np.ndarray | None) -> None:
        if array is not None and (array.dtype != self.DTYPE or array.ndim != 2):
            raise ValueError(self.WRONG_ARRAY)
        self._array = array

    @property
    def opacity(self) -> float:
        return self._opacity

    def set_opacity(self, opacity: float) -> None:
        self._opacity = min(1.0, max(0.0, float(opacity)))
        self._rebuild()

    def set_classes(self, classes: list[ClassInfo]) -> None:
        self._classes = list(classes)
        self._rebuild()

    def _rebuild(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError


class LabelLayer(ClassMapLayer):
    """An index map (mask or prediction) drawn in class colours at an opacity; values without a
    class (255 = not labelled) are transparent. Shows the array itself: writes to it appear on
    the next repaint of the written area, with no conversion step."""

    def __init__(self, opacity: float = 0.5) -> None:
        super().__init__(opacity)
        self._table: list[int] = []
        self._confidence = False
        self._rebuild()

    def set_confidence_mode(self, on: bool) -> None:
        """Show the array as confidence (0..255) instead of classes: uncertain pixels glow
        magenta, confident ones stay clear, which is where a user should look to correct."""
        self._confidence = bool(on)
        self._rebuild()

    def _rebuild(self) -> None:
        alpha = int(round(self._opacity * 255))
        if self._confidence:
            # Confidence of the winning class is >= 1/K; 50 % and less is fully lit.
            self._table = [QColor(230, 0, 200, int(alpha * min(1.0, max(0.0, (255 - v) / 128))))
                           .rgba() for v in range(256)]
            return
        table = [0] * 256
        for i, c in enumerate(self._classes[:255]):
            r, g, b = c.rgb
            table[i] = QColor(r, g, b, alpha).rgba()
        self._table = table

    def color_table(self) -> list[int]:
        return list(self._table)

    def render(self, painter: QPainter, patch: Patch) -> None:
        if self._array is None or not self.visible or self._opacity <= 0.0:
            return
        px = patch.gather(self._array)
        img = QImage(px.data, px.shape[1], px.shape[0], px.shape[1], QImage.Format.Format_Indexed8)
        img.setColorTable(self._table)
        painter.drawImage(QPoint(patch.left, patch.top), img)
