"""The object side of an instance run: after each epoch, thresholds for the watershed (seed,
mask, minimum size) chosen on a sample of the validation maps with a small grid and the
objects of every validation image scored with them; when the run ends, the full grid on the
best epoch's maps, written into the checkpoints. So the scores shown per epoch are those of
objects made the way `segstudio predict` will make them, not of fixed thresholds that suit an
early model badly, and the best epoch is chosen by them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from segstudio.core.instance_metrics import InstanceScores
from segstudio.inference import checkpoints
from segstudio.inference.instance_postprocess import (
    MIN_SIZES,
    InstanceParams,
    choose_params,
    instances_from_probs,
)
from segstudio.training.events import Notice
from segstudio.training.validation import ObjectCase

# the object scores the dashboard and the metrics log carry per epoch
EPOCH_OBJECT_SCORES = ("ap50", "ap75", "map", "aji", "count_error")
# per epoch: about a second of watershed on two cores for DSB2018's 100 validation images
EPOCH_SEEDS = (0.4, 0.55, 0.7)
EPOCH_MASKS = (0.5,)
EPOCH_PIXELS = 1_500_000


def _as_cases(cases: list[ObjectCase]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray | None]]:
    return [(c.foreground.astype(np.float32), c.interior.astype(np.float32), c.truth,
             c.unlabelled) for c in cases]


def epoch_objects(cases: list[ObjectCase]) -> tuple[InstanceParams, dict[str, float]]:
    """Thresholds from a quick search on a sample, and every image's objects scored."""
    if not cases:
        return InstanceParams(), {}
    params, _ = choose_params(_as_cases(cases), EPOCH_SEEDS, EPOCH_MASKS, MIN_SIZES,
                              EPOCH_PIXELS)
    scores = InstanceScores()
    for c in cases:
        pred = instances_from_probs(c.foreground.astype(np.float32),
                                    c.interior.astype(np.float32), params)
        scores.update(c.truth, pred, unlabelled=c.unlabelled)
    summary = scores.summary()
    return params, {k: float(summary[k]) for k in EPOCH_OBJECT_SCORES}


def tune_objects(cases: list[ObjectCase], paths: list[str | None]) -> Iterator[Notice]:
    """The full search on the best epoch's maps, stored in the checkpoints at ``paths``."""
    params, scores = choose_params(_as_cases(cases))
    for path in dict.fromkeys(p for p in paths if p):
        try:
            checkpoints.update_meta(path, instance_params=params.to_json(),
                                    instance_tuning={k: float(v) for k, v in scores.items()})
        except OSError as exc:
            yield Notice(f"Could not store the object thresholds in {path} "
                         f"({getattr(exc, 'strerror', None) or exc}).")
            return
    yield Notice(f"Object thresholds chosen on the validation images: seed "
                 f"{params.seed_threshold:.2f}, mask {params.mask_threshold:.2f}, minimum size "
                 f"{params.min_size} px (AP@0.5 {scores['ap50']:.3f}, mean AP "
                 f"{scores['map']:.3f}).", level="info")
