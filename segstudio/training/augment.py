"""Random training patches with augmentation: flips, 90-degree rotations, scale and intensity
jitter. Numpy + OpenCV on the CPU; a batch of 8 patches of 256^2 costs a few milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.inference.preprocess import Normalisation
from segstudio.training.data import Sample


@dataclass(frozen=True)
class AugmentConfig:
    flips: bool = True
    rotate90: bool | str = "auto"  # auto: on for grey images, off for colour (defaults.py)
    scale: tuple[float, float] = (0.8, 1.25)   # (1, 1) = off
    brightness: float = 0.1    # +- shift, in units of the normalised std
    contrast: float = 0.15     # x (1 +- contrast)
    labelled_centre_prob: float = 0.9  # patch centred on a labelled pixel vs anywhere
    elastic: float = 0.0       # std (pixels) of the U-Net paper's 3x3-grid displacements; 0 = off
    class_balance: float = 0.5  # share of patches centred on a uniformly drawn class


def crop_padded(a: np.ndarray, y0: int, x0: int, h: int, w: int, fill: int | None) -> np.ndarray:
    """a[y0:y0+h, x0:x0+w] where the window may leave the array: outside pixels are the
    constant ``fill`` or, with fill=None, mirrored (reflect-101)."""
    H, W = a.shape[:2]
    ya, xa = max(y0, 0), max(x0, 0)
    yb, xb = min(y0 + h, H), min(x0 + w, W)
    part = a[ya:yb, xa:xb]
    pads = [(ya - y0, y0 + h - yb), (xa - x0, x0 + w - xb)] + [(0, 0)] * (a.ndim - 2)
    if all(p == (0, 0) for p in pads):
        return part
    if fill is None:
        return np.pad(part, pads, mode="reflect")  # numpy repeats the reflection as needed
    return np.pad(part, pads, mode="constant", constant_values=fill)


class PatchSampler:
    def __init__(self, samples: list[Sample], norm: Normalisation, patch: int,
                 aug: AugmentConfig, seed: int = 0):
        self.samples, self.norm, self.patch, self.aug = samples, norm, patch, aug
        self.rng = np.random.default_rng(seed)
        weights = np.array([max(s.labelled_pixels, 1) for s in samples], np.float64)
        # Images with more labels are drawn more often, but sparsely labelled ones still appear.
        self.p = np.sqrt(weights) / np.sqrt(weights).sum()
        # Class-balanced draws (nnU-Net's foreground oversampling, for every class): how many
        # patch centres of each class each image holds.
        self.centre_classes = [s.mask[s.centres[:, 0], s.centres[:, 1]] if len(s.centres)
                               else np.zeros(0, np.uint8) for s in samples]
        self.class_counts = np.stack([np.bincount(c, minlength=256)[:255]
                                      for c in self.centre_classes]).astype(np.float64)
        self.classes = np.flatnonzero(self.class_counts.sum(0))

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n x C x P x P float32 images and n x P x P int64 targets (255 = ignore)."""
        xs, ys = zip(*(self.one() for _ in range(n)), strict=False)
        return np.stack(xs), np.stack(ys).astype(np.int64)

    def one(self) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        rng, aug, P = self.rng, self.aug, self.patch
        centre = None
        if aug.class_balance and len(self.classes) and rng.random() < aug.class_balance:
            k = self.classes[rng.integers(len(self.classes))]
            col = self.class_counts[:, k]
            i = int(rng.choice(len(self.samples), p=col / col.sum()))
            s = self.samples[i]
            of_k = np.flatnonzero(self.centre_classes[i] == k)
            centre = s.centres[of_k[rng.integers(len(of_k))]]
        else:
            s = self.samples[rng.choice(len(self.samples), p=self.p)]
        H, W = s.train_mask.shape
        scale = float(np.exp(rng.uniform(np.log(aug.scale[0]), np.log(aug.scale[1])))) \
            if aug.scale[0] != aug.scale[1] else 1.0
        win = max(2, int(round(P * scale)))
        if centre is None and len(s.centres) and rng.random() < aug.labelled_centre_prob:
            centre = s.centres[rng.integers(len(s.centres))]
        if centre is not None:
            cy, cx = centre
            # Jitter so the labelled pixel is not always in the middle.
            cy += int(rng.integers(-win // 3, win // 3 + 1))
            cx += int(rng.integers(-win // 3, win // 3 + 1))
        else:
            cy, cx = int(rng.integers(H)), int(rng.integers(W))
        y0, x0 = cy - win // 2, cx - win // 2
        img = crop_padded(s.image, y0, x0, win, win, fill=None)
        msk = crop_padded(s.train_mask, y0, x0, win, win, fill=UNLABELLED)
        if win != P:
            img = cv2.resize(img, (P, P), interpolation=cv2.INTER_LINEAR)
            if img.ndim == 2:
                img = img[:, :, None]
            msk = cv2.resize(msk, (P, P), interpolation=cv2.INTER_NEAREST)
        if aug.elastic > 0:
            img, msk = elastic_warp(img, msk, aug.elastic, rng)
        x = self.norm.apply(img)
        y = msk
        if aug.rotate90 is True:
            k = int(rng.integers(4))
            x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
        if aug.flips and rng.random() < 0.5:
            x, y = x[:, :, ::-1], y[:, ::-1]
        if aug.contrast or aug.brightness:
            c = 1 + rng.uniform(-aug.contrast, aug.contrast)
            b = rng.uniform(-aug.brightness, aug.brightness)
            x = x * np.float32(c) + np.float32(b)
        return np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y)


def elastic_warp(img: np.ndarray, msk: np.ndarray, sigma: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The U-Net paper's elastic deformation: random displacements on a coarse 3 x 3 grid
    (normal, std ``sigma`` pixels) interpolated bicubically to every pixel. Pixels pulled from
    outside the patch are mirrored in the image and unlabelled (ignored) in the mask."""
    import cv2

    h, w = msk.shape
    grid = rng.normal(0.0, sigma, (2, 3, 3)).astype(np.float32)
    dx = cv2.resize(grid[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(grid[1], (w, h), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = xs + dx, ys + dy
    squeeze = img.ndim == 3 and img.shape[2] == 1
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if squeeze and out.ndim == 2:
        out = out[:, :, None]
    m = cv2.remap(msk, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                  borderValue=UNLABELLED)
    return out, m
