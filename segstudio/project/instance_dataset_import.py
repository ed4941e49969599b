"""Turn a folder of images with instance maps into an instance project, keeping its split.

Layout (the one of ../shared/data/dsb2018_nuclei):

    DATASET/<split>/images/<stem>.<ext>
    DATASET/<split>/instances/<stem>.png|.tif   0 = no object, 1..N one id per object
    DATASET/<split>/masks/<stem>.png            optional semantic mask: 0 background, k class k

A flat ``DATASET/images`` + ``DATASET/instances`` works too (split "auto"). Each image with an
instance map is fully labelled: background where no object is, each object its class (the
class most of its pixels have in masks/, or class 1 without masks/), and the ids exactly as in
the file. Where masks/ says "not labelled" (255) outside every object, or names a class where
no object is, the pixels stay not labelled: the two files disagree there. Images without an
instance map are imported unlabelled (listed in the notes).

Classes: the names given, else "background" and "object" (or "class 1", "class 2", ... when
masks/ holds several). Nothing is torn: segstudio.json is written last, and an unreadable or
mismatched file stops the import with its name and removes everything written so far.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segstudio.core.classes import MAX_CLASSES, UNLABELLED, ClassInfo, default_color
from segstudio.core.instances import count_objects
from segstudio.errors import ProjectError, SegStudioError
from segstudio.io.files import resolve_path
from segstudio.io.images import read_image_size
from segstudio.io.instances import read_instances, write_instances
from segstudio.io.masks import labelled_fraction, read_mask, write_mask
from segstudio.project.dataset_import import check_paths, dataset_subsets
from segstudio.project.instance_import import INSTANCE_SUFFIXES, object_class_map
from segstudio.project.project import ImageEntry, Project, find_images

DEFAULT_NAMES = ("background", "object")


@dataclass(frozen=True)
class Sample:
    split: str
    image: Path
    instances: Path | None
    mask: Path | None


@dataclass
class InstanceDatasetImport:
    """The project made, its object count and notes for the user (one line each)."""
    project: Project
    objects: int = 0
    notes: list[str] = field(default_factory=list)


def _files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."):
            found.setdefault(p.stem, p)   # a.png before a.tif: the first in name order
    return found


def samples(root: Path) -> list[Sample]:
    """Every image of the data set with its instance map and semantic mask (or None)."""
    out = []
    subsets = dataset_subsets(root, "instances")
    if not any((folder / "instances").is_dir() for _, folder in subsets):
        raise ProjectError(f"{root} has no instances/ folder: expected <split>/images and "
                           "<split>/instances (or images/ and instances/).")
    for split, folder in subsets:
        inst = _files(folder / "instances", INSTANCE_SUFFIXES)
        masks = _files(folder / "masks", (".png",))
        for img in find_images(folder / "images"):
            out.append(Sample(split, img, inst.get(img.stem), masks.get(img.stem)))
    return out


def dataset_labels(instances: np.ndarray, semantic: np.ndarray | None,
                   default_class: int = 1) -> tuple[np.ndarray, int]:
    """(the semantic mask of a fully labelled image, pixels left unlabelled because
    ``semantic`` names a class where no object is)."""
    mask = np.zeros(instances.shape, np.uint8)
    conflicts = 0
    if semantic is not None:
        outside = instances == 0
        disagree = outside & (semantic != 0) & (semantic != UNLABELLED)
        conflicts = int(np.count_nonzero(disagree))
        mask[outside & (semantic != 0)] = UNLABELLED
    sel = instances != 0
    mask[sel] = object_class_map(instances, semantic, default_class)[sel]
    return mask, conflicts


def _class_table(names: list[str] | None, top: int) -> list[ClassInfo]:
    given = list(names or [])
    n = max(top + 1, len(given), 2)
    if n > MAX_CLASSES:
        raise ProjectError(f"The masks hold class {top}; a project holds at most "
                           f"{MAX_CLASSES} classes.")
    if not given:
        given = list(DEFAULT_NAMES) if n == 2 else ["background"]
    given += [f"class {i}" for i in range(len(given), n)]
    return [ClassInfo(name, default_color(i)) for i, name in enumerate(given)]


def import_instance_dataset(source: str | os.PathLike[str], dest: str | os.PathLike[str],
                            class_names: list[str] | None = None,
                            progress: Callable[[int, int], object] | None = None
                            ) -> InstanceDatasetImport:
    """Make the instance project ``dest`` from the data set ``source`` (see the module doc).
    ``progress(done, total)`` is called after each image."""
    src, dst = check_paths(source, dest, "instances")
    items = samples(src)
    if not items:
        raise ProjectError(f"No images found under {src}.")
    existed = dst.exists()
    project = Project.create(dst, classes=_class_table(class_names, 1), name=src.name,
                             task="instances")
    written: list[Path] = []
    try:
        result = _fill(project, src, items, class_names, written, progress)
        project.save()
    except BaseException:
        _remove(dst, existed, written)
        raise
    return result


@dataclass(frozen=True)
class _Saved:
    """What saving one image's labels tells the project file."""
    entry_id: str
    labelled: float
    objects: int
    conflict: bool
    top: int   # the highest class in its mask


