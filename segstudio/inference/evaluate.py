"""Score a trained model against ground-truth masks: the confusion matrix over labelled pixels,
per-class IoU, mIoU and pixel error (the fraction of labelled pixels predicted wrong, as the
ISBI 2012 challenge counts it). Shared by `segstudio evaluate` and benchmarks/quality.py."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
        return {"images": self.images, "miou": self.miou, "pixel_error": self.pixel_error,
                "iou": {n: (None if v != v else v)
                        for n, v in zip(self.class_names, self.iou, strict=False)},
                "confusion": self.confusion.tolist(), "seconds": self.seconds,
                "skipped": self.skipped}


def evaluate(predictor: Predictor, items: Iterable[tuple[str, np.ndarray, np.ndarray]], *,
             depth: int | None = None, tta: bool = False) -> Evaluation:
    """items: (name, decoded image, mask with 255 = not scored)."""
    names = predictor.class_names
    cm = ConfusionMatrix(len(names))
    t0, n = time.perf_counter(), 0
    for _, image, mask in items:
        pred = predictor.predict(image, depth, tta=tta)
        cm.update(pred.labels, mask)
        n += 1
    return Evaluation(names, cm.matrix.copy(), n, time.perf_counter() - t0)


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

    def items() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for entry, mask_path in chosen:
            try:
                image = read_image(project.image_path(entry)).data
                mask = read_mask(mask_path, shape=image.shape[:2],
                                 num_classes=len(project.classes))
            except SegStudioError as exc:
                skipped.append(f"{entry.id}: {exc}")
                continue
            yield entry.id, image, mask

    result = evaluate(predictor, items(), depth=depth, tta=tta)
    result.skipped = skipped
    return result
