"""Persistent preferences (QSettings): recent projects, window geometry.

SEGSTUDIO_SETTINGS=path/to/file.ini redirects everything to one INI file, which is how tests
keep the user's real settings untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

MAX_RECENT = 10


def app_settings() -> QSettings:
    path = os.environ.get("SEGSTUDIO_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("segstudio", "segstudio")


def recent_projects() -> list[str]:
    value = app_settings().value("recent_projects", [])
    if isinstance(value, str):  # QSettings returns a bare string for one-element lists
        value = [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def add_recent_project(path: str | os.PathLike) -> list[str]:
    p = str(Path(path))
    items = [p] + [r for r in recent_projects() if r != p]
    items = items[:MAX_RECENT]
    app_settings().setValue("recent_projects", items)
    return items


def default_demo_dir() -> Path:
    env = os.environ.get("SEGSTUDIO_DEMO_DIR")
    if env:
        return Path(env)
    # A folder the user sees and can find again (exports default inside the project): not
    # the hidden per-app data folder, which Qt names ~/.local/share/segstudio/segstudio.
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(base or Path.home()) / "segstudio-demo"
