"""Dialogs for exporting masks and models and importing masks. They only collect choices;
the window runs the work in the background."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)


def existing_parent(path: Path | None) -> tuple[str, str]:
    """(the nearest existing folder at or above ``path``, the part below it that is still to
    be made, "" if none)."""
    if path is None:
        return str(Path.home()), ""
    probe = path
    while not probe.is_dir() and probe.parent != probe:
        probe = probe.parent
    rest = path.relative_to(probe) if probe != path else Path("")
    return str(probe), "" if str(rest) == "." else str(rest)


def _folder_row(edit: QLineEdit, parent: QWidget,
                file_filter=lambda: None) -> QWidget:
    """A path field with Browse; ``file_filter()`` None picks a folder, else a file."""
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    browse = QPushButton("Browse…")

    def pick() -> None:
        flt = file_filter()
        if flt is None:
            # The field may name a folder still to be made (the export creates it): the
            # dialog opens on its nearest existing parent, which it accepts, and choosing that
            # parent keeps the new folder's name (Qt refuses a path that does not exist).
            wanted = Path(edit.text()).expanduser() if edit.text() else None
            start, new_name = existing_parent(wanted)
            path = QFileDialog.getExistingDirectory(parent, "Choose a folder", start)
            if path and new_name and Path(path) == Path(start):
                path = str(Path(path) / new_name)
        else:
            path, _ = QFileDialog.getOpenFileName(parent, "Choose a file", edit.text(), flt)
        if path:
            edit.setText(path)

    browse.clicked.connect(pick)
    lay.addWidget(browse)
    return row


def _buttons(dialog: QDialog) -> QDialogButtonBox:
    b = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    b.accepted.connect(dialog.accept)
    b.rejected.connect(dialog.reject)
    return b


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


class ExportMasksDialog(QDialog):
    """``instances``: the project is an instance project, which also exports instance maps
    and a measurement table, and whose COCO has one annotation per object."""

    def __init__(self, exports_dir: Path, has_predictions: bool, parent: QWidget | None = None,
                 instances: bool = False):
        super().__init__(parent)
        self.setWindowTitle("Export masks")
        self.index = QCheckBox("Index PNG (class numbers, 255 = not labelled)")
        self.palette_box = QCheckBox("... with the class colours as a palette")
        self.palette_box.setToolTip("Viewers show the colours, but OpenCV reads a palette PNG as "
                                "colours, not class numbers; leave off for training code.")
        self.index.toggled.connect(self.palette_box.setEnabled)
        self.color = QCheckBox("Colour PNG (for viewing)")
        self.coco = QCheckBox("COCO JSON (RLE, one annotation per object)" if instances else
                              "COCO JSON (RLE, one annotation per region)")
        self.instances: QCheckBox | None = None
        self.measurements: QCheckBox | None = None
        if instances:
            self.instances = QCheckBox("Instance maps (16-bit PNG, 32-bit TIFF beyond 65,535 "
                                       "objects; 0 = no object)")
            self.measurements = QCheckBox("Measurements CSV (one row per object: area, "
                                          "centroid, box, mean intensity, eccentricity)")
            self.instances.setChecked(True)
            self.measurements.setChecked(True)
        self.index.setChecked(True)
        self.coco.setChecked(True)
        self.labelled = QRadioButton("Labelled images")
        self.all = QRadioButton("All images")
        self.predictions = QRadioButton("Predictions")
        self.predictions.setEnabled(has_predictions)
        self.predictions.setToolTip("" if has_predictions else "Use Model › Predict All Images "
                                    "first")
        self.labelled.setChecked(True)
        group = QButtonGroup(self)
        for r in (self.labelled, self.all, self.predictions):
            group.addButton(r)
        self.folder = QLineEdit(str(exports_dir / f"masks-{_stamp()}"))
        form = QFormLayout(self)
        form.addRow("Formats", self.index)
        form.addRow("", self.palette_box)
        form.addRow("", self.color)
        form.addRow("", self.coco)
        for box in (self.instances, self.measurements):
            if box is not None:
                form.addRow("", box)
        form.addRow("Which", self.labelled)
        form.addRow("", self.all)
        form.addRow("", self.predictions)
        form.addRow("Into folder", _folder_row(self.folder, self))
        form.addRow(_buttons(self))

    def formats(self) -> list[str]:
        boxes = (("index", self.index), ("color", self.color), ("instances", self.instances),
                 ("coco", self.coco), ("measurements", self.measurements))
        return [n for n, b in boxes if b is not None and b.isChecked()]

    def palette_png(self) -> bool:
        return self.index.isChecked() and self.palette_box.isChecked()

    def which(self) -> str:
        return "all" if self.all.isChecked() else (
            "predictions" if self.predictions.isChecked() else "labelled")


class ExportModelDialog(QDialog):
    def __init__(self, exports_dir: Path, depths: list[int], depth: int | None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.safetensors = QCheckBox("segstudio model (safetensors + JSON)")
        self.torchscript = QCheckBox("TorchScript (plain PyTorch, no segstudio)")
        self.onnx = QCheckBox("ONNX (any height and width)")
        for b in (self.safetensors, self.torchscript, self.onnx):
            b.setChecked(True)
        self.depth_spin = QSpinBox()
        if depths:
            self.depth_spin.setRange(min(depths), max(depths))
            self.depth_spin.setValue(depth if depth in depths else max(depths))
            self.depth_spin.setPrefix("L")
        else:
            self.depth_spin.setEnabled(False)
            self.depth_spin.setSpecialValueText("full network")
        self.folder = QLineEdit(str(exports_dir / f"model-{_stamp()}"))
        form = QFormLayout(self)
        form.addRow("Formats", self.safetensors)
        form.addRow("", self.torchscript)
        form.addRow("", self.onnx)
        form.addRow("U-Net++ depth", self.depth_spin)
        form.addRow("Into folder", _folder_row(self.folder, self))
        form.addRow(_buttons(self))

    def formats(self) -> list[str]:
        return [n for n, b in (("safetensors", self.safetensors),
                               ("torchscript", self.torchscript), ("onnx", self.onnx))
                if b.isChecked()]

    def chosen_depth(self) -> int | None:
        return self.depth_spin.value() if self.depth_spin.isEnabled() else None


class ImportMasksDialog(QDialog):
    FORMATS = [("index", "Folder of index masks (PNG)"), ("labelme", "labelme JSON files"),
               ("coco", "COCO JSON file")]
    INSTANCE_FORMATS = [("instances", "Folder of instance maps (PNG / TIFF, 0 = no object)"),
                        ("labelme", "labelme JSON files (one object per shape)"),
                        ("coco", "COCO JSON file (one object per annotation)")]

    def __init__(self, start: Path, parent: QWidget | None = None, instances: bool = False):
        super().__init__(parent)
        self.setWindowTitle("Import masks")
        self.format = QComboBox()
        for key, label in self.INSTANCE_FORMATS if instances else self.FORMATS:
            self.format.addItem(label, key)
        self.source = QLineEdit(str(start))
        self.merge = QCheckBox("Keep my labels where the import has none (merge)")
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("From", _folder_row(
            self.source, self,
            lambda: "COCO JSON (*.json)" if self.format.currentData() == "coco" else None))
        form.addRow("", self.merge)
        form.addRow(_buttons(self))
