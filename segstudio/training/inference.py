"""Sliding-window inference with overlapping tiles and smooth blending, for any image size.

Tiles are weighted by a separable raised-cosine window (never exactly zero), so seams between
tiles vanish; an image that fits in one tile is run whole (the model pads internally).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted(set(starts))


def to_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) logits -> (N, K, H, W) probabilities; binary (C=1) gives K=2."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits.float())
        return torch.cat([1 - p, p], 1)
    return F.softmax(logits.float(), 1)


@torch.no_grad()
def predict_probabilities(model: nn.Module, image: np.ndarray, *, tile: int = 512,
                          overlap: int = 64, device: torch.device | str = "cpu",
                          depth: int | None = None, batch_size: int = 4,
                          amp: bool = False) -> np.ndarray:
    """image: C x H x W float32 (normalised). Returns K x H x W float32 class probabilities."""
    device = torch.device(device)
    C, H, W = image.shape
    kwargs = {"depth": depth} if depth is not None else {}

    def run(batch: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            out = model(x, **kwargs)
        return to_probabilities(out).cpu()

    if H <= tile and W <= tile:
        return run(image[None])[0].numpy()
    th, tw = min(tile, H), min(tile, W)
    ov = min(overlap, th // 2, tw // 2)
    wy, wx = _window(th, ov if H > th else 0), _window(tw, ov if W > tw else 0)
    weight_tile = wy[:, None] * wx[None, :]
    acc: np.ndarray | None = None
    wsum = np.zeros((H, W), np.float32)
    coords = [(y, x) for y in _starts(H, th, th - ov) for x in _starts(W, tw, tw - ov)]
    for i in range(0, len(coords), batch_size):
        chunk = coords[i:i + batch_size]
        probs = run(np.stack([image[:, y:y + th, x:x + tw] for y, x in chunk])).numpy()
        if acc is None:
            acc = np.zeros((probs.shape[1], H, W), np.float32)
        for (y, x), p in zip(chunk, probs):
            acc[:, y:y + th, x:x + tw] += p * weight_tile
            wsum[y:y + th, x:x + tw] += weight_tile
    assert acc is not None
    acc /= wsum[None]
    return acc
