"""The demo project: synthetic, microscopy-like images made here, deterministic by seed.

Cells of varied size and shape, often touching, with a nucleus each, on a background with
uneven illumination, blur and shot noise. Three classes (background, cell, nucleus). A few sparse
label strokes are pre-painted so a new user can press Train at once; the full ground truth is
kept in ``ground_truth/`` for measuring what the strokes teach.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.io.atomic import atomic_write_bytes
from segstudio.project.project import PROJECT_FILE, Project

DEMO_CLASSES = [ClassInfo("background", "#3b4cc0"), ClassInfo("cell", "#e69f00"),
                ClassInfo("nucleus", "#cc3355")]
DEMO_VERSION = 1  # bump when the pictures change, so old demo folders are regenerated


def draw_cells(rng: np.random.Generator, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image (uint8, H x W) and its full label mask (0 bg, 1 cell, 2 nucleus)."""
    import cv2

    label = np.zeros((size, size), np.uint8)
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
    return np.clip(img * 200, 0, 255).astype(np.uint8), label


def sparse_strokes(rng: np.random.Generator, label: np.ndarray, strokes_per_class: int = 3,
                   radius: int = 3) -> np.ndarray:
    """A mask with a few short brush strokes inside each class region, the rest unlabelled."""
    import cv2

    mask = np.full(label.shape, UNLABELLED, np.uint8)
    for k in range(int(label.max()) + 1):
        region = (label == k).astype(np.uint8)
        # Strokes start well inside their class; where no region is that wide (background
        # between crowded cells of a small image) closer to its edge, so no class of the
        # demo is left without labels.
        for k_size in (2 * radius + 3, 3, 1):
            core = cv2.erode(region, np.ones((k_size, k_size), np.uint8))
            ys, xs = np.nonzero(core)
            if len(ys):
                break
        if len(ys) == 0:
            continue
        for _ in range(strokes_per_class):
            i = int(rng.integers(len(ys)))
            stroke = np.zeros_like(region)
            p0 = (int(xs[i]), int(ys[i]))
            ang = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(10, 40)
            p1 = (int(p0[0] + length * np.cos(ang)), int(p0[1] + length * np.sin(ang)))
            cv2.line(stroke, p0, p1, 1, thickness=2 * radius + 1)
            # Stay inside the class, as a careful user would.
            mask[(stroke > 0) & (region > 0)] = k
    return mask


def write_png(path: Path, array: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


def generate_demo(dest: str | os.PathLike[str], n_images: int = 8, size: int = 512,
                  labelled: int = 4, seed: int = 2012) -> Project:
    """Write the demo project into ``dest`` (created) and return it opened."""
    dest = Path(dest)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    (dest / "ground_truth").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    project_file = dest / PROJECT_FILE
    if project_file.exists():
        project_file.unlink()
    project = Project.create(dest, classes=DEMO_CLASSES, name="segstudio demo")
    paths = []
    for i in range(n_images):
        img, label = draw_cells(rng, size)
        p = dest / "images" / f"cells_{i + 1:02d}.png"
        write_png(p, img)
        write_png(dest / "ground_truth" / p.name, label)
        paths.append((p, label))
    project.add_images([p for p, _ in paths])
    for i, (entry, (_, label)) in enumerate(zip(project.images, paths, strict=False)):
        if i < labelled:
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
    return generate_demo(dest)


if __name__ == "__main__":
    import sys

    out = generate_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-project")
    print(f"demo project written to {out.root}")
