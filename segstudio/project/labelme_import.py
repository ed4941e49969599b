"""Plans the import of labelme JSON files (one file, or a folder searched recursively): each
is matched to an image by its ``imagePath`` (relative to the JSON file), then by stem, and its
shapes are painted in file order (see :mod:`segstudio.io.labelme` for the pixel rules). In an
instance project each shape is one object (see instance_import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segstudio.errors import MaskError
from segstudio.project.class_mapping import ClassMap
from segstudio.project.image_matching import ImageMatcher
from segstudio.project.import_plan import ImportJob, ImportPlan, MaskImportError, MaskMaker
from segstudio.project.instance_import import labelme_instance_maker
from segstudio.project.project import natural_key

if TYPE_CHECKING:  # segstudio.io.labelme is imported when a file is read
    from segstudio.io.labelme import LabelmeFile


def plan_labelme(src: Path, matcher: ImageMatcher, classes: ClassMap) -> ImportPlan:
    from segstudio.io.labelme import read_labelme

    plan = ImportPlan()
    if src.is_file():
        files = [src]
    else:
        files = sorted((p for p in src.rglob("*.json") if not p.name.startswith(".")),
                       key=natural_key)
    if not files:
        raise MaskImportError(f"No labelme .json files in {src}.")
    for f in files:
        item = f.name if src.is_file() else f.relative_to(src).as_posix()
        try:
            lf = read_labelme(f)
        except MaskError as exc:
            if src.is_file():
                raise
            plan.failed.append((item, str(exc)))
            continue
        entry, why = (None, "")
        if lf.image_path:
            entry, why = matcher.find(lf.image_path, base=f.parent)
        if entry is None:
            entry, why2 = matcher.find(f.stem + ".json")
            why = why or why2
        if entry is None:
            plan.add_unmatched(f"{item} (image '{lf.image_path or f.stem}')", why)
            continue
        plan.skipped.extend(f"{item}: {t}" for t in lf.skipped)
        class_of = {s.label: classes.index(s.label) for s in lf.shapes}
        declared = (lf.height, lf.width) if lf.height and lf.width else None
        plan.jobs.append(ImportJob(entry, item, _labelme_maker(lf, class_of), declared,
                                   make_instances=labelme_instance_maker(lf, class_of)))
    return plan


def _labelme_maker(lf: LabelmeFile, class_of: dict[str, int]) -> MaskMaker:
    def make(shape: tuple[int, int], base: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from segstudio.io.labelme import rasterise

        return rasterise(lf, shape[0], shape[1], class_of, base)
    return make
