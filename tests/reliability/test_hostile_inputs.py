"""Every file of the hostile-input corpus (tests/reliability/corpus.py), through the window and
through the command line: a clear message, no traceback, no crash, no other file touched, no
code run.

Window: the folder, project or model is opened with MainWindow methods, as the menu does; the
message must appear in the message bar (pytest-qt fails a test on any exception raised in a
Qt slot or virtual). Command line: ``segstudio.cli.main`` in-process for the whole matrix
(stderr is exactly one line ``segstudio: ...``) and real subprocesses for a sample of each
command, so the process exit path is proven too.
"""

from __future__ import annotations

import atexit
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from segstudio.errors import SegStudioError
from tests.reliability.corpus import (
    IMAGE,
    MASK,
    MODEL,
    PROJECT,
    build_corpus,
    evil_pickle,
    good_model,
    tree_digest,
)

ROOT = Path(__file__).resolve().parents[2]


# The corpus is written once, when this module is collected (about 2 s), so that the cases
# can parametrize the tests; each test that opens a case read-write works on a private copy.
_ROOT = Path(tempfile.mkdtemp(prefix="segstudio-hostile-"))
atexit.register(shutil.rmtree, _ROOT, True)   # also when the module is only collected
_CASES = build_corpus(_ROOT)
_BY_NAME = {c.name: c for c in _CASES}


@pytest.fixture(scope="module")
def corpus():
    yield _ROOT, _BY_NAME
    # Whatever ran in this module: no crafted pickle was ever unpickled.
    assert list((_ROOT / "markers").iterdir()) == []


@pytest.fixture(scope="module")
def good_project(tmp_path_factory):
    from tests.reliability.corpus import _good_project

    folder = tmp_path_factory.mktemp("good") / "project"
    _good_project(folder)
    return folder


def _names(kind: str) -> list[str]:
    return [c.name for c in _CASES if c.kind == kind]


IMAGE_CASES = _names(IMAGE)
MASK_CASES = _names(MASK)
PROJECT_CASES = _names(PROJECT)
MODEL_CASES = _names(MODEL)


def test_corpus_is_large_and_varied():
    assert len(IMAGE_CASES) + len(MASK_CASES) + len(PROJECT_CASES) + len(MODEL_CASES) >= 30
    assert min(len(IMAGE_CASES), len(MASK_CASES), len(PROJECT_CASES), len(MODEL_CASES)) >= 5


def test_the_crafted_pickles_really_run_code(tmp_path):
    """Control: the payload is live, so 'no marker appeared' below means segstudio refused it."""
    marker = tmp_path / "control.pwned"
    pickle.loads(evil_pickle(marker))
    assert marker.exists()


_KIND_DIRS = {IMAGE: "images", MASK: "masks", PROJECT: "projects", MODEL: "models"}


def _case_folder(case) -> Path:
    """The case's own folder: <corpus>/<kind>/<case name>."""
    p = case.path
    while p.parent.parent != _ROOT:
        p = p.parent
    assert p.parent.name == _KIND_DIRS[case.kind]
    return p


