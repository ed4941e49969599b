"""Export masks: ``export_masks(project, out_dir, formats, which, predictions)``.

What is written is exactly the in-app mask, pixel for pixel (no resampling, no smoothing,
no per-class files):

    OUT/masks/<image-id>.png   "index": one 8-bit grayscale PNG per image, pixel value =
                               class index, 255 = not labelled. Every reader gives the class
                               indices: OpenCV (``cv2.imread(p, cv2.IMREAD_UNCHANGED)``),
                               Pillow, scikit-image, imageio. With ``palette=True`` it is an
                               indexed (palette) PNG instead, holding the class colours with
                               255 transparent (the project's own masks/ format): viewers
                               show colours, but OpenCV's imread returns those colours, not
                               the indices.
    OUT/color/<image-id>.png   "color": RGBA PNG, every labelled pixel in its class colour at
                               full opacity (what the canvas shows at 100 % mask opacity),
                               unlabelled pixels fully transparent (0, 0, 0, 0).
    OUT/coco.json              "coco": COCO instance annotations, one per 8-connected
                               component per class, compressed RLE (see segstudio.io.coco);
                               in an instance project one per object instead.
    OUT/instances/<id>.png     "instances" (instance projects): the instance map, 16-bit PNG
                               (uint32 TIFF, .tif, once an id passes 65,535), 0 = no object.
    OUT/measurements.csv       "measurements" (instance projects): one row per object (see
                               segstudio.io.instance_export).

``which``: "labelled" = images with at least one labelled pixel; "all" = every image (images
never painted give an all-255 index mask and no annotations); "predictions" = the label maps
in ``predictions`` ({image id: H x W uint8 array, or an object with ``labels`` and optionally
``confidence`` such as segstudio.inference.tiling.Prediction}).

The image id is the file stem (ids are the image file stems made unique), so the index
masks import back with ``import_masks(project, OUT, "index")``. Every file is written
atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.core.classes import UNLABELLED, ClassInfo, palette_rgba
from segstudio.errors import ConfigError, SegStudioError
from segstudio.io.atomic import SaveError, atomic_write_bytes, atomic_write_text
from segstudio.io.files import resolve_path
from segstudio.io.formats import parse_format_list
from segstudio.project.project import ImageEntry, Project

FORMATS = ("index", "color", "instances", "coco", "measurements")
SEMANTIC_FORMATS = ("index", "color", "coco")   # what a semantic project exports by default
OBJECT_FORMATS = ("instances", "measurements")  # instance projects only
WHICH = ("labelled", "all", "predictions")
INDEX_DIR, COLOR_DIR, COCO_FILE = "masks", "color", "coco.json"

Progress = Callable[[int, int], "bool | None"]


@dataclass(frozen=True)
class ExportSummary:
    out_dir: Path
    exported: tuple[str, ...] = ()                    # image ids written
    files: tuple[Path, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()          # (image id, reason)
    cancelled: bool = False

    def describe(self, limit: int = 10) -> str:
        text = f"Exported {len(self.exported)} mask(s) to {self.out_dir}."
        if self.cancelled:
            text += " Cancelled before the end (the COCO file was not written)."
        if self.failed:
            text += f"\nNot exported ({len(self.failed)}):"
            text += "".join(f"\n  {a}: {b}" for a, b in self.failed[:limit])
            if len(self.failed) > limit:
                text += f"\n  ... and {len(self.failed) - limit} more"
        return text


def color_image(mask: np.ndarray, classes: Sequence[ClassInfo]) -> np.ndarray:
    """H x W x 4 uint8: class colours, opaque; unlabelled (and unknown values) transparent."""
    return palette_rgba(list(classes))[mask]


def encode_color_png(mask: np.ndarray, classes: Sequence[ClassInfo]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(color_image(mask, classes), "RGBA").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def encode_index_png(mask: np.ndarray, classes: Sequence[ClassInfo],
                     palette: bool = False) -> bytes:
    """The exported index mask: 8-bit grayscale (value = class index), or with ``palette``
    an indexed PNG carrying the class colours (see the module docstring)."""
    import io

    from PIL import Image

    from segstudio.io.masks import encode_mask_png

    if palette:
        return encode_mask_png(mask, list(classes))
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError("mask must be a 2-D uint8 array")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask), "L").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """"a,b" or an iterable -> validated tuple in canonical order."""
    aliases = {"colour": "color", "png": "index", "json": "coco", "instance": "instances",
               "csv": "measurements"}
    return parse_format_list(formats, FORMATS, aliases, "mask")


def _check_out_dir(project: Project | None, out: Path) -> None:
    if project is None:
        return
    masks = resolve_path(project.masks_dir)
    for target in (out, out / INDEX_DIR):
        if target == masks or masks in target.parents:
            raise ConfigError(f"Exporting into {out} would overwrite the project's own masks; "
                              "choose another folder (e.g. the project's exports/ folder).")


def _labels_of(pred: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(pred, np.ndarray):
        return pred, None
    labels = getattr(pred, "labels", None)
    if not isinstance(labels, np.ndarray):
        raise TypeError("a prediction must be an array or have a 'labels' array")
    conf = getattr(pred, "confidence", None)
    return labels, conf if isinstance(conf, np.ndarray) else None


class MaskWriter:
    """Writes masks one by one in the chosen formats and the COCO file at the end. Used by
    export_masks and by ``segstudio predict``; usable by anything that produces masks."""

    def __init__(self, out_dir: str | os.PathLike[str], classes: Sequence[ClassInfo],
                 formats: Iterable[str] = FORMATS, description: str = "",
                 index_dir: str = INDEX_DIR, palette: bool = False, min_area: int = 0) -> None:
        self.out = Path(out_dir)
        self.palette = palette
        self.min_area = int(min_area)  # COCO: smaller components are left out
        self.index_dir = self.out / index_dir if index_dir else self.out
        self.classes = list(classes)
        self.formats = parse_formats(formats)
        self.description = description
        self.files: list[Path] = []
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.out.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, mask: np.ndarray, file_name: str | None = None,
            confidence: np.ndarray | None = None, extra: dict[str, Any] | None = None
            ) -> list[Path]:
        """Write ``mask`` as ``<name>.png`` in each per-image format and record it for COCO
        (``file_name``: the image file the COCO record names; default ``name``)."""
        from segstudio.io.coco import image_annotations

        if mask.dtype != np.uint8 or mask.ndim != 2:
            raise ValueError("a mask must be a 2-D uint8 array")
        k = len(self.classes)
        bad = (mask >= k) & (mask != UNLABELLED)
        if bad.any():
            raise ConfigError(f"{name}: the mask holds class values "
                              f"{np.unique(mask[bad])[:5].tolist()} but there are only {k} "
                              "classes.")
        written = []
        if "index" in self.formats:
            p = self.index_dir / f"{name}.png"
            atomic_write_bytes(p, encode_index_png(mask, self.classes, self.palette))
            written.append(p)
        if "color" in self.formats:
            p = self.out / COLOR_DIR / f"{name}.png"
            atomic_write_bytes(p, encode_color_png(mask, self.classes))
            written.append(p)
        if "coco" in self.formats:
            image_id = len(self.images) + 1
            rec = {"id": image_id, "file_name": file_name or name,
                   "width": int(mask.shape[1]), "height": int(mask.shape[0])}
            rec.update(extra or {})
            self.images.append(rec)
            self.annotations += image_annotations(mask, image_id, len(self.annotations) + 1,
                                                  k, confidence, self.min_area)
        self.files += written
        return written

    def finish(self) -> list[Path]:
        """Write the COCO file (if asked for); returns the paths it wrote."""
        from segstudio.io.coco import coco_document

        if "coco" not in self.formats:
            return []
        doc = coco_document(self.images, self.annotations, self.classes, self.description)
        p = self.out / COCO_FILE
        atomic_write_text(p, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
        self.files.append(p)
        return [p]


def default_formats(project: Project) -> tuple[str, ...]:
    """What an export writes when no format is chosen: every format of the project's task."""
    return FORMATS if project.is_instances else SEMANTIC_FORMATS


