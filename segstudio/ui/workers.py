"""Background loading: thumbnails and full images, decoded off the GUI thread.

Results come back as queued signals to GUI-thread QObjects. A full-image request carries a
ticket; a result whose ticket is no longer current (the user clicked on) is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from segstudio.errors import SegStudioError
from segstudio.io.images import read_image, thumbnail_rgb8
from segstudio.io.masks import new_mask, read_mask


def rgb8_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format_RGB888).copy()


def _pool() -> QThreadPool:
    # One loader thread: the machine may have two cores and one belongs to the window.
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    return pool


class _Relay(QObject):
    """Lives in the GUI thread; its signals deliver worker results there."""
    thumbnail_ready = Signal(str, QImage)
    thumbnail_failed = Signal(str, str)
    image_ready = Signal(int, object)
    image_failed = Signal(int, str, str)


class _ThumbTask(QRunnable):
    def __init__(self, relay: _Relay, image_id: str, path: Path, size: int, max_pixels: int):
        super().__init__()
        self.relay, self.image_id, self.path, self.size = relay, image_id, path, size
        self.max_pixels = max_pixels

    def run(self) -> None:
        try:
            img = read_image(self.path, self.max_pixels)
            qimg = rgb8_to_qimage(thumbnail_rgb8(img.data, self.size))
        except SegStudioError as exc:
            self.relay.thumbnail_failed.emit(self.image_id, str(exc))
            return
        except Exception as exc:  # never let a worker die silently
            self.relay.thumbnail_failed.emit(self.image_id, f"{self.path.name}: {exc}")
            return
        self.relay.thumbnail_ready.emit(self.image_id, qimg)


@dataclass(frozen=True)
class LoadedDocument:
    image_id: str
    image: np.ndarray
    mask: np.ndarray
    note: str = ""


class _ImageTask(QRunnable):
    def __init__(self, relay: _Relay, ticket: int, image_id: str, path: Path, mask_path: Path,
                 num_classes: int, max_pixels: int):
        super().__init__()
        self.relay, self.ticket, self.image_id = relay, ticket, image_id
        self.path, self.mask_path, self.num_classes = path, mask_path, num_classes
        self.max_pixels = max_pixels

    def run(self) -> None:
        try:
            img = read_image(self.path, self.max_pixels)
            shape = img.data.shape[:2]
            if self.mask_path.exists():
                mask = read_mask(self.mask_path, shape=shape, num_classes=self.num_classes)
            else:
                mask = new_mask(*shape)
            doc = LoadedDocument(self.image_id, img.data, mask, img.note)
        except SegStudioError as exc:
            self.relay.image_failed.emit(self.ticket, self.image_id, str(exc))
            return
        except Exception as exc:
            self.relay.image_failed.emit(self.ticket, self.image_id, f"{self.path.name}: {exc}")
            return
        self.relay.image_ready.emit(self.ticket, doc)


class ThumbnailLoader(QObject):
    thumbnail_ready = Signal(str, QImage)
    thumbnail_failed = Signal(str, str)

    def __init__(self, size: int = 64, max_pixels: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        from segstudio.io.images import DEFAULT_MAX_PIXELS

        self.size = size
        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS
        self._pool = _pool()
        self._relay = _Relay(self)
        self._relay.thumbnail_ready.connect(self.thumbnail_ready)
        self._relay.thumbnail_failed.connect(self.thumbnail_failed)
        self._pending: set[str] = set()
        self._relay.thumbnail_ready.connect(self._done)
        self._relay.thumbnail_failed.connect(self._done)

    def request(self, image_id: str, path: Path) -> None:
        if image_id in self._pending:
            return
        self._pending.add(image_id)
        self._pool.start(_ThumbTask(self._relay, image_id, path, self.size, self.max_pixels))

    def cancel_all(self) -> None:
        self._pool.clear()
        self._pending.clear()

    def wait(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)

    def _done(self, image_id: str, *_: object) -> None:
        self._pending.discard(image_id)


class ImageLoader(QObject):
    """Loads one image + mask at a time; only the newest request's result is delivered."""
    loaded = Signal(object)       # LoadedDocument
    failed = Signal(str, str)     # image id, message

    def __init__(self, max_pixels: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        from segstudio.io.images import DEFAULT_MAX_PIXELS

        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS
        self._pool = _pool()
        self._relay = _Relay(self)
        self._relay.image_ready.connect(self._on_ready)
        self._relay.image_failed.connect(self._on_failed)
        self._ticket = 0

    def request(self, image_id: str, path: Path, mask_path: Path, num_classes: int) -> None:
        self._ticket += 1
        self._pool.clear()  # queued but not started requests are stale already
        self._pool.start(_ImageTask(self._relay, self._ticket, image_id, path, mask_path,
                                    num_classes, self.max_pixels))

    def cancel(self) -> None:
        self._ticket += 1
        self._pool.clear()

    def wait(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)

    def _on_ready(self, ticket: int, doc: LoadedDocument) -> None:
        if ticket == self._ticket:
            self.loaded.emit(doc)

    def _on_failed(self, ticket: int, image_id: str, message: str) -> None:
        if ticket == self._ticket:
            self.failed.emit(image_id, message)
