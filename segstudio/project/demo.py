"""The demo project: synthetic, microscopy-like images made here, deterministic by seed.

Cells of varied size and shape, often touching, with a nucleus each, on a background with
uneven illumination, blur and shot noise.

The built-in demo (``ensure_demo``, what the window opens first, and ``segstudio demo``) is an
**instance** project (``DEMO_TASK``): two classes (background, cell), and in each labelled image
a few whole cells painted as objects - touching neighbours among them, so the borders between
cells are taught - plus a few background strokes; everything else is left unlabelled (sparse
labels, as a user would start). The first Train press then trains an instance model. The full
ground truth is kept in ``ground_truth/`` (semantic) and ``ground_truth/instances/`` (one id per
cell) for measuring what the labels teach.

``generate_demo(task="semantic")`` (its default, which the training tests and benchmarks use)
writes the three-class semantic demo instead (background, cell, nucleus; a few sparse strokes
per class), exactly as before instance projects existed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.core.instances import relabel_sequential
from segstudio.io.atomic import atomic_write_bytes
from segstudio.io.instances import write_instances
from segstudio.project.project import PROJECT_FILE, Project

DEMO_CLASSES = [ClassInfo("background", "#3b4cc0"), ClassInfo("cell", "#e69f00"),
                ClassInfo("nucleus", "#cc3355")]
DEMO_INSTANCE_CLASSES = [ClassInfo("background", "#3b4cc0"), ClassInfo("cell", "#e69f00")]
DEMO_TASK = "instances"  # what the built-in demo is
# bump when the pictures change, so old demo folders are regenerated (2: an instance project)
DEMO_VERSION = 2
OBJECTS_PER_IMAGE = 5
MIN_OBJECT_PIXELS = 40


def draw_cells(rng: np.random.Generator, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image (uint8, H x W) and its full label mask (0 bg, 1 cell, 2 nucleus)."""
    img, label, _ = draw_cell_objects(rng, size)
    return img, label