def export_masks(project: Project, out_dir: str | os.PathLike[str],
                 formats: str | Iterable[str] | None = None, which: str = "labelled",
                 predictions: Mapping[str, Any] | None = None,
                 classes: Sequence[ClassInfo] | None = None,
                 progress: Progress | None = None, palette: bool = False) -> ExportSummary:
    """Export the project's masks (or ``predictions``) to ``out_dir``; see the module doc.
    ``formats``: default ``default_formats(project)``. ``palette``: index masks as palette
    PNGs instead of grayscale.

    ``classes``: the class table for names/colours (default: the project's; pass the model's
    classes when exporting predictions of a model trained on another class list).
    ``progress(done, total)`` is called after each image; returning False cancels (the files
    written so far stay, the COCO file is not written). Images that cannot be exported (an
    unreadable image for ``which="all"``, a corrupt mask) are listed in the summary and the
    others are still written.

    In an instance project "coco" has one annotation per object, "instances" and
    "measurements" add the instance maps and the measurement table; predictions then need
    ``instances`` and ``object_classes`` (segstudio.inference.tiling.Prediction of an
    instance model)."""
    from segstudio.io.images import read_image_size
    from segstudio.io.masks import new_mask, read_mask
    from segstudio.project.image_matching import image_shape

    if which not in WHICH:
        raise ConfigError(f"Which masks to export must be one of {', '.join(WHICH)}, "
                          f"not {which!r}.")
    chosen = parse_formats(default_formats(project) if formats is None else formats)
    if not project.is_instances and set(chosen) & set(OBJECT_FORMATS):
        raise ConfigError("Instance maps and measurements need an instance project; this one "
                          "is semantic (segstudio import DIR PROJECT --instances makes one).")
    if which == "predictions" and predictions is None:
        raise ConfigError("No predictions to export: predict the images first.")
    out = resolve_path(out_dir)
    _check_out_dir(project, out)
    cls = list(classes) if classes is not None else list(project.classes)
    description = (f"segstudio project {project.name}"
                   + (" (predictions)" if which == "predictions" else ""))
    per_object = [f for f in chosen if project.is_instances and f in ("coco",) + OBJECT_FORMATS]
    per_mask = [f for f in chosen if f not in per_object]
    writer = MaskWriter(out, cls, per_mask, description, palette=palette) if per_mask else None
    objects = _object_writer(out, cls, per_object, description)
    failed: list[tuple[str, str]] = []
    exported: list[str] = []
    if which == "predictions":
        assert predictions is not None
        known = {e.id for e in project.images}
        failed += [(k, "not an image of this project") for k in predictions if k not in known]
        entries = [e for e in project.images if e.id in predictions]
    else:
        entries = list(project.images)
    total = len(entries)
    cancelled = False
    for n, entry in enumerate(entries, 1):
        try:
            conf = pred = None
            if which == "predictions":
                pred = predictions[entry.id]  # type: ignore[index]
                mask, conf = _labels_of(pred)
                mask = np.ascontiguousarray(mask, dtype=np.uint8)
            else:
                path = project.mask_path(entry)
                if path.exists():
                    # The image's size from its header, when it can be read: a mask of another
                    # size is refused here as everywhere else.
                    mask = read_mask(path, shape=read_image_size(project.image_path(entry)),
                                     num_classes=len(cls))
                elif which == "all":
                    mask = new_mask(*image_shape(project, entry))
                else:
                    mask = None
                if which == "labelled" and (mask is None or not (mask != UNLABELLED).any()):
                    mask = None
            if mask is not None:
                file_name = _coco_file_name(project, entry)
                if objects is not None:   # first: a bad instance map fails the image whole
                    objects.add(project, entry, mask, pred, file_name, failed)
                if writer is not None:
                    writer.add(entry.id, mask, file_name=file_name, confidence=conf,
                               extra={"segstudio_id": entry.id})
                exported.append(entry.id)
        except SaveError:
            raise  # the destination is unwritable: every other image would fail as well
        except (SegStudioError, TypeError, ValueError) as exc:
            failed.append((entry.id, str(exc)))
        if progress is not None and progress(n, total) is False:
            cancelled = True
            break
    if not cancelled:
        for w in (writer, objects):
            if w is not None:
                w.finish()
    files = (writer.files if writer is not None else []) + (
        objects.writer.files if objects is not None else [])
    return ExportSummary(out, tuple(exported), tuple(files), tuple(failed), cancelled)


