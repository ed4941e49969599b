"""Import masks made elsewhere into a project: ``import_masks(project, source, format)``.

Formats:

- ``"index"``: a folder of single-channel PNG masks (values = class index, 255 = not
  labelled), one per image, matched by file stem. ``source`` may be the folder of PNGs, a
  folder with a ``masks/`` subfolder (the layout of segstudio's own export), or a data set
  laid out as ``<split>/masks/*.png`` (the layout of ../shared/data; to make a *new* project
  from such a data set in one step use ``segstudio import``). Values beyond the project's
  classes create classes named "class N".
- ``"labelme"``: a labelme JSON file or a folder of them (searched recursively). Images are
  matched by ``imagePath`` (relative to the JSON file), then by stem. Shapes are painted in
  file order (later covers earlier). See :mod:`segstudio.io.labelme` for the pixel rules.
- ``"coco"``: a COCO JSON file. Images are matched by ``file_name`` (relative to the project,
  or by stem). Polygons, uncompressed and compressed RLE are read; polygons are rasterised
  exactly as pycocotools does. Overlapping annotations: larger ones are painted first, so a
  smaller object lying on a larger one stays visible (equal areas: file order, later covers
  earlier). ``iscrowd`` annotations are imported like the others.

Labels and categories are matched to classes by name, ignoring case; an unknown name creates
a class (with the COCO category's ``color`` when it has a valid one), and the summary lists
the classes created. The labelme label ``__ignore__`` paints "not labelled" and
``_background_`` means the class "background".

Pixels no annotation covers are "not labelled" (255), unless ``background`` names a class to
fill them with. ``mode="replace"`` (default) replaces an image's mask with the imported one;
``mode="merge"`` paints the imported labels over the existing mask (whose unlabelled pixels
take the ``background`` class first, if one is given).

In an instance project (``project.is_instances``) each annotation, shape or object of an
instance map becomes an object with an id of its own (see :mod:`segstudio.project.instance_import`),
and the instance maps are written with the masks. Formats there: ``"instances"`` (a folder of
instance maps), ``"coco"``, ``"labelme"``; index masks hold no objects and are refused, as are
instance maps in a semantic project.

Nothing is lost silently: the returned :class:`ImportSummary` lists what was imported, what
matched no image, what failed and why, and the shapes or annotations that were skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.errors import ConfigError, MaskError, SegStudioError
from segstudio.project.class_mapping import (
    BACKGROUND_ALIAS,
    IGNORE_LABEL,
    ClassMap,
    background_value,
)
from segstudio.project.coco_import import plan_coco, read_coco_json
from segstudio.project.image_matching import ImageMatcher, image_shape
from segstudio.project.import_plan import ImportJob, MaskImportError
from segstudio.project.index_import import plan_index
from segstudio.project.instance_import import plan_instance_maps
from segstudio.project.labelme_import import plan_labelme
from segstudio.project.project import ImageEntry, Project

__all__ = [
    "BACKGROUND_ALIAS", "FORMATS", "IGNORE_LABEL", "MODES", "ImageMatcher", "ImportSummary",
    "MaskImportError", "Progress", "image_shape", "import_masks", "read_coco_json",
]

FORMATS = ("index", "labelme", "coco", "instances")
MODES = ("replace", "merge")

Progress = Callable[[int, int], "bool | None"]


@dataclass(frozen=True)
class ImportSummary:
    """What an import did. ``imported``: ids of images whose mask was written;
    ``unmatched``: source items that match no image of the project; ``failed``: (item, reason)
    for items that matched but could not be imported; ``created_classes``: classes added to
    the project; ``skipped``: shapes/annotations left out, with the reason."""

    imported: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    created_classes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    cancelled: bool = False   # stopped through ``progress``: nothing was written

    @property
    def complete(self) -> bool:
        return not (self.unmatched or self.failed or self.skipped or self.cancelled)

    def describe(self, limit: int = 10) -> str:
        lines = [f"Imported masks for {len(self.imported)} image(s)."]
        if self.cancelled:
            lines = ["Import cancelled: nothing was written."]
        if self.created_classes:
            names = list(self.created_classes)
            more = f" and {len(names) - limit} more" if len(names) > limit else ""
            lines.append(f"New classes ({len(names)}): " + ", ".join(names[:limit]) + more + ".")

        def block(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {t}" for t in items[:limit])
                if len(items) > limit:
                    lines.append(f"  ... and {len(items) - limit} more")

        block("Matched no image of the project", list(self.unmatched))
        block("Failed", [f"{a}: {b}" for a, b in self.failed])
        block("Skipped", list(self.skipped))
        return "\n".join(lines)


def import_masks(project: Project, source: str | os.PathLike[str], format: str, *,
                 mode: str = "replace", background: str | None = None,
                 progress: Progress | None = None) -> ImportSummary:
    """Import masks from ``source`` into ``project`` (see the module docstring).

    All or nothing: every mask is made (and encoded) in memory first; only then are they
    written, with segstudio.json, as one ``atomic_write_many`` (every file complete before
    any replaces its previous version). An error on the way (an unexpected exception, a full
    disk) leaves every mask and the project file as they were, and the class table too.
    Items that fail for a reason of their own (a size mismatch, a corrupt mask) are listed
    in the summary's ``failed`` and the others are imported. ``progress(done, total)`` is
    called after each image is made; returning False cancels the import: nothing is
    written (``summary.cancelled``)."""
    from segstudio.core.instances import count_objects
    from segstudio.io.atomic import atomic_write_many
    from segstudio.io.instances import encode_instances
    from segstudio.io.masks import encode_mask_png, labelled_fraction

    if format not in FORMATS:
        raise ConfigError(f"Unknown mask format {format!r}; choose one of {', '.join(FORMATS)}.")
    if mode not in MODES:
        raise ConfigError(f"Unknown import mode {mode!r}; choose replace or merge.")
    src = Path(source)
    if not src.exists():
        raise MaskImportError(f"{src} does not exist.")
    if project.is_instances and format == "index":
        raise ConfigError("Index masks hold classes, not objects: an instance project imports "
                          "instance maps (--format instances), COCO or labelme.")
    if not project.is_instances and format == "instances":
        raise ConfigError("Instance maps need an instance project; this one is semantic "
                          "(segstudio import DIR PROJECT --instances makes one).")
    fill = background_value(project, background)
    classes = ClassMap(project)
    matcher = ImageMatcher(project)
    before_classes = list(project.classes)
    before_images = list(project.images)
    try:
        if format == "index":
            plan = plan_index(project, src, matcher, classes)
        elif format == "instances":
            zeros = 0 if background is None else fill   # pixels of no object: background
            plan = plan_instance_maps(project, src, matcher, classes, zeros)
        elif format == "labelme":
            plan = plan_labelme(src, matcher, classes)
        else:
            plan = plan_coco(src, matcher, classes)
        failed = list(plan.failed)
        skipped = list(plan.skipped)
        made: list[tuple[ImageEntry, bytes, float]] = []
        made_instances: list[tuple[ImageEntry, bytes, str, int]] = []
        seen: set[str] = set()
        total = len(plan.jobs)
        cancelled = False
        for n, job in enumerate(plan.jobs, 1):
            if job.entry.id in seen:
                failed.append((job.item, f"image '{job.entry.path}' was already imported from "
                                         "another file; this one was left out"))
                continue
            seen.add(job.entry.id)
            try:
                entry = project.entry(job.entry.id)
                if project.is_instances:
                    mask, inst = _make_labels(project, entry, job, fill, mode, skipped)
                    data, suffix = encode_instances(inst)
                    made_instances.append((entry, data, suffix, count_objects(inst)))
                else:
                    mask = _make_mask(project, entry, job, fill, mode, skipped)
                made.append((entry, encode_mask_png(mask, project.classes),
                             labelled_fraction(mask)))
            except SegStudioError as exc:
                failed.append((job.item, str(exc)))
            except MemoryError:
                failed.append((job.item, "not enough memory to make this mask"))
            if progress is not None and progress(n, total) is False:
                cancelled = True
                break
        if cancelled:
            project.classes[:] = before_classes
            return ImportSummary(unmatched=tuple(plan.unmatched), failed=tuple(failed),
                                 skipped=tuple(skipped), cancelled=True)
        objects = {e.id: n for e, _, _, n in made_instances}
        for entry, _, fraction in made:
            project.set_labelled(entry.id, fraction, objects.get(entry.id))
        if made or classes.created:
            # The project file first: should a crash fall between the renames, a mask never
            # holds a class the project does not know; instance maps before the masks, so a
            # mask never names objects that were not saved.
            if made_instances:
                project.instances_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_many([(project.file, project.file_text().encode("utf-8"))]
                              + [(project.instances_dir / f"{e.id}{suffix}", data)
                                 for e, data, suffix, _ in made_instances]
                              + [(project.mask_path(e), data) for e, data, _ in made])
            for e, _, suffix, _ in made_instances:   # the map of the other suffix is stale
                stale = project.instances_dir / f"{e.id}{'.tif' if suffix == '.png' else '.png'}"
                stale.unlink(missing_ok=True)
    except BaseException:
        # Nothing was written: leave the project as it was in memory too.
        project.classes[:] = before_classes
        project.images[:] = before_images
        raise
    return ImportSummary(tuple(e.id for e, _, _ in made), tuple(plan.unmatched),
                         tuple(failed), tuple(classes.created), tuple(skipped))


def _make_mask(project: Project, entry: ImageEntry, job: ImportJob, fill: int, mode: str,
               skipped: list[str]) -> np.ndarray:
    """The imported mask of one image (nothing written)."""
    if job.make is None:
        raise MaskError("this source holds objects only: import it into an instance project")
    shape = _shape(project, entry, job, skipped)
    mask, notes = job.make(shape, _base_mask(project, entry, shape, fill, mode))
    skipped.extend(f"{job.item}: {t}" for t in notes)
    return mask


def _make_labels(project: Project, entry: ImageEntry, job: ImportJob, fill: int, mode: str,
                 skipped: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The imported mask and instance map of one image of an instance project."""
    if job.make_instances is None:
        raise MaskError("this source holds no objects")
    shape = _shape(project, entry, job, skipped)
    base = _base_mask(project, entry, shape, fill, mode)
    merge = mode == "merge"
    old = project.load_instances(entry, shape) if merge else np.zeros(shape, np.uint32)
    mask, inst, notes = job.make_instances(shape, base, old, merge)
    skipped.extend(f"{job.item}: {t}" for t in notes)
    return mask, inst


