"""Label here next: score a project's images by how unsure the current model is of the pixels
the user has not labelled (``core.uncertainty`` does the maths), and find the region of an
image to label next. Used by the window after each new best model (in the background) and by
``segstudio rank``.

Each score keeps a reduced heat map (long side <= HEAT_SIDE, uint8 0..255 = sure..unsure) so
that a project of many images costs little memory, and so that the shown image's score can be
brought up to date with the user's newest strokes without predicting again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from segstudio.core.painting import Rect
from segstudio.core.uncertainty import image_uncertainty, most_uncertain_window, uncertainty_map

HEAT_SIDE = 256


@dataclass
class ImageScore:
    image_id: str
    score: float                 # mean uncertainty over unlabelled pixels, 0..1
    heat: np.ndarray             # uint8, reduced: 0 = sure, 255 = unsure
    shape: tuple[int, int]       # the image's (height, width)

    def rescored(self, mask: np.ndarray) -> ImageScore:
        """The same heat scored against a newer mask (the user labelled since)."""
        return ImageScore(self.image_id, image_uncertainty(self._heat01(), reduce_mask(
            mask, self.heat.shape)), self.heat, self.shape)

    def _heat01(self) -> np.ndarray:
        return self.heat.astype(np.float32) / 255.0

    def full_certainty(self) -> np.ndarray:
        """uint8 at the image's size, 255 = sure (the canvas's confidence colouring)."""
        h, w = self.shape
        return cv2.resize(255 - self.heat, (w, h), interpolation=cv2.INTER_LINEAR)

    def region(self, mask: np.ndarray | None) -> Rect | None:
        """The window of the image (full coordinates) to label next: about a quarter of its
        shorter side, where the unlabelled pixels are least sure; None when all labelled."""
        h, w = self.shape
        rh, rw = self.heat.shape
        small_mask = reduce_mask(mask, (rh, rw)) if mask is not None else None
        side = max(4, min(rh, rw) // 4)
        win = most_uncertain_window(self._heat01(), small_mask, side)
        if win is None:
            return None
        sx, sy = w / rw, h / rh
        return Rect(int(win.x0 * sx), int(win.y0 * sy), min(w, int(np.ceil(win.x1 * sx))),
                    min(h, int(np.ceil(win.y1 * sy))))


def reduce_heat(heat: np.ndarray, side: int = HEAT_SIDE) -> np.ndarray:
    """A 0..1 heat map as uint8 with its long side at most ``side`` (area average)."""
    h, w = heat.shape
    k = min(1.0, side / float(max(h, w)))
    small = heat if k >= 1.0 else cv2.resize(heat, (max(1, round(w * k)), max(1, round(h * k))),
                                             interpolation=cv2.INTER_AREA)
    return np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)


def reduce_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask at a heat map's reduced size (nearest: labelled stays labelled)."""
    if mask.shape == shape:
        return mask
    h, w = shape
    ys = (np.arange(h) * (mask.shape[0] / h)).astype(np.int64)
    xs = (np.arange(w) * (mask.shape[1] / w)).astype(np.int64)
    return mask[ys[:, None], xs[None, :]]


def score_image(predictor: Any, image_id: str, image: np.ndarray, mask: np.ndarray | None,
                measure: str = "entropy", depth: int | None = None,
                progress: Callable[[float], bool | None] | None = None) -> ImageScore:
    """Predict ``image`` with probabilities and score it against ``mask``."""
    pred = predictor.predict(image, depth, progress=progress, keep_probabilities=True)
    assert pred.probabilities is not None
    heat = uncertainty_map(pred.probabilities, measure)
    score = image_uncertainty(heat, mask)
    return ImageScore(image_id, score, reduce_heat(heat), (int(heat.shape[0]),
                                                           int(heat.shape[1])))


def score_project(predictor: Any, project: Any, ids: Iterable[str] | None = None,
                  measure: str = "entropy", depth: int | None = None,
                  cancelled: Callable[[], bool] = lambda: False,
                  on_score: Callable[[ImageScore], object] | None = None,
                  on_failure: Callable[[str, str], None] | None = None) -> list[ImageScore]:
    """Score the project's images (all, or ``ids``) against their saved masks."""
    from segstudio.errors import SegStudioError
    from segstudio.io.images import read_image

    out: list[ImageScore] = []
    wanted = None if ids is None else set(ids)
    for entry in list(project.images):
        if cancelled():
            break
        if wanted is not None and entry.id not in wanted:
            continue
        try:
            image = read_image(project.image_path(entry)).data
            mask = project.load_mask(entry, image.shape[:2])
            s = score_image(predictor, entry.id, image, mask, measure, depth,
                            progress=lambda f: not cancelled())
        except SegStudioError as exc:
            if on_failure is not None:
                on_failure(entry.id, str(exc))
            continue
        out.append(s)
        if on_score is not None:
            on_score(s)
    return out
