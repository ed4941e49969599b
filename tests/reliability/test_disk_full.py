"""Disk full (simulated: writes fail with ENOSPC once a byte budget is used up) on mask save,
project save and checkpoint save: the previous version stays intact and the user is told."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from segstudio.io.atomic import SaveError

NO_SPACE = "No space left on device"


class FullDisk:
    """Stands in for the ``os`` module inside segstudio.io.atomic: files opened there accept
    ``free`` more bytes in all, then fail with ENOSPC (after writing what still fit, as a real
    full disk does). Everything else is the real ``os``."""

    def __init__(self, free: int = 0) -> None:
        self.free = free
        self.failures = 0

    def fdopen(self, fd, mode="r", *args, **kw):
        return _LimitedFile(os.fdopen(fd, mode, *args, **kw), self)

    def __getattr__(self, name):
        return getattr(os, name)


class _LimitedFile:
    def __init__(self, fh, disk: FullDisk) -> None:
        self._fh, self._disk = fh, disk

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self._disk.free:
            self._fh.write(data[:self._disk.free])
            self._disk.free = 0
            self._disk.failures += 1
            raise OSError(errno.ENOSPC, NO_SPACE)
        self._disk.free -= len(data)
        return self._fh.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __getattr__(self, name):
        return getattr(self._fh, name)


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(free_bytes)`` fills the disk; ``full_disk.free_up()`` empties it again."""
    import segstudio.io.atomic as atomic

    class Control:
        disk: FullDisk | None = None

        def __call__(self, free: int = 0) -> FullDisk:
            self.disk = FullDisk(free)
            monkeypatch.setattr(atomic, "os", self.disk)
            return self.disk

        def free_up(self) -> None:
            monkeypatch.setattr(atomic, "os", os)

    return Control()


def _temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.tmp")]


# ------------------------------------------------------------------------------ masks, headless
def test_mask_save_keeps_previous_version(tmp_path, full_disk):
    from segstudio.io.masks import read_mask
    from tests.ui.canvas_helpers import make_project

    project = make_project(tmp_path / "p", n_images=1, shape=(64, 80))
    entry = project.images[0]
    v1 = np.full((64, 80), 255, np.uint8)
    v1[:10] = 1
    project.save_mask(entry, v1)
    v2 = v1.copy()
    v2[20:40] = 2
    for free in (0, 100):   # nothing fits / the disk fills in the middle of the file
        full_disk(free)
        with pytest.raises(SaveError, match=f"Could not save {entry.id}.png: {NO_SPACE}. The "
                                            "previous version is unchanged."):
            project.save_mask(entry, v2)
        assert np.array_equal(read_mask(project.mask_path(entry)), v1)
        assert project.entry(entry.id).labelled == pytest.approx(10 / 64)
        assert _temp_files(project.root) == []
    full_disk.free_up()
    project.save_mask(entry, v2)
    assert np.array_equal(read_mask(project.mask_path(entry)), v2)


# --------------------------------------------------------------------------------- the window
@pytest.fixture
def window(qtbot, tmp_path):
    from segstudio.ui.main_window import MainWindow
    from tests.ui.canvas_helpers import make_project

    make_project(tmp_path / "p", n_images=2, shape=(64, 80))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.image_shown, timeout=10000):
        assert w.open_path(tmp_path / "p")
    yield w
    w.close()


def _paint(window, value: int, rows=slice(0, 8)) -> np.ndarray:
    from segstudio.core.painting import Rect

    mask = window.canvas.current_mask()
    h, w = mask.shape
    r0, r1, _ = rows.indices(h)
    window.canvas.apply_block(Rect(0, r0, w, r1), np.full((r1 - r0, w), value, np.uint8))
    return window.canvas.current_mask().copy()


def test_window_autosave_on_full_disk_tells_user_and_keeps_edits(qtbot, window, full_disk):
    from segstudio.io.masks import read_mask

    project = window.project
    entry = project.entry(window.current_image_id)
    path = project.mask_path(entry)
    v1 = _paint(window, 1)
    assert window.save()
    assert np.array_equal(read_mask(path), v1)

    full_disk(0)
    v2 = _paint(window, 2, slice(10, 20))
    with qtbot.waitSignal(window.canvas.save_failed, timeout=10000):
        window.canvas.autosaver.save_now(window.canvas.document, project)
    text = window.message_bar.text()
    assert window.message_bar.level == "error"
    assert text == f"Could not save {entry.id}.png: {NO_SPACE}. The previous version is unchanged."
    assert np.array_equal(read_mask(path), v1)          # the file on disk: the old version
    assert np.array_equal(window.canvas.current_mask(), v2)  # the canvas: the user's edits
    assert window.canvas.document.dirty

    # Going to another image and back keeps the unsaved edits on the canvas.
    other = next(e.id for e in project.images if e.id != entry.id)
    with qtbot.waitSignal(window.image_shown, timeout=10000):
        window.image_list.select_image(other)
    with qtbot.waitSignal(window.image_shown, timeout=10000):
        window.image_list.select_image(entry.id)
    assert np.array_equal(window.canvas.current_mask(), v2)

    # Space freed: the next save writes them.
    full_disk.free_up()
    assert window.save()
    assert np.array_equal(read_mask(path), v2)
    assert _temp_files(project.root) == []


