"""Class names of imported labels -> the project's class indices (``ClassMap``, which adds a
class for a name the project does not have and records it), and the class that fills pixels
no annotation covers (``background_value``)."""

from __future__ import annotations

from segstudio.core.classes import MAX_CLASSES, UNLABELLED, default_color
from segstudio.errors import ConfigError
from segstudio.project.project import Project

IGNORE_LABEL = "__ignore__"
BACKGROUND_ALIAS = "_background_"


class ClassMap:
    """Maps names to class indices, creating classes (recorded) for unknown names."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.created: list[str] = []

    def index(self, name: str, color: str | None = None) -> int:
        name = name.strip()
        if name == IGNORE_LABEL:
            return UNLABELLED
        if name == BACKGROUND_ALIAS:
            name = "background"
        for i, c in enumerate(self.project.classes):
            if c.name.lower() == name.lower():
                return i
        if len(self.project.classes) >= MAX_CLASSES:
            raise ConfigError(f"Cannot add class '{name}': a project holds at most "
                              f"{MAX_CLASSES} classes.")
        from segstudio.core.classes import ClassInfo

        try:
            ClassInfo(name, color or "")
        except ConfigError:
            color = None
        i = self.project.add_class(name, color or default_color(len(self.project.classes)))
        self.created.append(name)
        return i


def background_value(project: Project, background: str | None) -> int:
    """The mask value of the class called ``background`` (any case); UNLABELLED for None."""
    if background is None:
        return UNLABELLED
    for i, c in enumerate(project.classes):
        if c.name.lower() == background.strip().lower():
            return i
    raise ConfigError(f"There is no class called '{background}' to fill unannotated pixels "
                      f"with; the classes are {', '.join(c.name for c in project.classes)}.")
