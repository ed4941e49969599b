"""Checkpoints: safetensors weights + a JSON sidecar. Never pickle.

``<stem>.safetensors`` holds the model's tensors; ``<stem>.json`` says how to rebuild the model
(architecture, its config), what it predicts (classes), how to feed it (channels,
normalisation) and how well it did (metrics). Optimizer state for resuming lives in
``<stem>.optim.safetensors`` (tensors) with its scalars in the JSON. All files of a checkpoint
are written before any replaces its previous version (``atomic_write_many``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segstudio.errors import ModelFileError
from segstudio.io.atomic import atomic_write_many
from segstudio.io.jsonfile import JSONFileError, read_json
from segstudio.models import SegmentationModel

FORMAT = "segstudio-checkpoint"
FORMAT_VERSION = 1
# A sidecar describes one model in a few kB; 16 MB is far beyond any real one.
MAX_SIDECAR_BYTES = 16 << 20


@dataclass
class Checkpoint:
    model: SegmentationModel
    meta: dict[str, Any]
    path: Path

    @property
    def classes(self) -> list[dict]:
        return self.meta["classes"]

    @property
    def architecture(self) -> str:
        return self.meta["architecture"]


# Names of pickle-based formats (torch.save, pickle, Lightning): refused by name, never opened.
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


def _stem(path: str | Path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p


def _refuse_pickle(path: str | Path) -> None:
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise ModelFileError(f"{Path(path).name}: segstudio loads only .safetensors models; "
                             "pickled PyTorch files can run code and are never opened.")


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any],
                    optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write weights, sidecar and (optionally) optimizer state; returns the weights path.
    The sidecar is written last, so a sidecar always describes complete weights."""
    from safetensors.torch import save

    stem = _stem(path)
    weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    files = [(stem.with_suffix(".safetensors"), save(weights))]
    sidecar = {"format": FORMAT, "version": FORMAT_VERSION,
               "architecture": getattr(model, "name", type(model).__name__),
               "config": getattr(model, "config", {}), "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
               **meta}
    if optimizer is not None:
        tensors, scalars = _optimizer_state(optimizer)
        files.append((stem.with_suffix(".optim.safetensors"), save(tensors)))
        sidecar["optimizer"] = scalars
    files.append((stem.with_suffix(".json"), json.dumps(sidecar, indent=1).encode("utf-8")))
    # All written before any is replaced: a full disk leaves the previous checkpoint whole.
    atomic_write_many(files)
    return stem.with_suffix(".safetensors")


def update_meta(path: str | Path, **fields: Any) -> None:
    """Add or replace fields of a saved checkpoint's sidecar (atomically; the weights are
    not touched): the object thresholds chosen when a run ends."""
    side = _stem(path).with_suffix(".json")
    meta = read_meta(path)
    meta.update(fields)
    atomic_write_many([(side, json.dumps(meta, indent=1).encode("utf-8"))])


