"""Plans the import of a COCO JSON file: categories become classes, each image record is
matched to a project image by ``file_name``, and its annotations (polygons, uncompressed or
compressed RLE) are painted larger first, so a smaller object on a larger one stays visible.
In an instance project each annotation is one object (see instance_import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segstudio.project.class_mapping import ClassMap
from segstudio.project.image_matching import ImageMatcher
from segstudio.project.import_plan import ImportJob, ImportPlan, MaskImportError, MaskMaker
from segstudio.project.instance_import import coco_instance_maker


def read_coco_json(path: Path) -> dict[str, Any]:
    from segstudio.io.jsonfile import JSONFileError, read_json

    try:
        data = read_json(path)
    except FileNotFoundError:
        raise MaskImportError(f"{path.name}: cannot be read (file not found).") from None
    except JSONFileError as exc:
        raise MaskImportError(str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations", []), list) \
            or not isinstance(data.get("categories"), list):
        raise MaskImportError(f"{path.name}: not a COCO file (needs 'images', 'annotations' and "
                              "'categories' lists).")
    return data


def plan_coco(src: Path, matcher: ImageMatcher, classes: ClassMap) -> ImportPlan:
    plan = ImportPlan()
    if src.is_dir():
        cands = sorted(src.glob("*.json"))
        if len(cands) != 1:
            raise MaskImportError(f"Give the COCO .json file itself ({len(cands)} .json files in "
                                  f"{src}).")
        src = cands[0]
    data = read_coco_json(src)
    # COCO ids are whatever JSON value the file uses (usually ints): keys as they are.
    cats: dict[Any, int] = {}
    for c in data["categories"]:
        if not isinstance(c, dict) or "id" not in c or not str(c.get("name", "")).strip():
            plan.skipped.append(f"category {c!r}: needs an id and a name")
            continue
        color = c.get("color") if isinstance(c.get("color"), str) else None
        cats[c["id"]] = classes.index(str(c["name"]), color)
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for i, a in enumerate(data.get("annotations", [])):
        if not isinstance(a, dict) or "image_id" not in a or "segmentation" not in a:
            plan.skipped.append(f"annotation #{i + 1}: needs image_id and segmentation")
            continue
        if a.get("category_id") not in cats:
            plan.skipped.append(f"annotation {a.get('id', f'#{i + 1}')}: unknown category "
                                f"{a.get('category_id')!r}")
            continue
        by_image.setdefault(a["image_id"], []).append(a)
    known_ids: set[Any] = set()
    for img in data["images"]:
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            plan.skipped.append(f"image record {str(img)[:80]}: needs id and file_name")
            continue
        known_ids.add(img["id"])
        name = str(img["file_name"])
        entry, why = matcher.find(name, base=src.parent)
        anns = by_image.get(img["id"], [])
        if entry is None:
            plan.add_unmatched(f"{name} ({len(anns)} annotation(s))", why)
            continue
        try:
            declared = (int(img["height"]), int(img["width"]))
        except (KeyError, TypeError, ValueError):
            declared = None
        plan.jobs.append(ImportJob(entry, name, _coco_maker(anns, cats), declared,
                                   make_instances=coco_instance_maker(anns, cats)))
    orphans = sum(len(v) for k, v in by_image.items() if k not in known_ids)
    if orphans:
        plan.skipped.append(f"{orphans} annotation(s) refer to image ids not in 'images'")
    return plan


def _coco_maker(anns: list[dict[str, Any]], cats: dict[Any, int]) -> MaskMaker:
    def make(shape: tuple[int, int], base: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from segstudio.io.coco import annotation_mask

        h, w = shape
        notes: list[str] = []
        layers: list[tuple[int, int, np.ndarray, int]] = []
        for order, a in enumerate(anns):
            try:
                sel = annotation_mask(a["segmentation"], h, w)
            except (ValueError, TypeError, KeyError) as exc:
                notes.append(f"annotation {a.get('id', '?')}: {exc}")
                continue
            layers.append((int(np.count_nonzero(sel)), order, sel, cats[a["category_id"]]))
        out = base.copy()
        # Larger first, so smaller objects on top of larger ones stay visible; ties: file order.
        for _, _, sel, value in sorted(layers, key=lambda t: (-t[0], t[1])):
            out[sel] = value
        return out, notes
    return make