def _fill(project: Project, src: Path, items: list[Sample], class_names: list[str] | None,
          written: list[Path], progress: Callable[[int, int], object] | None
          ) -> InstanceDatasetImport:
    """Reads, converts and writes the labels of every image, a few images at a time (the
    decoders, encoders and fsyncs release the GIL); the project's entries change in this
    thread only."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    result = InstanceDatasetImport(project)
    entries = _add_all(project, items)
    work = [(s, e) for s, e in entries if s.instances is not None]
    for _, e in work:
        written += [project.instances_dir / f"{e.id}{x}" for x in (".png", ".tif")]
        written.append(project.mask_path(e))
    classes = list(project.classes)
    saved: list[_Saved] = []
    done = len(entries) - len(work)
    with ThreadPoolExecutor(max_workers=min(4, (os.cpu_count() or 1) + 2)) as pool:
        futures = [pool.submit(_save_one, project, src, s, e, classes) for s, e in work]
        try:
            for f in as_completed(futures):
                saved.append(f.result())
                done += 1
                if progress is not None:
                    progress(done, len(entries))
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    for r in saved:
        project.set_labelled(r.entry_id, r.labelled, r.objects)
        result.objects += r.objects
    top = max((r.top for r in saved), default=0)
    if top >= len(classes):   # masks/ held more classes: name them, give them colours
        _grow_classes(project, top, class_names)
        for r in saved:
            if r.top >= len(classes):
                path = project.mask_path(project.entry(r.entry_id))
                write_mask(path, read_mask(path), project.classes)
    missing = [s.image.name for s, _ in entries if s.instances is None]
    conflicts = {r.entry_id for r in saved if r.conflict}
    result.notes += _listed(missing, "have no instance map and were imported unlabelled")
    result.notes += _listed([s.image.name for s, e in work if e.id in conflicts],
                            "have masks/ pixels of a class outside every object; they were "
                            "left unlabelled")
    return result


def _add_all(project: Project, items: list[Sample]) -> list[tuple[Sample, ImageEntry]]:
    """Every image into the project, with its split; the same file twice (a link) once."""
    added = project.add_images([s.image for s in items])
    by_path = {resolve_path(project.image_path(e)): e for e in added}
    out, seen = [], set()
    for s in items:
        e = by_path.get(resolve_path(s.image))
        if e is None or e.id in seen:
            continue
        seen.add(e.id)
        project.set_split(e.id, s.split)
        out.append((s, project.entry(e.id)))
    return out


def _save_one(project: Project, src: Path, s: Sample, entry: ImageEntry,
              classes: list[ClassInfo]) -> _Saved:
    """Read one image's files, make its labels and write them (as Project.save_labels does:
    the instance map first, the mask last); touches no project state."""
    assert s.instances is not None
    inst = _read(src, s.instances, read_instances, read_image_size(s.image))
    sem = None if s.mask is None else _read(src, s.mask, read_mask, inst.shape)
    mask, wrong = dataset_labels(inst, sem)
    write_instances(project.instances_dir / f"{entry.id}.png", inst)
    write_mask(project.mask_path(entry), mask, classes)
    top = int(mask[mask != UNLABELLED].max(initial=0))
    return _Saved(entry.id, labelled_fraction(mask), count_objects(inst), wrong > 0, top)


def _read(src: Path, path: Path, read: Callable[..., np.ndarray],
          shape: tuple[int, int] | None) -> np.ndarray:
    """``read(path, shape=shape)``; a file that cannot be used stops the import with its
    place in the data set (the messages start with the file's name)."""
    try:
        return read(path, shape=shape)
    except SegStudioError as exc:
        where = path.parent.relative_to(src).as_posix()
        raise ProjectError(f"{where}/{exc} Nothing was imported.") from None


def _grow_classes(project: Project, top: int, names: list[str] | None) -> None:
    """Add classes up to ``top`` (named "class k" beyond the names given)."""
    if not names and [c.name for c in project.classes] == list(DEFAULT_NAMES):
        project.rename_class(1, "class 1")   # several object classes: number them all
    for c in _class_table(names, top)[len(project.classes):]:
        project.add_class(c.name, c.color)


def _listed(names: list[str], what: str, limit: int = 5) -> list[str]:
    if not names:
        return []
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return [f"{len(names)} image(s) {what}: {', '.join(names[:limit])}{more}"]


def _remove(dst: Path, existed: bool, written: list[Path]) -> None:
    """Undo a failed import: the folder if this import made it, else the files it wrote."""
    if not existed:
        shutil.rmtree(dst, ignore_errors=True)
        return
    for p in written:
        p.unlink(missing_ok=True)
    for d in (dst / "instances", dst / "masks"):
        try:
            d.rmdir()   # only if empty: it may hold nothing of ours
        except OSError:
            pass
