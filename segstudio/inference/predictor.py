"""A trained model ready to segment raw images: loads a checkpoint, feeds images the way it was
trained (channels, normalisation), runs tiled inference. Shared by the window and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from segstudio.inference.checkpoints import Checkpoint, load_checkpoint
from segstudio.inference.devices import resolve_device
from segstudio.inference.instance_model import is_instance_meta, object_maps, semantic_labels
from segstudio.inference.instance_postprocess import (
    InstanceParams,
    classes_of_objects,
    instances_from_probs_tiled,
)
from segstudio.inference.preprocess import Normalisation, as_channels
from segstudio.inference.tiling import Prediction, predict_tiled
from segstudio.models import SegmentationModel


@dataclass
class Predictor:
    checkpoint: Checkpoint
    device: torch.device
    norm: Normalisation
    channels: int
    tile: int = 512
    overlap: int = 64

    @classmethod
    def load(cls, path: str | Path, device: str = "auto", tile: int = 512,
             overlap: int = 64) -> Predictor:
        dev = resolve_device(device)
        ck = load_checkpoint(path, dev)
        meta = ck.meta
        channels = int(meta.get("channels", ck.model.in_channels))
        norm = Normalisation.from_json(meta["normalisation"]) if "normalisation" in meta \
            else Normalisation((0.0,) * channels, (1.0,) * channels)
        return cls(ck, dev, norm, channels, tile, overlap)

    @property
    def model(self) -> SegmentationModel:
        return self.checkpoint.model

    @property
    def class_names(self) -> list[str]:
        return [c["name"] for c in self.checkpoint.classes]

    @property
    def is_instances(self) -> bool:
        return is_instance_meta(self.checkpoint.meta)

    @property
    def instance_params(self) -> InstanceParams:
        """The object thresholds chosen when the model's run ended (defaults before)."""
        raw = self.checkpoint.meta.get("instance_params")
        return InstanceParams.from_json(raw) if isinstance(raw, dict) else InstanceParams()

    @property
    def depths(self) -> list[int]:
        return list(getattr(self.model, "depths", []) or [])

    def predict(self, image: np.ndarray, depth: int | None = None,
                progress: Callable[[float], bool | None] | None = None,
                keep_probabilities: bool = False, tta: bool = False) -> Prediction:
        """image: a decoded image (H x W, H x W x 3/4, any dtype) -> labels and confidence."""
        if depth is not None and depth not in self.depths:
            depth = None
        img = as_channels(image, self.channels)
        pred = predict_tiled(self.model, img, self.norm.apply, tile=self.tile,
                             overlap=self.overlap, device=self.device, depth=depth,
                             amp=self.device.type == "cuda", progress=progress,
                             keep_probabilities=keep_probabilities or self.is_instances,
                             tta=tta)
        if not self.is_instances:
            return pred
        return self._objects(pred, keep_probabilities)

    def _objects(self, pred: Prediction, keep_probabilities: bool) -> Prediction:
        """An instance model's prediction: classes with the boundary folded in, and objects."""
        probs = pred.probabilities
        assert probs is not None
        K = len(self.class_names)
        labels, confidence = semantic_labels(probs, K)
        maps = object_maps(probs, K)
        # in blocks with a margin, so that a large image costs a bounded amount per block and
        # objects crossing block borders stay whole (instance_postprocess.py)
        instances = instances_from_probs_tiled(maps.foreground, maps.interior,
                                               self.instance_params)
        classes = classes_of_objects(instances, maps.class_probs)
        return Prediction(labels, confidence, probs if keep_probabilities else None,
                          instances, classes)
