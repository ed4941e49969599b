"""Background loading: thumbnails and full images (with their masks), decoded off the GUI
thread by TaskRunner jobs. A full-image request replaces the previous one: when the user has
clicked on, the older image is never delivered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from segstudio.core.instance_edit import max_object_id
from segstudio.errors import ImageReadError, SegStudioError
from segstudio.io.images import DEFAULT_MAX_PIXELS, LoadedImage, read_image, thumbnail_rgb8
from segstudio.ui.tasks import Task, TaskRunner


def rgb8_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()


@dataclass(frozen=True)
class LoadedDocument:
    image_id: str
    image: np.ndarray
    mask: np.ndarray   # uint8 mask, or an instance project's packed uint32 labels
    note: str = ""
    next_object_id: int = 0  # instance projects: one above the largest id in ``mask``


def _read(path: Path, max_pixels: int) -> LoadedImage:
    """The decoded image; any failure is the user's file's, named in the message."""
    try:
        return read_image(path, max_pixels)
    except SegStudioError:
        raise
    except Exception as exc:  # a decoder's own error on a hostile file: still one message
        raise ImageReadError(f"{path.name}: {exc}") from None


class ThumbnailLoader(QObject):
    """Thumbnails one at a time (one thread: the window keeps the other core)."""
    thumbnail_ready = Signal(str, QImage)
    thumbnail_failed = Signal(str, str)

    def __init__(self, size: int = 64, max_pixels: int | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS
        self._runner = TaskRunner("thumbnails", parent=self)
        self._pending: set[str] = set()

    def request(self, image_id: str, path: Path) -> None:
        if image_id in self._pending:
            return
        self._pending.add(image_id)
        size, limit = self.size, self.max_pixels

        def job(task: Task) -> QImage:
            img = _read(path, limit)
            return rgb8_to_qimage(thumbnail_rgb8(img.data, size))

        self._runner.submit(job, on_done=lambda q: self._ready(image_id, q),
                            on_error=lambda m: self._failed(image_id, m))

    def cancel_all(self) -> None:
        self._runner.cancel()
        self._pending.clear()

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def _ready(self, image_id: str, qimg: QImage) -> None:
        self._pending.discard(image_id)
        self.thumbnail_ready.emit(image_id, qimg)

    def _failed(self, image_id: str, message: str) -> None:
        self._pending.discard(image_id)
        self.thumbnail_failed.emit(image_id, message)


class ImageLoader(QObject):
    """Loads one image + mask at a time; only the newest request's result is delivered."""
    loaded = Signal(object)       # LoadedDocument
    failed = Signal(str, str)     # image id, message

    def __init__(self, max_pixels: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS
        self._runner = TaskRunner("images", parent=self)

    def request(self, image_id: str, path: Path,
                load_mask: Callable[[tuple[int, int]], np.ndarray]) -> None:
        """Decode ``path``, then ``load_mask(shape)`` (project.labels.load_labels: the saved
        mask or packed instance labels, or unlabelled ones) in the worker."""
        limit = self.max_pixels

        def job(task: Task) -> LoadedDocument:
            img = _read(path, limit)
            task.check()
            mask = load_mask(img.data.shape[:2])
            nid = max_object_id(mask) + 1 if mask.dtype == np.uint32 else 0
            return LoadedDocument(image_id, img.data, mask, img.note, nid)

        self._runner.submit(job, on_done=self.loaded.emit,
                            on_error=lambda m: self.failed.emit(image_id, m), replace="image")

    def cancel(self) -> None:
        self._runner.cancel()

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)
