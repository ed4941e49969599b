"""Sliding-window inference with overlapping tiles and smooth blending, for any image size,
in bounded memory.

Tiles are weighted by a separable raised-cosine window (never exactly zero), so seams vanish.
Tiles are processed one row of tiles at a time; the blended probabilities of rows that no later
tile touches are turned into labels at once, so memory holds one band of tile height, not the
whole K x H x W probability volume. Pixels are normalised per tile from the raw image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segstudio.errors import ConfigError
from segstudio.models import UNetPlusPlus


@dataclass
class Prediction:
    labels: np.ndarray                 # H x W uint8 class index
    confidence: np.ndarray             # H x W uint8, probability of the chosen class x 255
    probabilities: np.ndarray | None = None   # K x H x W float32 when asked for
    instances: np.ndarray | None = None        # instance models: H x W uint32 object ids
    object_classes: dict[int, int] | None = None  # instance models: id -> class


def _window(n: int, overlap: int) -> np.ndarray:
    w = np.ones(n, np.float32)
    if overlap > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
        w[:overlap] = np.maximum(ramp, 1e-3)
        w[-overlap:] = np.maximum(ramp[::-1], 1e-3)
    return w


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    return sorted(set(list(range(0, size - tile, stride)) + [size - tile]))


def _heads_model(model: nn.Module) -> UNetPlusPlus:
    """The model as a U-Net++: only it has several heads to predict with at once."""
    if not isinstance(model, UNetPlusPlus):
        raise ConfigError(f"Every head's prediction needs a U-Net++ model, not "
                          f"{getattr(model, 'name', '') or type(model).__name__}.")
    return model


def logits_to_labels(logits: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) logits -> (N, H, W) int64 labels: argmax, or logit > 0 for one channel."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(1)


def to_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) logits -> (N, K, H, W) probabilities; binary (C=1) gives K=2."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits.float())
        return torch.cat([1 - p, p], 1)
    return F.softmax(logits.float(), 1)


@torch.no_grad()
def predict_tiled(model: nn.Module, image: np.ndarray,
                  normalise: Callable[[np.ndarray], np.ndarray] | None = None, *,
                  tile: int = 512, overlap: int = 64, device: torch.device | str = "cpu",
                  depth: int | None = None, batch_size: int = 4, amp: bool = False,
                  keep_probabilities: bool = False, tta: bool = False,
                  all_heads: bool = False,
                  progress: Callable[[float], bool | None] | None = None) -> Prediction:
    """Predict a whole image.

    image: H x W x C raw pixels with ``normalise`` (H x W x C -> C x H x W float32), or an
    already normalised C x H x W float32 array when ``normalise`` is None.
    progress(fraction) is called after each row of tiles; returning False cancels (raises
    InterruptedError). tta averages the probabilities of the 8 flips and 90-degree rotations of
    every tile (8x the time; the U-Net paper's ISBI figure averaged rotations too).
    all_heads (models with ``combine_heads``, i.e. U-Net++): one pass gives every head's
    probabilities, stacked head by head before the default output's, in ``probabilities``
    ((heads + 1) * K channels); labels and confidence are the default output's."""
    device = torch.device(device)
    if normalise is None:
        C, H, W = image.shape

        def cut(y: int, x: int, h: int, w: int) -> np.ndarray:
            return image[:, y:y + h, x:x + w]
    else:
        H, W = image.shape[:2]

        def cut(y: int, x: int, h: int, w: int) -> np.ndarray:
            return normalise(image[y:y + h, x:x + w])
    kwargs = {"depth": depth} if depth is not None else {}
    heads_model = _heads_model(model) if all_heads else None

    def run(batch: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(np.stack(batch))).to(device)
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            if heads_model is not None:
                heads = heads_model(x, return_all=True).heads
                views = [*heads, heads_model.combine_heads(heads)]
                return torch.cat([to_probabilities(v) for v in views], 1).cpu().numpy()
            if not tta:
                return to_probabilities(model(x, **kwargs)).cpu().numpy()
            total: torch.Tensor | None = None
            for k in range(4):
                for flip in (False, True):
                    t = torch.rot90(x, k, (2, 3))
                    t = t.flip(3) if flip else t
                    p = to_probabilities(model(t, **kwargs))
                    p = p.flip(3) if flip else p
                    p = torch.rot90(p, -k, (2, 3))
                    total = p if total is None else total + p
            assert total is not None
            return (total / 8).cpu().numpy()

    th, tw = min(tile, H), min(tile, W)
    ov_y = min(overlap, th // 2) if H > th else 0
    ov_x = min(overlap, tw // 2) if W > tw else 0
    weight = _window(th, ov_y)[:, None] * _window(tw, ov_x)[None, :]
    ys, xs = _starts(H, th, th - ov_y), _starts(W, tw, tw - ov_x)
    if all_heads:
        keep_probabilities = True
    labels = np.empty((H, W), np.uint8)
    conf = np.empty((H, W), np.uint8)
    probs_out: np.ndarray | None = None
    band: np.ndarray | None = None            # K x th x W, rows [y0, y0 + th)
    wband = np.zeros((th, W), np.float32)
    for i, y0 in enumerate(ys):
        for j in range(0, len(xs), batch_size):
            chunk = xs[j:j + batch_size]
            probs = run([cut(y0, x, th, tw) for x in chunk])
            if band is None:
                n_classes = probs.shape[1] // (len(heads_model.depths) + 1) \
                    if heads_model is not None else probs.shape[1]
                band = np.zeros((probs.shape[1], th, W), np.float32)
                if keep_probabilities:
                    probs_out = np.empty((probs.shape[1], H, W), np.float32)
            for x, p in zip(chunk, probs, strict=False):
                band[:, :, x:x + tw] += p * weight
                wband[:, x:x + tw] += weight
        assert band is not None
        next_y = ys[i + 1] if i + 1 < len(ys) else y0 + th
        n = next_y - y0                       # rows no later tile will touch
        final = band[:, :n] / wband[None, :n]
        shown = final[-n_classes:] if all_heads else final
        labels[y0:next_y] = shown.argmax(0)
        conf[y0:next_y] = np.clip(shown.max(0) * 255 + 0.5, 0, 255).astype(np.uint8)
        if probs_out is not None:
            probs_out[:, y0:next_y] = final
        keep = th - n
        band[:, :keep] = band[:, n:n + keep]
        band[:, keep:] = 0
        wband[:keep] = wband[n:n + keep]
        wband[keep:] = 0
        if progress is not None and progress((i + 1) / len(ys)) is False:
            raise InterruptedError("prediction cancelled")
    return Prediction(labels, conf, probs_out)


def predict_probabilities(model: nn.Module, image: np.ndarray, *, tile: int = 512,
                          overlap: int = 64, device: torch.device | str = "cpu",
                          depth: int | None = None, batch_size: int = 4,
                          amp: bool = False, tta: bool = False) -> np.ndarray:
    """image: C x H x W float32 (normalised). Returns K x H x W float32 class probabilities."""
    pred = predict_tiled(model, image, None, tile=tile, overlap=overlap, device=device,
                         depth=depth, batch_size=batch_size, amp=amp, keep_probabilities=True,
                         tta=tta)
    assert pred.probabilities is not None
    return pred.probabilities


def predict_heads(model: nn.Module, image: np.ndarray, *, tile: int = 512, overlap: int = 64,
                  device: torch.device | str = "cpu",
                  amp: bool = False) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """U-Net++ in one tiled pass: (default output's K x H x W probabilities, {depth: K x H x W})
    for a normalised C x H x W image. Equal to one predict_probabilities call per depth (each
    head's nodes are the same sub-network), at the cost of one."""
    depths = _heads_model(model).depths
    pred = predict_tiled(model, image, None, tile=tile, overlap=overlap, device=device, amp=amp,
                         all_heads=True)
    assert pred.probabilities is not None
    views = np.split(pred.probabilities, len(depths) + 1, axis=0)
    return views[-1], dict(zip(depths, views[:-1], strict=False))
