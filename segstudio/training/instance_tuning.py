"""When an instance run ends: choose the object thresholds (seed, mask, minimum size) on the
validation maps of its best epoch and write them into the checkpoints, so `segstudio predict`,
`evaluate` and the window make objects the way that scored best on images training did not
learn from."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from segstudio.inference import checkpoints
from segstudio.inference.instance_postprocess import choose_params
from segstudio.training.events import Notice
from segstudio.training.validation import ObjectCase


def tune_objects(cases: list[ObjectCase], paths: list[str | None]) -> Iterator[Notice]:
    params, scores = choose_params([
        (c.foreground.astype(np.float32), c.interior.astype(np.float32), c.truth, c.unlabelled)
        for c in cases])
    for path in dict.fromkeys(p for p in paths if p):
        try:
            checkpoints.update_meta(path, instance_params=params.to_json(),
                                    instance_tuning={k: float(v) for k, v in scores.items()
                                                     if isinstance(v, int | float)})
        except OSError as exc:
            yield Notice(f"Could not store the object thresholds in {path} "
                         f"({getattr(exc, 'strerror', None) or exc}).")
            return
    yield Notice(f"Object thresholds chosen on the validation images: seed "
                 f"{params.seed_threshold:.2f}, mask {params.mask_threshold:.2f}, minimum size "
                 f"{params.min_size} px (AP@0.5 {scores.get('ap50', float('nan')):.3f}, mean AP "
                 f"{scores.get('map', float('nan')):.3f}).", level="info")
