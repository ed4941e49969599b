"""Mask files: single-channel indexed PNG, values = class indices, 255 = not labelled."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from segstudio.core.classes import UNLABELLED, ClassInfo, palette_flat_rgb
from segstudio.errors import MaskError
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.files import open_error_text, open_regular


def new_mask(height: int, width: int) -> np.ndarray:
    return np.full((height, width), UNLABELLED, np.uint8)


def encode_mask_png(mask: np.ndarray, classes: list[ClassInfo], compress_level: int = 3) -> bytes:
    from PIL import Image

    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError("mask must be a 2-D uint8 array")
    # frombuffer reads the array in place: tobytes() would copy it holding the GIL, which froze
    # the window for up to half a second while a 16k mask autosaved in the background.
    mask = np.ascontiguousarray(mask)
    pim = Image.frombuffer("P", (mask.shape[1], mask.shape[0]), mask, "raw", "P", 0, 1)
    pim.putpalette(palette_flat_rgb(classes))
    buf = io.BytesIO()
    pim.save(buf, format="PNG", compress_level=compress_level,
             transparency=UNLABELLED)  # 255 shows as transparent in viewers
    return buf.getvalue()


def write_mask(path: str | os.PathLike[str], mask: np.ndarray, classes: list[ClassInfo]) -> None:
    """Write an indexed PNG atomically (old file intact on any failure)."""
    atomic_write_bytes(path, encode_mask_png(mask, classes))


def read_mask(path: str | os.PathLike[str], shape: tuple[int, int] | None = None,
              num_classes: int | None = None) -> np.ndarray:
    """Read an index mask. Raises MaskError for unreadable files, a size that does not match the
    image, or values that are neither a class index nor 255."""
    from PIL import Image

    p = Path(path)
    try:
        fh = open_regular(p)
    except FileNotFoundError:
        raise MaskError(f"{p.name}: mask file not found.") from None
    except OSError as exc:
        raise MaskError(f"{p.name}: not a readable mask ({open_error_text(exc)}).") from None
    size = os.fstat(fh.fileno()).st_size
    try:
        with fh, Image.open(fh) as im:
            if im.mode not in ("P", "L", "I;16", "I", "1"):
                raise MaskError(f"{p.name}: a mask must be a single-channel index image, "
                                f"found mode {im.mode}.")
            if shape is not None and (im.height, im.width) != tuple(shape):
                raise MaskError(f"{p.name}: mask is {im.width} x {im.height} but the image is "
                                f"{shape[1]} x {shape[0]}.")
            im.load()
            a = np.array(im)  # a writable array of its own: the canvas paints into it
    except MaskError:
        raise
    except Image.UnidentifiedImageError:  # its text names the full path: say it plainly
        what = "the file is empty" if size == 0 else "not an image file"
        raise MaskError(f"{p.name}: not a readable mask ({what}).") from None
    except Exception as exc:
        why = str(exc)[:120] or type(exc).__name__
        raise MaskError(f"{p.name}: not a readable mask ({why}).") from None
    if a.dtype != np.uint8:
        if a.max(initial=0) > 255 or a.min(initial=0) < 0:
            raise MaskError(f"{p.name}: mask values beyond 255.")
        a = a.astype(np.uint8)
    if num_classes is not None:
        bad = (a >= num_classes) & (a != UNLABELLED)
        if bad.any():
            vals = np.unique(a[bad])[:5].tolist()
            raise MaskError(f"{p.name}: mask holds values {vals} but the project has only "
                            f"{num_classes} classes (0..{num_classes - 1}, 255 = not labelled).")
    return a


def labelled_fraction(mask: np.ndarray) -> float:
    if mask.size == 0:
        return 0.0
    return float(np.count_nonzero(mask != UNLABELLED)) / mask.size
