"""Predict a list of images one by one: the one home of "predict many", used by
`segstudio predict` and the window's Predict All. Where the results go is the caller's sink;
an image that fails is reported and the others go on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segstudio.errors import SegStudioError


@dataclass(frozen=True)
class PredictFailure:
    name: str
    path: Path
    message: str


@dataclass
class PredictManyResult:
    total: int
    done: int = 0                      # images handled, failed ones included
    failed: list[PredictFailure] = field(default_factory=list)
    cancelled: bool = False

    @property
    def written(self) -> int:
        return self.done - len(self.failed)


def predict_many(predictor: Any, items: Iterable[tuple[str, Path]],
                 sink: Callable[..., None], *, depth: int | None = None,
                 with_image: bool = False,
                 progress: Callable[[int, int], Any] | None = None,
                 cancelled: Callable[[], bool] | None = None,
                 on_failure: Callable[[PredictFailure], Any] | None = None) -> PredictManyResult:
    """For each (name, path): read, predict, ``sink(name, prediction, path)``. A user-caused
    failure (unreadable image, wrong channels, a sink that cannot write) is recorded and passed
    to ``on_failure``; a bug propagates. ``cancelled()`` is asked before each image.
    ``with_image``: the sink also gets the decoded image, ``sink(name, prediction, path, image)``
    (measurements of objects need its pixels)."""
    from segstudio.io.images import read_image

    todo = list(items)
    result = PredictManyResult(total=len(todo))
    for name, path in todo:
        if cancelled is not None and cancelled():
            result.cancelled = True
            break
        try:
            image = read_image(path).data
            prediction = predictor.predict(image, depth)
            if with_image:
                sink(name, prediction, path, image)
            else:
                sink(name, prediction, path)
        except SegStudioError as exc:
            failure = PredictFailure(name, Path(path), str(exc))
            result.failed.append(failure)
            if on_failure is not None:
                on_failure(failure)
        result.done += 1
        if progress is not None:
            progress(result.done, result.total)
    return result
