"""Turn a folder of images with index masks into a project, keeping its split.

Layout (the one of ../shared/data and of many public data sets):

    DATASET/<split>/images/<stem>.<ext>
    DATASET/<split>/masks/<stem>.png     single-channel, values = class index, 255 = void

A flat ``DATASET/images`` + ``DATASET/masks`` works too (split "auto"). Images are referenced
where they are; masks are re-written into the project's masks/ folder. Instance labels
(``<split>/instances``) make an instance project: instance_dataset_import.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from segstudio.core.classes import ClassInfo, default_color
from segstudio.errors import ProjectError
from segstudio.io.files import resolve_path
from segstudio.io.images import read_image_size
from segstudio.io.masks import read_mask
from segstudio.project.project import PROJECT_FILE, Project, find_images

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}


def dataset_subsets(root: Path, labels: str = "masks") -> list[tuple[str, Path]]:
    """(split, folder) of each subset: ``<split>/images`` folders, else ``images/`` itself
    (split "auto"). ``labels`` names the label folder the error message asks for."""
    subsets = [(SPLIT_NAMES[d.name.lower()], d) for d in sorted(root.iterdir())
               if d.is_dir() and d.name.lower() in SPLIT_NAMES and (d / "images").is_dir()]
    if not subsets and (root / "images").is_dir():
        subsets = [("auto", root)]
    if not subsets:
        raise ProjectError(f"{root} does not look like a data set: expected <split>/images and "
                           f"<split>/{labels} folders (split = train, val, test) or images/ and "
                           f"{labels}/.")
    return subsets


def check_paths(source: str | os.PathLike[str], dest: str | os.PathLike[str],
                labels: str = "masks") -> tuple[Path, Path]:
    """The resolved data set and new project folders, or ProjectError."""
    src, dst = resolve_path(source), resolve_path(dest)
    if not src.is_dir():
        raise ProjectError(f"{src}: no such folder (give a folder with <split>/images and "
                           f"<split>/{labels}).")
    if (dst / PROJECT_FILE).exists():
        raise ProjectError(f"{dst} already holds a project; choose a new folder.")
    return src, dst


def _pairs(root: Path) -> list[tuple[str, Path, Path | None]]:
    """(split, image, mask or None) for every image of the data set."""
    out = []
    for split, folder in dataset_subsets(root):
        masks = {p.stem: p for p in (folder / "masks").glob("*.png")} \
            if (folder / "masks").is_dir() else {}
        for img in find_images(folder / "images"):
            out.append((split, img, masks.get(img.stem)))
    return out


def import_dataset(source: str | os.PathLike[str], dest: str | os.PathLike[str],
                   class_names: list[str] | None = None) -> Project:
    src, dst = check_paths(source, dest)
    pairs = _pairs(src)
    if not pairs:
        raise ProjectError(f"No images found under {src}.")
    masks: dict[Path, np.ndarray] = {}
    top = -1
    for _, img, mpath in pairs:
        if mpath is not None:
            # The image's size from its header (when readable): a mask of another size is
            # refused now rather than imported into a project that cannot show it.
            m = read_mask(mpath, shape=read_image_size(img))
            masks[mpath] = m
            vals = m[m != 255]
            if vals.size:
                top = max(top, int(vals.max()))
    n_classes = max(top + 1, len(class_names or []), 2)
    names = list(class_names or [])
    names += [f"class {i}" for i in range(len(names), n_classes)]
    project = Project.create(dst, classes=[ClassInfo(n, default_color(i))
                                           for i, n in enumerate(names)], name=src.name)
    for split, img, mpath in pairs:
        added = project.add_images([img])
        if not added:
            continue  # the same file again (a link): the project lists it once
        entry = added[0]
        project.set_split(entry.id, split)
        if mpath is not None:
            project.save_mask(project.entry(entry.id), masks[mpath])
    project.save()
    return project
