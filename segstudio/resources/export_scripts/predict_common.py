"""Shared part of the sample scripts written next to a segstudio model export: image reading,
labels from logits and writing the mask files. Needs numpy and pillow only.

Image reading mirrors segstudio's own (EXIF orientation applied, 16-bit kept as is, grey and
colour brought to the model's channels), so these scripts give the labels segstudio gives.
Classes, channels and normalisation come from the export's model_info.json (read_info).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


def read_info(folder):
    """model_info.json of the export in ``folder`` (the folder of the calling script)."""
    return json.loads((Path(folder) / "model_info.json").read_text(encoding="utf-8"))


def load_image(path, info):
    """1 x C x H x W float32 in the image's own range, C = the model's channels."""
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im) or im
        mode = im.mode
        if mode == "1":
            a = np.asarray(im.convert("L"))
        elif mode in ("L", "RGB", "RGBA", "I", "F") or mode.startswith("I;16"):
            a = np.asarray(im)
        elif mode in ("LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
            a = np.asarray(im.convert("RGBA"))
        else:
            a = np.asarray(im.convert("RGB"))
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4:
        a = a[:, :, :3]
    a = a.astype(np.float32)
    c = info["channels"]
    if c == 1 and a.shape[2] == 3:
        a = (a @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]
    elif c == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if not info["normalisation_in_graph"]:
        mean = np.asarray(info["normalisation"]["mean"], np.float32)
        a = (a - mean) / np.asarray(info["normalisation"]["std"], np.float32)
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])


def labels_from_logits(logits):
    """1 x K x H x W logits -> H x W uint8 class indices."""
    logits = np.asarray(logits)[0]
    if logits.shape[0] == 1:                      # binary: the logit of class 1
        return (logits[0] > 0).astype(np.uint8)
    return logits.argmax(0).astype(np.uint8)


def save_labels(labels, path, info, palette=False):
    """An 8-bit grayscale PNG, pixel value = class index, which OpenCV, Pillow and
    scikit-image all read as the indices. ``palette``: an indexed PNG carrying the class
    colours instead (viewers show colours, but OpenCV's imread returns the colours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not palette:
        Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), "L").save(path, format="PNG")
        return
    im = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    colours = [0] * 768
    for c in info["classes"]:
        h = c["color"].lstrip("#")
        colours[3 * c["index"]:3 * c["index"] + 3] = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    im.putpalette(colours)
    im.save(path, format="PNG", transparency=255)


def main(run, description, info, extra_args=()):
    """Parse the command line; ``run(args)`` gives a function x -> logits for each image."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("images", nargs="+", help="image files")
    ap.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    ap.add_argument("--palette", action="store_true",
                    help="write palette PNGs with the class colours instead of grayscale")
    for add in extra_args:
        add(ap)
    args = ap.parse_args()
    predict = run(args)
    failed = 0
    for name in args.images:
        try:
            x = load_image(name, info)
        except Exception as exc:
            print(f"{name}: cannot be read ({exc})", file=sys.stderr)
            failed += 1
            continue
        labels = labels_from_logits(predict(x))
        out = Path(args.out) / (Path(name).stem + ".png")
        save_labels(labels, out, info, args.palette)
        print(f"{name} -> {out}")
    return 1 if failed else 0
