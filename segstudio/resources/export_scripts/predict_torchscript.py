"""Segment images with model_torchscript.pt. Needs only torch, numpy and pillow.

    python predict_torchscript.py IMAGE [IMAGE ...] [--out DIR] [--device cpu|cuda]

Writes DIR/<image stem>.png for each image: an 8-bit grayscale PNG whose pixel values are
class indices (--palette: an indexed PNG holding the class colours instead). Classes,
channels and normalisation come from model_info.json next to this script. Written by
segstudio's model export.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # predict_common.py lies beside this script
from predict_common import main, read_info  # noqa: E402

INFO = read_info(HERE)


def run(args):
    import torch

    device = torch.device(args.device)
    model = torch.jit.load(str(HERE / INFO["files"]["torchscript"]), map_location=device).eval()

    def predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x).to(device)).cpu().numpy()
    return predict


def add_device(ap):
    ap.add_argument("--device", default="cpu", help="cpu or cuda")


if __name__ == "__main__":
    sys.exit(main(run, __doc__.splitlines()[0], INFO, [add_device]))
