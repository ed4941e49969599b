"""Segment images with model.onnx. Needs only onnxruntime, numpy and pillow.

    python predict_onnx.py IMAGE [IMAGE ...] [--out DIR]

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
    import onnxruntime as ort

    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]
    session = ort.InferenceSession(str(HERE / INFO["files"]["onnx"]), providers=providers)
    return lambda x: session.run(None, {"image": x})[0]


if __name__ == "__main__":
    sys.exit(main(run, __doc__.splitlines()[0], INFO))
