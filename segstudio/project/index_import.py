"""Plans the import of index masks: single-channel PNGs (values = class index, 255 = not
labelled) matched to images by file stem, from a folder of PNGs, a folder with ``masks/`` or
a data set laid out as ``<split>/masks/*.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.errors import MaskError
from segstudio.project.class_mapping import ClassMap
from segstudio.project.image_matching import ImageMatcher
from segstudio.project.import_plan import ImportJob, ImportPlan, MaskImportError, MaskMaker
from segstudio.project.project import Project, natural_key


def index_files(src: Path) -> list[Path]:
    """The PNG masks of ``src`` (a file, a folder, its masks/ or its <split>/masks/)."""
    if src.is_file():
        return [src]
    folders = []
    if (src / "masks").is_dir():
        folders.append(src / "masks")
    folders += [d / "masks" for d in sorted(src.iterdir())
                if d.is_dir() and (d / "masks").is_dir()]
    if not folders:
        folders = [src]
    files = [p for f in folders for p in f.iterdir()
             if p.is_file() and p.suffix.lower() == ".png" and not p.name.startswith(".")]
    return sorted(files, key=natural_key)


def plan_index(project: Project, src: Path, matcher: ImageMatcher,
               classes: ClassMap) -> ImportPlan:
    from segstudio.io.masks import read_mask

    plan = ImportPlan()
    files = index_files(src)
    if not files:
        raise MaskImportError(f"No PNG masks in {src} (looked in masks/, <split>/masks/ and the "
                              "folder itself).")
    top = len(project.classes) - 1
    for f in files:
        entry, why = matcher.find(f.name)
        if entry is None:
            plan.add_unmatched(f.name, why)
            continue
        try:
            m = read_mask(f)  # values checked below, after classes are known
        except MaskError as exc:
            plan.failed.append((f.name, str(exc)))
            continue
        vals = m[m != UNLABELLED]
        if vals.size:
            top = max(top, int(vals.max()))
        plan.jobs.append(ImportJob(entry, f.name, _index_maker(f), fallback=m.shape))
    for i in range(len(project.classes), top + 1):
        classes.index(f"class {i}")
    return plan


def _index_maker(path: Path) -> MaskMaker:
    def make(shape: tuple[int, int], base: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from segstudio.io.masks import read_mask

        m = read_mask(path, shape=shape)
        return np.where(m == UNLABELLED, base, m).astype(np.uint8), []
    return make
