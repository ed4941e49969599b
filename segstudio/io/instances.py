"""Instance map files: 0 = no object, 1..N one id per object.

Written as a 16-bit grey PNG while every id fits (what ImageJ, napari, Cellpose and the
DSB2018 layout use) and as a zlib-compressed uint32 TIFF beyond 65,535. Read from PNG (8 or 16
bit, or 32-bit integer), or TIFF (any unsigned or non-negative integer type).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from segstudio.core.instances import INSTANCE_DTYPE, MAX_OBJECTS
from segstudio.errors import MaskError
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.files import open_error_text, open_regular

PNG_MAX_ID = 65535


def encode_instances(instances: np.ndarray) -> tuple[bytes, str]:
    """The file bytes and the suffix (".png" or ".tif") an instance map is written with."""
    if instances.ndim != 2:
        raise ValueError("an instance map is a 2-D array")
    top = int(instances.max(initial=0))
    if top <= PNG_MAX_ID:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(instances, dtype=np.uint16)).save(
            buf, format="PNG", compress_level=3)
        return buf.getvalue(), ".png"
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(instances, dtype=np.uint32),
                     compression="zlib")
    return buf.getvalue(), ".tif"


def write_instances(path: str | os.PathLike[str], instances: np.ndarray) -> Path:
    """Write atomically next to ``path`` with the suffix the ids need; a file of the other
    suffix left from an earlier save is removed afterwards. Returns the path written."""
    data, suffix = encode_instances(instances)
    target = Path(path).with_suffix(suffix)
    atomic_write_bytes(target, data)
    other = target.with_suffix(".tif" if suffix == ".png" else ".png")
    if other.exists():
        other.unlink()
    return target


def read_instances(path: str | os.PathLike[str],
                   shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read an instance map (uint32). MaskError for an unreadable file, a colour image, a size
    that does not match, negative or fractional ids."""
    p = Path(path)
    try:
        fh = open_regular(p)
    except FileNotFoundError:
        raise MaskError(f"{p.name}: instance map not found.") from None
    except OSError as exc:
        raise MaskError(f"{p.name}: not a readable instance map "
                        f"({open_error_text(exc)}).") from None
    from PIL import Image

    with fh:
        head = fh.read(4)
        fh.seek(0)
        try:
            if head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                import tifffile

                # open_regular's handle is named by its descriptor, which tifffile rejects
                with tifffile.TiffFile(io.BytesIO(fh.read())) as tf:
                    a = tf.asarray()
            else:
                with Image.open(fh) as im:
                    if im.mode not in ("I;16", "I;16B", "I", "L", "P", "1"):
                        raise MaskError(f"{p.name}: an instance map must be a single-channel "
                                        f"integer image, found mode {im.mode}.")
                    im.load()
                    a = np.array(im)
        except MaskError:
            raise
        except Image.UnidentifiedImageError:  # its text names the file handle: say it plainly
            raise MaskError(f"{p.name}: not a readable instance map (not an image "
                            "file).") from None
        except Exception as exc:
            why = str(exc)[:120] or type(exc).__name__
            raise MaskError(f"{p.name}: not a readable instance map ({why}).") from None
    a = np.squeeze(a)
    if a.ndim != 2:
        raise MaskError(f"{p.name}: an instance map must be a single-channel image.")
    if shape is not None and a.shape != tuple(shape):
        raise MaskError(f"{p.name}: instance map is {a.shape[1]} x {a.shape[0]} but the image "
                        f"is {shape[1]} x {shape[0]}.")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise MaskError(f"{p.name}: instance ids must be whole numbers.")
    elif a.dtype.kind not in "uib":
        raise MaskError(f"{p.name}: instance ids must be integers.")
    if a.size and (a.min() < 0 or a.max() > MAX_OBJECTS):
        raise MaskError(f"{p.name}: instance ids must lie in 0..{MAX_OBJECTS:,}.")
    return a.astype(INSTANCE_DTYPE)
