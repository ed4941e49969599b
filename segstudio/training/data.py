"""Training data from a project: which images train, which validate, and how pixels are
normalised. Images stay in their own dtype in memory; patches are normalised when cut.

Only labelled pixels teach: masks keep 255 for "not labelled", and patch centres are drawn from
labelled pixels so that a few strokes on a large image are still seen every epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.errors import ConfigError, SegStudioError
from segstudio.inference.instance_model import instance_target
from segstudio.inference.preprocess import Normalisation, as_channels
from segstudio.io.images import read_image
from segstudio.io.masks import read_mask
from segstudio.project.project import ImageEntry, Project
from segstudio.project.splits import auto_validation_ids

MAX_CENTRES = 20_000  # labelled pixel coordinates kept per image for patch sampling


@dataclass
class Sample:
    image_id: str
    image: np.ndarray          # H x W x C, original dtype (C = 1 or 3)
    mask: np.ndarray           # H x W uint8, 255 = not labelled
    centres: np.ndarray        # (n, 2) int32 (y, x) of labelled pixels, subsampled
    instances: np.ndarray | None = None  # instance projects: H x W uint32 object ids
    target: np.ndarray | None = None     # what the loss learns, when it is not ``mask``

    @property
    def train_mask(self) -> np.ndarray:
        """The mask the model learns: the classes, plus the object rims of an instance
        project (inference/instance_model.py)."""
        return self.mask if self.target is None else self.target

    @property
    def labelled_pixels(self) -> int:
        return int(np.count_nonzero(self.mask != UNLABELLED))


@dataclass
class TrainingData:
    train: list[Sample]
    val: list[Sample]
    channels: int
    num_classes: int
    norm: Normalisation
    notes: list[str] = field(default_factory=list)
    val_is_train: bool = False
    instances: bool = False    # an instance project: the model learns num_classes + 1 classes

    @property
    def target_classes(self) -> int:
        return self.num_classes + 1 if self.instances else self.num_classes


def _centres(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.nonzero(mask != UNLABELLED)
    if len(ys) > MAX_CENTRES:
        keep = rng.choice(len(ys), MAX_CENTRES, replace=False)
        ys, xs = ys[keep], xs[keep]
    return np.stack([ys, xs], 1).astype(np.int32)


def colour_fraction(images: Iterable[np.ndarray]) -> float:
    """The fraction of images whose colour channels differ somewhere (checked on a sample of
    pixels): a grey scan saved as RGB counts as grey."""
    n = colour = 0
    for img in images:
        n += 1
        if img.ndim == 3 and img.shape[2] >= 3:
            step = max(1, int(np.sqrt(img.shape[0] * img.shape[1] / 65536)))
            sub = img[::step, ::step, :3]
            colour += bool(np.any(sub[..., 0] != sub[..., 1]) or
                           np.any(sub[..., 1] != sub[..., 2]))
    return colour / n if n else 0.0


def compute_normalisation(images: Iterable[np.ndarray], channels: int) -> Normalisation:
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for img in images:
        step = max(1, int(np.sqrt(img.shape[0] * img.shape[1] / 65536)))
        sub = img[::step, ::step].reshape(-1, channels).astype(np.float64)
        total += sub.sum(0)
        total_sq += (sub ** 2).sum(0)
        count += sub.shape[0]
    if count == 0:
        return Normalisation((0.0,) * channels, (1.0,) * channels)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0))
    std = np.where(std < 1e-6, 1.0, std)
    return Normalisation(tuple(float(v) for v in mean), tuple(float(v) for v in std))


def load_training_data(project: Project, val_fraction: float = 0.2, seed: int = 0,
                       max_pixels: int | None = None) -> TrainingData:
    """Read every labelled image of the project. Images that fail to read are skipped and
    named in ``notes``; no labelled image at all is an error the user can fix."""
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    loaded: list[tuple[ImageEntry, np.ndarray, np.ndarray, np.ndarray | None]] = []
    for entry, mask_path in project.saved_masks():
        if entry.split == "test":
            continue
        try:
            kwargs = {"max_pixels": max_pixels} if max_pixels else {}
            img = read_image(project.image_path(entry), **kwargs).data
            mask = read_mask(mask_path, shape=img.shape[:2], num_classes=len(project.classes))
            inst = (project.load_instances(entry, img.shape[:2]) if project.is_instances
                    else None)
        except SegStudioError as exc:
            notes.append(f"Skipped {entry.id}: {exc}")
            continue
        if not np.any(mask != UNLABELLED):
            continue
        loaded.append((entry, img, mask, inst))
    if not loaded:
        if notes:  # the labels exist but could not be read: say which, not "paint some"
            raise ConfigError("No usable labelled image. " + " ".join(notes[:3]) +
                              (f" (and {len(notes) - 3} more)" if len(notes) > 3 else ""))
        raise ConfigError("No labelled pixels yet: paint a few strokes of each class on at least "
                          "one image, then train.")
    channels = 1 if all(i.ndim == 2 or i.shape[2] == 1 for _, i, _, _ in loaded) else 3
    auto_ids = [e.id for e, _, _, _ in loaded if e.split == "auto"]
    has_val = any(e.split == "val" for e, _, _, _ in loaded)
    auto_val = set() if has_val else auto_validation_ids(auto_ids, val_fraction)
    train: list[Sample] = []
    val: list[Sample] = []
    K = len(project.classes)
    for entry, img, mask, inst in loaded:
        target = None if inst is None else instance_target(mask, inst, K)
        s = Sample(entry.id, as_channels(img, channels), mask, _centres(mask, rng), inst, target)
        (val if entry.split == "val" or entry.id in auto_val else train).append(s)
    val_is_train = False
    if not train:
        raise ConfigError("Every labelled image is assigned to validation: mark at least one "
                          "labelled image for training (or 'auto').")
    if not val:
        val = train
        val_is_train = True
        notes.append("Only one labelled image: validation scores are measured on the training "
                     "image and will be optimistic. Label a second image for honest scores.")
    def present_in(samples: list[Sample]) -> np.ndarray:
        present = np.zeros(len(project.classes), bool)
        for s in samples:
            present[np.unique(s.mask[s.mask != UNLABELLED])] = True
        return present

    in_train, anywhere = present_in(train), present_in(train + val)
    unlabelled = [project.classes[i].name for i in np.flatnonzero(~anywhere)]
    if unlabelled:
        # Training anyway would spend the budget on a class it cannot learn and average a
        # class without ground truth into mIoU: refuse, and say what to do.
        raise ConfigError("No labels at all for class(es) " + ", ".join(
            repr(n) for n in unlabelled) + ": paint a few strokes of each, or delete the "
            "class, then train.")
    missing = [project.classes[i].name for i in np.flatnonzero(~in_train)]
    if missing:
        notes.append("No training labels yet for: " + ", ".join(missing) + " (labelled on "
                     "validation images only). The model cannot learn classes it never sees.")
    norm = compute_normalisation((s.image for s in train), channels)
    return TrainingData(train, val, channels, K, norm, notes, val_is_train,
                        project.is_instances)
