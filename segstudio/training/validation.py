"""Scoring a model on the validation images at the end of an epoch: confusion matrix, per-class
IoU, mIoU, pixel accuracy, validation loss and (U-Net++) the mIoU of every pruning depth. For
instance projects each image's object maps are kept (``ObjectCase``); instance_tuning.py makes
and scores the objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from segstudio.core.metrics import ConfusionMatrix
from segstudio.inference.instance_model import object_maps, semantic_labels
from segstudio.inference.tiling import predict_heads, predict_probabilities
from segstudio.models.base import SegmentationModel
from segstudio.training.data import TrainingData
from segstudio.training.distributed import Ranks
from segstudio.training.events import EpochReport


@dataclass(frozen=True)
class ObjectCase:
    """One validation image's maps, kept so the object thresholds can be chosen on them."""
    foreground: np.ndarray   # float16
    interior: np.ndarray     # float16
    truth: np.ndarray        # the labelled instance map
    unlabelled: np.ndarray | None


@torch.no_grad()
def validate_epoch(model: SegmentationModel, data: TrainingData, device: torch.device,
                   tile: int, epoch: int, train_loss: float, amp: bool,
                   keep: list[ObjectCase] | None = None, ranks: Ranks | None = None
                   ) -> EpochReport:
    """The epoch's report (best=False, seconds=0, no object scores: the loop fills them in).
    The model is put in eval mode for the pass and back in train mode after. Instance
    projects: each image's maps are appended to ``keep``.

    A distributed run (``ranks``) scores each rank's share of the images and adds up the
    counts, so every rank reports what one process would; instance projects score every image
    on every rank (their object scores need all the maps)."""
    images = data.val
    if ranks is not None:
        ranks.sync_buffers(model)
        if keep is None:
            images = ranks.share(data.val)
    model.eval()
    K = data.num_classes

    def labels_of(probs: np.ndarray) -> np.ndarray:
        return semantic_labels(probs, K)[0] if data.instances else probs.argmax(0)

    cm = ConfusionMatrix(K)
    depths = list(getattr(model, "depths", []) or [])
    depth_cms = {d: ConfusionMatrix(K) for d in depths} if len(depths) > 1 else {}
    losses: list[float] = []
    weights: list[int] = []
    for s in images:
        x = data.norm.apply(s.image)
        if depth_cms:
            # One pass for the default output and every depth (not one pass per depth).
            probs, per_depth = predict_heads(model, x, tile=tile, device=device, amp=amp)
            for d, dcm in depth_cms.items():
                dcm.update(labels_of(per_depth[d]), s.mask)
        else:
            probs = predict_probabilities(model, x, tile=tile, device=device, amp=amp)
        cm.update(labels_of(probs), s.mask)
        target = s.train_mask
        labelled = target != 255
        n = int(labelled.sum())
        if n:
            truth = np.where(labelled, target, 0)[None].astype(np.int64)
            p_true = np.take_along_axis(probs, truth, 0)[0]
            losses.append(float(-np.log(np.clip(p_true[labelled], 1e-7, 1)).mean()))
            weights.append(n)
        if keep is not None and s.instances is not None:
            maps = object_maps(probs, K)
            unlabelled = s.mask == 255
            keep.append(ObjectCase(maps.foreground.astype(np.float16),
                                   maps.interior.astype(np.float16), s.instances,
                                   unlabelled if unlabelled.any() else None))
    model.train()
    if ranks is not None and images is not data.val:
        cm.matrix = ranks.sum(cm.matrix)
        for dcm in depth_cms.values():
            dcm.matrix = ranks.sum(dcm.matrix)
        total, n_all = ranks.sum(np.array([np.dot(losses, weights) if losses else 0.0,
                                           float(sum(weights))]))
        val_loss = float(total / n_all) if n_all else None
    else:
        val_loss = float(np.average(losses, weights=weights)) if losses else None
    iou = cm.iou_per_class()
    return EpochReport(epoch, train_loss, val_loss, cm.matrix.copy(),
                       tuple(float(v) for v in iou), cm.miou(), cm.pixel_accuracy(),
                       {d: dcm.miou() for d, dcm in depth_cms.items()})
