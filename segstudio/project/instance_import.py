"""Objects into an instance project: how COCO annotations and labelme shapes become objects
(``coco_instance_maker``, ``labelme_instance_maker``), and the plan for a folder of instance
maps (``plan_instance_maps``). ``mask_import.import_masks`` carries the plans out.

- COCO: one object per annotation, its class the category's; painted larger first as in the
  semantic import. ``iscrowd`` annotations cover a group of objects not told apart, so their
  pixels become "not labelled" (training ignores them) rather than one false object. The ids
  of a segstudio export (``segstudio_object_id``) are kept when the import replaces a mask.
  A segmentation that cannot be decoded fails its image (listed with the reason; its labels
  stay as they were): an object left out would become background or part of its neighbour.
- labelme: one object per polygon, rectangle, circle or mask shape, painted in file order;
  shapes sharing a label and a ``group_id`` are one object. An embedded mask that cannot be
  read fails the image; shapes that enclose no area are skipped and listed, as always.
- Instance maps: ``<stem>.png`` (8/16-bit) or ``<stem>.tif``/``.tiff``, 0 = no object, from a
  folder, its ``instances/`` or a data set's ``<split>/instances/``. An object's class is the
  one most of its pixels have in the semantic mask beside it (``<...>/masks/<stem>.png``, the
  data-set layout) or else in the project's mask of the image, else the first object class.
  Pixels of no object are background (or the ``background`` class given); with merge they
  keep the project's labels.

A shape or annotation of class "background" (or ``__ignore__``) paints that class with no
object. Whatever an object loses to later ones is noted when nothing of it is left.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import MAX_OBJECTS, consistent_mask, next_free_id, object_ids
from segstudio.errors import MaskError
from segstudio.project.class_mapping import ClassMap
from segstudio.project.image_matching import ImageMatcher
from segstudio.project.import_plan import ImportJob, ImportPlan, InstanceMaker, MaskImportError
from segstudio.project.project import ImageEntry, Project, natural_key

if TYPE_CHECKING:
    from segstudio.io.labelme import LabelmeFile

INSTANCE_SUFFIXES = (".png", ".tif", ".tiff")


@dataclass
class Layer:
    """One thing to paint: its pixels, its class, whether it is a crowd, the object it belongs
    to (layers with the same key are one object) and the id the source gives it, if any."""
    pixels: np.ndarray
    value: int
    name: str
    key: Hashable
    crowd: bool = False
    wanted_id: Any = None


def paint_layers(layers: list[Layer], mask: np.ndarray, instances: np.ndarray,
                 merge: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Paint ``layers`` in order onto copies of ``mask`` and ``instances``. New objects get
    the ids the source gives when replacing (all distinct, in range), else the next free ids."""
    mask, instances = mask.copy(), instances.astype(np.uint32, copy=True)
    objects = [ly for ly in layers if not ly.crowd and ly.value not in (0, UNLABELLED)]
    wanted: dict[Hashable, Any] = {}
    for ly in objects:
        wanted.setdefault(ly.key, ly.wanted_id)
    ids = list(wanted.values())
    own = (not merge and bool(ids) and len(set(ids)) == len(ids)
           and all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_OBJECTS
                   for i in ids))
    start = next_free_id(instances)
    if not own and start - 1 + len(wanted) > MAX_OBJECTS:
        raise MaskError(f"an image holds at most {MAX_OBJECTS:,} objects")
    id_of = {k: (int(v) if own else start + n) for n, (k, v) in enumerate(wanted.items())}
    notes: list[str] = []
    for ly in layers:
        if ly.crowd:
            mask[ly.pixels], instances[ly.pixels] = UNLABELLED, 0
            notes.append(f"{ly.name}: iscrowd (a group of objects), imported as not labelled")
        elif ly.key in id_of:
            mask[ly.pixels], instances[ly.pixels] = ly.value, id_of[ly.key]
        else:
            mask[ly.pixels], instances[ly.pixels] = ly.value, 0
    left = set(object_ids(instances).tolist())
    names: dict[Hashable, str] = {}
    for ly in objects:
        names.setdefault(ly.key, ly.name)
    notes += [f"{names[k]}: covered by later shapes, no object left"
              for k, i in id_of.items() if i not in left]
    return mask, instances, notes


