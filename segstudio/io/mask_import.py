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

Nothing is lost silently: the returned :class:`ImportSummary` lists what was imported, what
matched no image, what failed and why, and the shapes or annotations that were skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from segstudio.core.classes import MAX_CLASSES, UNLABELLED, default_color
from segstudio.core.project import ImageEntry, Project
from segstudio.errors import ConfigError, MaskError, SegStudioError

FORMATS = ("index", "labelme", "coco")
MODES = ("replace", "merge")
IGNORE_LABEL = "__ignore__"
BACKGROUND_ALIAS = "_background_"

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

    @property
    def complete(self) -> bool:
        return not (self.unmatched or self.failed or self.skipped)

    def describe(self, limit: int = 10) -> str:
        lines = [f"Imported masks for {len(self.imported)} image(s)."]
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


class MaskImportError(SegStudioError):
    """The import source is unusable as a whole (missing, not of the format given)."""


# ------------------------------------------------------------------------------ matching
class ImageMatcher:
    """Finds the project image a file name refers to: exact path, then the image with that file
    name sharing the most trailing folders, then the stem, then the image id."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.by_path: dict[Path, ImageEntry] = {}
        self.by_stem: dict[str, list[ImageEntry]] = {}
        self.by_id: dict[str, ImageEntry] = {}
        self.by_name: dict[str, list[ImageEntry]] = {}
        for e in project.images:
            posix = e.path.replace("\\", "/")
            self.by_name.setdefault(PurePosixPath(posix).name.lower(), []).append(e)
            try:
                self.by_path[project.image_path(e).resolve()] = e
            except OSError:
                pass
            self.by_stem.setdefault(PurePosixPath(e.path).stem.lower(), []).append(e)
            self.by_id[e.id.lower()] = e

    def find(self, name: str, base: Path | None = None) -> tuple[ImageEntry | None, str]:
        """(entry, "") or (None, reason)."""
        name = (name or "").replace("\\", "/").strip()
        if not name:
            return None, "no image name"
        for root in ([base] if base is not None else []) + [self.project.root]:
            try:
                p = (root / name).resolve()
            except (OSError, ValueError):
                continue
            if p in self.by_path:
                return self.by_path[p], ""
        pp = PurePosixPath(name)
        parts = [x for x in pp.parts if x not in ("", ".", "..", "/")]
        if len(parts) > 1:
            # Same file name: the image sharing the most trailing folders (at least one) wins.
            want = [x.lower() for x in reversed(parts)]

            def shared(e: ImageEntry) -> int:
                path = PurePosixPath(e.path.replace("\\", "/"))
                have = [x.lower() for x in reversed(path.parts)]
                n = 0
                while n < min(len(want), len(have)) and want[n] == have[n]:
                    n += 1
                return n

            scored = sorted(((shared(e), i, e) for i, e in
                             enumerate(self.by_name.get(parts[-1].lower(), []))), reverse=True)
            if scored and scored[0][0] >= 2 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
                return scored[0][2], ""
        stem = pp.stem.lower()
        hits = self.by_stem.get(stem, [])
        if len(hits) == 1:
            return hits[0], ""
        if len(hits) > 1:
            exact = self.by_id.get(stem)
            if exact is not None:
                return exact, ""
            return None, (f"{len(hits)} images are called '{pp.stem}' "
                          f"({', '.join(e.path for e in hits[:3])}); rename one")
        if stem in self.by_id:
            return self.by_id[stem], ""
        return None, "no image of that name in the project"


def image_shape(project: Project, entry: ImageEntry) -> tuple[int, int]:
    """(height, width) of an image: from its saved mask if any (cheap), else by decoding."""
    from PIL import Image

    from segstudio.io.images import read_image

    mp = project.mask_path(entry)
    if mp.exists():
        try:
            with Image.open(mp) as im:
                return im.height, im.width
        except Exception:
            pass
    return read_image(project.image_path(entry)).data.shape[:2]


# ------------------------------------------------------------------------------ classes
class _ClassMap:
    """Maps names to class indices, creating classes (recorded) for unknown names."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.created: list[str] = []

    def index(self, name: str, color: str | None = None) -> int:
        name = name.strip()
        if name == IGNORE_LABEL:
            return UNLABELLED
        if name == BACKGROUND_ALIAS:
            name = "background"
        for i, c in enumerate(self.project.classes):
            if c.name.lower() == name.lower():
                return i
        if len(self.project.classes) >= MAX_CLASSES:
            raise ConfigError(f"Cannot add class '{name}': a project holds at most "
                              f"{MAX_CLASSES} classes.")
        from segstudio.core.classes import ClassInfo

        try:
            ClassInfo(name, color or "")
        except ConfigError:
            color = None
        i = self.project.add_class(name, color or default_color(len(self.project.classes)))
        self.created.append(name)
        return i


