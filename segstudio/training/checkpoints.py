"""Checkpoints: safetensors weights + a JSON sidecar. Never pickle.

``<stem>.safetensors`` holds the model's tensors; ``<stem>.json`` says how to rebuild the model
(architecture, its config), what it predicts (classes), how to feed it (channels,
normalisation) and how well it did (metrics). Optimizer state for resuming lives in
``<stem>.optim.safetensors`` (tensors) with its scalars in the JSON. All writes are atomic.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segstudio.errors import ModelFileError
from segstudio.io.atomic import atomic_write_bytes, atomic_write_text

FORMAT = "segstudio-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    model: nn.Module
    meta: dict[str, Any]
    path: Path

    @property
    def classes(self) -> list[dict]:
        return self.meta["classes"]

    @property
    def architecture(self) -> str:
        return self.meta["architecture"]


def _stem(path: str | Path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any],
                    optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write weights, sidecar and (optionally) optimizer state; returns the weights path.
    The sidecar is written last, so a sidecar always describes complete weights."""
    from safetensors.torch import save

    stem = _stem(path)
    weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(stem.with_suffix(".safetensors"), save(weights))
    sidecar = {"format": FORMAT, "version": FORMAT_VERSION,
               "architecture": getattr(model, "name", type(model).__name__),
               "config": getattr(model, "config", {}), "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
               **meta}
    if optimizer is not None:
        tensors, scalars = _optimizer_state(optimizer)
        atomic_write_bytes(stem.with_suffix(".optim.safetensors"), save(tensors))
        sidecar["optimizer"] = scalars
    atomic_write_text(stem.with_suffix(".json"), json.dumps(sidecar, indent=1))
    return stem.with_suffix(".safetensors")


def read_meta(path: str | Path) -> dict[str, Any]:
    stem = _stem(path)
    side = stem.with_suffix(".json")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{side.name} is missing: a segstudio model is a .safetensors file "
                             "with a .json file of the same name beside it.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{side.name} is not a readable model description ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{side.name} is not a segstudio model description.")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise ModelFileError(f"{side.name} was written by a newer segstudio; please update.")
    for key in ("architecture", "config", "classes"):
        if key not in meta:
            raise ModelFileError(f"{side.name} lacks '{key}'.")
    return meta


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from the sidecar and load the weights, checking every name and shape.
    Only safetensors is read: a pickle (.pt/.pth) is refused without being opened by torch."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from segstudio.errors import ConfigError
    from segstudio.models import create_model

    stem = _stem(path)
    wpath = stem.with_suffix(".safetensors")
    if Path(path).suffix in (".pt", ".pth", ".pkl", ".ckpt", ".bin"):
        raise ModelFileError(f"{Path(path).name}: segstudio loads only .safetensors models; "
                             "pickled PyTorch files can run code and are never opened.")
    meta = read_meta(stem)
    try:
        model = create_model(meta["architecture"], **meta["config"])
    except ConfigError as exc:
        raise ModelFileError(f"{stem.with_suffix('.json').name}: {exc}") from None
    try:
        state = load_file(str(wpath), device="cpu")
    except FileNotFoundError:
        raise ModelFileError(f"{wpath.name} is missing.") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{wpath.name} is not a readable safetensors file ({exc}).") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or extra or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} tensor(s) missing (e.g. {missing[0]})")
        if extra:
            detail.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if wrong:
            k = wrong[0]
            detail.append(f"{len(wrong)} of the wrong shape (e.g. {k}: "
                          f"{tuple(state[k].shape)} instead of {tuple(expected[k].shape)})")
        raise ModelFileError(f"{wpath.name} does not match its description: " +
                             "; ".join(detail) + ".")
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
    for g, saved in zip(groups, scalars.get("param_groups", [])):
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
