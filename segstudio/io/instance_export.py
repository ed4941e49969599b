"""Per-object outputs of instance maps: instance map files, COCO with one annotation per object
and a measurement table (CSV). Knows no Project: the project export (project/mask_export.py)
and ``segstudio predict --instances`` write the same files with the same code.

    write_instance_map(path, instances)          16-bit PNG, uint32 TIFF beyond 65,535 ids
    object_annotations(instances, object_classes, image_id, first_id)   COCO, one per object
    instance_coco_document(images, classes)      the whole COCO document of a batch
    measurement_rows(image_id, instances, object_classes, image, class_names)
    write_measurements_csv(path, rows)
    InstanceWriter(out_dir, classes, formats)    .add(...) one image at a time, .finish()
    write_instance_outputs(out_dir, items, classes, formats)   the same for a list

``object_classes`` maps each object id to its class index (the class its pixels hold in the
semantic mask; ``core.instances.object_classes`` computes it). COCO follows io/coco.py's
conventions: category id = class index + 1, compressed RLE holding exactly the object's
pixels (byte-identical to pycocotools), bbox [x, y, width, height], plus the object's id in
``segstudio_object_id`` so an import gives the same ids back. Measurements are scikit-image's
``regionprops_table``; centroids are (row, column) means and bbox_y1 / bbox_x1 are exclusive
(numpy slice ends), as scikit-image gives them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.core.instances import object_ids
from segstudio.io.atomic import atomic_write_text
from segstudio.io.instances import write_instances

INSTANCE_FORMATS = ("instances", "coco", "measurements")
INSTANCES_DIR, COCO_FILE, MEASUREMENTS_FILE = "instances", "coco.json", "measurements.csv"
MEASUREMENT_COLUMNS = ("image", "id", "class", "area", "centroid_y", "centroid_x", "bbox_y0",
                       "bbox_x0", "bbox_y1", "bbox_x1", "mean_intensity", "eccentricity")
_LUMA = np.array([0.299, 0.587, 0.114])


def write_instance_map(path: str | os.PathLike[str], instances: np.ndarray) -> Path:
    """Write ``instances`` atomically as ``path`` with suffix .png (16-bit) or, when an id
    passes 65,535, .tif (uint32, zlib); returns the path written."""
    return write_instances(path, np.asarray(instances))


def _sequential(instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels 1..N as int32, the original id of each label: ids[label - 1])."""
    ids = object_ids(instances)
    if len(ids) == 0:
        return np.zeros(instances.shape, np.int32), ids
    if int(ids[-1]) == len(ids):  # already 1..N
        return instances.astype(np.int32), ids
    lut = np.zeros(int(ids[-1]) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lut[instances], ids


def _check(instances: np.ndarray, object_classes: Mapping[int, int], ids: np.ndarray) -> None:
    if instances.ndim != 2:
        raise ValueError("an instance map is a 2-D array")
    missing = [int(i) for i in ids if int(i) not in object_classes]
    if missing:
        raise ValueError(f"objects {missing[:5]} have no class in object_classes")


def intensity_of(image: np.ndarray) -> np.ndarray:
    """The grey value measured for ``mean_intensity``, in the image's own units: the image
    itself (grey), its one channel if all colour channels are equal (grey stored as RGB),
    else the luminance 0.299 R + 0.587 G + 0.114 B (alpha dropped), as segstudio converts."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"an image is H x W or H x W x 3/4, not {a.shape}")
    rgb = a[:, :, :3]
    if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
        return rgb[:, :, 0]
    return rgb.astype(np.float64) @ _LUMA


def measurement_rows(image_id: str, instances: np.ndarray, object_classes: Mapping[int, int],
                     image: np.ndarray | None, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per object (columns MEASUREMENT_COLUMNS), in id order. ``image`` (H x W or
    H x W x C, the image the objects were drawn on) gives ``mean_intensity`` (see
    ``intensity_of``); None leaves it NaN. ``class`` is the class name."""
    from skimage.measure import regionprops_table

    labels, ids = _sequential(instances)
    _check(instances, object_classes, ids)
    if len(ids) == 0:
        return []
    props = ["label", "area", "centroid", "bbox", "eccentricity"]
    grey = None
    if image is not None:
        if np.asarray(image).shape[:2] != instances.shape:
            raise ValueError(f"image {np.asarray(image).shape[:2]} and instance map "
                             f"{instances.shape} differ in size")
        grey = intensity_of(image)
        props.append("intensity_mean")
    t = regionprops_table(labels, intensity_image=grey, properties=props)
    rows = []
    for k in range(len(t["label"])):
        obj = int(ids[int(t["label"][k]) - 1])
        c = int(object_classes[obj])
        name = class_names[c] if 0 <= c < len(class_names) else f"class {c}"
        rows.append({
            "image": image_id, "id": obj, "class": name, "area": int(t["area"][k]),
            "centroid_y": float(t["centroid-0"][k]), "centroid_x": float(t["centroid-1"][k]),
            "bbox_y0": int(t["bbox-0"][k]), "bbox_x0": int(t["bbox-1"][k]),
            "bbox_y1": int(t["bbox-2"][k]), "bbox_x1": int(t["bbox-3"][k]),
            "mean_intensity": float(t["intensity_mean"][k]) if grey is not None else float("nan"),
            "eccentricity": float(t["eccentricity"][k])})
    return rows


def measurements_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """The CSV text: a header line, then one line per row; floats to 4 decimals, NaN empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MEASUREMENT_COLUMNS)
    for r in rows:
        out = []
        for col in MEASUREMENT_COLUMNS:
            v = r[col]
            if isinstance(v, float):
                v = "" if v != v else round(v, 4)
            out.append(v)
        w.writerow(out)
    return buf.getvalue()


def write_measurements_csv(path: str | os.PathLike[str],
                           rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write the measurement table atomically (UTF-8, ``\\n`` line ends); returns its path."""
    p = Path(path)
    atomic_write_text(p, measurements_text(rows))
    return p


def object_annotations(instances: np.ndarray, object_classes: Mapping[int, int], image_id: int,
                       first_id: int = 1, scores: Mapping[int, float] | None = None
                       ) -> list[dict[str, Any]]:
    """COCO annotations of one instance map: one per object (id order), ids from ``first_id``;
    ``category_id`` = class + 1. Objects of class 0 (background) or 255 (not labelled) are no
    category and are left out. ``scores`` (object id -> 0..1) adds a ``score``."""
    from skimage.measure import regionprops

    from segstudio.io.coco import strip_rle

    labels, ids = _sequential(instances)
    _check(instances, object_classes, ids)
    h, w = instances.shape
    anns: list[dict[str, Any]] = []
    for r in regionprops(labels):
        obj = int(ids[r.label - 1])
        c = int(object_classes[obj])
        if c in (0, UNLABELLED):
            continue
        rows, cols = r.slice
        x0, x1, y0, y1 = cols.start, cols.stop, rows.start, rows.stop
        strip = labels[:, x0:x1] == r.label
        ann: dict[str, Any] = {
            "id": first_id + len(anns), "image_id": image_id, "category_id": c + 1,
            "segmentation": strip_rle(strip, x0, w), "area": int(r.area),
            "bbox": [int(x0), int(y0), int(x1 - x0), int(y1 - y0)], "iscrowd": 0,
            "segstudio_object_id": obj}
        if scores is not None and obj in scores:
            ann["score"] = round(float(scores[obj]), 4)
        anns.append(ann)
    return anns


def instance_coco_document(images: Sequence[tuple[Any, ...]], classes: Sequence[ClassInfo],
                           description: str = "") -> dict[str, Any]:
    """A COCO document for a batch: ``images`` holds ``(file_name, height, width, instances,
    object_classes)`` per image (optionally a sixth item: a dict of extra image fields);
    image ids are 1..N in that order."""
    from segstudio.io.coco import coco_document

    recs: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for n, item in enumerate(images, 1):
        file_name, h, w, inst, cls = item[:5]
        if inst.shape != (int(h), int(w)):
            raise ValueError(f"{file_name}: instance map {inst.shape} is not {h} x {w}")
        rec = {"id": n, "file_name": str(file_name), "width": int(w), "height": int(h)}
        rec.update(item[5] if len(item) > 5 and item[5] else {})
        recs.append(rec)
        anns += object_annotations(inst, cls, n, len(anns) + 1)
    return coco_document(recs, anns, classes, description)


@dataclass
class InstanceItem:
    """One image's objects for ``write_instance_outputs``."""
    name: str                                   # file stem of its outputs, "image" in the CSV
    instances: np.ndarray                       # H x W ids, 0 = no object
    object_classes: Mapping[int, int]           # id -> class index
    image: np.ndarray | None = None             # for mean_intensity
    file_name: str | None = None                # the image as COCO names it (default: name)
    scores: Mapping[int, float] | None = None   # id -> confidence, COCO "score"
    extra: dict[str, Any] = field(default_factory=dict)   # extra COCO image fields


class InstanceWriter:
    """Writes instance outputs one image at a time (memory holds one image): instance maps to
    ``OUT/<instances_dir>/<name>.png|.tif``; ``finish()`` writes ``OUT/coco.json`` and
    ``OUT/measurements.csv``. ``formats``: any of INSTANCE_FORMATS."""

    def __init__(self, out_dir: str | os.PathLike[str], classes: Sequence[ClassInfo],
                 formats: Iterable[str] = INSTANCE_FORMATS, description: str = "",
                 instances_dir: str = INSTANCES_DIR) -> None:
        self.out = Path(out_dir)
        self.classes = list(classes)
        self.formats = tuple(f for f in INSTANCE_FORMATS if f in set(formats))
        unknown = set(formats) - set(INSTANCE_FORMATS)
        if unknown:
            raise ValueError(f"unknown instance formats {sorted(unknown)}")
        self.description = description
        self.instances_dir = self.out / instances_dir if instances_dir else self.out
        self.files: list[Path] = []
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.out.mkdir(parents=True, exist_ok=True)

    def add(self, item: InstanceItem) -> list[Path]:
        inst = np.asarray(item.instances)
        ids = object_ids(inst)
        _check(inst, item.object_classes, ids)
        names = [c.name for c in self.classes]
        bad = sorted({int(c) for c in item.object_classes.values()
                      if not 0 <= int(c) < len(names) and int(c) != UNLABELLED})
        if bad:
            raise ValueError(f"{item.name}: object classes {bad[:5]} but there are only "
                             f"{len(names)} classes")
        written = []
        if "instances" in self.formats:
            written.append(write_instance_map(self.instances_dir / f"{item.name}.png", inst))
        if "coco" in self.formats:
            image_id = len(self.images) + 1
            rec = {"id": image_id, "file_name": item.file_name or item.name,
                   "width": int(inst.shape[1]), "height": int(inst.shape[0]), **item.extra}
            self.images.append(rec)
            self.annotations += object_annotations(inst, item.object_classes, image_id,
                                                   len(self.annotations) + 1, item.scores)
        if "measurements" in self.formats:
            self.rows += measurement_rows(item.name, inst, item.object_classes, item.image,
                                          names)
        self.files += written
        return written

    def finish(self) -> list[Path]:
        """Write the COCO file and the measurement table (those asked for)."""
        from segstudio.io.coco import coco_document

        written = []
        if "coco" in self.formats:
            doc = coco_document(self.images, self.annotations, self.classes, self.description)
            p = self.out / COCO_FILE
            atomic_write_text(p, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
            written.append(p)
        if "measurements" in self.formats:
            written.append(write_measurements_csv(self.out / MEASUREMENTS_FILE, self.rows))
        self.files += written
        return written


def write_instance_outputs(out_dir: str | os.PathLike[str], items: Iterable[InstanceItem],
                           classes: Sequence[ClassInfo],
                           formats: Iterable[str] = INSTANCE_FORMATS,
                           description: str = "") -> list[Path]:
    """Instance maps, one COCO file and one measurement table for ``items`` (an iterable:
    a generator keeps one image in memory); returns every path written."""
    writer = InstanceWriter(out_dir, classes, formats, description)
    for item in items:
        writer.add(item)
    writer.finish()
    return writer.files
