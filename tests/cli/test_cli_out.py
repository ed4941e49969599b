"""An --out folder that cannot be created or written (under a file, read-only) ends
`segstudio predict`, `export` and `export-model` with one `segstudio:` line on stderr and
status 2: no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segstudio.cli import main
from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.inference.checkpoints import save_checkpoint
from segstudio.models import create_model
from segstudio.project.project import Project

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    model = create_model("unet", in_channels=3, num_classes=2, base_width=4, levels=3)
    meta = {"classes": [{"name": "a", "color": "#000000"}, {"name": "b", "color": "#ff0000"}],
            "channels": 3}
    checkpoint = save_checkpoint(root / "best", model.eval(), meta)
    image = root / "proj" / "i.png"
    image.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((24, 30, 3)) * 255).astype(np.uint8)).save(image)
    project = Project.create(root / "proj", [ClassInfo("a", "#000000"), ClassInfo("b", "#ff0000")])
    project.add_images([image])
    mask = np.full((24, 30), UNLABELLED, np.uint8)
    mask[2:10, 3:12] = 1
    project.save_mask(project.images[0], mask)
    project.save()
    return {"checkpoint": checkpoint, "image": image, "project": root / "proj"}


def _commands(inputs: dict[str, Path], out: Path) -> dict[str, list[str]]:
    return {
        "predict": ["predict", str(inputs["checkpoint"]), str(inputs["image"]), "--out", str(out),
                    "--device", "cpu"],
        "export": ["export", str(inputs["project"]), "--out", str(out)],
        "export-model": ["export-model", str(inputs["checkpoint"]), "--out", str(out),
                         "--format", "safetensors,torchscript"],
    }


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_bytes(b"")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def read_only(tmp_path) -> Path:
    """A folder nobody can write into: a chmod 555 one, or (as root, who may write there
    anyway) Linux's /sys."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not _writable(folder):
            yield folder
            return
        sys_dir = Path("/sys")
        if sys_dir.is_dir() and not _writable(sys_dir):
            yield sys_dir
            return
        pytest.skip("no folder here refuses writes (root on a system without /sys)")
    finally:
        folder.chmod(0o755)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _check_refused(argv: list[str], capsys) -> str:
    rc = main(argv)
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == 2, cap.err
    assert len(lines) == 1 and lines[0].startswith("segstudio: "), cap.err
    assert "--out" in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["predict", "export", "export-model"])
def test_out_under_a_file(inputs, tmp_path, capsys, command):
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder")
    for out in (Path("/dev/null/x"), plain / "x", plain / "x" / "y"):
        line = _check_refused(_commands(inputs, out)[command], capsys)
        assert "not a folder" in line
    assert plain.read_text() == "not a folder"
    assert _listing(tmp_path) == ["plain.txt"]


@pytest.mark.parametrize("command", ["predict", "export", "export-model"])
def test_out_is_a_file(inputs, tmp_path, capsys, command):
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder")
    line = _check_refused(_commands(inputs, plain)[command], capsys)
    assert "is a file" in line
    assert plain.read_text() == "not a folder"


@pytest.mark.parametrize("command", ["predict", "export", "export-model"])
def test_out_in_a_read_only_folder(inputs, read_only, capsys, command):
    before = _listing(read_only) if read_only != Path("/sys") else None
    for out in (read_only, read_only / "sub", read_only / "sub" / "deeper"):
        _check_refused(_commands(inputs, out)[command], capsys)
    if before is not None:
        assert _listing(read_only) == before == []


def test_out_error_from_the_command_has_no_traceback(inputs, tmp_path):
    """The real `segstudio` process: one line on stderr, status 2."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    argv = _commands(inputs, Path("/dev/null/x"))["export-model"]
    done = subprocess.run([sys.executable, "-m", "segstudio", *argv], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segstudio: --out "), done.stderr