def coco_instance_maker(anns: list[dict[str, Any]], cats: dict[Any, int]) -> InstanceMaker:
    def make(shape: tuple[int, int], mask: np.ndarray, instances: np.ndarray,
             merge: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
        from segstudio.io.coco import annotation_mask

        found = []
        for order, a in enumerate(anns):
            name = f"annotation {a.get('id', '?')}"
            try:
                sel = annotation_mask(a["segmentation"], *shape)
            except (ValueError, TypeError, KeyError) as exc:
                # The whole image fails: an object left out would become background, or a
                # hole in the object beside it.
                raise MaskError(f"{name}: {exc}; nothing of this image was imported") from None
            found.append((int(np.count_nonzero(sel)), order, Layer(
                sel, cats[a["category_id"]], name, order, bool(a.get("iscrowd")),
                a.get("segstudio_object_id"))))
        layers = [ly for _, _, ly in sorted(found, key=lambda t: (-t[0], t[1]))]
        return paint_layers(layers, mask, instances, merge)
    return make


def labelme_instance_maker(lf: LabelmeFile, class_of: dict[str, int]) -> InstanceMaker:
    def make(shape: tuple[int, int], mask: np.ndarray, instances: np.ndarray,
             merge: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
        from segstudio.io.labelme import shape_mask

        notes: list[str] = []
        layers = []
        for n, s in enumerate(lf.shapes):
            name = f"'{s.label}' ({s.shape_type})"
            if s.label not in class_of:
                notes.append(f"{name}: no class")
                continue
            try:
                sel = shape_mask(s, *shape)
            except ValueError as exc:
                raise MaskError(f"{name}: {exc}; nothing of this image was imported") from None
            key = (s.label, s.group_id) if s.group_id is not None else n
            layers.append(Layer(sel, class_of[s.label], name, key))
        m, inst, more = paint_layers(layers, mask, instances, merge)
        return m, inst, notes + more
    return make


# ------------------------------------------------------------------- instance map folders
def object_class_map(instances: np.ndarray, semantic: np.ndarray | None,
                     default_class: int) -> np.ndarray:
    """uint8 H x W holding, at every object pixel, its object's class: the most frequent
    class other than background and "not labelled" that ``semantic`` gives its pixels, or
    ``default_class`` (also for every object when ``semantic`` is None). Other pixels: junk."""
    if semantic is None:
        vote = np.full(instances.shape, UNLABELLED, np.uint8)
    else:
        vote = np.where(semantic == 0, UNLABELLED, semantic).astype(np.uint8)
    return consistent_mask(instances, vote, default_class)


def instance_files(src: Path) -> list[Path]:
    """The instance maps of ``src``: a file, a folder, its instances/ or <split>/instances/."""
    if src.is_file():
        return [src]
    folders = [src / "instances"] if (src / "instances").is_dir() else []
    folders += [d / "instances" for d in sorted(src.iterdir())
                if d.is_dir() and (d / "instances").is_dir()]
    files = [p for f in folders or [src] for p in f.iterdir()
             if p.is_file() and p.suffix.lower() in INSTANCE_SUFFIXES
             and not p.name.startswith(".")]
    return sorted(files, key=natural_key)


def plan_instance_maps(project: Project, src: Path, matcher: ImageMatcher, classes: ClassMap,
                       zeros: int) -> ImportPlan:
    """``zeros``: the class of pixels in no object when a mask is replaced."""
    plan = ImportPlan()
    files = instance_files(src)
    if not files:
        raise MaskImportError(f"No instance maps (.png, .tif) in {src} (looked in instances/, "
                              "<split>/instances/ and the folder itself).")
    default = 1 if len(project.classes) > 1 else classes.index("object")
    for f in files:
        entry, why = matcher.find(f.name)
        if entry is None:
            plan.add_unmatched(f.name, why)
            continue
        beside = f.parent.parent / "masks" / f"{f.stem}.png"
        semantic = beside if f.parent.name == "instances" and beside.is_file() else None
        plan.jobs.append(ImportJob(entry, f.name, None, make_instances=_map_maker(
            project, entry, f, semantic, default, zeros)))
    return plan


def _map_maker(project: Project, entry: ImageEntry, path: Path, semantic: Path | None,
               default: int, zeros: int) -> InstanceMaker:
    def make(shape: tuple[int, int], mask: np.ndarray, instances: np.ndarray,
             merge: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
        from segstudio.io.instances import read_instances
        from segstudio.io.masks import read_mask

        try:
            ids = read_instances(path, shape=shape)
        except MaskError as exc:   # the summary names the file already
            text = str(exc)
            raise MaskError(text.removeprefix(f"{path.name}: ")) from None
        votes = (read_mask(semantic, shape=shape, num_classes=len(project.classes))
                 if semantic is not None else project.load_mask(entry, shape))
        cls = object_class_map(ids, votes, default)
        sel = ids != 0
        if merge:
            mask, instances = mask.copy(), instances.astype(np.uint32, copy=True)
            offset = next_free_id(instances) - 1
            if offset and int(ids.max(initial=0)) + offset > MAX_OBJECTS:
                raise MaskError(f"an image holds at most {MAX_OBJECTS:,} objects")
            instances[sel] = ids[sel] + offset
        else:
            mask = np.full(shape, zeros, np.uint8)
            instances = ids
        mask[sel] = cls[sel]
        return mask, instances, []
    return make