def _object_writer(out: Path, classes: list[ClassInfo], formats: list[str],
                   description: str) -> _ObjectExport | None:
    if not formats:
        return None
    from segstudio.io.instance_export import InstanceWriter

    return _ObjectExport(InstanceWriter(out, classes, formats, description))


class _ObjectExport:
    """The per-object part of an instance project's export (instance maps, COCO per object,
    measurements), fed one image at a time."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def add(self, project: Project, entry: ImageEntry, mask: np.ndarray, pred: Any,
            file_name: str, failed: list[tuple[str, str]]) -> None:
        from segstudio.core.instances import object_classes
        from segstudio.errors import ImageReadError
        from segstudio.io.images import read_image
        from segstudio.io.instance_export import InstanceItem

        if pred is not None:
            inst = getattr(pred, "instances", None)
            if not isinstance(inst, np.ndarray):   # the masks are still exported
                failed.append((entry.id, "the prediction holds no objects (a semantic "
                                         "model's): no instance map, COCO or measurements"))
                return
            classes = getattr(pred, "object_classes", None) or object_classes(inst, mask)
        else:
            inst = project.load_instances(entry, mask.shape)
            classes = object_classes(inst, mask)
        image = None
        if "measurements" in self.writer.formats:
            try:
                image = read_image(project.image_path(entry)).data
            except ImageReadError as exc:
                failed.append((entry.id, f"{exc} (its measurements have no mean_intensity)"))
            if image is not None and image.shape[:2] != inst.shape:
                failed.append((entry.id, "the image is not the size of its labels (its "
                                         "measurements have no mean_intensity)"))
                image = None
        self.writer.add(InstanceItem(entry.id, inst, classes, image, file_name,
                                     extra={"segstudio_id": entry.id}))

    def finish(self) -> None:
        self.writer.finish()


def _coco_file_name(project: Project, entry: ImageEntry) -> str:
    """The image as COCO names it: its path relative to the project folder when inside it,
    otherwise its absolute path (POSIX separators)."""
    return entry.path