def test_window_project_save_on_full_disk(qtbot, window, full_disk):
    from segstudio.project.project import PROJECT_FILE

    pf = window.project.root / PROJECT_FILE
    before = pf.read_bytes()
    window.project.add_class("membrane")
    full_disk(50)
    assert not window.save_project_file()
    assert window.message_bar.level == "error"
    assert window.message_bar.text() == (f"Could not save {PROJECT_FILE}: {NO_SPACE}. The "
                                         "previous version is unchanged.")
    assert pf.read_bytes() == before
    assert _temp_files(window.project.root) == []
    full_disk.free_up()
    assert window.save_project_file()
    assert [c["name"] for c in json.loads(pf.read_text())["classes"]][-1] == "membrane"


# -------------------------------------------------------------------------------- checkpoints
def test_checkpoint_save_on_full_disk_keeps_both_files_of_the_previous_one(tmp_path, full_disk):
    """Weights and sidecar belong together: a disk that fills between them must not leave the
    new weights beside the old description."""
    from segstudio.inference.checkpoints import load_checkpoint, read_meta, save_checkpoint
    from segstudio.models import create_model

    model = create_model("unet", in_channels=1, num_classes=1, base_width=4, levels=2)
    meta = {"classes": [{"name": "a", "color": "#000000"}, {"name": "b", "color": "#ffffff"}],
            "epoch": 1}
    path = save_checkpoint(tmp_path / "best", model, meta)
    old_weights = path.read_bytes()
    old_side = path.with_suffix(".json").read_bytes()
    for p in model.parameters():
        p.data += 1
    for free in (0, 100, len(old_weights) + 10):   # fails in the weights / in the sidecar
        full_disk(free)
        with pytest.raises(SaveError, match=NO_SPACE):
            save_checkpoint(tmp_path / "best", model, {**meta, "epoch": 2})
        assert path.read_bytes() == old_weights
        assert path.with_suffix(".json").read_bytes() == old_side
        assert _temp_files(tmp_path) == []
    full_disk.free_up()
    assert read_meta(path)["epoch"] == 1 and load_checkpoint(path).meta["epoch"] == 1


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from segstudio.project.demo import generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo"), n_images=4, size=96, labelled=3)


TINY = dict(model={"base_width": 4, "levels": 3}, patch=64, batch=4, iterations_per_epoch=2,
            val_tile=256)


def test_training_on_full_disk_ends_with_message_and_keeps_best(demo, full_disk, monkeypatch):
    """Epoch 1 saves its checkpoints; then the disk is full. The run ends, says so, and names
    the best checkpoint, which is intact and loads."""
    from segstudio.inference.checkpoints import load_checkpoint
    from segstudio.training.config import TrainConfig
    from segstudio.training.events import CheckpointSaved, EpochReport, RunFinished
    from segstudio.training.loop import train

    events = []
    for ev in train(demo, TrainConfig(**TINY, epochs=4)):
        events.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.epoch == 1 and ev.best:
            full_disk(0)
    full_disk.free_up()
    fin = events[-1]
    assert isinstance(fin, RunFinished) and fin.reason == "failed"
    assert NO_SPACE in fin.message and "best checkpoint" in fin.message
    assert fin.best_checkpoint and fin.best_checkpoint in fin.message
    ck = load_checkpoint(fin.best_checkpoint)
    assert ck.meta["epoch"] == 1
    assert [e.epoch for e in events if isinstance(e, EpochReport)] == [1, 2]
    assert _temp_files(Path(fin.best_checkpoint).parent) == []


def test_training_metrics_log_on_full_disk_is_a_notice(demo, monkeypatch):
    """metrics.jsonl is appended with plain open(): a full disk there is a notice, not the end
    of the run."""
    import builtins

    import segstudio.training.loop as loop
    import segstudio.training.run_log as run_log
    from segstudio.training.config import TrainConfig
    from segstudio.training.events import Notice

    def full_open(file, mode="r", *a, **k):
        if str(file).endswith("metrics.jsonl"):
            raise OSError(errno.ENOSPC, NO_SPACE)
        return builtins.open(file, mode, *a, **k)

    monkeypatch.setattr(run_log, "open", full_open, raising=False)
    events = list(loop.train(demo, TrainConfig(**TINY, epochs=2)))
    assert events[-1].reason == "completed", events[-1].message
    notes = [e.text for e in events if isinstance(e, Notice)]
    assert any("metrics.jsonl" in n and NO_SPACE in n for n in notes)
