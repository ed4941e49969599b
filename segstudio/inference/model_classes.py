"""Whether a trained model fits a project: a model predicts class numbers, and they mean the
classes it was trained with. Used wherever a model meets a project (the window loading a
model, evaluation), so a model of another project can never write its numbers into masks."""

from __future__ import annotations

from collections.abc import Sequence

from segstudio.errors import ModelFileError


def class_mismatch(model_classes: Sequence[str], project_classes: Sequence[str]) -> str | None:
    """Why a model trained for ``model_classes`` cannot be used on a project with
    ``project_classes`` (names, in index order), or None when it can."""
    if list(model_classes) == list(project_classes):
        return None
    return ("This model was trained for other classes (" + ", ".join(model_classes)
            + ") than this project has (" + ", ".join(project_classes) + "): its class "
            "numbers would mean other things here.")


def check_model_classes(model_classes: Sequence[str], project_classes: Sequence[str]) -> None:
    """Raise ModelFileError with class_mismatch's message when the model does not fit."""
    why = class_mismatch(model_classes, project_classes)
    if why is not None:
        raise ModelFileError(why)
