"""Tiny instance data sets in the DSB2018 layout for the import/export tests:
DIR/<split>/images/<stem>.png (RGB), DIR/<split>/instances/<stem>.png (16-bit ids) and,
optionally, DIR/<split>/masks/<stem>.png (semantic classes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SHAPE = (40, 56)


def instance_map(seed: int, shape: tuple[int, int] = SHAPE, first: int = 1) -> np.ndarray:
    """Objects that touch (rectangles side by side), a disk and a ring with a hole; ids from
    ``first``, not consecutive (gaps, as after deletions)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    inst = np.zeros(shape, np.uint32)
    y0 = int(rng.integers(1, 6))
    inst[y0:y0 + 10, 2:12] = first
    inst[y0:y0 + 10, 12:20] = first + 1          # touches the first
    yy, xx = np.mgrid[:h, :w]
    cy, cx = int(rng.integers(20, h - 8)), int(rng.integers(8, 22))
    inst[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = first + 4   # a gap in the ids
    ring = ((yy - 24) ** 2 + (xx - 42) ** 2 <= 64) & ((yy - 24) ** 2 + (xx - 42) ** 2 > 9)
    inst[ring] = first + 7
    return inst


def write_sample(folder: Path, stem: str, seed: int, with_mask: bool = True,
                 classes: dict[int, int] | None = None) -> np.ndarray:
    """Write one sample; ``classes`` gives the semantic class of some objects (default 1)."""
    inst = instance_map(seed)
    rng = np.random.default_rng(seed + 100)
    for sub in ("images", "instances", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    img = (rng.random(SHAPE + (3,)) * 255).astype(np.uint8)
    Image.fromarray(img).save(folder / "images" / f"{stem}.png")
    Image.fromarray(inst.astype(np.uint16)).save(folder / "instances" / f"{stem}.png")
    if with_mask:
        sem = (inst > 0).astype(np.uint8)
        for i, c in (classes or {}).items():
            sem[inst == i] = c
        Image.fromarray(sem, "L").save(folder / "masks" / f"{stem}.png")
    return inst


def make_dataset(root: Path, with_masks: bool = True, test_split: bool = False
                 ) -> dict[str, np.ndarray]:
    """train: a, b, c; val: d (test: e). Returns {stem: instance map}."""
    splits = {"train": ["a", "b", "c"], "val": ["d"]}
    if test_split:
        splits["test"] = ["e"]
    out = {}
    seed = 0
    for split, stems in splits.items():
        for stem in stems:
            out[stem] = write_sample(root / split, stem, seed, with_masks)
            seed += 1
    return out
