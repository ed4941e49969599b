"""Model export: ONNX (run in onnxruntime) and TorchScript (loaded by plain torch in a
subprocess where segstudio cannot be imported) give the PyTorch model's logits within 1e-4
on raw images of two sizes; each U-Net++ depth matches ``forward(x, depth=L)``; the sample
scripts written next to the export give segstudio's Predictor labels."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from segstudio.errors import ConfigError, ModelFileError
from segstudio.inference.checkpoints import load_checkpoint, save_checkpoint
from segstudio.inference.model_export import export_model
from segstudio.inference.predictor import Predictor
from segstudio.models import create_model

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
# torch 2.13 marks torch.jit deprecated; TorchScript files still load everywhere.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

SIZES = [(1, 64, 80), (2, 97, 131)]   # (batch, height, width)
TOL = 1e-4
CLASS_SETS = {1: [("background", "#000000"), ("membrane", "#ff8800")],
              3: [("sky", "#87ceeb"), ("road", "#444444"), ("tree", "#228b22")]}

# (export name, architecture, channels, num_classes, model options, depth, formats, baked)
CASES = [
    ("pp_L1", "unetpp", 3, 3, {}, 1, "safetensors,torchscript,onnx", True),
    ("pp_L2", "unetpp", 3, 3, {}, 2, "torchscript,onnx", True),
    ("pp_all", "unetpp", 3, 3, {}, None, "torchscript,onnx", True),
    ("unet_binary_grey", "unet", 1, 1, {}, None, "torchscript,onnx", True),
    ("u3p", "unet3p", 3, 3, {"cat_channels": 4}, None, "torchscript,onnx", True),
    ("pp_L1_plain", "unetpp", 3, 3, {}, 1, "onnx", False),
]


def make_checkpoint(folder: Path, arch: str, channels: int, num_classes: int, **opts) -> Path:
    """A tiny model with non-trivial batch-norm statistics and normalisation, saved as a
    segstudio checkpoint."""
    torch.manual_seed(0)
    model = create_model(arch, in_channels=channels, num_classes=num_classes, base_width=4,
                         levels=3, **opts)
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    model.eval()
    classes = CLASS_SETS[num_classes]   # binary models (one channel) have two classes
    meta = {"classes": [{"name": n, "color": c} for n, c in classes], "channels": channels,
            "normalisation": {"mean": [100.0 + 10 * i for i in range(channels)],
                              "std": [50.0 + 5 * i for i in range(channels)]},
            "metrics": {"miou": 0.5}}
    return save_checkpoint(folder / "best", model, meta)


def _inputs(channels: int, baked: bool) -> list[np.ndarray]:
    """Raw 8-bit-range pixels for graphs with the normalisation inside, normalised values
    (about N(0, 1)) for the plain variant."""
    rng = np.random.default_rng(channels)
    if not baked:
        return [rng.standard_normal((n, channels, h, w)).astype(np.float32)
                for n, h, w in SIZES]
    return [(rng.random((n, channels, h, w)) * 255).astype(np.float32) for n, h, w in SIZES]


def _reference(ck: Path, x: np.ndarray, depth: int | None, baked: bool) -> np.ndarray:
    c = load_checkpoint(ck)
    norm = c.meta["normalisation"]
    t = torch.from_numpy(x)
    if baked:
        mean = torch.tensor(norm["mean"]).view(1, -1, 1, 1)
        std = torch.tensor(norm["std"]).view(1, -1, 1, 1)
        t = (t - mean) / std
    with torch.no_grad():
        return (c.model(t, depth=depth) if depth is not None else c.model(t)).numpy()


# The child process: plain torch + numpy + pillow; importing segstudio raises.
CHILD = textwrap.dedent("""
    import json, runpy, sys
    from pathlib import Path

    class NoSegstudio:
        def find_spec(self, name, path=None, target=None):
            if name == "segstudio" or name.startswith("segstudio."):
                raise ImportError("segstudio must not be needed here")
            return None

    sys.meta_path.insert(0, NoSegstudio())
    repo = sys.argv[2]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(repo).resolve()]
    import numpy as np
    import torch

    jobs = json.loads(Path(sys.argv[1]).read_text())
    for job in jobs["torchscript"]:
        model = torch.jit.load(job["model"], map_location="cpu").eval()
        for i, x in enumerate(job["inputs"]):
            with torch.no_grad():
                y = model(torch.from_numpy(np.load(x)))
            np.save(job["outputs"][i], y.numpy())
    for script, args in jobs["scripts"]:
        sys.argv = [script] + args
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            assert not exc.code, (script, exc.code)
    assert not any(m == "segstudio" or m.startswith("segstudio.") for m in sys.modules)
    print("child ok")
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    results = {}
    for name, arch, ch, k, opts, depth, formats, baked in CASES:
        ck = make_checkpoint(root / "ck" / name, arch, ch, k, **opts)
        summary = export_model(ck, root / name, formats, depth, bake_normalisation=baked)
        results[name] = dict(ck=ck, out=root / name, depth=depth, channels=ch, baked=baked,
                             summary=summary, inputs=[])
        for i, x in enumerate(_inputs(ch, baked)):
            p = root / f"{name}_x{i}.npy"
            np.save(p, x)
            results[name]["inputs"].append(p)
    # Images for the sample scripts: grey and colour 8-bit, and 16-bit grey.
    img_dir = root / "images"
    img_dir.mkdir()
    rng = np.random.default_rng(4)
    Image.fromarray((rng.random((64, 80, 3)) * 255).astype(np.uint8)).save(img_dir / "rgb.png")
    Image.fromarray((rng.random((50, 70)) * 255).astype(np.uint8)).save(img_dir / "grey.png")
    Image.fromarray((rng.random((45, 61)) * 65535).astype(np.uint16)).save(img_dir / "deep.png")
    images = sorted(str(p) for p in img_dir.iterdir())
    jobs = {"torchscript": [], "scripts": []}
    for name, r in results.items():
        if (r["out"] / "model_torchscript.pt").exists():
            outs = [str(root / f"{name}_ts{i}.npy") for i in range(len(r["inputs"]))]
            r["ts_outputs"] = outs
            jobs["torchscript"].append({"model": str(r["out"] / "model_torchscript.pt"),
                                        "inputs": [str(p) for p in r["inputs"]],
                                        "outputs": outs})
    for name in ("pp_L1", "unet_binary_grey", "pp_L1_plain"):
        for fmt in ("onnx", "torchscript"):
            script = results[name]["out"] / f"predict_{fmt}.py"
            if script.exists():
                out = root / f"pred_{name}_{fmt}"
                results[name][f"pred_{fmt}"] = out
                jobs["scripts"].append([str(script), images + ["--out", str(out)]])
    (root / "jobs.json").write_text(json.dumps(jobs))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.run([sys.executable, "-c", CHILD, str(root / "jobs.json"), str(repo)],
                           cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert "child ok" in child.stdout
    return {"cases": results, "images": images}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_onnx_matches_pytorch_on_two_sizes(exported, name):
    r = exported["cases"][name]
    sess = ort.InferenceSession(str(r["out"] / "model.onnx"), providers=["CPUExecutionProvider"])
    for p in r["inputs"]:
        x = np.load(p)
        (y,) = sess.run(None, {"image": x})
        ref = _reference(r["ck"], x, r["depth"], r["baked"])
        assert y.shape == ref.shape
        assert np.abs(y - ref).max() <= TOL
    proto = onnx.load(str(r["out"] / "model.onnx"))
    assert proto.opset_import[0].version >= 17
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "batch" and dims[2:] == ["height", "width"]
    meta = {m.key: m.value for m in proto.metadata_props}
    assert json.loads(meta["classes"]) == [c["name"] for c in json.loads(
        (r["out"] / "model_info.json").read_text())["classes"]]


@pytest.mark.parametrize("name", [c[0] for c in CASES if "torchscript" in c[6]])
def test_torchscript_in_plain_torch_matches_pytorch(exported, name):
    r = exported["cases"][name]
    for p, out in zip(r["inputs"], r["ts_outputs"], strict=False):
        y = np.load(out)
        ref = _reference(r["ck"], np.load(p), r["depth"], r["baked"])
        assert y.shape == ref.shape
        assert np.abs(y - ref).max() <= TOL


def test_each_unetpp_depth_is_its_own_pruned_subnetwork(exported):
    full = load_checkpoint(exported["cases"]["pp_L1"]["ck"]).model
    x = torch.from_numpy(np.load(exported["cases"]["pp_L1"]["inputs"][0]))
    outs = {}
    for name, depth in (("pp_L1", 1), ("pp_L2", 2)):
        ts = torch.jit.load(str(exported["cases"][name]["out"] / "model_torchscript.pt"))
        used = sum(len(list(m.parameters())) for m in full.submodules(depth))
        assert len(list(ts.parameters())) == used < len(list(full.parameters()))
        with torch.no_grad():
            outs[depth] = ts(x)
    assert (outs[1] - outs[2]).abs().max() > 1e-3   # different heads, not one graph twice


def _labels_where_certain(predictor: Predictor, image: np.ndarray, depth):
    pred = predictor.predict(image, depth, keep_probabilities=True)
    top2 = np.sort(pred.probabilities, axis=0)[-2:]
    return pred.labels, (top2[1] - top2[0]) > 1e-5


@pytest.mark.parametrize("name", ["pp_L1", "unet_binary_grey", "pp_L1_plain"])
def test_sample_scripts_give_predictor_labels(exported, name):
    from segstudio.io.images import read_image

    r = exported["cases"][name]
    predictor = Predictor.load(r["ck"], device="cpu")
    fmts = [f for f in ("onnx", "torchscript") if f"pred_{f}" in r]
    assert fmts
    for img in exported["images"]:
        labels, certain = _labels_where_certain(predictor, read_image(img).data, r["depth"])
        assert certain.mean() > 0.95   # random tiny models leave some pixels near a tie
        for fmt in fmts:
            im = Image.open(r[f"pred_{fmt}"] / Path(img).with_suffix(".png").name)
            assert im.mode == "L"   # grayscale: the class indices in every reader
            got = np.asarray(im)
            assert got.shape == labels.shape
            assert np.array_equal(got[certain], labels[certain]), (fmt, img)


def test_safetensors_export_reloads_at_the_chosen_depth(exported, monkeypatch, tmp_path):
    from segstudio.io.images import read_image

    r = exported["cases"]["pp_L1"]
    ck = load_checkpoint(r["out"] / "model.safetensors")
    assert ck.meta["config"]["mode"] == "fast" and ck.meta["config"]["fast_depth"] == 1
    assert ck.meta["export_depth"] == 1 and "optimizer" not in ck.meta
    original = Predictor.load(r["ck"], device="cpu")
    reloaded = Predictor.load(r["out"] / "model.safetensors", device="cpu")
    img = read_image(exported["images"][1]).data
    assert np.array_equal(reloaded.predict(img).labels, original.predict(img, 1).labels)
    # Its sample script (segstudio API) writes the same labels.
    monkeypatch.setattr(sys, "argv", ["predict_safetensors.py", exported["images"][1],
                                      "--out", str(tmp_path), "--device", "cpu"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(r["out"] / "predict_safetensors.py"), run_name="__main__")
    assert done.value.code == 0
    got = np.asarray(Image.open(tmp_path / Path(exported["images"][1]).with_suffix(".png").name))
    assert np.array_equal(got, original.predict(img, 1).labels)


def test_readme_info_and_summary(exported):
    r = exported["cases"]["pp_L1"]
    info = json.loads((r["out"] / "model_info.json").read_text())
    assert info["depth"] == 1 and info["channels"] == 3 and not info["binary"]
    assert [c["name"] for c in info["classes"]] == ["sky", "road", "tree"]
    readme = (r["out"] / "README.txt").read_text()
    for word in ("sky", "road", "tree", "predict_onnx.py", "predict_torchscript.py",
                 "segstudio predict", "depth L1"):
        assert word in readme
    assert set(r["summary"].max_abs_diff) == {"torchscript", "onnx"}
    assert max(r["summary"].max_abs_diff.values()) <= TOL
    binary = json.loads((exported["cases"]["unet_binary_grey"]["out"] / "model_info.json")
                        .read_text())
    assert binary["binary"] and binary["output"]["shape"][1] == 1
    plain = json.loads((exported["cases"]["pp_L1_plain"]["out"] / "model_info.json").read_text())
    assert plain["normalisation_in_graph"] is False


def test_bad_requests(tmp_path, exported):
    pp = exported["cases"]["pp_L1"]["ck"]
    unet = exported["cases"]["unet_binary_grey"]["ck"]
    with pytest.raises(ConfigError, match="Only U-Net\\+\\+"):
        export_model(unet, tmp_path / "a", "onnx", depth=1)
    with pytest.raises(ConfigError, match="depths 1, 2"):
        export_model(pp, tmp_path / "b", "onnx", depth=3)
    with pytest.raises(ConfigError, match="Unknown model format"):
        export_model(pp, tmp_path / "c", "tflite")
    with pytest.raises(ModelFileError, match="pickled"):
        export_model(tmp_path / "model.pt", tmp_path / "d")
    with pytest.raises(ModelFileError, match="missing"):
        export_model(tmp_path / "nothing.safetensors", tmp_path / "e")
    assert not any((tmp_path / n).exists() for n in "abcde")
