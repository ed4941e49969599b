"""Export a trained model: ``export_model(checkpoint, out_dir, formats, depth)``.

Formats (all written atomically into ``out_dir``):

- ``"safetensors"``: ``model.safetensors`` + ``model.json``, a segstudio checkpoint that
  ``segstudio predict`` and the window load again. All weights are kept; for U-Net++ with a
  ``depth`` the config says ``mode="fast", fast_depth=depth``, so it predicts at that depth by
  default and can still be switched to another depth later.
- ``"torchscript"``: ``model_torchscript.pt``, traced; loads with plain
  ``torch.jit.load`` (no segstudio needed). Only the weights the graph uses are kept.
- ``"onnx"``: ``model.onnx`` (opset 17, legacy TorchScript-based exporter) with dynamic batch,
  height and width; needs the ``onnx`` package to export and ``onnxruntime`` to run.

The TorchScript and ONNX graphs take **raw pixel values** (float32 N x C x H x W in the
image's own range: 0..255 for 8-bit images, 0..65535 for 16-bit) and return **logits**
(N x K x H x W; K = 1 for a binary model: the logit of class 1). The training normalisation
is inside the graph, and so is the padding to the network's stride: any H x W works. With
``bake_normalisation=False`` the graphs take normalised input instead (the mean and std are
in model_info.json).

For U-Net++, ``depth=L`` exports the sub-network of head L only (``model(x, depth=L)``), the
depth chosen with the prune slider; ``depth=None`` exports what ``model(x)`` computes.

Next to the model files: ``model_info.json`` (classes, channels, normalisation, depth, input
and output), ``README.txt`` and a sample script per format (``predict_onnx.py`` needs only
onnxruntime + numpy + pillow, ``predict_torchscript.py`` only torch + numpy + pillow,
``predict_safetensors.py`` uses segstudio).
"""

from __future__ import annotations

import copy
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segstudio.errors import ConfigError, ModelFileError, SegStudioError
from segstudio.io.atomic import atomic_write_bytes, atomic_write_text
from segstudio.io.formats import parse_format_list
from segstudio.models import SegmentationModel, UNetPlusPlus

FORMATS = ("safetensors", "torchscript", "onnx")
OPSET = 17
STEM = "model"
FILES = {"safetensors": f"{STEM}.safetensors", "torchscript": f"{STEM}_torchscript.pt",
         "onnx": f"{STEM}.onnx"}
SCRIPTS = {"safetensors": "predict_safetensors.py", "torchscript": "predict_torchscript.py",
           "onnx": "predict_onnx.py"}
INFO_FILE = "model_info.json"
INPUT_NAME, OUTPUT_NAME = "image", "logits"


class ExportError(SegStudioError):
    """A model cannot be exported (missing package, a graph that does not reproduce the model)."""


@dataclass(frozen=True)
class ModelExportSummary:
    out_dir: Path
    files: tuple[Path, ...]
    depth: int | None
    classes: tuple[str, ...]
    max_abs_diff: dict[str, float]   # exported graph vs PyTorch on a test input, per format

    def describe(self) -> str:
        at = f" at depth L{self.depth}" if self.depth is not None else ""
        names = ", ".join(p.name for p in self.files)
        return f"Model exported{at} to {self.out_dir}: {names}."


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """"a,b" or an iterable -> validated tuple in canonical order."""
    aliases = {"ts": "torchscript", "jit": "torchscript", "st": "safetensors",
               "segstudio": "safetensors"}
    return parse_format_list(formats, FORMATS, aliases, "model")


