"""The main window end to end: demo, folders of odd images, classes, save and reopen."""

import json

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLineEdit

from segstudio.project.demo import generate_demo
from segstudio.project.project import PROJECT_FILE, Project
from segstudio.ui.app import open_initial
from segstudio.ui.image_list import ErrorRole
from segstudio.ui.main_window import MainWindow
from tests.image_corpus import make_corpus


@pytest.fixture
def window(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def _show(qtbot, window, image_id):
    with qtbot.waitSignal(window.image_shown, timeout=5000,
                          check_params_cb=lambda shown: shown == image_id):
        window.image_list.select_image(image_id)


def test_starts_on_demo_project(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSTUDIO_DEMO_DIR", str(tmp_path / "demo"))
    with qtbot.waitSignal(window.image_shown, timeout=10000):
        open_initial(window, None)
    p = window.project
    assert p is not None and p.name == "segstudio demo"
    # The built-in demo is an instance project (project/demo.py): cells are objects.
    assert p.is_instances and [c.name for c in p.classes] == ["background", "cell"]
    assert len(p.images) == 8
    labelled = [e for e in p.images if e.labelled > 0]
    assert 1 <= len(labelled) < len(p.images)      # a few objects, not full masks
    labels = window.canvas.current_mask()          # packed: class << 24 | object id
    assert labels.shape == (512, 512) and labels.dtype == np.uint32
    assert set(np.unique(labels >> 24)) == {0, 1, 255}
    assert window.image_list.model().rowCount() == 8
    assert "segstudio demo" in window.windowTitle()


def test_folder_of_images_with_a_corrupt_one(qtbot, window, tmp_path):
    corpus = make_corpus(tmp_path / "pics")
    assert window.open_path(tmp_path / "pics")
    p = window.project
    model = window.image_list.model()
    assert model.rowCount() == len(corpus)
    # Every thumbnail is decoded in the worker; the corrupt file gets a badge and a message.
    for row in range(model.rowCount()):
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: "corrupt" in model.errors, timeout=10000)
    err = model.index(p.index_of("corrupt")).data(ErrorRole)
    assert "corrupt.png" in err and "not" in err
    # The readable ones all decode: 16-bit TIFF, EXIF JPEG, non-ASCII name.
    for image_id, shape in (("scan16", (33, 47)), ("rotated", (40, 24)),
                            ("zellen_ä_细胞", (16, 16))):
        _show(qtbot, window, image_id)
        assert window.canvas.current_mask().shape == shape   # EXIF-rotated JPEG: 24 x 40
    # Selecting the corrupt image shows its message, and the rest still works afterwards.
    window.image_list.select_image("corrupt")
    qtbot.waitUntil(lambda: "corrupt.png" in window.message_bar.text(), timeout=5000)
    _show(qtbot, window, "rgb")
    assert window.canvas.current_mask().shape == (30, 50)


def test_add_rename_class_save_reopen(qtbot, window, tmp_path):
    generate_demo(tmp_path / "demo", n_images=3, size=64, labelled=1)
    assert window.open_path(tmp_path / "demo")
    panel = window.class_panel
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    assert [c.name for c in window.project.classes][-1] == "class 3"
    # Rename through the list editor, as a user would (double-click, type, Enter).
    rect = panel.list.visualItemRect(panel.list.item(3))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    editor = panel.list.findChild(QLineEdit)
    assert editor is not None and editor.text() == "class 3"
    editor.selectAll()
    qtbot.keyClicks(editor, "membrane")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.project.classes[3].name == "membrane", timeout=2000)
    window.project.set_split(window.project.images[2].id, "val")
    assert window.save()
    before = json.loads((tmp_path / "demo" / PROJECT_FILE).read_text())
    window.close()

    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.open_path(tmp_path / "demo")
    assert [c.name for c in w2.project.classes] == ["background", "cell", "nucleus", "membrane"]
    assert w2.project.images[2].split == "val"
    assert w2.project.to_json()["classes"] == before["classes"]
    assert w2.class_panel.list.count() == 4
    assert w2.class_panel.list.item(3).text() == "membrane"
    w2.close()


def test_duplicate_class_name_is_reported(qtbot, window, tmp_path):
    generate_demo(tmp_path / "demo", n_images=1, size=64, labelled=1)
    window.open_path(tmp_path / "demo")
    assert not window.class_panel.rename_class(1, "Background")
    assert "already a class" in window.message_bar.text()
    assert window.project.classes[1].name == "cell"


