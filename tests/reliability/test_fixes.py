"""Regression tests for the bugs the reliability work found, one per fix (each failed before
its fix). The full hostile-input matrix lives in test_hostile_inputs.py."""

from __future__ import annotations

import json

import pytest

from segstudio.core.project import Project
from segstudio.errors import ProjectError


def _write_project(folder, text: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "segstudio.json").write_bytes(text)


def test_deeply_nested_project_json_is_corrupt_not_a_recursion_error(tmp_path):
    # json.loads raises RecursionError (not JSONDecodeError) on deep nesting; it escaped
    # Project.open, so the window and the command line crashed with a traceback.
    _write_project(tmp_path / "p", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ProjectError, match="segstudio.json is corrupt"):
        Project.open(tmp_path / "p")


def test_windows_style_dotdot_path_is_refused(tmp_path):
    # "..\\..\\x.png" is a path outside the project on Windows; only "/" was checked.
    data = {"app": "segstudio", "schema": 1, "classes": [{"name": "a", "color": "#000000"}],
            "images": [{"id": "x", "path": "..\\..\\secrets.png"}]}
    _write_project(tmp_path / "p", json.dumps(data).encode())
    with pytest.raises(ProjectError, match="points outside the project"):
        Project.open(tmp_path / "p")


def test_broken_tiff_prints_nothing_on_stderr(tmp_path):
    # tifffile logs "invalid offset to first page" through logging's last-resort handler,
    # i.e. a stray line on stderr: `segstudio predict` then printed two lines for one error.
    import os
    import subprocess
    import sys

    bad = tmp_path / "garbage.tif"
    bad.write_bytes(b"II*\x00" + bytes(range(256)) * 2)
    code = ("import sys\nfrom segstudio.io.images import read_image\n"
            "from segstudio.errors import ImageReadError\n"
            "try:\n    read_image(sys.argv[1])\nexcept ImageReadError as e:\n    print(e)\n")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0 and "garbage.tif" in r.stdout
    assert r.stderr == ""
