"""How images are fed to a model: channels (grey or colour) and per-channel normalisation.

Shared by training (which computes the normalisation) and inference (which applies the one a
checkpoint records), so an image is prepared the same way in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """Per-channel mean and std of the training images, in raw pixel units."""
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, image: np.ndarray) -> np.ndarray:
        """H x W x C (any dtype) -> C x H x W float32."""
        x = image.astype(np.float32)
        m = np.asarray(self.mean, np.float32)
        s = np.asarray(self.std, np.float32)
        return np.ascontiguousarray(((x - m) / s).transpose(2, 0, 1))

    def to_json(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, d: dict) -> Normalisation:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))


def as_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Bring any decoded image to H x W x channels (1 = grey, 3 = colour); alpha is dropped."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if channels == 1 and image.shape[2] == 3:
        # Luminance, kept in the source dtype's range.
        image = (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]
    elif channels == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image