class ExportedModel(nn.Module):
    """Raw pixels in (N x C x H x W float32), logits out: normalisation + the (pruned) net."""

    mean: torch.Tensor   # buffers (1 x C x 1 x 1), registered in __init__
    std: torch.Tensor

    def __init__(self, model: SegmentationModel, mean: list[float] | None, std: list[float] | None,
                 depth: int | None) -> None:
        super().__init__()
        self.model = model
        self.depth = depth
        self.normalise = mean is not None
        c = model.in_channels
        self.register_buffer("mean", torch.tensor(mean or [0.0] * c,
                                                  dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(std or [1.0] * c,
                                                 dtype=torch.float32).view(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalise:
            x = (x - self.mean) / self.std
        if self.depth is not None:
            return self.model(x, depth=self.depth)
        return self.model(x)


def prune_copy(model: UNetPlusPlus, depth: int) -> UNetPlusPlus:
    """A copy of a U-Net++ holding only the modules ``forward(x, depth=depth)`` uses (the rest
    become Identity / are removed), so traced exports carry no unused weights."""
    m = copy.deepcopy(model)
    needed = set(m.node_names(depth))
    for i in range(depth + 1, len(m.encoder)):
        m.encoder[i] = nn.Identity()
    for key in list(m.nodes.keys()):
        if key not in needed:
            del m.nodes[key]
            del m.ups[key]
    for key in list(m.heads.keys()):
        if key != f"head_{depth}":
            del m.heads[key]
    return m


def _unetpp_at(model: SegmentationModel, depth: int) -> UNetPlusPlus:
    """``model`` as a U-Net++ that has a head at ``depth``; ConfigError otherwise."""
    if not isinstance(model, UNetPlusPlus):
        raise ConfigError(f"Only U-Net++ models can be cut to a depth; this is a "
                          f"{model.name or type(model).__name__} model "
                          "(export it without a depth).")
    if depth not in model.depths:
        raise ConfigError(f"This U-Net++ has heads at depths "
                          f"{', '.join(map(str, model.depths))}; depth {depth} cannot be "
                          "exported.")
    return model


def _check_depth(model: SegmentationModel, depth: int | None) -> int | None:
    if depth is None:
        return None
    _unetpp_at(model, depth)
    return int(depth)


def build_export_module(model: SegmentationModel, meta: dict[str, Any], depth: int | None,
                        bake_normalisation: bool = True) -> ExportedModel:
    """The module that TorchScript and ONNX exports trace (eval mode, CPU)."""
    depth = _check_depth(model, depth)
    net: SegmentationModel = (prune_copy(_unetpp_at(model, depth), depth)
                              if depth is not None else copy.deepcopy(model))
    norm = meta.get("normalisation")
    mean = std = None
    if bake_normalisation and norm:
        mean, std = [float(v) for v in norm["mean"]], [float(v) for v in norm["std"]]
        if len(mean) != model.in_channels or len(std) != model.in_channels:
            raise ModelFileError(f"The model's normalisation has {len(mean)} channel(s) but "
                                 f"the network takes {model.in_channels}.")
    return ExportedModel(net, mean, std, depth).eval()


def _example(channels: int, h: int = 64, w: int = 80) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, channels, h, w, generator=g) * 255.0


def _trace(module: nn.Module, x: torch.Tensor) -> torch.jit.ScriptModule:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.trace(module, (x,), check_trace=False)


def _onnx_bytes(module: nn.Module, x: torch.Tensor, info: dict[str, Any]) -> bytes:
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise ExportError("ONNX export needs the 'onnx' package: pip install onnx "
                          "(and onnxruntime to run the exported model).")
    import onnx

    # torch.onnx.export documents a file path; the graph goes through a temporary one.
    with tempfile.TemporaryDirectory(prefix="segstudio-onnx-") as tmp:
        path = Path(tmp) / FILES["onnx"]
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (x,), path, dynamo=False, opset_version=OPSET,
                do_constant_folding=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                              OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"}})
        proto = onnx.load_from_string(path.read_bytes())
    proto.producer_name = "segstudio"
    for key, value in (("segstudio", json.dumps(info)),
                       ("classes", json.dumps([c["name"] for c in info["classes"]]))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _max_diff(a: torch.Tensor, b: Any) -> float:
    b = torch.as_tensor(b)
    if tuple(a.shape) != tuple(b.shape):
        return float("inf")
    return float((a - b).abs().max())


def export_model(checkpoint: str | os.PathLike, out_dir: str | os.PathLike,
                 formats: str | Iterable[str] = FORMATS, depth: int | None = None, *,
                 bake_normalisation: bool = True,
                 progress: Callable[[str], None] | None = None) -> ModelExportSummary:
    """Export the segstudio checkpoint ``checkpoint`` (.safetensors with its .json) to
    ``out_dir`` in ``formats``; see the module docstring. Each traced graph is checked
    against the PyTorch model on an input of another size than the one it was traced with;
    a mismatch raises ExportError instead of leaving a wrong model behind."""
    from segstudio.inference.checkpoints import load_checkpoint, save_checkpoint

    fmts = parse_formats(formats)
    ck = load_checkpoint(Path(checkpoint), "cpu")
    model, meta = ck.model.eval(), ck.meta
    depth = _check_depth(model, depth)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = model_info(model, meta, depth, bake_normalisation, fmts, Path(ck.path).name)
    files: list[Path] = []
    diffs: dict[str, float] = {}
    say = progress or (lambda s: None)

    if "safetensors" in fmts:
        say("safetensors")
        m2 = copy.deepcopy(model)
        if depth is not None:
            _unetpp_at(m2, depth).set_inference("fast", depth)
        keep = {k: v for k, v in meta.items()
                if k not in ("format", "version", "architecture", "config", "saved",
                             "optimizer")}
        keep["exported_from"] = Path(ck.path).name
        if depth is not None:
            keep["export_depth"] = depth
        w = save_checkpoint(out / STEM, m2, keep)
        files += [w, w.with_suffix(".json")]

    if "torchscript" in fmts or "onnx" in fmts:
        module = build_export_module(model, meta, depth, bake_normalisation)
        x_trace = _example(model.in_channels)
        x_check = _example(model.in_channels, 45, 37)
        with torch.no_grad():
            ref = module(x_check)
        if "torchscript" in fmts:
            say("torchscript")
            traced = _trace(module, x_trace)
            with torch.no_grad():
                diffs["torchscript"] = _max_diff(ref, traced(x_check))
            _require_close("TorchScript", diffs["torchscript"])
            buf = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # still loads everywhere
                torch.jit.save(traced, buf, _extra_files={INFO_FILE: json.dumps(info)})
            p = out / FILES["torchscript"]
            atomic_write_bytes(p, buf.getvalue())
            files.append(p)
        if "onnx" in fmts:
            say("onnx")
            data = _onnx_bytes(module, x_trace, info)
            d = _onnxruntime_diff(data, x_check, ref)
            if d is not None:
                diffs["onnx"] = d
                _require_close("ONNX", d)
            p = out / FILES["onnx"]
            atomic_write_bytes(p, data)
            files.append(p)

    say("scripts")
    atomic_write_text(out / INFO_FILE, json.dumps(info, indent=1, ensure_ascii=False))
    files.append(out / INFO_FILE)
    if {"onnx", "torchscript"} & set(fmts):
        p = out / COMMON_SCRIPT
        atomic_write_text(p, _resource_text(COMMON_SCRIPT))
        files.append(p)
    for f in fmts:
        p = out / SCRIPTS[f]
        atomic_write_text(p, sample_script(f))
        files.append(p)
    atomic_write_text(out / "README.txt", readme(info))
    files.append(out / "README.txt")
    return ModelExportSummary(out, tuple(files), depth,
                              tuple(c["name"] for c in info["classes"]), diffs)


def _require_close(what: str, diff: float) -> None:
    if not diff <= 1e-3:  # also catches NaN
        raise ExportError(f"The {what} export does not reproduce the model (largest logit "
                          f"difference {diff:.3g}); nothing was written for it. Please report "
                          "this with the model's architecture.")


def _onnxruntime_diff(data: bytes, x: torch.Tensor, ref: torch.Tensor) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {INPUT_NAME: x.numpy()})
    return _max_diff(ref, y)


def model_info(model: SegmentationModel, meta: dict[str, Any], depth: int | None, baked: bool,
               formats: Iterable[str], source: str = "") -> dict[str, Any]:
    norm = meta.get("normalisation") or {"mean": [0.0] * model.in_channels,
                                         "std": [1.0] * model.in_channels}
    out_ch = int(getattr(model, "out_channels", 0)) or len(meta["classes"])
    binary = out_ch == 1
    return {
        "format": "segstudio-export", "version": 1,
        "architecture": meta.get("architecture", getattr(model, "name", "")),
        "config": meta.get("config", {}),
        "depth": depth,
        "source_checkpoint": source,
        "classes": [{"index": i, "name": c["name"], "color": c.get("color", "#000000")}
                    for i, c in enumerate(meta["classes"])],
        "channels": int(model.in_channels),
        "binary": binary,
        "normalisation": {"mean": [float(v) for v in norm["mean"]],
                          "std": [float(v) for v in norm["std"]]},
        "normalisation_in_graph": bool(baked),
        "input": {"name": INPUT_NAME, "dtype": "float32",
                  "shape": ["batch", int(model.in_channels), "height", "width"],
                  "values": "raw pixel values in the image's own range" if baked else
                            "(pixel - mean) / std per channel"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32",
                   "shape": ["batch", out_ch, "height", "width"],
                   "values": "logit of class 1 (class 1 where > 0)" if binary else
                             "class logits (label = argmax over channels)"},
        "files": {f: FILES[f] for f in formats},
        "metrics": {k: v for k, v in (meta.get("metrics") or {}).items()
                    if isinstance(v, (int, float, str))} if isinstance(meta.get("metrics"), dict)
                   else {},
    }


def readme(info: dict[str, Any]) -> str:
    cls = "\n".join(f"  {c['index']:3d}  {c['name']}  {c['color']}" for c in info["classes"])
    depth = f" cut to depth L{info['depth']}" if info["depth"] is not None else ""
    c = info["channels"]
    chan = {1: "1 (grey; colour images are converted to luminance)",
            3: "3 (RGB; grey images are repeated, alpha is dropped)"}.get(c, str(c))
    norm = info["normalisation"]
    if info["normalisation_in_graph"]:
        feed = ("raw pixel values as float32, in the image's own range (0..255 for 8-bit,\n"
                "0..65535 for 16-bit images): the normalisation is part of the graph.")
    else:
        feed = (f"normalised pixels: (pixel - mean) / std per channel, with\n"
                f"  mean = {norm['mean']}\n  std  = {norm['std']}")
    out = ("logits, N x 1 x H x W: the logit of class 1; a pixel is class 1 where it is > 0."
           if info["binary"] else
           f"logits, N x {len(info['classes'])} x H x W; the label of a pixel is the argmax "
           "over channels.")
    files = info["files"]
    lines = [
        f"segstudio model export: {info['architecture']}{depth}",
        "",
        "Classes (mask value, name, colour):",
        cls,
        "",
        f"Input:  N x {c} x H x W float32, any H and W. Channels: {chan}.",
        f"        Feed {feed}",
        f"Output: {out}",
        "",
        "Files and how to run them (each script writes one indexed PNG per image: pixel",
        "value = class index, palette = class colours):",
    ]
    if "onnx" in files:
        lines += ["", f"  {files['onnx']}  ONNX (opset {OPSET}), dynamic batch/height/width.",
                  "    pip install onnxruntime numpy pillow",
                  "    python predict_onnx.py IMAGE [IMAGE ...] --out masks/"]
    if "torchscript" in files:
        lines += ["", f"  {files['torchscript']}  TorchScript; needs only PyTorch:",
                  f"    model = torch.jit.load('{files['torchscript']}'); logits = model(x)",
                  "    python predict_torchscript.py IMAGE [IMAGE ...] --out masks/ "
                  "[--device cuda]"]
    if "safetensors" in files:
        lines += ["", f"  {files['safetensors']} + {STEM}.json  segstudio checkpoint (weights +",
                  "    description); open it in segstudio's Model menu, or:",
                  f"    segstudio predict {files['safetensors']} IMAGE [IMAGE ...] --out masks/",
                  "    python predict_safetensors.py IMAGE [IMAGE ...] --out masks/"]
    lines += ["", "The scripts run each image whole (memory grows with image size); segstudio",
              "itself predicts large images in overlapping 512-pixel tiles, so on large",
              "images a few pixels near tile seams may differ.",
              "", f"{INFO_FILE} holds all of the above in machine-readable form.", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------- sample scripts
# Real files in segstudio/resources/export_scripts/ (package data): the ONNX and TorchScript
# scripts need no segstudio, only predict_common.py beside them; the safetensors one shows
# the segstudio API.
COMMON_SCRIPT = "predict_common.py"


def sample_script(fmt: str) -> str:
    """The sample inference script written next to an export in format ``fmt``."""
    if fmt not in SCRIPTS:
        raise ConfigError(f"Unknown model format {fmt!r}.")
    return _resource_text(SCRIPTS[fmt])


def _resource_text(name: str) -> str:
    from importlib.resources import files

    return (files("segstudio.resources") / "export_scripts" / name).read_text(encoding="utf-8")
