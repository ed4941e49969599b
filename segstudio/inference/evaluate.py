"""Score a trained model against ground-truth masks: the confusion matrix over labelled pixels,
per-class IoU, mIoU and pixel error (the fraction of labelled pixels predicted wrong, as the
ISBI 2012 challenge counts it). Shared by `segstudio evaluate` and benchmarks/quality.py."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segstudio.core.instance_metrics import InstanceScores
from segstudio.core.metrics import ConfusionMatrix, iou_per_class, miou, pixel_accuracy
from segstudio.errors import ConfigError, SegStudioError
from segstudio.inference.predictor import Predictor
from segstudio.io.images import read_image
from segstudio.io.masks import read_mask
from segstudio.project.project import Project
from segstudio.project.splits import effective_splits, resolve_split


@dataclass
class Evaluation:
    class_names: list[str]
    confusion: np.ndarray                        # K x K, rows = truth, columns = prediction
    images: int
    seconds: float
    skipped: list[str] = field(default_factory=list)
    objects: dict[str, float] | None = None  # instance models on instance projects

    @property
    def foreground_iou(self) -> float:
        """IoU of "any object class" against background: the semantic score of an instance
        model (the nucleus IoU of DSB2018)."""
        cm = self.confusion
        fg = np.zeros((2, 2), np.int64)
        fg[0, 0], fg[0, 1] = cm[0, 0], cm[0, 1:].sum()
        fg[1, 0], fg[1, 1] = cm[1:, 0].sum(), cm[1:, 1:].sum()
        return float(iou_per_class(fg)[1])

    @property
    def iou(self) -> list[float]:
        return [float(v) for v in iou_per_class(self.confusion)]

    @property
    def miou(self) -> float:
        return miou(self.confusion)

    @property
    def pixel_error(self) -> float:
        return 1.0 - pixel_accuracy(self.confusion)

    def to_json(self) -> dict:
        per_class = {n: (None if v != v else v)
                     for n, v in zip(self.class_names, self.iou, strict=False)}
        out = {"images": self.images, "miou": self.miou, "pixel_error": self.pixel_error,
               "iou": per_class, "confusion": self.confusion.tolist(),
               "seconds": self.seconds, "skipped": self.skipped}
        if self.objects is not None:
            # object scores at the top level; "iou" is then the foreground IoU (one number)
            # and the per-class IoUs move to "class_iou"
            fg = self.foreground_iou
            out.update(self.objects, iou=None if fg != fg else fg, class_iou=per_class)
        return out


Item = tuple[str, np.ndarray, np.ndarray] | tuple[str, np.ndarray, np.ndarray, np.ndarray]


def evaluate(predictor: Predictor, items: Iterable[Item], *,
             depth: int | None = None, tta: bool = False) -> Evaluation:
    """items: (name, decoded image, mask with 255 = not scored[, instance map]). With instance
    maps and an instance model, the objects are scored too (core/instance_metrics.py)."""
    names = predictor.class_names
    cm = ConfusionMatrix(len(names))
    objects = InstanceScores() if predictor.is_instances else None
    scored_objects = False
    t0, n = time.perf_counter(), 0
    for item in items:
        image, mask = item[1], item[2]
        pred = predictor.predict(image, depth, tta=tta)
        cm.update(pred.labels, mask)
        if objects is not None and len(item) == 4 and pred.instances is not None:
            unlabelled = mask == 255
            objects.update(item[3], pred.instances,
                           unlabelled=unlabelled if unlabelled.any() else None)
            scored_objects = True
        n += 1
    scores = None
    if objects is not None and scored_objects:
        scores = {k: float(v) for k, v in objects.summary().items()
                  if isinstance(v, int | float)}
    return Evaluation(names, cm.matrix.copy(), n, time.perf_counter() - t0, objects=scores)


def evaluate_project(project: Project, checkpoint: str | Path, split: str | None = None, *,
                     depth: int | None = None, tta: bool = False, device: str = "auto",
                     tile: int = 512) -> Evaluation:
    """Score a checkpoint on the project's labelled images of one split ("train", "val",
    "test", "auto" or "all"; None: test where labelled, else val). "val" and "train" are the
    images training used so (project/splits.py). Unreadable images or masks are skipped and
    named; a split without labelled images is refused naming the splits that have some."""
    split = resolve_split(project, split)
    predictor = Predictor.load(checkpoint, device, tile=tile)
    if [c.name for c in project.classes] != predictor.class_names:
        raise ConfigError("The model was trained for other classes than this project has ("
                          + ", ".join(predictor.class_names) + ").")
    assigned = effective_splits(project)
    chosen = [(e, m) for e, m in project.saved_masks()
              if split == "all" or (e.split == "auto" if split == "auto"
                                    else assigned.get(e.id) == split)]
    if not chosen:
        raise ConfigError(f"No labelled image in split {split!r} of {project.name}.")
    skipped: list[str] = []

    with_objects = project.is_instances and predictor.is_instances

    def items() -> Iterator[Item]:
        for entry, mask_path in chosen:
            try:
                image = read_image(project.image_path(entry)).data
                mask = read_mask(mask_path, shape=image.shape[:2],
                                 num_classes=len(project.classes))
                if with_objects:
                    yield entry.id, image, mask, project.load_instances(entry, mask.shape)
                    continue
            except SegStudioError as exc:
                skipped.append(f"{entry.id}: {exc}")
                continue
            yield entry.id, image, mask

    result = evaluate(predictor, items(), depth=depth, tta=tta)
    result.skipped = skipped
    return result
