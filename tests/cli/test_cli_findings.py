"""What a new user met on the command line (issue 13 #10), each with the behaviour asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segstudio.cli import main
from segstudio.project.demo import generate_demo
from tests.cli.test_cli_export import _checkpoint, _image, _one_line_errors

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_import_of_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["import", str(tmp_path / "nowhere"), str(tmp_path / "p")]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert "no such folder" in line
    assert not (tmp_path / "p").exists()


def test_failed_training_exits_2_like_every_user_error(tmp_path, capsys):
    p = generate_demo(tmp_path / "d", n_images=2, size=64, labelled=0)
    assert main(["train", str(p.root), "--epochs", "1"]) == 2
    assert "No labelled pixels" in capsys.readouterr().err


def test_evaluate_defaults_to_a_split_that_exists_and_names_the_others(tmp_path, capsys):
    # The demo's images are all 'auto': training validates on some of them, so the default
    # (and --split val) scores those; --split test names the splits that have labels.
    p = generate_demo(tmp_path / "d", n_images=4, size=64, labelled=4)
    ckpt = _checkpoint(tmp_path / "m")
    meta_path = ckpt.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["classes"] = [{"name": c.name, "color": c.color} for c in p.classes]
    meta_path.write_text(json.dumps(meta))
    assert main(["evaluate", str(p.root), str(ckpt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["split"] == "val" and out["images"] == 1
    assert main(["evaluate", str(p.root), str(ckpt), "--split", "test"]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert "'test'" in line and "train (3 images)" in line and "val (1 image)" in line


def test_predict_coco_leaves_out_specks(tmp_path, capsys):
    model = _checkpoint(tmp_path / "m")
    images = [_image(tmp_path / "in" / f"{i}.png", 64, 64, seed=i) for i in range(2)]

    def annotations(*extra: str) -> int:
        out = tmp_path / f"out{len(extra)}"
        assert main(["predict", str(model), *map(str, images), "--out", str(out), "--coco",
                     *extra]) == 0
        doc = json.loads((out / "coco.json").read_text())
        assert all(a["area"] >= (16 if not extra else 0) for a in doc["annotations"])
        return len(doc["annotations"])

    every = annotations("--min-area", "0")
    assert annotations() < every  # an untrained model's noise: mostly specks
    capsys.readouterr()


def test_info_names_unreadable_images(tmp_path, capsys):
    p = generate_demo(tmp_path / "d", n_images=3, size=64, labelled=1)
    Path(p.image_path(p.images[1])).write_bytes(b"not an image")
    assert main(["info", str(p.root)]) == 0
    out = capsys.readouterr().out
    assert f"1 image(s) cannot be read: {p.images[1].id}" in out


def test_demo_folder_is_visible_and_named_once(monkeypatch, tmp_path):
    from segstudio.ui.settings import default_demo_dir

    monkeypatch.delenv("SEGSTUDIO_DEMO_DIR", raising=False)
    d = default_demo_dir()
    assert not any(part.startswith(".") for part in d.parts[1:])
    assert d.parts.count("segstudio") <= 1 and d.name == "segstudio-demo"


def test_output_into_a_closed_pipe_is_not_a_traceback(tmp_path):
    import subprocess
    import sys

    p = generate_demo(tmp_path / "d", n_images=2, size=64, labelled=1)
    r = subprocess.run(f"{sys.executable} -m segstudio info {p.root} | head -c 1",
                       shell=True, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr
