"""A tiny instance project for tests: grey images of round cells, many of them touching, with
their instance maps and semantic masks saved (fully labelled unless ``sparse``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.project.project import Project


def cell_image(rng: np.random.Generator, size: int, cells: int,
               radius: tuple[int, int] = (6, 10)) -> tuple[np.ndarray, np.ndarray]:
    """An image (uint8) and its instance map (uint32): cells placed in touching pairs."""
    inst = np.zeros((size, size), np.uint32)
    yy, xx = np.mgrid[:size, :size]
    dist = np.full((size, size), np.inf)
    k = 0
    for _ in range(cells // 2):
        r1, r2 = rng.integers(radius[0], radius[1] + 1, 2)
        cy, cx = rng.integers(radius[1] + 2, size - 3 * radius[1] - 2, 2)
        angle = rng.uniform(0, 2 * np.pi)
        d = (r1 + r2) * 0.85  # overlapping discs: the pair touches along a chord
        for (y, x, r) in ((cy, cx, r1), (cy + d * np.sin(angle), cx + d * np.cos(angle), r2)):
            k += 1
            dd = np.hypot(yy - y, xx - x) / r
            take = (dd < 1) & (dd < dist)
            inst[take] = k
            dist[take] = dd[take]
    shade = np.where(inst > 0, 170 - 60 * np.clip(dist, 0, 1) ** 2, 30)
    img = np.clip(shade + rng.normal(0, 8, inst.shape), 0, 255).astype(np.uint8)
    from segstudio.core.instances import relabel_sequential

    return img, relabel_sequential(inst)


def make_instance_project(root: Path, n_images: int = 4, size: int = 96, cells: int = 8,
                          seed: int = 0, sparse: bool = False,
                          splits: tuple[str, ...] = ()) -> Project:
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True)
    project = Project.create(root / "project", task="instances",
                             classes=[ClassInfo("background", "#000000"),
                                      ClassInfo("cell", "#e69f00")])
    paths = []
    for i in range(n_images):
        img, inst = cell_image(rng, size, cells)
        p = images / f"cells{i}.png"
        Image.fromarray(img).save(p)
        paths.append((p, inst))
    entries = project.add_images([p for p, _ in paths])
    for i, (entry, (_, inst)) in enumerate(zip(entries, paths, strict=True)):
        mask = np.where(inst > 0, 1, 0).astype(np.uint8)
        if sparse:  # the first object and a ring of background around it; the rest unknown
            keep = inst == 1
            ys, xs = np.nonzero(keep)
            ring = np.zeros_like(keep)
            ring[max(0, ys.min() - 6):ys.max() + 7, max(0, xs.min() - 6):xs.max() + 7] = True
            mask = np.where(keep, 1, np.where(ring & (inst == 0), 0, UNLABELLED)).astype(np.uint8)
            inst = np.where(keep, inst, 0).astype(np.uint32)
        project.save_labels(entry, mask, inst)
        if splits:
            project.set_split(entry.id, splits[i % len(splits)])
    project.save()
    return project
