"""The training form offers exactly what the trainer accepts, without importing torch."""

import subprocess
import sys

from segstudio.models import available_models
from segstudio.training.config import TrainConfig
from segstudio.training.losses import LOSS_NAMES
from segstudio.ui.training.panel import ARCHITECTURES, LOSSES, TrainingPanel, describe_weights


def test_choices_match_registry_and_losses():
    assert [k for k, _ in ARCHITECTURES] == [m.name for m in available_models()]
    assert sorted(k for k, _ in LOSSES) == sorted(["auto", *LOSS_NAMES])


def test_defaults_are_auto_and_resolve_per_data(qtbot):
    """A fresh form trains with the measured automatic settings, and says what auto means."""
    import numpy as np

    p = TrainingPanel()
    qtbot.addWidget(p)
    cfg = p.config()
    assert cfg.patch == 0 and cfg.batch == 0 and cfg.loss == {"name": "auto"}
    assert p.patch.text() == "auto" and p.batch.text() == "auto"
    text = describe_weights(np.array([300, 100]), "auto", 2, ["bg", "fg"])
    assert text.startswith("Auto: cross-entropy")
    text = describe_weights(np.array([50, 30, 20]), "auto", 3, ["a", "b", "c"])
    assert text.startswith("Auto: weighted cross-entropy; class weights")


def test_panel_module_does_not_import_torch():
    code = "import sys, segstudio.ui.training.panel; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


def test_config_from_form(qtbot):
    p = TrainingPanel()
    qtbot.addWidget(p)
    p.arch.setCurrentIndex(p.arch.findData("unet3p"))
    p.loss.setCurrentIndex(p.loss.findData("focal+dice"))
    p.gamma.setValue(3.0)
    p.alpha.setText("0.25")
    p.budget.setValue(5)
    cfg = p.config()
    assert isinstance(cfg, TrainConfig)
    assert cfg.architecture == "unet3p" and cfg.model["deep_supervision"] is True
    assert cfg.loss == {"name": "focal+dice", "gamma": 3.0, "alpha": 0.25}
    assert cfg.time_budget_s == 300 and cfg.init_from is None


def test_weights_are_described_from_counts():
    import numpy as np

    text = describe_weights(np.array([300, 100]), "weighted_ce", 2, ["bg", "fg"])
    assert text.startswith("pos_weight = 3 ")
    text = describe_weights(np.array([50, 30, 20]), "weighted_ce", 3, ["a", "b", "c"])
    assert "class weights" in text and "c " in text