def test_delete_class_asks_and_remaps(qtbot, window, tmp_path):
    generate_demo(tmp_path / "demo", n_images=2, size=64, labelled=2)
    window.open_path(tmp_path / "demo")
    asked = []
    window.confirm = lambda title, text: asked.append(text) or False
    assert not window.delete_class(1)
    assert "cell" in asked[0] and "nucleus" in asked[0]
    assert len(window.project.classes) == 3
    window.confirm = lambda title, text: True
    entry = window.project.images[0]
    from PIL import Image

    before = np.asarray(Image.open(window.project.mask_path(entry)))
    assert window.delete_class(1)
    assert [c.name for c in window.project.classes] == ["background", "nucleus"]
    from segstudio.io.masks import read_mask

    after = read_mask(window.project.mask_path(entry))
    assert np.array_equal(after[before == 1], np.full((before == 1).sum(), 255, np.uint8))
    assert (after[before == 2] == 1).all() and (after[before == 0] == 0).all()


def test_corrupt_project_file_is_not_overwritten(qtbot, window, tmp_path):
    generate_demo(tmp_path / "demo", n_images=1, size=64, labelled=1)
    pf = tmp_path / "demo" / PROJECT_FILE
    pf.write_text('{"app": "segstudio", "schema": 1, "classes": [')
    assert not window.open_path(tmp_path / "demo")
    assert "corrupt" in window.message_bar.text()
    window.save()
    window.close()
    assert pf.read_text() == '{"app": "segstudio", "schema": 1, "classes": ['


def test_drop_images_adds_them(qtbot, window, tmp_path):
    generate_demo(tmp_path / "demo", n_images=1, size=64, labelled=1)
    window.open_path(tmp_path / "demo")
    corpus = make_corpus(tmp_path / "more")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(corpus["rgb_png"])),
                  QUrl.fromLocalFile(str(corpus["tiff16"]))])
    ev = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(ev)
    assert [e.id for e in window.project.images][-2:] == ["rgb", "scan16"]
    assert Project.open(tmp_path / "demo").images[-1].id == "scan16"  # saved at once


def test_recent_projects_and_geometry_persist(qtbot, tmp_path):
    from segstudio.ui.settings import recent_projects

    generate_demo(tmp_path / "demo", n_images=1, size=64, labelled=1)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_path(tmp_path / "demo")
    w.resize(760, 620)
    w.close()
    assert recent_projects()[0] == str((tmp_path / "demo").resolve())
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == (760, 620)
    w2.close()


def test_pixel_limit_preference_refuses_big_images(qtbot, tmp_path):
    from PIL import Image

    from segstudio.ui.preferences import KEY_MAX_MP
    from segstudio.ui.settings import app_settings

    Image.fromarray(np.zeros((1000, 1500), np.uint8)).save(tmp_path / "big.png")
    app_settings().setValue(KEY_MAX_MP, 1)
    try:
        w = MainWindow()
        qtbot.addWidget(w)
        w.show()
        assert w.open_path(tmp_path)
        qtbot.waitUntil(lambda: "larger than the limit" in w.message_bar.text(), timeout=5000)
        assert "1500 x 1000" in w.message_bar.text()
        w.close()
    finally:
        app_settings().remove(KEY_MAX_MP)


def test_project_open_elsewhere_is_warned(qtbot, tmp_path):
    import subprocess
    import sys

    from segstudio.project.lock import LOCK_FILE

    generate_demo(tmp_path / "demo", n_images=1, size=64, labelled=1)
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from segstudio.project.lock import ProjectLock; "
         "s = ProjectLock(sys.argv[1]).acquire(); print(s.state, flush=True); time.sleep(60)",
         str(tmp_path / "demo")], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "acquired"
        w = MainWindow()
        qtbot.addWidget(w)
        assert w.open_path(tmp_path / "demo")
        assert "already open in" in w.message_bar.text()
        assert "Close the other one" in w.message_bar.text()
        w.close()
        assert (tmp_path / "demo" / LOCK_FILE).exists()   # the other one's lock stays
    finally:
        other.kill()
        other.wait()
    # The other segstudio died without cleaning up: its lock is stale and taken over quietly.
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.open_path(tmp_path / "demo")
    assert "already open" not in w2.message_bar.text()
    w2.close()
    assert not (tmp_path / "demo" / LOCK_FILE).exists()