def _background_value(project: Project, background: str | None) -> int:
    if background is None:
        return UNLABELLED
    for i, c in enumerate(project.classes):
        if c.name.lower() == background.strip().lower():
            return i
    raise ConfigError(f"There is no class called '{background}' to fill unannotated pixels "
                      f"with; the classes are {', '.join(c.name for c in project.classes)}.")


# ------------------------------------------------------------------------------ main entry
@dataclass
class _Job:
    """One image to write: its entry, the source item name and a function making its mask."""
    entry: ImageEntry
    item: str
    make: Callable[[tuple[int, int], np.ndarray], tuple[np.ndarray, list[str]]]
    declared: tuple[int, int] | None = None   # size the source says the image has (checked)
    fallback: tuple[int, int] | None = None   # size to use if the image cannot be read


@dataclass
class _Plan:
    jobs: list[_Job] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def import_masks(project: Project, source: str | os.PathLike, format: str, *,
                 mode: str = "replace", background: str | None = None,
                 progress: Progress | None = None) -> ImportSummary:
    """Import masks from ``source`` into ``project`` (see the module docstring).

    Masks are written atomically one by one and the project file is saved (classes first, so
    a mask never holds a class the project does not know). ``progress(done, total)`` is called
    after each image; returning False stops after that image (what was written stays)."""
    if format not in FORMATS:
        raise ConfigError(f"Unknown mask format {format!r}; choose one of {', '.join(FORMATS)}.")
    if mode not in MODES:
        raise ConfigError(f"Unknown import mode {mode!r}; choose replace or merge.")
    src = Path(source)
    if not src.exists():
        raise MaskImportError(f"{src} does not exist.")
    fill = _background_value(project, background)
    classes = _ClassMap(project)
    matcher = ImageMatcher(project)
    before = list(project.classes)
    try:
        if format == "index":
            plan = _plan_index(project, src, matcher, classes)
        elif format == "labelme":
            plan = _plan_labelme(src, matcher, classes)
        else:
            plan = _plan_coco(src, matcher, classes)
    except BaseException:
        project.classes[:] = before  # nothing was written: leave the class table as it was
        raise
    if classes.created:
        project.save()  # the class table first: masks may use the new classes
    imported: list[str] = []
    failed = list(plan.failed)
    skipped = list(plan.skipped)
    seen: set[str] = set()
    total = len(plan.jobs)
    for n, job in enumerate(plan.jobs, 1):
        if job.entry.id in seen:
            failed.append((job.item, f"image '{job.entry.path}' was already imported from "
                                     "another file; this one was left out"))
            continue
        seen.add(job.entry.id)
        try:
            _run_job(project, job, fill, mode, skipped, imported)
        except SegStudioError as exc:
            failed.append((job.item, str(exc)))
        if progress is not None and progress(n, total) is False:
            break
    project.save()
    return ImportSummary(tuple(imported), tuple(plan.unmatched), tuple(failed),
                         tuple(classes.created), tuple(skipped))


def _unmatched(plan: _Plan, item: str, why: str) -> None:
    if why.startswith("no image"):
        plan.unmatched.append(item)
    else:
        plan.failed.append((item, why))


def _run_job(project: Project, job: _Job, fill: int, mode: str, skipped: list[str],
             imported: list[str]) -> None:
    entry = project.entry(job.entry.id)
    try:
        shape = image_shape(project, entry)
    except SegStudioError as exc:
        shape = job.declared or job.fallback
        if shape is None:
            raise
        skipped.append(f"{job.item}: image unreadable ({exc}); used the size the file gives, "
                       f"{shape[1]} x {shape[0]}")
    if job.declared is not None and tuple(job.declared) != tuple(shape):
        raise MaskError(f"the file describes a {job.declared[1]} x {job.declared[0]} image but "
                        f"'{entry.path}' is {shape[1]} x {shape[0]}")
    # The mask the imported labels are painted on: all `fill` (replace), or the existing mask
    # with its unlabelled pixels set to `fill` (merge).
    base = np.full(shape, fill, np.uint8)
    if mode == "merge":
        old = project.load_mask(entry, shape)
        base = np.where(old == UNLABELLED, base, old).astype(np.uint8)
    mask, notes = job.make(shape, base)
    skipped.extend(f"{job.item}: {t}" for t in notes)
    project.save_mask(entry, mask)
    imported.append(entry.id)


# ------------------------------------------------------------------------------ index
def _index_files(src: Path) -> list[Path]:
    from segstudio.core.project import _natural_key

    if src.is_file():
        return [src]
    folders = []
    if (src / "masks").is_dir():
        folders.append(src / "masks")
    folders += [d / "masks" for d in sorted(src.iterdir()) if d.is_dir() and (d / "masks").is_dir()]
    if not folders:
        folders = [src]
    files = [p for f in folders for p in f.iterdir()
             if p.is_file() and p.suffix.lower() == ".png" and not p.name.startswith(".")]
    return sorted(files, key=_natural_key)