def read_meta(path: str | Path) -> dict[str, Any]:
    """The sidecar of a model, checked: every field segstudio reads has the right type, so a
    hand-edited or hostile sidecar is a ModelFileError, never a crash further on."""
    _refuse_pickle(path)
    stem = _stem(path)
    side = stem.with_suffix(".json")
    try:
        meta = read_json(side, MAX_SIDECAR_BYTES)
    except FileNotFoundError:
        raise ModelFileError(f"{side.name} is missing: a segstudio model is a .safetensors file "
                             "with a .json file of the same name beside it.") from None
    except JSONFileError as exc:
        raise ModelFileError(f"{side.name} is not a readable model description "
                             f"({exc.reason}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{side.name} is not a segstudio model description.")
    version = meta.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{side.name}: 'version' is not a number.")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{side.name} was written by a newer segstudio; please update.")
    for key in ("architecture", "config", "classes"):
        if key not in meta:
            raise ModelFileError(f"{side.name} lacks '{key}'.")
    _check_meta(side.name, meta)
    return meta


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_meta(name: str, meta: dict[str, Any]) -> None:
    from segstudio.core.classes import ClassInfo
    from segstudio.errors import ConfigError

    if not isinstance(meta["architecture"], str):
        raise ModelFileError(f"{name}: 'architecture' must be a model name.")
    if not isinstance(meta["config"], dict):
        raise ModelFileError(f"{name}: 'config' must be an object of model options.")
    classes = meta["classes"]
    if not isinstance(classes, list) or not classes or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str)
            and isinstance(c.get("color"), str) for c in classes):
        raise ModelFileError(f"{name}: 'classes' must be a list of {{name, color}} entries.")
    try:
        for c in classes:
            ClassInfo(c["name"], c["color"])
    except ConfigError as exc:
        raise ModelFileError(f"{name}: classes: {exc}") from None
    channels = meta.get("channels")
    if channels is not None and (not isinstance(channels, int) or isinstance(channels, bool)
                                 or not 1 <= channels <= 64):
        raise ModelFileError(f"{name}: 'channels' must be a small whole number.")
    norm = meta.get("normalisation")
    if norm is not None:
        ok = (isinstance(norm, dict) and isinstance(norm.get("mean"), list)
              and isinstance(norm.get("std"), list) and norm["mean"]
              and len(norm["mean"]) == len(norm["std"])
              and all(_is_number(v) for v in norm["mean"])
              and all(_is_number(v) and v > 0 for v in norm["std"])
              and (channels is None or len(norm["mean"]) == channels))
        if not ok:
            raise ModelFileError(f"{name}: 'normalisation' must give a mean and a positive std "
                                 "per input channel.")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from the sidecar and load the weights, checking every name and shape.
    Only safetensors is read: a pickle (.pt/.pth) is refused without being opened by torch."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from segstudio.errors import ConfigError
    from segstudio.models import create_model

    _refuse_pickle(path)
    stem = _stem(path)
    wpath = stem.with_suffix(".safetensors")
    meta = read_meta(stem)
    side = stem.with_suffix(".json").name
    try:
        # The sidecar could ask for a model of any size: build it without memory first
        # ("meta" tensors have shapes only), compare with the weights file, and only then
        # for real, when the file on disk bounds what it costs.
        with torch.device("meta"):
            skeleton = create_model(meta["architecture"], **meta["config"])
    except ConfigError as exc:
        raise ModelFileError(f"{side}: {exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{side}: invalid model configuration ({exc}).") from None
    try:
        with safe_open(str(wpath), "pt", device="cpu") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except FileNotFoundError:
        raise ModelFileError(f"{wpath.name} is missing.") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{wpath.name} is not a readable safetensors file ({exc}).") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    del skeleton
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    wrong = [k for k in expected if k in shapes and shapes[k] != expected[k]]
    if missing or extra or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} tensor(s) missing (e.g. {missing[0]})")
        if extra:
            detail.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if wrong:
            k = wrong[0]
            detail.append(f"{len(wrong)} of the wrong shape (e.g. {k}: "
                          f"{shapes[k]} instead of {expected[k]})")
        raise ModelFileError(f"{wpath.name} does not match its description: " +
                             "; ".join(detail) + ".")
    model = create_model(meta["architecture"], **meta["config"])
    in_ch = getattr(model, "in_channels", None)
    if meta.get("channels") is not None and in_ch is not None and meta["channels"] != in_ch:
        raise ModelFileError(f"{side} says the model takes {meta['channels']} input "
                             f"channel(s), but its weights take {in_ch}.")
    try:
        state = load_file(str(wpath), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{wpath.name} is not a readable safetensors file ({exc}).") from None
    model.load_state_dict(state)
    model.to(device).eval()
    return Checkpoint(model, meta, wpath)


def load_optimizer_state(path: str | Path, optimizer: torch.optim.Optimizer) -> bool:
    """Restore optimizer state saved with the checkpoint; False if there is none."""
    from safetensors.torch import load_file

    stem = _stem(path)
    opath = stem.with_suffix(".optim.safetensors")
    meta = read_meta(stem)
    if "optimizer" not in meta or not opath.exists():
        return False
    tensors = load_file(str(opath))
    scalars = meta["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = t
    for idx, d in scalars.get("state_scalars", {}).items():
        state.setdefault(int(idx), {}).update(d)
    groups = optimizer.state_dict()["param_groups"]
    for g, saved in zip(groups, scalars.get("param_groups", []), strict=False):
        g.update({k: v for k, v in saved.items() if k != "params"})
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    return True


def _optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state_scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{idx}.{name}"] = v.detach().to("cpu").contiguous()
            else:
                state_scalars.setdefault(str(idx), {})[name] = v
    groups = [{k: v for k, v in g.items() if isinstance(v, (int, float, str, bool, list, tuple))
               or v is None} for g in sd["param_groups"]]
    return tensors, {"state_scalars": state_scalars, "param_groups": groups}
