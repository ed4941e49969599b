"""Segment images with model.safetensors through segstudio.

    python predict_safetensors.py IMAGE [IMAGE ...] [--out DIR] [--device auto]

Same as: segstudio predict model.safetensors IMAGE ... --out DIR
Writes DIR/<image stem>.png: 8-bit grayscale PNG, pixel value = class index (--palette:
an indexed PNG holding the class colours).
"""

import argparse
import sys
from pathlib import Path

from segstudio.core.classes import ClassInfo
from segstudio.inference.predictor import Predictor
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.images import read_image
from segstudio.project.mask_export import encode_index_png

HERE = Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--out", default="predictions")
    ap.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    ap.add_argument("--palette", action="store_true",
                    help="write palette PNGs with the class colours instead of grayscale")
    args = ap.parse_args()
    predictor = Predictor.load(HERE / "model.safetensors", device=args.device)
    classes = [ClassInfo(c["name"], c["color"]) for c in predictor.checkpoint.classes]
    for name in args.images:
        prediction = predictor.predict(read_image(name).data)   # labels + confidence
        out = Path(args.out) / (Path(name).stem + ".png")
        atomic_write_bytes(out, encode_index_png(prediction.labels, classes, args.palette))
        print(f"{name} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
