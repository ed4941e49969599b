"""`segstudio predict`, `export`, `export-model` and `import-masks`, with good and bad input.
Bad input gives one clear line on stderr and a non-zero status; a bad image among good ones
is reported and the good ones are still written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segstudio.cli import main
from segstudio.core.classes import UNLABELLED, ClassInfo
from segstudio.inference.checkpoints import save_checkpoint
from segstudio.inference.predictor import Predictor
from segstudio.models import create_model
from segstudio.project.project import Project

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _checkpoint(folder: Path, arch: str = "unetpp", num_classes: int = 3) -> Path:
    torch.manual_seed(0)
    model = create_model(arch, in_channels=3, num_classes=num_classes, base_width=4, levels=3)
    names = ["bg", "fg"] if num_classes == 1 else ["a", "b", "c"]
    meta = {"classes": [{"name": n, "color": f"#{40 * i:02x}8000"} for i, n in enumerate(names)],
            "channels": 3, "normalisation": {"mean": [120.0] * 3, "std": [60.0] * 3}}
    return save_checkpoint(folder / "best", model.eval(), meta)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("model"))


def _image(path: Path, h: int = 40, w: int = 52, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _one_line_errors(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("segstudio: ") for line in lines), err
    return lines


# ------------------------------------------------------------------------------ predict
def test_predict_writes_index_masks_and_reports_bad_images(model_path, tmp_path, capsys):
    good1 = _image(tmp_path / "in" / "one.png")
    good2 = _image(tmp_path / "in" / "sub" / "two.jpg", 33, 47, seed=1)
    corrupt = tmp_path / "in" / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    missing = tmp_path / "in" / "missing.png"
    out = tmp_path / "out"
    rc = main(["predict", str(model_path), str(good1), str(corrupt), str(missing), str(good2),
               "--out", str(out), "--coco", "--depth", "1", "--device", "cpu"])
    cap = capsys.readouterr()
    assert rc != 0
    errors = _one_line_errors(cap.err)
    assert len(errors) == 2
    assert "broken.png" in errors[0] and "missing.png" in errors[1]
    predictor = Predictor.load(model_path, device="cpu")
    from segstudio.io.images import read_image

    for src in (good1, good2):
        im = Image.open(out / f"{src.stem}.png")
        assert im.mode == "L"   # grayscale: value = class index, as the sample scripts write
        want = predictor.predict(read_image(src).data, 1).labels
        assert np.array_equal(np.asarray(im), want)
    doc = json.loads((out / "coco.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == [good1.as_posix(), good2.as_posix()]
    assert [c["name"] for c in doc["categories"]] == ["a", "b", "c"]
    assert all(0 <= a["score"] <= 1 for a in doc["annotations"])
    assert "2 mask(s) written" in cap.out and "2 image(s) failed" in cap.out


def test_predict_folder_and_same_stems(model_path, tmp_path, capsys):
    _image(tmp_path / "in" / "a" / "x.png")
    _image(tmp_path / "in" / "b" / "x.png", seed=2)
    assert main(["predict", str(model_path), str(tmp_path / "in"), "--out",
                 str(tmp_path / "out"), "--device", "cpu", "--tile", "32"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x-2.png", "x.png"]
    assert not (tmp_path / "out" / "coco.json").exists()


@pytest.mark.parametrize("args, words", [
    (["MODEL_MISSING"], "missing"),
    (["--depth", "7"], "--depth must be one of 1, 2"),
    (["--device", "warp"], "Unknown device"),
    (["--tile", "8"], "--tile"),
    (["EMPTY_DIR"], "holds no images"),
])
def test_predict_bad_input_is_one_line(model_path, tmp_path, capsys, args, words):
    img = _image(tmp_path / "i.png")
    (tmp_path / "empty").mkdir()
    model = str(model_path)
    extra = []
    for a in args:
        if a == "MODEL_MISSING":
            model = str(tmp_path / "nope.safetensors")
        elif a == "EMPTY_DIR":
            extra.append(str(tmp_path / "empty"))
        else:
            extra.append(a)
    images = [str(img)] if "EMPTY_DIR" not in args else []
    rc = main(["predict", model, *images, *extra, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    (line,) = _one_line_errors(err)
    assert words in line


def test_predict_pickle_is_refused(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"\x80\x04not opened")
    assert main(["predict", str(tmp_path / "model.pt"), str(_image(tmp_path / "i.png")),
                 "--out", str(tmp_path / "o")]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert "pickled" in line


# ------------------------------------------------------------------------------ export
@pytest.fixture
def project(tmp_path) -> Project:
    imgs = [_image(tmp_path / "proj" / f"p{i}.png", 24, 30, seed=i) for i in range(3)]
    p = Project.create(tmp_path / "proj", [ClassInfo("a", "#ff0000"), ClassInfo("b", "#00ff00")])
    p.add_images(imgs)
    m = np.full((24, 30), UNLABELLED, np.uint8)
    m[2:10, 3:12] = 0
    m[12:20, 5:25] = 1
    p.save_mask(p.images[0], m)
    p.save()
    return p


def test_export_and_import_back(project, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export", str(project.root), "--out", str(out)]) == 0
    assert "Exported 1 mask(s)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["coco.json", "color", "masks"]
    original = project.load_mask(project.images[0], (24, 30))
    project.mask_path(project.images[0]).unlink()
    assert main(["import-masks", str(project.root), str(out / "coco.json"),
                 "--format", "coco"]) == 0
    assert "Imported masks for 1 image(s)" in capsys.readouterr().out
    again = Project.open(project.root)
    assert np.array_equal(again.load_mask(again.images[0], (24, 30)), original)
    assert main(["export", str(project.root), "--out", str(tmp_path / "all"),
                 "--format", "index", "--which", "all"]) == 0
    assert len(list((tmp_path / "all" / "masks").iterdir())) == 3


def test_export_predictions(project, model_path, tmp_path, capsys):
    binary = _checkpoint(tmp_path / "bin", "unet", 1)
    assert main(["export", str(project.root), "--out", str(tmp_path / "pr"), "--which",
                 "predictions", "--model", str(binary), "--device", "cpu"]) == 0
    assert len(list((tmp_path / "pr" / "masks").iterdir())) == 3
    doc = json.loads((tmp_path / "pr" / "coco.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["bg", "fg"]


@pytest.mark.parametrize("args, words", [
    (["--format", "index,gif"], "Unknown mask format"),
    (["--which", "predictions"], "needs --model"),
    (["--depth", "1"], "apply to --which predictions only"),
    (["OUT_IN_PROJECT"], "overwrite the project's own masks"),
    (["NO_PROJECT"], "No segstudio project"),
])
def test_export_bad_input_is_one_line(project, tmp_path, capsys, args, words):
    root, out, extra = str(project.root), str(tmp_path / "o"), []
    for a in args:
        if a == "OUT_IN_PROJECT":
            out = root
        elif a == "NO_PROJECT":
            root = str(tmp_path)
        else:
            extra.append(a)
    assert main(["export", root, "--out", out, *extra]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert words in line


def test_export_model_cli(model_path, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["export-model", str(model_path), "--out", str(out), "--format", "onnx",
                 "--depth", "2"]) == 0
    text = capsys.readouterr().out
    assert "depth L2" in text and "onnx: largest logit difference" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "README.txt", "model.onnx", "model_info.json", "predict_common.py",
        "predict_onnx.py"]
    unet = _checkpoint(tmp_path / "u", "unet")
    assert main(["export-model", str(unet), "--out", str(tmp_path / "x"), "--depth", "1"]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert "Only U-Net++" in line
    assert main(["export-model", str(model_path), "--out", str(tmp_path / "y"), "--format",
                 "keras"]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert "Unknown model format" in line


def test_import_masks_cli_reports_and_fails_cleanly(project, tmp_path, capsys):
    ann = tmp_path / "lm"
    ann.mkdir()
    (ann / "p1.json").write_text(json.dumps({
        "shapes": [{"label": "b", "points": [[2, 2], [20, 2], [20, 15]],
                    "shape_type": "polygon"}], "imagePath": "p1.png",
        "imageHeight": 24, "imageWidth": 30}))
    (ann / "zzz.json").write_text(json.dumps({"shapes": [], "imagePath": "zzz.png"}))
    assert main(["import-masks", str(project.root), str(ann), "--format", "labelme"]) == 0
    out = capsys.readouterr().out
    assert "Imported masks for 1 image(s)" in out and "zzz.png" in out
    assert (Project.open(project.root).load_mask(project.images[1], (24, 30)) == 1).sum() > 50
    assert main(["import-masks", str(project.root), str(tmp_path / "none"), "--format",
                 "coco"]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert "does not exist" in line
    (tmp_path / "x.json").write_text("[]")
    assert main(["import-masks", str(project.root), str(tmp_path / "x.json"), "--format",
                 "coco"]) == 2
    (line,) = _one_line_errors(capsys.readouterr().err)
    assert "not a COCO file" in line
