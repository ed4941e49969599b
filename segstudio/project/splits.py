"""Which images a run trains on and which it validates on: one rule for the trainer and for
`segstudio evaluate`, so "--split val" scores the images training reported as validation."""

from __future__ import annotations

import hashlib

from segstudio.errors import ConfigError
from segstudio.project.project import Project

DEFAULT_VAL_FRACTION = 0.2
SPLITS = ("train", "val", "test", "auto", "all")


def auto_validation_ids(ids: list[str], fraction: float) -> set[str]:
    """A deterministic choice of validation images among the 'auto' ones: stable under adding
    images (each image's rank is a hash of its id)."""
    if len(ids) < 2 or fraction <= 0:
        return set()
    ranked = sorted(ids, key=lambda i: hashlib.sha1(i.encode("utf-8")).hexdigest())
    n = min(len(ids) - 1, max(1, round(len(ids) * fraction)))
    return set(ranked[:n])


def effective_splits(project: Project,
                     val_fraction: float = DEFAULT_VAL_FRACTION) -> dict[str, str]:
    """{image id: "train" | "val" | "test"} for the labelled images, as training assigns them:
    explicit splits as set; 'auto' images are validation where the trainer draws them (only
    when no image is marked 'val'), else training."""
    labelled = [e for e in project.images if e.labelled > 0]
    has_val = any(e.split == "val" for e in labelled)
    auto = [e.id for e in labelled if e.split == "auto"]
    drawn = set() if has_val else auto_validation_ids(auto, val_fraction)
    return {e.id: e.split if e.split != "auto" else ("val" if e.id in drawn else "train")
            for e in labelled}


def resolve_split(project: Project, split: str | None) -> str:
    """The split to score: as asked, or by default 'test' where labelled test images exist,
    else 'val'. A split with no labelled image is refused with the splits that have some."""
    counts: dict[str, int] = {}
    for s in effective_splits(project).values():
        counts[s] = counts.get(s, 0) + 1
    if split is None:
        split = "test" if counts.get("test") else "val"
    if split not in SPLITS:
        raise ConfigError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    if split in ("all", "auto") or counts.get(split):
        return split
    have = ", ".join(f"{k} ({v} image{'s' if v != 1 else ''})" for k, v in sorted(counts.items()))
    raise ConfigError(f"No labelled image in split {split!r} of {project.name}; "
                      + (f"labelled images are in: {have}." if have else "no image is labelled."))