def _copy_case(case, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the case's folder; returns (copied folder, copied ``case.path``)."""
    top = _case_folder(case)
    dst = tmp_path / top.name
    shutil.copytree(top, dst, symlinks=True)
    return dst, dst / case.path.relative_to(top)


def _one_line_message(text: str, expect: str) -> None:
    assert text, "no message shown"
    assert "Traceback" not in text and 'File "' not in text
    assert text.count("\n") == 0 and len(text) < 500, text
    assert re.search(expect, text, re.I), f"{expect!r} not in {text!r}"


# ===================================================================================== window
@pytest.fixture
def window(qtbot):
    from segstudio.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def _error_text(window) -> str:
    return window.message_bar.text() if window.message_bar.level == "error" else ""


@pytest.mark.parametrize("name", IMAGE_CASES)
def test_window_image(qtbot, window, corpus, tmp_path, name):
    from segstudio.core.painting import Rect
    from segstudio.io.masks import read_mask

    case = corpus[1][name]
    top, _ = _copy_case(case, tmp_path)
    before = tree_digest(top)
    if case.ok:
        with qtbot.waitSignal(window.image_shown, timeout=10000):
            assert window.open_path(top)
        assert _error_text(window) == ""
        assert window.canvas.current_mask().shape == case.shape
        # It can be labelled and saved like any other image.
        window.canvas.apply_block(Rect(0, 0, 1, 1), np.zeros((1, 1), np.uint8))
        assert window.save()
        entry = window.project.images[0]
        assert read_mask(window.project.mask_path(entry), case.shape, 2)[0, 0] == 0
    else:
        window.open_path(top)
        qtbot.waitUntil(lambda: _error_text(window) != "", timeout=10000)
        _one_line_message(_error_text(window), case.expect)
        assert window.canvas.current_mask() is None
    window.close()
    after = tree_digest(top, skip=("segstudio.json", "masks"))
    assert after == before, "a file of the user's folder changed"


@pytest.mark.parametrize("name", MASK_CASES)
def test_window_mask(qtbot, window, corpus, tmp_path, name):
    case = corpus[1][name]
    folder, _ = _copy_case(case, tmp_path)
    before = tree_digest(folder, skip=("segstudio.json",))
    assert window.open_path(folder)
    qtbot.waitUntil(lambda: _error_text(window) != "", timeout=10000)
    _one_line_message(_error_text(window), case.expect)
    assert window.canvas.current_mask() is None   # nothing to paint over the bad mask
    window.close()
    assert tree_digest(folder, skip=("segstudio.json",)) == before


@pytest.mark.parametrize("name", PROJECT_CASES)
def test_window_project(qtbot, window, corpus, tmp_path, name):
    case = corpus[1][name]
    folder, _ = _copy_case(case, tmp_path)
    before = tree_digest(folder)
    assert not window.open_path(folder)
    _one_line_message(_error_text(window), case.expect)
    assert window.project is None
    window.close()
    assert tree_digest(folder) == before   # the broken project file is never overwritten


@pytest.mark.parametrize("name", MODEL_CASES)
def test_window_model(qtbot, window, corpus, good_project, tmp_path, name):
    root, cases = corpus
    case = cases[name]
    project = tmp_path / "project"
    shutil.copytree(good_project, project)
    with qtbot.waitSignal(window.image_shown, timeout=10000):
        assert window.open_path(project)
    before = tree_digest(case.path.parent)
    if window.load_model(str(case.path)):
        # The description was fine; the weights are read when the model is first used.
        assert window.predictions.predict_current()
    qtbot.waitUntil(lambda: _error_text(window) != "", timeout=30000)
    _one_line_message(_error_text(window), case.expect)
    window.close()
    assert tree_digest(case.path.parent) == before
    assert list((root / "markers").iterdir()) == []


# =========================================================================== library entry points
@pytest.mark.parametrize("name", MODEL_CASES)
def test_model_entry_points(corpus, good_project, tmp_path, name):
    """load_checkpoint, Predictor.load, export_model and training from it (init and resume)
    all refuse the file with the same message, and run nothing."""
    from segstudio.inference.checkpoints import load_checkpoint
    from segstudio.inference.model_export import export_model
    from segstudio.inference.predictor import Predictor
    from segstudio.project.project import Project
    from segstudio.training.config import TrainConfig
    from segstudio.training.loop import train

    root, cases = corpus
    case = cases[name]
    for call in (lambda: load_checkpoint(case.path),
                 lambda: Predictor.load(case.path, device="cpu"),
                 lambda: export_model(case.path, tmp_path / "out", ["safetensors"])):
        with pytest.raises(SegStudioError) as info:
            call()
        _one_line_message(str(info.value), case.expect)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # Training from the file: the run ends with the message (and a labelled project).
    project_dir = tmp_path / "project"
    shutil.copytree(good_project, project_dir)
    project = Project.open(project_dir)
    mask = np.full((24, 32), 255, np.uint8)
    mask[:4], mask[-4:] = 0, 1
    project.save_mask(project.images[0], mask)
    for key in ("init_from", "resume_from"):
        cfg = TrainConfig(model={"base_width": 4, "levels": 2}, patch=16, batch=2, epochs=1,
                          iterations_per_epoch=1, **{key: str(case.path)})
        finished = list(train(project, cfg))[-1]
        assert finished.reason == "failed"
        _one_line_message(finished.message, case.expect)
    assert list((root / "markers").iterdir()) == []


# ============================================================================== command line
def _cli(capsys, *argv) -> tuple[int, str, str]:
    from segstudio.cli import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_cli_error(rc: int, err: str, expect: str) -> None:
    assert rc != 0
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("segstudio: ")
    assert re.search(expect, lines[0], re.I), f"{expect!r} not in {lines[0]!r}"


@pytest.fixture(scope="module")
def model_3ch(tmp_path_factory):
    return good_model(tmp_path_factory.mktemp("m3"))


@pytest.mark.parametrize("name", IMAGE_CASES)
def test_cli_predict_image(capsys, corpus, model_3ch, tmp_path, name):
    case = corpus[1][name]
    before = tree_digest(case.path.parent)
    rc, out, err = _cli(capsys, "predict", model_3ch, case.path, "--out", tmp_path / "out",
                        "--device", "cpu")
    if case.ok:
        assert rc == 0 and err == "", err
        from segstudio.io.masks import read_mask

        written = list((tmp_path / "out").rglob("*.png"))
        assert len(written) == 1 and read_mask(written[0]).shape == case.shape
    else:
        _assert_cli_error(rc, err, case.expect)
    assert tree_digest(case.path.parent) == before


@pytest.mark.parametrize("name", MASK_CASES)
def test_cli_export_mask(capsys, corpus, tmp_path, name):
    case = corpus[1][name]
    folder, _ = _copy_case(case, tmp_path)
    before = tree_digest(folder)
    rc, out, err = _cli(capsys, "export", folder, "--out", tmp_path / "out", "--format", "index")
    _assert_cli_error(rc, err, case.expect)
    assert tree_digest(folder) == before


@pytest.mark.parametrize("name", MASK_CASES)
def test_cli_import_mask(capsys, corpus, tmp_path, name):
    """`segstudio import` of a data set (images/ + masks/) holding the bad mask."""
    case = corpus[1][name]
    ds = tmp_path / "dataset"
    (ds / "images").mkdir(parents=True)
    (ds / "masks").mkdir()
    shutil.copy(case.path / "img.png", ds / "images" / "img.png")
    shutil.copy(case.path / "masks" / "img.png", ds / "masks" / "img.png")
    before = tree_digest(ds)
    rc, out, err = _cli(capsys, "import", ds, tmp_path / "new")
    if name == "mask_values_beyond_classes":
        assert rc == 0 and err == ""    # importing infers the classes from the values
        assert "with 8 classes" in out
    else:
        _assert_cli_error(rc, err, case.expect)
        assert not (tmp_path / "new" / "segstudio.json").exists()
    assert tree_digest(ds) == before


@pytest.mark.parametrize("name", PROJECT_CASES)
def test_cli_project(capsys, corpus, tmp_path, name):
    case = corpus[1][name]
    folder, _ = _copy_case(case, tmp_path)
    before = tree_digest(folder)
    for argv in (("info", folder), ("train", folder, "--epochs", "1"),
                 ("export", folder, "--out", tmp_path / "out"),
                 ("import-masks", folder, tmp_path, "--format", "index")):
        rc, out, err = _cli(capsys, *argv)
        _assert_cli_error(rc, err, case.expect)
    assert tree_digest(folder) == before


@pytest.mark.parametrize("name", MODEL_CASES)
def test_cli_model(capsys, corpus, good_project, tmp_path, name):
    root, cases = corpus
    case = cases[name]
    before = tree_digest(case.path.parent)
    image = good_project / "img.png"
    for argv in (("predict", case.path, image, "--out", tmp_path / "p", "--device", "cpu"),
                 ("export-model", case.path, "--out", tmp_path / "m", "--format",
                  "safetensors"),
                 ("export", good_project, "--out", tmp_path / "e", "--which", "predictions",
                  "--model", case.path, "--device", "cpu")):
        rc, out, err = _cli(capsys, *argv)
        _assert_cli_error(rc, err, case.expect)
    assert tree_digest(case.path.parent) == before
    assert list((root / "markers").iterdir()) == []


def _run(*argv, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "segstudio", *map(str, argv)],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def test_cli_subprocess_sample(corpus, model_3ch, good_project, tmp_path):
    """Real processes: exit status 2, one line on stderr, no traceback, no code run."""
    root, cases = corpus
    for name in ("json_deeply_nested", "schema_newer", "path_dotdot"):
        r = _run("info", cases[name].path)
        assert r.returncode == 2 and r.stdout == ""
        _assert_cli_error(r.returncode, r.stderr, cases[name].expect)
    r = _run("predict", cases["pickle_as_safetensors"].path, good_project / "img.png",
             "--out", tmp_path / "p", "--device", "cpu")
    _assert_cli_error(r.returncode, r.stderr, cases["pickle_as_safetensors"].expect)
    # All refused images at once: one line per image, each naming its file.
    bad = [c for c in cases.values() if c.kind == IMAGE and not c.ok]
    r = _run("predict", model_3ch, *[c.path for c in bad], "--out", tmp_path / "o",
             "--device", "cpu")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == len(bad), r.stderr
    for c, line in zip(bad, lines, strict=False):
        assert line.startswith("segstudio: ") and re.search(c.expect, line, re.I), line
    assert list((root / "markers").iterdir()) == []
