"""The project: a folder holding segstudio.json, masks/, runs/ and exports/.

Images are referenced (relative to the project folder when they live inside it, absolute when
they live elsewhere), never copied. Every save is atomic. A project file that cannot be read is
reported and never overwritten: nothing is saved until a project was opened successfully.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from segstudio.core.classes import MAX_CLASSES, UNLABELLED, ClassInfo, default_color
from segstudio.errors import ConfigError, ProjectError
from segstudio.io.atomic import atomic_write_text
from segstudio.io.files import resolve_path
from segstudio.io.jsonfile import JSONFileError, read_json

PROJECT_FILE = "segstudio.json"
# 10,000 images take 1.5 MB; a project file a hundred times that is not one segstudio wrote.
MAX_PROJECT_FILE_BYTES = 256 << 20
# 2: "task" (semantic or instances), instance maps in instances/, object counts per image.
# Schema 1 files open as semantic projects, unchanged until something is saved.
SCHEMA_VERSION = 2
TASKS = ("semantic", "instances")
SPLITS = ("auto", "train", "val", "test")
_ID_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_SKIP_DIRS = {"masks", "instances", "runs", "exports", "predictions", "__pycache__"}


@dataclass(frozen=True)
class ImageEntry:
    id: str
    path: str  # POSIX-style; relative to the project folder, or absolute
    split: str = "auto"
    labelled: float = 0.0  # fraction of labelled pixels, refreshed on each mask save
    objects: int = 0  # objects in the instance map (instance projects), refreshed on save

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "path": self.path, "split": self.split,
                               "labelled": round(self.labelled, 6)}
        if self.objects:
            out["objects"] = self.objects
        return out


@dataclass(frozen=True)
class DeletionImpact:
    """What deleting a class changes, for the confirmation dialog."""
    class_name: str
    images: int
    pixels: int
    shifted: list[str]  # classes that get a new index

    def describe(self) -> str:
        text = (f"Delete class '{self.class_name}'? {self.pixels:,} labelled pixels in "
                f"{self.images} image(s) become unlabelled.")
        if self.shifted:
            text += " Classes after it move up one number: " + ", ".join(self.shifted) + "."
        return text + " Trained models keep the old class list."


@dataclass
class Project:
    root: Path
    classes: list[ClassInfo] = field(default_factory=list)
    images: list[ImageEntry] = field(default_factory=list)
    name: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # training defaults etc., free-form
    task: str = "semantic"  # "instances": every object also has an id (instances/)

    @property
    def is_instances(self) -> bool:
        return self.task == "instances"

    # ------------------------------------------------------------------ files
    @property
    def file(self) -> Path:
        return self.root / PROJECT_FILE

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def image_path(self, entry: ImageEntry) -> Path:
        p = Path(entry.path)
        return p if p.is_absolute() else self.root / p

    def mask_path(self, entry: ImageEntry) -> Path:
        return self.masks_dir / f"{entry.id}.png"

    @property
    def instances_dir(self) -> Path:
        return self.root / "instances"

    def instance_path(self, entry: ImageEntry) -> Path:
        """The saved instance map: a 16-bit PNG, or a TIFF once ids pass 65,535."""
        png = self.instances_dir / f"{entry.id}.png"
        tif = png.with_suffix(".tif")
        return tif if tif.exists() and not png.exists() else png

    # ------------------------------------------------------------- lifecycle
    @classmethod
    def create(cls, root: str | os.PathLike[str], classes: Iterable[ClassInfo] | None = None,
               name: str | None = None, task: str = "semantic") -> Project:
        root = resolve_path(root)
        if (root / PROJECT_FILE).exists():
            raise ProjectError(f"{root} already holds a segstudio project.")
        if task not in TASKS:
            raise ConfigError(f"A project's task is one of {', '.join(TASKS)}.")
        root.mkdir(parents=True, exist_ok=True)
        cls_list = list(classes) if classes is not None else [
            ClassInfo("background", default_color(0)), ClassInfo("foreground", default_color(1))]
        return cls(root=root, classes=cls_list, name=name or root.name, task=task)

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> Project:
        root = Path(root)
        if root.name == PROJECT_FILE:
            root = root.parent
        root = resolve_path(root)
        f = root / PROJECT_FILE
        try:
            data = read_json(f, MAX_PROJECT_FILE_BYTES)
        except FileNotFoundError:
            raise ProjectError(f"No segstudio project in {root} ({PROJECT_FILE} is "
                               "missing).") from None
        except JSONFileError as exc:
            if not exc.corrupt:
                raise ProjectError(f"{f.name} cannot be read: {exc.reason}. It was left "
                                   "unchanged.") from None
            raise ProjectError(f"{f.name} is corrupt ({exc.reason}). It was left unchanged; "
                               "restore it from a backup or fix it by hand.") from None
        return cls._from_json(root, data)

    @classmethod
    def _from_json(cls, root: Path, data: object) -> Project:
        bad = "segstudio.json is not a valid project file"
        if not isinstance(data, dict) or data.get("app") not in ("segstudio", None):
            raise ProjectError(f"{bad}. It was left unchanged.")
        schema = data.get("schema")
        if not isinstance(schema, int) or schema < 1:
            raise ProjectError(f"{bad}: no schema version. It was left unchanged.")
        if schema > SCHEMA_VERSION:
            raise ProjectError(f"This project was saved by a newer segstudio (schema {schema}); "
                               f"this version reads schema {SCHEMA_VERSION}. Please update "
                               "segstudio. The project was left unchanged.")
        try:
            classes = [ClassInfo(str(c["name"]), str(c["color"])) for c in data["classes"]]
            images = []
            seen: set[str] = set()
            for it in data.get("images", []):
                entry = ImageEntry(id=str(it["id"]), path=str(it["path"]),
                                   split=str(it.get("split", "auto")),
                                   labelled=float(it.get("labelled", 0.0)),
                                   objects=int(it.get("objects", 0)))
                _validate_entry(root, entry)
                if entry.id in seen:
                    raise ProjectError(f"{bad}: image id {entry.id!r} appears twice.")
                seen.add(entry.id)
                images.append(entry)
        except ProjectError:
            raise
        except ConfigError as exc:
            raise ProjectError(f"{bad}: {exc} It was left unchanged.") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ProjectError(f"{bad} (field {exc}). It was left unchanged.") from None
        if not classes:
            raise ProjectError(f"{bad}: it defines no classes. It was left unchanged.")
        if len(classes) > MAX_CLASSES:
            raise ProjectError(f"{bad}: more than {MAX_CLASSES} classes.")
        settings = data.get("settings", {})
        task = data.get("task", "semantic")
        if task not in TASKS:
            raise ProjectError(f"{bad}: unknown task {task!r}. It was left unchanged.")
        return cls(root=root, classes=classes, images=images,
                   name=str(data.get("name", root.name)),
                   settings=settings if isinstance(settings, dict) else {}, task=str(task))

    def to_json(self) -> dict[str, Any]:
        return {
            "app": "segstudio",
            "schema": SCHEMA_VERSION,
            "name": self.name,
            "task": self.task,
            "classes": [{"name": c.name, "color": c.color} for c in self.classes],
            "images": [e.to_json() for e in self.images],
            "settings": self.settings,
        }

    def file_text(self) -> str:
        """What ``save`` writes to segstudio.json."""
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False)

    def save(self) -> None:
        atomic_write_text(self.file, self.file_text())

    # ---------------------------------------------------------------- images
    def entry(self, image_id: str) -> ImageEntry:
        for e in self.images:
            if e.id == image_id:
                return e
        raise KeyError(image_id)

    def index_of(self, image_id: str) -> int:
        for i, e in enumerate(self.images):
            if e.id == image_id:
                return i
        raise KeyError(image_id)

    def add_images(self, paths: Iterable[str | os.PathLike[str]]) -> list[ImageEntry]:
        """Add image files (duplicates of images already in the project are skipped)."""
        # A path that cannot be resolved (a symbolic link loop) is added as it is: the image
        # is listed, and reading it reports the loop.
        known = {resolve_path(self.image_path(e)) for e in self.images}
        ids = {e.id for e in self.images}
        added = []
        for raw in paths:
            p = resolve_path(raw)
            if p in known:
                continue
            try:
                rel = p.relative_to(self.root)
                stored = PurePosixPath(*rel.parts).as_posix()
            except ValueError:
                stored = p.as_posix()
            entry = ImageEntry(id=_unique_id(p.stem, ids), path=stored)
            ids.add(entry.id)
            known.add(p)
            self.images.append(entry)
            added.append(entry)
        return added

    def remove_image(self, image_id: str) -> None:
        self.images.pop(self.index_of(image_id))

    def set_split(self, image_id: str, split: str) -> None:
        if split not in SPLITS:
            raise ConfigError(f"Split must be one of {', '.join(SPLITS)}.")
        i = self.index_of(image_id)
        self.images[i] = replace(self.images[i], split=split)

    def set_labelled(self, image_id: str, fraction: float, objects: int | None = None) -> None:
        i = self.index_of(image_id)
        entry = replace(self.images[i], labelled=float(fraction))
        if objects is not None:
            entry = replace(entry, objects=int(objects))
        self.images[i] = entry

    # ---------------------------------------------------------------- masks
    def load_mask(self, entry: ImageEntry, shape: tuple[int, int]) -> np.ndarray:
        """The saved mask, or an all-unlabelled one if none was saved yet."""
        from segstudio.io.masks import new_mask, read_mask

        path = self.mask_path(entry)
        if not path.exists():
            return new_mask(*shape)
        return read_mask(path, shape=shape, num_classes=len(self.classes))

    def save_mask(self, entry: ImageEntry, mask: np.ndarray) -> None:
        self.save_labels(entry, mask)

    def load_instances(self, entry: ImageEntry, shape: tuple[int, int]) -> np.ndarray:
        """The saved instance map (uint32), or one without objects if none was saved."""
        from segstudio.io.instances import read_instances

        path = self.instance_path(entry)
        if not path.exists():
            return np.zeros(shape, np.uint32)
        return read_instances(path, shape=shape)

    def save_labels(self, entry: ImageEntry, mask: np.ndarray,
                    instances: np.ndarray | None = None) -> None:
        """Save the semantic mask and, in an instance project, the instance map, each file
        atomically; the mask goes last, so a mask never names objects that were not saved."""
        from segstudio.core.instances import count_objects
        from segstudio.io.instances import write_instances
        from segstudio.io.masks import labelled_fraction, write_mask

        objects = None
        if instances is not None:
            self.instances_dir.mkdir(parents=True, exist_ok=True)
            write_instances(self.instances_dir / f"{entry.id}.png", instances)
            objects = count_objects(instances)
        write_mask(self.mask_path(entry), mask, self.classes)
        self.set_labelled(entry.id, labelled_fraction(mask), objects)

    def saved_masks(self) -> Iterable[tuple[ImageEntry, Path]]:
        for e in self.images:
            p = self.mask_path(e)
            if p.exists():
                yield e, p

    # --------------------------------------------------------------- classes
    def add_class(self, name: str, color: str | None = None) -> int:
        if len(self.classes) >= MAX_CLASSES:
            raise ConfigError(f"A project holds at most {MAX_CLASSES} classes.")
        name = name.strip()
        self._check_unique_name(name)
        self.classes.append(ClassInfo(name, color or default_color(len(self.classes))))
        return len(self.classes) - 1

    def rename_class(self, index: int, name: str) -> None:
        name = name.strip()
        if self.classes[index].name == name:
            return
        self._check_unique_name(name, exclude=index)
        self.classes[index] = ClassInfo(name, self.classes[index].color)

    def recolor_class(self, index: int, color: str) -> None:
        self.classes[index] = ClassInfo(self.classes[index].name, color)

    def _check_unique_name(self, name: str, exclude: int = -1) -> None:
        if not name:
            raise ConfigError("A class needs a non-empty name.")
        if any(c.name.lower() == name.lower() for i, c in enumerate(self.classes) if i != exclude):
            raise ConfigError(f"There is already a class called '{name}'.")

    def class_deletion_impact(self, index: int) -> DeletionImpact:
        from segstudio.io.masks import read_mask

        images = pixels = 0
        for _, path in self.saved_masks():
            try:
                n = int(np.count_nonzero(read_mask(path) == index))
            except Exception:
                continue
            if n:
                images += 1
                pixels += n
        return DeletionImpact(self.classes[index].name, images, pixels,
                              [c.name for c in self.classes[index + 1:]])

    def delete_class(self, index: int) -> None:
        """Remove class ``index``: its pixels become unlabelled and later classes shift down.
        Masks are rewritten atomically one by one before the class table changes."""
        from segstudio.io.masks import labelled_fraction, read_mask, write_mask

        if len(self.classes) <= 1:
            raise ConfigError("A project needs at least one class.")
        lut = np.arange(256, dtype=np.uint8)
        lut[index] = UNLABELLED
        lut[index + 1:UNLABELLED] = np.arange(index, UNLABELLED - 1, dtype=np.uint8)
        new_classes = self.classes[:index] + self.classes[index + 1:]
        for entry, path in list(self.saved_masks()):
            mask = read_mask(path)
            remapped = lut[mask]
            if not np.array_equal(remapped, mask):
                inst_path = self.instance_path(entry)
                if inst_path.exists():  # the class's objects leave the instance map too
                    from segstudio.core.instances import count_objects
                    from segstudio.io.instances import read_instances, write_instances

                    inst = read_instances(inst_path, shape=mask.shape)
                    inst[remapped == UNLABELLED] = 0
                    write_instances(inst_path, inst)
                    self.set_labelled(entry.id, labelled_fraction(remapped),
                                      count_objects(inst))
                write_mask(path, remapped, new_classes)
                self.set_labelled(entry.id, labelled_fraction(remapped))
        self.classes = new_classes


def _unique_id(stem: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "image"
    base = base[:100]
    if not base[0].isalnum() and base[0] != "_":
        base = "_" + base
    cand, n = base, 2
    while cand in taken:
        cand, n = f"{base}-{n}", n + 1
    return cand


def _validate_entry(root: Path, entry: ImageEntry) -> None:
    if not _ID_RE.match(entry.id) or ".." in entry.id:
        raise ProjectError(f"segstudio.json lists an invalid image id {entry.id!r}; it was left "
                           "unchanged.")
    if entry.split not in SPLITS:
        raise ProjectError(f"segstudio.json: image {entry.id!r} has unknown split "
                           f"{entry.split!r}; it was left unchanged.")
    p = PurePosixPath(entry.path)
    # ".." in either separator style: a backslash path is a traversal on Windows.
    dotdot = ".." in p.parts or ".." in PureWindowsPath(entry.path).parts
    if not entry.path or (not p.is_absolute() and not Path(entry.path).is_absolute()
                          and dotdot):
        raise ProjectError(f"segstudio.json: image {entry.id!r} points outside the project "
                           f"({entry.path!r}); it was left unchanged.")


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under ``folder`` (recursively), in natural sort order, skipping the
    project's own masks/, runs/ and exports/ folders and hidden files."""
    from segstudio.io.images import is_image_file

    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for fn in filenames:
            if not fn.startswith(".") and is_image_file(fn):
                found.append(Path(dirpath) / fn)
    return sorted(found, key=natural_key)


def natural_key(p: Path) -> list[int | str]:
    """Sort key: digit runs compare as numbers (img2 before img10), the rest ignoring case."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.as_posix())]


def open_or_create(path: str | os.PathLike[str], task: str = "semantic") -> Project:
    """Open the project at ``path``; a folder of images without one becomes a new project
    (of ``task``: "semantic" or "instances")."""
    p = Path(path)
    if not p.exists():
        raise ProjectError(f"{p} does not exist.")
    if p.is_file():
        if p.name == PROJECT_FILE:
            return Project.open(p.parent)
        raise ProjectError(f"{p.name} is a file; open a project folder or a folder of images.")
    if (p / PROJECT_FILE).exists():
        return Project.open(p)
    images = find_images(p)
    if not images:
        raise ProjectError(f"{p} holds no segstudio project and no images.")
    project = Project.create(p, task=task)
    project.add_images(images)
    project.save()
    return project