def _plan_index(project: Project, src: Path, matcher: ImageMatcher,
                classes: _ClassMap) -> _Plan:
    from segstudio.io.masks import read_mask

    plan = _Plan()
    files = _index_files(src)
    if not files:
        raise MaskImportError(f"No PNG masks in {src} (looked in masks/, <split>/masks/ and the "
                           "folder itself).")
    top = len(project.classes) - 1
    for f in files:
        entry, why = matcher.find(f.name)
        if entry is None:
            _unmatched(plan, f.name, why)
            continue
        try:
            m = read_mask(f)  # values checked below, after classes are known
        except MaskError as exc:
            plan.failed.append((f.name, str(exc)))
            continue
        vals = m[m != UNLABELLED]
        if vals.size:
            top = max(top, int(vals.max()))
        plan.jobs.append(_Job(entry, f.name, _index_maker(f), fallback=m.shape))
    for i in range(len(project.classes), top + 1):
        classes.index(f"class {i}")
    return plan


def _index_maker(path: Path):
    def make(shape: tuple[int, int], base: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from segstudio.io.masks import read_mask

        m = read_mask(path, shape=shape)
        return np.where(m == UNLABELLED, base, m).astype(np.uint8), []
    return make


# ------------------------------------------------------------------------------ labelme
def _plan_labelme(src: Path, matcher: ImageMatcher, classes: _ClassMap) -> _Plan:
    from segstudio.core.project import _natural_key
    from segstudio.io.labelme import read_labelme

    plan = _Plan()
    if src.is_file():
        files = [src]
    else:
        files = sorted((p for p in src.rglob("*.json") if not p.name.startswith(".")),
                       key=_natural_key)
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
            _unmatched(plan, f"{item} (image '{lf.image_path or f.stem}')", why)
            continue
        plan.skipped.extend(f"{item}: {t}" for t in lf.skipped)
        class_of = {s.label: classes.index(s.label) for s in lf.shapes}
        declared = (lf.height, lf.width) if lf.height and lf.width else None
        plan.jobs.append(_Job(entry, item, _labelme_maker(lf, class_of), declared))
    return plan


def _labelme_maker(lf, class_of: dict[str, int]):
    def make(shape: tuple[int, int], base: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from segstudio.io.labelme import rasterise

        return rasterise(lf, shape[0], shape[1], class_of, base)
    return make


# ------------------------------------------------------------------------------ COCO
def read_coco_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MaskImportError(f"{path.name}: cannot be read ({exc}).") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MaskImportError(f"{path.name}: not valid JSON (line {exc.lineno}: "
                              f"{exc.msg}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations", []), list) \
            or not isinstance(data.get("categories"), list):
        raise MaskImportError(f"{path.name}: not a COCO file (needs 'images', 'annotations' and "
                           "'categories' lists).")
    return data


def _plan_coco(src: Path, matcher: ImageMatcher, classes: _ClassMap) -> _Plan:
    plan = _Plan()
    if src.is_dir():
        cands = sorted(src.glob("*.json"))
        if len(cands) != 1:
            raise MaskImportError(f"Give the COCO .json file itself ({len(cands)} .json files in "
                               f"{src}).")
        src = cands[0]
    data = read_coco_json(src)
    cats: dict[Any, int] = {}
    for c in data["categories"]:
        if not isinstance(c, dict) or "id" not in c or not str(c.get("name", "")).strip():
            plan.skipped.append(f"category {c!r}: needs an id and a name")
            continue
        color = c.get("color") if isinstance(c.get("color"), str) else None
        cats[c["id"]] = classes.index(str(c["name"]), color)
    by_image: dict[Any, list[dict]] = {}
    for i, a in enumerate(data.get("annotations", [])):
        if not isinstance(a, dict) or "image_id" not in a or "segmentation" not in a:
            plan.skipped.append(f"annotation #{i + 1}: needs image_id and segmentation")
            continue
        if a.get("category_id") not in cats:
            plan.skipped.append(f"annotation {a.get('id', f'#{i + 1}')}: unknown category "
                                f"{a.get('category_id')!r}")
            continue
        by_image.setdefault(a["image_id"], []).append(a)
    known_ids = set()
    for img in data["images"]:
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            plan.skipped.append(f"image record {str(img)[:80]}: needs id and file_name")
            continue
        known_ids.add(img["id"])
        name = str(img["file_name"])
        entry, why = matcher.find(name, base=src.parent)
        anns = by_image.get(img["id"], [])
        if entry is None:
            _unmatched(plan, f"{name} ({len(anns)} annotation(s))", why)
            continue
        try:
            declared = (int(img["height"]), int(img["width"]))
        except (KeyError, TypeError, ValueError):
            declared = None
        plan.jobs.append(_Job(entry, name, _coco_maker(anns, cats), declared))
    orphans = sum(len(v) for k, v in by_image.items() if k not in known_ids)
    if orphans:
        plan.skipped.append(f"{orphans} annotation(s) refer to image ids not in 'images'")
    return plan


def _coco_maker(anns: list[dict], cats: dict[Any, int]):
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
