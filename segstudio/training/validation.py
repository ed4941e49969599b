"""Scoring a model on the validation images at the end of an epoch: confusion matrix, per-class
IoU, mIoU, pixel accuracy, validation loss and (U-Net++) the mIoU of every pruning depth."""

from __future__ import annotations

import numpy as np
import torch

from segstudio.core.metrics import ConfusionMatrix
from segstudio.inference.tiling import predict_heads, predict_probabilities
from segstudio.models.base import SegmentationModel
from segstudio.training.data import TrainingData
from segstudio.training.events import EpochReport


@torch.no_grad()
def validate_epoch(model: SegmentationModel, data: TrainingData, device: torch.device,
                   tile: int, epoch: int, train_loss: float, amp: bool) -> EpochReport:
    """The epoch's report (best=False, seconds=0: the loop fills them in). The model is put
    in eval mode for the pass and back in train mode after."""
    model.eval()
    K = data.num_classes
    cm = ConfusionMatrix(K)
    depths = list(getattr(model, "depths", []) or [])
    depth_cms = {d: ConfusionMatrix(K) for d in depths} if len(depths) > 1 else {}
    losses: list[float] = []
    weights: list[int] = []
    for s in data.val:
        x = data.norm.apply(s.image)
        if depth_cms:
            # One pass for the default output and every depth (not one pass per depth).
            probs, per_depth = predict_heads(model, x, tile=tile, device=device, amp=amp)
            for d, dcm in depth_cms.items():
                dcm.update(per_depth[d].argmax(0), s.mask)
        else:
            probs = predict_probabilities(model, x, tile=tile, device=device, amp=amp)
        pred = probs.argmax(0)
        cm.update(pred, s.mask)
        labelled = s.mask != 255
        n = int(labelled.sum())
        if n:
            truth = np.where(labelled, s.mask, 0)[None].astype(np.int64)
            p_true = np.take_along_axis(probs, truth, 0)[0]
            losses.append(float(-np.log(np.clip(p_true[labelled], 1e-7, 1)).mean()))
            weights.append(n)
    model.train()
    iou = cm.iou_per_class()
    val_loss = float(np.average(losses, weights=weights)) if losses else None
    return EpochReport(epoch, train_loss, val_loss, cm.matrix.copy(),
                       tuple(float(v) for v in iou), cm.miou(), cm.pixel_accuracy(),
                       {d: dcm.miou() for d, dcm in depth_cms.items()})
