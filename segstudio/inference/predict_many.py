"""TEMPORARY (replaced by helper-b's version at merge)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PredictManySummary:
    written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def predict_many(predictor: Any, items: Iterable[tuple[str, Path]],
                 sink: Callable[[str, Path, Any], None], *, depth: int | None = None,
                 progress: Callable[[int, int], Any] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> PredictManySummary:
    from segstudio.errors import SegStudioError
    from segstudio.io.images import read_image

    items = list(items)
    out = PredictManySummary()
    for i, (name, path) in enumerate(items):
        if cancelled is not None and cancelled():
            break
        try:
            pred = predictor.predict(read_image(path).data, depth)
            sink(name, path, pred)
            out.written.append(name)
        except SegStudioError as exc:
            out.failed.append((name, str(exc)))
        if progress is not None:
            progress(i + 1, len(items))
    return out
