"""Reading user images: PNG, JPEG, TIFF, BMP (and what Pillow reads besides).

Returned arrays are H x W (gray), H x W x 3 (RGB) or H x W x 4 (RGBA), dtype uint8, uint16 or
float32. EXIF orientation is applied. The size is checked from the header *before* decoding,
so a decompression bomb costs nothing. Non-ASCII paths work because files are opened by
Python, not by a C library with narrow-char paths.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from segstudio.errors import ImageReadError
from segstudio.io.files import NotRegularFileError, open_error_text, open_regular

if TYPE_CHECKING:  # Pillow is imported when an image is read
    from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")
# 300 megapixels admits a 16384 x 16384 scan; above that an RGB image alone needs > 1 GB.
DEFAULT_MAX_PIXELS = 300_000_000
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


@dataclass(frozen=True)
class LoadedImage:
    data: np.ndarray
    note: str = ""  # something the user should know (e.g. "first of 12 pages shown")

    @property
    def height(self) -> int:
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])


def is_image_file(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode an image file, or raise ImageReadError with a message for the user. Only a
    regular file is opened: a named pipe, socket or device is refused before any read (a
    pipe named ``x.png`` would otherwise block forever)."""
    p = Path(path)
    try:
        fh = open_regular(p)
    except NotRegularFileError as exc:
        raise ImageReadError(f"{p.name}: {exc.strerror}; segstudio reads image files "
                             "only.") from None
    except OSError as exc:
        why = open_error_text(exc)
        if isinstance(exc, (FileNotFoundError, IsADirectoryError)):
            raise ImageReadError(f"{p.name}: {why}.") from None
        raise ImageReadError(f"{p.name}: cannot be opened ({why}).") from None
    with fh:
        head = fh.read(8)
        if not head:
            raise ImageReadError(f"{p.name}: the file is empty (0 bytes).")
        fh.seek(0)
        try:
            if head[:4] in _TIFF_MAGIC:
                return _finite(_read_tiff(p, fh, max_pixels))
            return _finite(_read_pillow(p, fh, max_pixels))
        except ImageReadError:
            raise
        except MemoryError:
            raise ImageReadError(f"{p.name}: not enough memory to decode this image.") from None
        except Exception as exc:  # decoders raise many types for corrupt data
            raise ImageReadError(f"{p.name}: not a readable image ({_short(exc)}).") from None


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(height, width) of the image ``read_image`` would return (EXIF orientation applied),
    from the header alone; None when the header cannot be read."""
    try:
        with open_regular(path) as fh:
            head = fh.read(4)
            fh.seek(0)
            if head in _TIFF_MAGIC:
                import tifffile

                with tifffile.TiffFile(fh) as tif:
                    page = tif.pages[0]
                    return (int(page.shape[page.axes.index("Y")]),
                            int(page.shape[page.axes.index("X")]))
            from PIL import Image

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(fh) as im:
                    w, h = im.size
                    turned = im.getexif().get(0x0112) in (5, 6, 7, 8)
            return (w, h) if turned else (h, w)
    except Exception:
        return None


def _finite(loaded: LoadedImage) -> LoadedImage:
    """Float images may hold NaN or infinite pixels (no-data areas): no model can take them,
    and one NaN makes the whole normalisation NaN. They read as the lowest finite value."""
    a = loaded.data
    if a.dtype.kind != "f":
        return loaded
    bad = ~np.isfinite(a)
    n = int(np.count_nonzero(bad))
    if not n:
        return loaded
    finite = a[~bad]
    low = float(finite.min()) if finite.size else 0.0
    a = np.array(a)  # a writable copy of our own
    a[bad] = low
    note = f"{n:,} pixels without a value (NaN or infinite) read as {low:g}"
    return LoadedImage(a, f"{loaded.note}; {note}" if loaded.note else note)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{name}: the header gives an empty size ({width} x {height}).")
    if width * height > max_pixels:
        raise ImageReadError(
            f"{name}: {width} x {height} pixels is larger than the limit of "
            f"{max_pixels / 1e6:.0f} megapixels (raise it in Edit › Preferences if you have "
            "the memory).")


def _read_pillow(p: Path, fh: BinaryIO, max_pixels: int) -> LoadedImage:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = None  # we apply our own, configurable limit from the header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = Image.open(fh)
        except Image.UnidentifiedImageError:
            raise ImageReadError(f"{p.name}: not an image file segstudio can read.") from None
        with im:
            _check_size(p.name, im.width, im.height, max_pixels)
            note = ""
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format not in ("GIF", "WEBP", "PNG"):
                note = f"first of {frames} pages shown"
            im.load()
            upright = ImageOps.exif_transpose(im) or im
            return LoadedImage(_pil_to_array(upright, p.name), note)


def _pil_to_array(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im).copy()
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":
        a = np.asarray(im)
        if a.min() >= 0 and a.max() <= 65535:
            return a.astype(np.uint16)
        return a.astype(np.float32)
    if mode == "F":
        return np.asarray(im).astype(np.float32)
    if mode == "LA" or mode == "PA" or (mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    if mode in ("P", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(im.convert("RGB"))
    if mode == "RGBa" or mode == "La":
        return np.asarray(im.convert("RGBA"))
    raise ImageReadError(f"{name}: pixel format {mode!r} is not supported.")


def _read_tiff(p: Path, fh: BinaryIO, max_pixels: int) -> LoadedImage:
    import logging

    import tifffile

    # tifffile logs what it finds wrong with a file; with no handler configured, logging's
    # last resort prints that on stderr beside our own message. The error we raise says it.
    log = logging.getLogger("tifffile")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    with tifffile.TiffFile(fh, name=p.name) as tif:
        if not tif.pages:
            raise ImageReadError(f"{p.name}: the TIFF holds no image.")
        page = tif.pages[0]
        shape = page.shape
        axes = page.axes
        if "Y" not in axes or "X" not in axes:
            raise ImageReadError(f"{p.name}: TIFF layout {axes!r} is not a 2-D image.")
        h, w = shape[axes.index("Y")], shape[axes.index("X")]
        _check_size(p.name, w, h, max_pixels)
        data = page.asarray()
        npages = len(tif.pages)
    # Bring to Y, X, S order.
    order = [axes.index("Y"), axes.index("X")] + [i for i, a in enumerate(axes) if a not in "YX"]
    data = np.transpose(data, order)
    if data.ndim > 3:
        data = data.reshape(h, w, -1)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim == 3 and data.shape[2] not in (3, 4):
        if data.shape[2] == 2:  # gray + alpha
            data = data[:, :, 0]
        else:
            raise ImageReadError(
                f"{p.name}: {data.shape[2]} channels per pixel; segstudio reads gray, RGB and "
                "RGBA images.")
    data = _normalise_dtype(data, p.name)
    note = f"first of {npages} pages shown" if npages > 1 else ""
    return LoadedImage(np.ascontiguousarray(data), note)


def _normalise_dtype(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8 or a.dtype == np.uint16 or a.dtype == np.float32:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.int8:
        return (a.astype(np.int16) + 128).astype(np.uint8)
    if a.dtype == np.int16:
        return (a.astype(np.int32) + 32768).astype(np.uint16)
    if a.dtype in (np.uint32, np.int32, np.float64, np.float16, np.int64, np.uint64):
        return a.astype(np.float32)
    raise ImageReadError(f"{name}: sample type {a.dtype} is not supported.")


def to_display_rgb8(a: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 for the screen. 16-bit and float data are stretched between the
    0.5th and 99.5th percentile (sampled), which is what microscopy users expect to see."""
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.dtype != np.uint8:
        a = _stretch_to_uint8(a)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a)


def _stretch_to_uint8(a: np.ndarray) -> np.ndarray:
    step = max(1, int(np.sqrt(a.shape[0] * a.shape[1] / 250_000)))
    sample = a[::step, ::step].astype(np.float32)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    out = np.empty(a.shape, np.uint8)
    # Row blocks keep the float temporary small on very large images.
    for r0 in range(0, a.shape[0], 1024):
        blk = a[r0:r0 + 1024].astype(np.float32)
        blk = np.nan_to_num(blk, nan=lo)
        out[r0:r0 + 1024] = np.clip((blk - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)
    return out


def thumbnail_rgb8(a: np.ndarray, size: int) -> np.ndarray:
    """A display thumbnail whose longer side is ``size`` pixels."""
    import cv2

    h, w = a.shape[:2]
    scale = size / max(h, w)
    if scale < 1:
        # Subsample first so huge images cost little; INTER_AREA then smooths.
        step = max(1, int(1 / scale) // 2)
        a = a[::step, ::step]
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        disp = to_display_rgb8(a)
        return cv2.resize(disp, (nw, nh), interpolation=cv2.INTER_AREA)
    return to_display_rgb8(a)
