"""The oracle of the label-here-next tests: predict every image of a project with a checkpoint
and average the normalised entropy over its saved unlabelled pixels, directly."""

from __future__ import annotations

from segstudio.core.uncertainty import entropy_map, image_uncertainty


def direct_scores(project, ckpt) -> dict[str, float]:
    from segstudio.inference.predictor import Predictor
    from segstudio.io.images import read_image

    predictor = Predictor.load(ckpt)
    out = {}
    for e in project.images:
        image = read_image(project.image_path(e)).data
        probs = predictor.predict(image, keep_probabilities=True).probabilities
        out[e.id] = image_uncertainty(entropy_map(probs), project.load_mask(e, image.shape[:2]))
    return out
