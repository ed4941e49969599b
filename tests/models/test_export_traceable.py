"""The models must trace to ONNX with dynamic sizes: padding arithmetic stays in the graph."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from .conftest import tiny

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.mark.parametrize("name,cfg", [
    ("unet", {}), ("unetpp", {"mode": "fast", "fast_depth": 2}), ("unetpp", {}),
    ("unet3p", {"cgm": True, "num_classes": 1, "cgm_mode": "soft"}),
])
def test_onnx_export_accepts_other_sizes(tmp_path, name, cfg):
    m = tiny(name, **cfg).eval()
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.randn(1, 3, 32, 32),), str(path), input_names=["x"],
                          output_names=["y"], dynamo=False,
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"},
                                        "y": {0: "n", 2: "h", 3: "w"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(2, 3, 37, 45), (1, 3, 5, 7)]:
        x = torch.randn(shape)
        (y,) = session.run(None, {"x": x.numpy()})
        with torch.no_grad():
            ref = m(x).numpy()
        assert y.shape == ref.shape
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
