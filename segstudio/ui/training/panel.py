"""The training form: architecture, loss, patch, batch, epochs, learning rate, device; Train,
Pause and Stop; a progress bar with ETA.

It imports no torch (the window must open fast): the choices come from the torch-free
catalogs (models/catalog.py: architectures, the base width and levels ranges, which have deep
supervision; training/loss_catalog.py; inference/device_choices.py).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segstudio.errors import SegStudioError
from segstudio.inference.device_choices import device_choices
from segstudio.models.catalog import ARCHITECTURES as CATALOG
from segstudio.models.catalog import common_option, has_option
from segstudio.project.project import Project
from segstudio.training.config import TrainConfig, format_duration, parse_focal_alpha
from segstudio.training.loss_catalog import AUTO_LOSS, loss_choices, uses_focal
from segstudio.ui.tasks import Task, TaskRunner

SETTINGS_KEY = "training_panel"  # in the project's settings: the form as it last trained

ARCHITECTURES = [(a.name, a.form_label) for a in CATALOG]
LOSSES = loss_choices()
DEVICES = device_choices()


def describe_weights(
    counts, loss: str, n_classes: int, names: list[str], mode: str = "inverse"
) -> str:
    """The weights the chosen loss will use, in words, from labelled-pixel counts."""
    from segstudio.training.class_stats import auto_alpha, class_weights, pos_weight

    if counts is None or int(counts.sum()) == 0:
        return "No labelled pixels yet."
    if loss == AUTO_LOSS:
        from segstudio.training.defaults import BINARY_LOSS, MULTICLASS_LOSS, MULTICLASS_WEIGHTS

        loss = BINARY_LOSS if n_classes == 2 else MULTICLASS_LOSS
        text = describe_weights(counts, loss, n_classes, names,
                                MULTICLASS_WEIGHTS if n_classes > 2 else mode)
        return f"Auto: {dict(LOSSES)[loss].lower()}; {text}"
    try:
        if loss == "weighted_ce":
            if n_classes == 2:
                return f"pos_weight = {pos_weight(counts):.3g} ({names[0]} / {names[1]} pixels)"
            w = class_weights(counts, mode)
            return "class weights: " + ", ".join(
                f"{n} {v:.3g}" for n, v in zip(names, w, strict=False)
            )
        if uses_focal(loss):
            a = auto_alpha(counts)
            if n_classes == 2:
                return f"alpha 'auto' would be {a[1]:.3g}"
            return "alpha 'auto': " + ", ".join(
                f"{n} {v:.3g}" for n, v in zip(names, a, strict=False)
            )
    except Exception as exc:
        return str(exc)
    total = int(counts.sum())
    return "labelled pixels: " + ", ".join(
        f"{n} {c / total:.1%}" for n, c in zip(names, counts, strict=False)
    )


class TrainingPanel(QWidget):
    train_requested = Signal(object)   # TrainConfig
    stop_requested = Signal()
    pause_toggled = Signal(bool)       # True = pause

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        d = TrainConfig()
        self.arch = _combo(ARCHITECTURES, d.architecture)
        self.base_width = _spin(2, _maximum("base_width"), d.model.get("base_width", 16))
        self.levels = _spin(_minimum("levels"), _maximum("levels"), d.model.get("levels", 4))
        self.deep_sup = QCheckBox("Deep supervision")
        self.deep_sup.setChecked(True)
        self.loss = _combo(LOSSES, d.loss["name"])
        self.gamma = QDoubleSpinBox(minimum=0.0, maximum=10.0, singleStep=0.5, value=2.0)
        self.alpha = QLineEdit()
        self.alpha.setPlaceholderText("empty, auto, or a number")
        self.weights_label = QLabel("")
        self.weights_label.setWordWrap(True)
        self.weights_label.setStyleSheet("color: palette(mid);")
        self.patch = _spin(0, 2048, d.patch, step=32)
        self.patch.setSpecialValueText("auto")
        self.patch.setToolTip("Training crop size; auto: from the image size (up to 256)")
        self.batch = _spin(0, 256, d.batch)
        self.batch.setSpecialValueText("auto")
        self.batch.setToolTip("Patches per step; auto: from the patch size")
        self.epochs = _spin(1, 10000, d.epochs)
        self.budget = _spin(0, 100000, 0)
        self.budget.setSuffix(" min")
        self.budget.setSpecialValueText("no limit")
        self.budget.setToolTip("Stop after this many minutes (the best model is kept)")
        self.lr = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=1.0, singleStep=1e-4, value=d.lr)
        self.device = _combo(DEVICES, d.device)
        self.continue_box = QCheckBox("Continue from the current model")
        self.continue_box.setToolTip("Start from the weights of the model that predicts now "
                                     "(retrain after correcting), instead of from scratch")
        self.continue_box.setEnabled(False)
        self._init_checkpoint: str | None = None
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume stopped run")
        self.resume_button.setToolTip("Continue the last stopped run from its last checkpoint")
        self.resume_button.hide()
        self._resume_checkpoint: str | None = None
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.status = QLabel("Paint a few strokes of each class, then press Train.")
        self.status.setWordWrap(True)

        # The settings scroll; Train, Pause, Stop, the progress bar and the status stay pinned
        # below them, visible at any window height.
        settings = QWidget()
        form = QFormLayout(settings)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Architecture", self.arch)
        form.addRow("Base width", self.base_width)
        form.addRow("Levels", self.levels)
        form.addRow("", self.deep_sup)
        form.addRow("Loss", self.loss)
        form.addRow("Focal γ", self.gamma)
        form.addRow("Focal α", self.alpha)
        form.addRow("", self.weights_label)
        form.addRow("Patch size", self.patch)
        form.addRow("Batch", self.batch)
        form.addRow("Epochs", self.epochs)
        form.addRow("Time budget", self.budget)
        form.addRow("Learning rate", self.lr)
        form.addRow("Device", self.device)
        form.addRow("", self.continue_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        self.settings_area = QScrollArea()
        self.settings_area.setWidget(settings)
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lay = QVBoxLayout(self)
        lay.addWidget(self.settings_area, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.resume_button)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)

        self.train_button.clicked.connect(self._on_train)
        self.resume_button.clicked.connect(self._on_resume)
        self.stop_button.clicked.connect(self.stop_requested)
        self.pause_button.toggled.connect(self._on_pause)
        self.arch.currentIndexChanged.connect(self._update_enabled)
        self.loss.currentIndexChanged.connect(self._update_enabled)
        self.loss.currentIndexChanged.connect(self.refresh_weights)
        self._runner = TaskRunner("pixel counts", parent=self)
        self._counts: np.ndarray | None = None
        self.set_running(False)
        self._update_enabled()

    # -------------------------------------------------------------- state
    def set_project(self, project: Project | None) -> None:
        """Show the project's own last settings (kept in its segstudio.json when it trains),
        or the defaults: one project's architecture or budget never carries into another."""
        self.project = project
        saved = project.settings.get(SETTINGS_KEY) if project is not None else None
        try:
            cfg = TrainConfig.from_json(saved) if isinstance(saved, dict) else TrainConfig()
        except (SegStudioError, TypeError, ValueError, KeyError):
            cfg = TrainConfig()  # settings of another version: the defaults, not an error
        self.apply_config(cfg)
        self.train_button.setEnabled(project is not None)
        self.refresh_weights()

    def apply_config(self, cfg: TrainConfig) -> None:
        """Set the form from a config (what ``config()`` would give back, except the
        continue-from and resume fields, which belong to one session)."""
        for combo, value in ((self.arch, cfg.architecture), (self.loss, cfg.loss.get("name")),
                             (self.device, cfg.device)):
            i = combo.findData(value)
            if i >= 0:
                combo.setCurrentIndex(i)
        defaults = TrainConfig()
        self.base_width.setValue(int(cfg.model.get("base_width",
                                                   defaults.model.get("base_width", 16))))
        self.levels.setValue(int(cfg.model.get("levels", defaults.model.get("levels", 4))))
        self.deep_sup.setChecked(bool(cfg.model.get("deep_supervision", True)))
        if "gamma" in cfg.loss:
            self.gamma.setValue(float(cfg.loss["gamma"]))
        alpha = cfg.loss.get("alpha")
        self.alpha.setText("" if alpha is None else ", ".join(f"{v:g}" for v in alpha)
                           if isinstance(alpha, list) else str(alpha))
        self.patch.setValue(cfg.patch)
        self.batch.setValue(cfg.batch)
        self.epochs.setValue(cfg.epochs)
        self.lr.setValue(cfg.lr)
        self.budget.setValue(int(round((cfg.time_budget_s or 0) / 60)))

    def remember_settings(self, cfg: TrainConfig) -> None:
        """Keep the form's settings in the project (saved with its file)."""
        if self.project is not None:
            from dataclasses import replace

            self.project.settings[SETTINGS_KEY] = replace(
                cfg, init_from=None, resume_from=None).to_json()

    def refresh_weights(self) -> None:
        """Recount labelled pixels (in a worker) and show the loss's weights."""
        if self.project is None:
            self.weights_label.setText("")
            return
        project = self.project
        saved = [(e, p) for e, p in project.saved_masks() if e.split != "test"]
        k = len(self._target_names())

        def count(task: Task) -> np.ndarray:
            from segstudio.io.masks import read_mask
            from segstudio.training.class_stats import count_labelled_pixels

            def targets():
                # what the loss counts: in an instance project the object rims are a class
                from segstudio.inference.instance_model import instance_target

                for entry, path in saved:
                    mask = read_mask(path)
                    if project.is_instances:
                        mask = instance_target(mask, project.load_instances(entry, mask.shape),
                                               k - 1)
                    yield mask

            return count_labelled_pixels(targets(), k)

        self._runner.submit(count, on_done=self._on_counted, on_error=self.weights_label.setText,
                            replace="count")

    def _on_counted(self, counts: np.ndarray) -> None:
        if self.project is None:
            return
        self._counts = counts
        names = self._target_names()
        self.weights_label.setText(describe_weights(counts, self.loss.currentData(),
                                                    len(names), names))

    def _target_names(self) -> list[str]:
        """The classes the model learns: the project's, plus the object rims of an instance
        project (inference/instance_model.py)."""
        from segstudio.inference.instance_model import BOUNDARY_NAME

        names = [c.name for c in self.project.classes] if self.project is not None else []
        return names + [BOUNDARY_NAME] if self.project is not None and \
            self.project.is_instances else names

    def set_running(self, running: bool) -> None:
        for w in (self.arch, self.base_width, self.levels, self.deep_sup, self.loss, self.gamma,
                  self.alpha, self.patch, self.batch, self.epochs, self.budget, self.lr,
                  self.device):
            w.setEnabled(not running)
        if running:
            self.set_resumable(None)
        self.continue_box.setEnabled(not running and self._init_checkpoint is not None)
        self.train_button.setEnabled(not running and self.project is not None)
        self.stop_button.setEnabled(running)
        self.pause_button.setEnabled(running)
        if not running:
            self.pause_button.setChecked(False)
        else:
            self._update_enabled()
        if not running:
            self._update_enabled()

    def _update_enabled(self) -> None:
        arch = self.arch.currentData()
        self.deep_sup.setEnabled(self.arch.isEnabled() and has_option(arch, "deep_supervision"))
        focal = uses_focal(self.loss.currentData())
        self.gamma.setEnabled(self.loss.isEnabled() and focal)
        self.alpha.setEnabled(self.loss.isEnabled() and focal)
        if self._counts is not None and self.project is not None:
            names = self._target_names()
            self.weights_label.setText(describe_weights(self._counts, self.loss.currentData(),
                                                        len(names), names))

    def config(self) -> TrainConfig:
        model = {"base_width": self.base_width.value(), "levels": self.levels.value()}
        if has_option(self.arch.currentData(), "deep_supervision"):
            model["deep_supervision"] = self.deep_sup.isChecked()
        loss: dict = {"name": self.loss.currentData()}
        if uses_focal(loss["name"]):
            loss["gamma"] = self.gamma.value()
            a = self.alpha.text().strip()
            if a:
                loss["alpha"] = parse_focal_alpha(a)
        init = self._init_checkpoint if (self.continue_box.isChecked()
                                         and self.continue_box.isEnabled()) else None
        return TrainConfig(architecture=self.arch.currentData(), model=model, loss=loss,
                           patch=self.patch.value(), batch=self.batch.value(),
                           epochs=self.epochs.value(), lr=self.lr.value(),
                           device=self.device.currentData(), init_from=init,
                           time_budget_s=self.budget.value() * 60 or None)

    def set_resumable(self, checkpoint: str | None, config: TrainConfig | None = None) -> None:
        """Offer to resume a stopped run (its last checkpoint and the config it ran with)."""
        self._resume_checkpoint = checkpoint
        self._resume_config = config
        self.resume_button.setVisible(checkpoint is not None)

    def _on_resume(self) -> None:
        if self._resume_checkpoint is None or self._resume_config is None:
            return
        from dataclasses import replace

        cfg = replace(self._resume_config, resume_from=self._resume_checkpoint, init_from=None)
        self.train_requested.emit(cfg)

    def set_init_checkpoint(self, path: str | None) -> None:
        """The model a retrain may continue from (the one predicting now)."""
        self._init_checkpoint = path
        self.continue_box.setEnabled(path is not None and self.train_button.isEnabled())
        if path is None:
            self.continue_box.setChecked(False)

    # ------------------------------------------------------------ progress
    def show_progress(self, fraction: float, eta_s: float | None, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        eta = "" if eta_s is None else f" · ETA {format_duration(eta_s)}"
        self.progress.setFormat(f"{fraction:.0%}{eta}")
        self.status.setText(text)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_train(self) -> None:
        from segstudio.errors import SegStudioError

        try:
            cfg = self.config()
        except (SegStudioError, ValueError) as exc:
            self.status.setText(str(exc))
            return
        self.train_requested.emit(cfg)

    def _on_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)


def _combo(items: list[tuple[str, str]], current: str) -> QComboBox:
    c = QComboBox()
    for key, label in items:
        c.addItem(label, key)
    c.setCurrentIndex(max(0, c.findData(current)))
    return c


def _minimum(option: str) -> int:
    return int(common_option(option).minimum or 0)


def _maximum(option: str) -> int:
    return int(common_option(option).maximum or 0)


def _spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
    s = QSpinBox(minimum=lo, maximum=hi, value=value)
    s.setSingleStep(step)
    return s