def draw_cell_objects(rng: np.random.Generator, size: int = 512
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``draw_cells`` (the same pictures for the same generator state) and its instance map:
    one id per cell (uint32, 1..N, nucleus included; 0 = background)."""
    import cv2

    label = np.zeros((size, size), np.uint8)
    cells = np.zeros((size, size), np.uint32)
    cell_tex = np.zeros((size, size), np.float32)
    n_cells = int(rng.integers(14, 26))
    centres: list[tuple[float, float]] = []
    for _ in range(n_cells):
        # Cluster some cells so they touch; scatter the rest.
        if centres and rng.random() < 0.45:
            cx, cy = centres[int(rng.integers(len(centres)))]
            ang = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(25, 45)
            cx, cy = cx + dist * np.cos(ang), cy + dist * np.sin(ang)
        else:
            cx, cy = rng.uniform(20, size - 20, 2)
        centres.append((cx, cy))
        a = rng.uniform(14, 42)
        b = a * rng.uniform(0.6, 1.0)
        angle = rng.uniform(0, 180)
        # A wobbly outline: an ellipse with low-frequency radial noise.
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        wob = (1 + 0.08 * np.sin(3 * t + rng.uniform(0, 6))
               + 0.05 * np.sin(5 * t + rng.uniform(0, 6)))
        ca, sa = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        x = a * wob * np.cos(t)
        y = b * wob * np.sin(t)
        pts = np.stack([cx + ca * x - sa * y, cy + sa * x + ca * y], 1).round().astype(np.int32)
        cell = np.zeros_like(label)
        cv2.fillPoly(cell, [pts], 1)
        inside = cell.astype(bool)
        label[inside] = 1
        cells[inside] = len(centres)  # later cells lie over earlier ones, as in the picture
        cell_tex[inside] = rng.uniform(0.45, 0.7)
        # Nucleus: a smaller, offset ellipse inside the cell.
        na, nb = a * rng.uniform(0.3, 0.45), b * rng.uniform(0.3, 0.45)
        ox, oy = rng.uniform(-0.2, 0.2) * a, rng.uniform(-0.2, 0.2) * b
        nuc = np.zeros_like(label)
        cv2.ellipse(nuc, (int(cx + ox), int(cy + oy)), (max(3, int(na)), max(3, int(nb))),
                    angle + rng.uniform(-30, 30), 0, 360, 1, -1)
        nuc_in = nuc.astype(bool) & inside
        label[nuc_in] = 2
        cell_tex[nuc_in] = rng.uniform(0.85, 1.0)
    # Membranes of touching cells are a bit darker: edges of the label map.
    edges = cv2.morphologyEx(label, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    img: np.ndarray = 0.12 + cell_tex
    img[edges & (label > 0)] *= 0.8
    img = cv2.GaussianBlur(img, (0, 0), 1.6)
    # Fine texture, uneven illumination, shot and read noise.
    texture = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 2.5)
    img = img * (1 + 0.15 * texture)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    gx, gy = rng.uniform(-0.5, 0.5, 2)
    illum = 0.75 + 0.35 * np.exp(-(((xx - 0.5 - gx) ** 2 + (yy - 0.5 - gy) ** 2) / 0.35))
    img = img * illum
    img = rng.poisson(np.clip(img, 0, None) * 120).astype(np.float32) / 120
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img * 200, 0, 255).astype(np.uint8), label, relabel_sequential(cells)


def sparse_strokes(rng: np.random.Generator, label: np.ndarray, strokes_per_class: int = 3,
                   radius: int = 3) -> np.ndarray:
    """A mask with a few short brush strokes inside each class region, the rest unlabelled."""

    mask = np.full(label.shape, UNLABELLED, np.uint8)
    for k in range(int(label.max()) + 1):
        _strokes_in(rng, (label == k).astype(np.uint8), mask, k, strokes_per_class, radius)
    return mask


def _strokes_in(rng: np.random.Generator, region: np.ndarray, mask: np.ndarray, value: int,
                strokes: int, radius: int) -> None:
    """Paint ``strokes`` short strokes of ``value`` into ``mask``, inside ``region`` (0/1)."""
    import cv2

    # Strokes start well inside their class; where no region is that wide (background
    # between crowded cells of a small image) closer to its edge, so no class of the
    # demo is left without labels.
    for k_size in (2 * radius + 3, 3, 1):
        core = cv2.erode(region, np.ones((k_size, k_size), np.uint8))
        ys, xs = np.nonzero(core)
        if len(ys):
            break
    if len(ys) == 0:
        return
    for _ in range(strokes):
        i = int(rng.integers(len(ys)))
        stroke = np.zeros_like(region)
        p0 = (int(xs[i]), int(ys[i]))
        ang = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(10, 40)
        p1 = (int(p0[0] + length * np.cos(ang)), int(p0[1] + length * np.sin(ang)))
        cv2.line(stroke, p0, p1, 1, thickness=2 * radius + 1)
        # Stay inside the class, as a careful user would.
        mask[(stroke > 0) & (region > 0)] = value


def touching_pairs(instances: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (a < b) of object ids with 4-adjacent pixels."""
    pairs: set[tuple[int, int]] = set()
    for a, b in ((instances[:, :-1], instances[:, 1:]), (instances[:-1], instances[1:])):
        sel = (a != b) & (a != 0) & (b != 0)
        lo, hi = np.minimum(a[sel], b[sel]), np.maximum(a[sel], b[sel])
        pairs.update(zip(lo.tolist(), hi.tolist(), strict=True))
    return pairs


def sparse_objects(rng: np.random.Generator, instances: np.ndarray,
                   n_objects: int = OBJECTS_PER_IMAGE, background_strokes: int = 4,
                   radius: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Sparse instance labels: ``n_objects`` whole cells (pairs of touching cells first) and a
    few background strokes; the rest unlabelled. Returns (mask: 255 / 0 background / 1 cell,
    instance map: the chosen cells numbered 1..n), consistent: every object pixel is a cell."""
    ids, sizes = np.unique(instances[instances != 0], return_counts=True)
    big = {int(i) for i, n in zip(ids, sizes, strict=True) if n >= MIN_OBJECT_PIXELS}
    pairs = sorted(p for p in touching_pairs(instances) if p[0] in big and p[1] in big)
    chosen: list[int] = []
    for k in rng.permutation(len(pairs)):
        if len(chosen) + 2 > n_objects:
            break
        a, b = pairs[int(k)]
        if a not in chosen and b not in chosen:
            chosen += [a, b]
    rest = sorted(big - set(chosen))
    for k in rng.permutation(len(rest))[:max(0, n_objects - len(chosen))]:
        chosen.append(rest[int(k)])
    lut = np.zeros(int(instances.max(initial=0)) + 1, np.uint32)
    lut[chosen] = np.arange(1, len(chosen) + 1, dtype=np.uint32)
    objects = lut[instances]
    mask = np.full(instances.shape, UNLABELLED, np.uint8)
    _strokes_in(rng, (instances == 0).astype(np.uint8), mask, 0, background_strokes, radius)
    mask[objects != 0] = 1
    return mask, objects


def write_png(path: Path, array: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


def generate_demo(dest: str | os.PathLike[str], n_images: int = 8, size: int = 512,
                  labelled: int = 4, seed: int = 2012, task: str = "semantic") -> Project:
    """Write the demo project into ``dest`` (created) and return it opened. ``task``:
    "instances" for the built-in demo (``DEMO_TASK``), "semantic" for the three-class one
    (module docstring)."""
    dest = Path(dest)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    (dest / "ground_truth").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    project_file = dest / PROJECT_FILE
    if project_file.exists():
        project_file.unlink()
    instances = task == "instances"
    project = Project.create(dest, classes=DEMO_INSTANCE_CLASSES if instances else DEMO_CLASSES,
                             name="segstudio demo", task=task)
    paths = []
    for i in range(n_images):
        img, label, cells = draw_cell_objects(rng, size)
        p = dest / "images" / f"cells_{i + 1:02d}.png"
        write_png(p, img)
        if instances:
            (dest / "ground_truth" / "instances").mkdir(exist_ok=True)
            write_png(dest / "ground_truth" / p.name, (cells != 0).astype(np.uint8))
            write_instances(dest / "ground_truth" / "instances" / p.name, cells)
        else:
            write_png(dest / "ground_truth" / p.name, label)
        paths.append((p, label, cells))
    project.add_images([p for p, _, _ in paths])
    for i, (entry, (_, label, cells)) in enumerate(zip(project.images, paths, strict=False)):
        if i < labelled:
            if instances:
                project.save_labels(entry, *sparse_objects(rng, cells))
            else:
                project.save_mask(entry, sparse_strokes(rng, label))
    project.settings["demo_version"] = DEMO_VERSION
    project.save()
    return project


def ensure_demo(dest: str | os.PathLike[str]) -> Project:
    """Open the demo at ``dest``, (re)generating it when missing, broken or outdated."""
    dest = Path(dest)
    try:
        project = Project.open(dest)
        if project.settings.get("demo_version") == DEMO_VERSION and all(
                project.image_path(e).exists() for e in project.images):
            return project
    except Exception:
        pass
    return generate_demo(dest, task=DEMO_TASK)


if __name__ == "__main__":
    import sys

    out = generate_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-project", task=DEMO_TASK)
    print(f"demo project written to {out.root}")