def _shape(project: Project, entry: ImageEntry, job: ImportJob,
           skipped: list[str]) -> tuple[int, int]:
    """The image's size (or the size the source gives, if the image cannot be read)."""
    from segstudio.io.images import DEFAULT_MAX_PIXELS

    try:
        shape = image_shape(project, entry)
    except SegStudioError as exc:
        given = job.declared or job.fallback
        if given is None:
            raise
        if given[0] <= 0 or given[1] <= 0 or given[0] * given[1] > DEFAULT_MAX_PIXELS:
            raise MaskError(f"image unreadable ({exc}), and the size the file gives, "
                            f"{given[1]} x {given[0]}, is not one segstudio can use") from None
        shape = given
        skipped.append(f"{job.item}: image unreadable ({exc}); used the size the file gives, "
                       f"{shape[1]} x {shape[0]}")
    if job.declared is not None and tuple(job.declared) != tuple(shape):
        raise MaskError(f"the file describes a {job.declared[1]} x {job.declared[0]} image but "
                        f"'{entry.path}' is {shape[1]} x {shape[0]}")
    return (int(shape[0]), int(shape[1]))


def _base_mask(project: Project, entry: ImageEntry, shape: tuple[int, int], fill: int,
               mode: str) -> np.ndarray:
    """The mask the imported labels are painted on: all `fill` (replace), or the existing
    mask with its unlabelled pixels set to `fill` (merge)."""
    base = np.full(shape, fill, np.uint8)
    if mode == "merge":
        old = project.load_mask(entry, shape)
        base = np.where(old == UNLABELLED, base, old).astype(np.uint8)
    return base
