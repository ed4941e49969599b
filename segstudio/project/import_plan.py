"""A mask import's plan, made before anything is written: one ``ImportJob`` per image to write
(its entry, the source item, a function making its mask) and the items that matched no image
or failed. The per-format planners (``index_import``, ``labelme_import``, ``coco_import``)
make one; ``mask_import.import_masks`` carries it out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from segstudio.errors import SegStudioError
from segstudio.project.project import ImageEntry

# (height, width) of the image, the mask to paint on -> the imported mask and notes on what
# was left out
MaskMaker = Callable[[tuple[int, int], np.ndarray], tuple[np.ndarray, list[str]]]
# Instance projects: (height, width), the mask and the instance map to paint on, merge (True:
# keep what is there; False: they are blank) -> the imported mask, instance map and notes
InstanceMaker = Callable[[tuple[int, int], np.ndarray, np.ndarray, bool],
                         tuple[np.ndarray, np.ndarray, list[str]]]


class MaskImportError(SegStudioError):
    """The import source is unusable as a whole (missing, not of the format given)."""


@dataclass
class ImportJob:
    """One image to write: its entry, the source item name and a function making its mask
    (and one making mask and instance map, for instance projects)."""
    entry: ImageEntry
    item: str
    make: MaskMaker | None
    declared: tuple[int, int] | None = None   # size the source says the image has (checked)
    fallback: tuple[int, int] | None = None   # size to use if the image cannot be read
    make_instances: InstanceMaker | None = None


@dataclass
class ImportPlan:
    jobs: list[ImportJob] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add_unmatched(self, item: str, why: str) -> None:
        """An item no image was found for: "unmatched" when there is no such image, "failed"
        (with the reason) when the name is ambiguous."""
        if why.startswith("no image"):
            self.unmatched.append(item)
        else:
            self.failed.append((item, why))
