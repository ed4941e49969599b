"""The Train button's automatic settings: patch size, batch and loss chosen from the data, by
rules measured on real data sets (docs/quality.md, benchmarks/quality.py).

A TrainConfig field left at "auto" (patch 0, batch 0, loss "auto") is resolved here when the
run starts, from what the loaded training data holds; the resolved values are what the run
folder's config.json records, and the run's first notice says what was chosen and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from segstudio.training.config import TrainConfig

AUTO = "auto"
# Pixels per batch the automatic batch size aims at: 8 patches of 192^2 (the old fixed
# default), which keeps a CPU step near a second and fits any GPU.
BATCH_PIXELS = 8 * 192 * 192
PATCH_MIN, PATCH_MAX = 64, 256
INSTANCE_PATCH = 128
# Measured winners (docs/quality.md): plain cross-entropy has the lowest ISBI pixel error;
# cross-entropy with square-root frequency weights the best CamVid mIoU (it lifts the rare
# classes; full inverse-frequency weights made the common "Building" collapse).
BINARY_LOSS = "ce"
MULTICLASS_LOSS = "weighted_ce"
MULTICLASS_WEIGHTS = "sqrt"


# On a GPU (CUDA, Apple MPS) a step of 8 x 192^2 leaves the device mostly idle: up to 32
# patches of 256^2 a batch, patches up to 512 on large images, within the free memory.
GPU_BATCH_PIXELS = 32 * 256 * 256
GPU_PATCH_MAX = 512
GPU_BATCH_MAX = 64
# Training memory per pixel of a batch for a width-16 U-Net (activations kept for backward,
# float32), scaled by width; half of the free memory is planned for, the rest is the model,
# optimiser, workspace (and an out-of-memory halves the batch at run time anyway).
BYTES_PER_PIXEL_W16 = 2400
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class DeviceInfo:
    """What the automatic settings know of the device the run trains on."""
    kind: str = "cpu"                 # "cpu", "cuda" or "mps"
    name: str = ""
    free_bytes: int | None = None     # free accelerator memory at the start (None: unknown)

    @property
    def accelerator(self) -> bool:
        return self.kind in ("cuda", "mps")


CPU = DeviceInfo()


@dataclass(frozen=True)
class DataShape:
    """What the automatic settings look at."""
    heights: tuple[int, ...]
    widths: tuple[int, ...]
    num_classes: int            # project classes (2 = a binary model)
    channels: int = 1           # 1 = grey, 3 = colour
    # fraction of the images whose channels differ (grey scans saved as RGB are grey);
    # None: judged by ``channels``
    colour_fraction: float | None = None
    instances: bool = False     # an instance project (objects, not only classes)


def auto_patch(shape: DataShape, device: DeviceInfo = CPU) -> int:
    """The typical (median) image's short side rounded to a multiple of 32, within 64..256
    (512 on a GPU): about whole small images (a few mirrored rows at most), crops of large
    ones."""
    side = float(min(np.median(shape.heights), np.median(shape.widths)))
    top = GPU_PATCH_MAX if device.accelerator else PATCH_MAX
    return int(min(top, max(PATCH_MIN, round(side / 32) * 32)))


def auto_batch(patch: int, device: DeviceInfo = CPU, base_width: int = 16) -> int:
    """Patches per batch: BATCH_PIXELS on the CPU; on a GPU up to GPU_BATCH_PIXELS, as far
    as the free memory allows."""
    if not device.accelerator:
        return int(max(2, min(32, round(BATCH_PIXELS / (patch * patch)))))
    pixels = float(GPU_BATCH_PIXELS)
    if device.free_bytes:
        per_pixel = BYTES_PER_PIXEL_W16 * max(1.0, base_width / 16.0)
        pixels = min(pixels, MEMORY_SHARE * device.free_bytes / per_pixel)
    return int(max(2, min(GPU_BATCH_MAX, pixels // (patch * patch))))


def auto_loss(shape: DataShape) -> str:
    return BINARY_LOSS if shape.num_classes == 2 else MULTICLASS_LOSS


def resolve(cfg: TrainConfig, shape: DataShape, device: DeviceInfo = CPU
            ) -> tuple[TrainConfig, list[str]]:
    """cfg with its "auto" fields filled in, and one line per choice for the user."""
    notes: list[str] = []
    patch, batch, loss = cfg.patch, cfg.batch, dict(cfg.loss)
    if patch == 0:
        patch = auto_patch(shape, device)
        why = f"images are about {int(np.median(shape.heights))} x {int(np.median(shape.widths))}"
        if shape.instances and patch > INSTANCE_PATCH:
            # Objects are small next to the image: more, smaller patches per batch (the same
            # pixels) learned DSB2018's nuclei faster (docs/quality.md).
            patch = INSTANCE_PATCH
            why += "; objects: smaller patches, more of them"
        notes.append(f"patch {patch} ({why})")
    if batch == 0:
        batch = auto_batch(patch, device, int(cfg.model.get("base_width", 16)))
        gpu = ""
        if device.accelerator:
            free = (f", {device.free_bytes / 2**30:.0f} GiB free" if device.free_bytes
                    else "")
            gpu = f" (a GPU{free}: {batch * patch * patch / 1e6:.1f} MP a batch)"
        notes.append(f"batch {batch}{gpu}")
    if loss.get("name") == AUTO:
        loss["name"] = auto_loss(shape)
        if shape.num_classes > 2 and loss["name"] == "weighted_ce":
            loss.setdefault("class_weight_mode", MULTICLASS_WEIGHTS)
        notes.append(f"loss {loss['name']}"
                     + (f" ({loss['class_weight_mode']} class weights)"
                        if "class_weight_mode" in loss else " (two classes)"))
    aug = cfg.augment
    if aug.rotate90 == AUTO:
        # Colour photographs have an up and a down (sky above road): rotating them cost CamVid
        # 7 points of mIoU; grey microscopy and EM have no preferred orientation. Grey images
        # stored as RGB (557 of DSB2018's 664) are grey.
        colour = (shape.colour_fraction >= 0.5 if shape.colour_fraction is not None
                  else shape.channels == 3)
        aug = replace(aug, rotate90=not colour)
        notes.append("90-degree rotations " + ("off (colour images)" if colour
                                               else "on (grey images)"))
    if not notes:
        return cfg, []
    return replace(cfg, patch=patch, batch=batch, loss=loss, augment=aug), notes
