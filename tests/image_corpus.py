"""Small test images of every kind the readers must handle, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NON_ASCII_NAME = "zellen_ä_细胞.png"


def gradient(h: int, w: int, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    base = ((xx * 3 + yy * 5) % 256) / 255.0
    chans = [np.roll(base, k * 7, axis=1) for k in range(channels)]
    a = np.stack(chans, -1) if channels > 1 else base
    return (a * top).astype(dtype)


def write_exif_rotated_jpeg(path: Path, w: int = 40, h: int = 24) -> np.ndarray:
    """A JPEG stored w x h with EXIF orientation 6 (rotate 90 CW to view); returns the stored
    pixels so a test can compare after rotation."""
    from PIL import Image

    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (250, 10, 10)   # left half red in storage order
    arr[:, w // 2:] = (10, 10, 250)
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return arr


def make_corpus(folder: Path) -> dict[str, Path]:
    """Write one file of each kind into ``folder``; returns name -> path."""
    import tifffile
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def put(key: str, name: str) -> Path:
        out[key] = folder / name
        return out[key]

    Image.fromarray(gradient(30, 50)).save(put("rgb_png", "rgb.png"))
    Image.fromarray(gradient(30, 50, 1)).save(put("gray_png", "gray.png"))
    Image.fromarray(gradient(30, 50, 4)).save(put("rgba_png", "rgba.png"))
    tifffile.imwrite(put("tiff16", "scan16.tif"), gradient(33, 47, 1, np.uint16))
    tifffile.imwrite(put("tiff_multi", "stack.tif"),
                     np.stack([gradient(20, 20, 1), gradient(20, 20, 1) // 2]))
    Image.fromarray(gradient(30, 50)).save(put("bmp", "picture.bmp"))
    write_exif_rotated_jpeg(put("exif_jpeg", "rotated.jpg"))
    Image.fromarray(gradient(16, 16)).save(put("non_ascii", NON_ASCII_NAME))
    put("corrupt", "corrupt.png").write_text("this is not a png at all")
    return out
