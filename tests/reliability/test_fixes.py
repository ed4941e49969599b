"""Regression tests for the bugs the reliability work found, one per fix (each failed before
its fix). The full hostile-input matrix lives in test_hostile_inputs.py."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from segstudio.errors import ProjectError
from segstudio.project.project import Project


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


# ------------------------------------------------------------------ model sidecars (checkpoints)
@pytest.fixture(scope="module")
def good_weights(tmp_path_factory):
    from tests.reliability.corpus import good_model

    return good_model(tmp_path_factory.mktemp("model"))


def _with_sidecar(tmp_path, weights, **changes):
    import shutil

    meta = json.loads(weights.with_suffix(".json").read_text())
    meta.update(changes)
    out = tmp_path / "model.safetensors"
    shutil.copy(weights, out)
    out.with_suffix(".json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("changes, message", [
    ({"version": "one"}, r"model\.json: 'version' is not a number"),
    ({"config": "base_width=4"}, r"model\.json: 'config' must be"),
    ({"architecture": ["unet"]}, r"model\.json: 'architecture' must be"),
    ({"classes": ["background", "cell"]}, r"model\.json: 'classes' must be"),
    ({"classes": [{"name": "a", "color": "red"}]}, r"model\.json: classes: Class colour"),
    ({"normalisation": {"mean": "zero"}}, r"model\.json: 'normalisation' must"),
    ({"normalisation": {"mean": [0, 0, 0], "std": [1, 0, 1]}}, r"model\.json: 'normalisation'"),
    ({"channels": "three"}, r"model\.json: 'channels' must be"),
])
def test_hostile_sidecar_values_are_model_file_errors(tmp_path, good_weights, changes, message):
    # Before: ValueError/TypeError/KeyError escaped load_checkpoint or Predictor.load, or the
    # window's load_model crashed on c.get() of a class that was not a dict.
    from segstudio.errors import ModelFileError
    from segstudio.inference.checkpoints import load_checkpoint, read_meta
    from segstudio.inference.predictor import Predictor

    path = _with_sidecar(tmp_path, good_weights, **changes)
    with pytest.raises(ModelFileError, match=message):
        read_meta(path)
    with pytest.raises(ModelFileError, match=message):
        load_checkpoint(path)
    with pytest.raises(ModelFileError, match=message):
        Predictor.load(path, device="cpu")


def test_channels_that_contradict_the_weights_are_refused(tmp_path, good_weights):
    from segstudio.errors import ModelFileError
    from segstudio.inference.checkpoints import load_checkpoint

    path = _with_sidecar(tmp_path, good_weights, channels=1,
                         normalisation={"mean": [0.0], "std": [1.0]})
    with pytest.raises(ModelFileError, match=r"takes 1 input channel.*weights take 3"):
        load_checkpoint(path)


def test_sidecar_memory_bomb_is_refused_without_allocating(tmp_path, good_weights):
    # A sidecar asking for filters of 100000/200000/300000 made load_checkpoint build that
    # model (~4e12 parameters) before looking at the weights: a RuntimeError from the
    # allocator at best, the machine swapping to death at worst.
    import resource

    from segstudio.errors import ModelFileError
    from segstudio.inference.checkpoints import load_checkpoint

    # Filters beyond models.catalog.MAX_FILTERS (4096) are refused by validate_model_options
    # before any model is built; 4096 at every level is within it yet ~4 GB of weights: that
    # one must be compared with the weights file before it is built for real.
    meta = json.loads(good_weights.with_suffix(".json").read_text())
    path = _with_sidecar(tmp_path, good_weights,
                         config={**meta["config"], "filters": [4096, 4096, 4096]})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelFileError, match="does not match its description"):
        load_checkpoint(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200
    path = _with_sidecar(tmp_path, good_weights,
                         config={**meta["config"], "filters": [100000, 200000, 300000]})
    with pytest.raises(ModelFileError, match="filters must be"):
        load_checkpoint(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200


def test_read_meta_refuses_a_pickle_name_even_with_a_sidecar(tmp_path, good_weights):
    # read_meta("model.pt") read model.json beside it and succeeded, so the window's Load
    # Model accepted a .pt file (and then quietly used model.safetensors instead).
    import shutil

    from segstudio.errors import ModelFileError
    from segstudio.inference.checkpoints import read_meta

    shutil.copy(good_weights.with_suffix(".json"), tmp_path / "model.json")
    (tmp_path / "model.pt").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ModelFileError, match="loads only .safetensors"):
        read_meta(tmp_path / "model.pt")
    with pytest.raises(ModelFileError, match="loads only .safetensors"):
        read_meta(tmp_path / "MODEL.PTH")


# ------------------------------------------------------------------------- atomic writes (io)
def test_atomic_write_of_a_long_file_name(tmp_path):
    # The temporary file is ".<name>.<random>.tmp": for a legal 249-byte name that is over the
    # 255-byte limit, and the OSError (ENAMETOOLONG) escaped as a traceback from
    # `segstudio predict` on an image with a long name.
    from segstudio.io.atomic import atomic_write_bytes

    target = tmp_path / ("long_" + "é" * 60 + "y" * 120 + ".png")
    atomic_write_bytes(target, b"data")
    assert target.read_bytes() == b"data"
    assert os.listdir(tmp_path) == [target.name]


def test_atomic_write_reports_a_temp_file_that_cannot_be_created(tmp_path, monkeypatch):
    # mkstemp ran outside the try: a full disk (no inodes) or a read-only folder raised a bare
    # OSError, which the window's Save does not catch, instead of SaveError.
    import errno
    import tempfile

    from segstudio.io.atomic import SaveError, atomic_write_bytes

    target = tmp_path / "segstudio.json"
    target.write_text("old")

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", no_space)
    with pytest.raises(SaveError, match="No space left on device.*unchanged"):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"


def test_export_refuses_a_mask_of_the_wrong_size(tmp_path):
    # export_masks read saved masks without the image's size: a 10 x 12 mask of a 32 x 24
    # image was exported (index PNG, COCO) without a word, while the window and training
    # refuse it.
    from PIL import Image

    from segstudio.project.mask_export import export_masks
    from tests.reliability.corpus import _good_project

    _good_project(tmp_path / "p")
    project = Project.open(tmp_path / "p")
    project.masks_dir.mkdir()
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(project.mask_path(project.images[0]))
    summary = export_masks(project, tmp_path / "out", ["index", "coco"])
    assert summary.exported == ()
    assert summary.failed == (("img", "img.png: mask is 10 x 12 but the image is 32 x 24."),)


@pytest.mark.parametrize("orientation, size", [(1, (24, 40)), (6, (40, 24)), (8, (40, 24))])
def test_read_image_size_from_the_header(tmp_path, orientation, size):
    from PIL import Image

    from segstudio.io.images import read_image, read_image_size

    p = tmp_path / "x.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new("RGB", (40, 24)).save(p, exif=exif.tobytes())
    assert read_image_size(p) == size == read_image(p).data.shape[:2]
    (tmp_path / "bad.png").write_bytes(b"nope")
    assert read_image_size(tmp_path / "bad.png") is None


def test_float_image_with_nan_pixels_trains(tmp_path):
    # A float TIFF with NaN pixels (no-data areas of microscopy and remote-sensing images)
    # made the normalisation NaN and training stopped with "The loss became NaN ... Try a
    # lower learning rate", which sends the user the wrong way; predictions were garbage.
    import tifffile

    from segstudio.io.images import read_image
    from segstudio.training.config import TrainConfig
    from segstudio.training.loop import train

    img = np.random.default_rng(0).random((64, 64)).astype(np.float32) + 10
    img[5:9, 5:9] = np.nan
    img[0, 0] = np.inf
    tifffile.imwrite(tmp_path / "a.tif", img)
    loaded = read_image(tmp_path / "a.tif")
    assert np.isfinite(loaded.data).all() and loaded.data[6, 6] == loaded.data[1:].min()
    assert "17 pixels without a value" in loaded.note
    project = Project.create(tmp_path / "p")
    project.add_images([tmp_path / "a.tif"])
    mask = np.full((64, 64), 255, np.uint8)
    mask[:20], mask[40:] = 0, 1
    project.save_mask(project.images[0], mask)
    cfg = TrainConfig(model={"base_width": 4, "levels": 2}, patch=32, batch=2, epochs=1,
                      iterations_per_epoch=2)
    fin = list(train(project, cfg))[-1]
    assert fin.reason == "completed", fin.message


def _dataset(root, mask_shape=(24, 32)):
    from PIL import Image

    for d in ("train/images", "train/masks", "val/images", "val/masks"):
        (root / d).mkdir(parents=True)
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(root / "train/images/a.png")
    Image.fromarray(np.zeros(mask_shape, np.uint8)).save(root / "train/masks/a.png")
    return root


def test_import_refuses_a_mask_of_the_wrong_size(tmp_path, capsys):
    # `segstudio import` copied a 10 x 12 mask of a 32 x 24 image into the new project, which
    # the window then refused to show.
    from segstudio.cli import main

    ds = _dataset(tmp_path / "ds", mask_shape=(12, 10))
    assert main(["import", str(ds), str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err == "segstudio: a.png: mask is 10 x 12 but the image is 32 x 24.\n"
    assert not (tmp_path / "p" / "segstudio.json").exists()


def test_import_of_the_same_image_twice(tmp_path, capsys):
    # A data set whose val/ holds a link to a train/ image: add_images skipped the duplicate,
    # returned [], and import crashed with IndexError (a traceback).
    from segstudio.cli import main

    ds = _dataset(tmp_path / "ds")
    os.symlink(ds / "train/images/a.png", ds / "val/images/a.png")
    assert main(["import", str(ds), str(tmp_path / "p")]) == 0
    project = Project.open(tmp_path / "p")
    assert [e.split for e in project.images] == ["train"]


def test_unreadable_mask_message_is_plain(tmp_path):
    # An empty or non-image mask file was reported with Pillow's text, which repeats the
    # file's full path: "cannot identify image file '/home/.../masks/img.png'".
    from segstudio.errors import MaskError
    from segstudio.io.masks import read_mask

    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_text("hello")
    with pytest.raises(MaskError) as e:
        read_mask(tmp_path / "a.png")
    assert str(e.value) == "a.png: not a readable mask (the file is empty)."
    with pytest.raises(MaskError) as e:
        read_mask(tmp_path / "b.png")
    assert str(e.value) == "b.png: not a readable mask (not an image file)."
