"""The export dialogs' folder field: Browse opens on a folder that exists and keeps the new
folder's name (issue 13 #6: the dialog was pre-filled with a folder still to be made and then
refused it: "Directory not found", Choose disabled)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QPushButton

from segstudio.ui.export_dialogs import ExportModelDialog, existing_parent


def test_existing_parent_splits_off_what_is_still_to_be_made(tmp_path):
    assert existing_parent(tmp_path / "exports" / "model-1") == (str(tmp_path),
                                                                 str(Path("exports/model-1")))
    assert existing_parent(tmp_path) == (str(tmp_path), "")


def test_browse_starts_on_an_existing_folder_and_keeps_the_new_name(qtbot, tmp_path,
                                                                    monkeypatch):
    seen = []

    def fake_dialog(parent, title, start):
        seen.append(start)
        assert Path(start).is_dir()
        return start  # the user presses Choose at once

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(fake_dialog))
    dialog = ExportModelDialog(tmp_path / "exports", [1, 2, 3], 3)
    qtbot.addWidget(dialog)
    wanted = dialog.folder.text()
    assert not Path(wanted).exists()
    browse = next(b for b in dialog.findChildren(QPushButton) if b.text().startswith("Browse"))
    qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)
    assert seen == [str(tmp_path)] and dialog.folder.text() == wanted


def test_instance_projects_offer_instance_maps_and_measurements(qtbot, tmp_path):
    from segstudio.ui.export_dialogs import ExportMasksDialog, ImportMasksDialog

    semantic = ExportMasksDialog(tmp_path, False)
    qtbot.addWidget(semantic)
    assert semantic.formats() == ["index", "coco"] and semantic.instances is None
    objects = ExportMasksDialog(tmp_path, False, instances=True)
    qtbot.addWidget(objects)
    assert objects.formats() == ["index", "instances", "coco", "measurements"]
    assert "per object" in objects.coco.text()
    objects.measurements.setChecked(False)
    assert objects.formats() == ["index", "instances", "coco"]
    imp = ImportMasksDialog(tmp_path, instances=True)
    qtbot.addWidget(imp)
    keys = [imp.format.itemData(i) for i in range(imp.format.count())]
    assert keys == ["instances", "labelme", "coco"]
    imp2 = ImportMasksDialog(tmp_path)
    qtbot.addWidget(imp2)
    assert imp2.format.itemData(0) == "index"
