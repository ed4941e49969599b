"""The canvas tool bar: tools, brush size, overlay opacity, overlay and preserve toggles, fit and
100 %; in instance projects also New object, the current object and the object colour toggle.
It shows the canvas panel's QActions (segstudio/ui/actions.py), so each control is also
a menu entry with the same shortcut; the main window docks this bar in its tool bar area,
where Qt's overflow button expands the bar when the window is narrow."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QSlider, QSpinBox, QToolBar, QToolButton, QWidget

from segstudio.core.superpixels import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE
from segstudio.ui.canvas.assist_tools import TOOLS

MAX_BRUSH = 400


class CanvasToolbar(QToolBar):
    def __init__(self, actions: dict[str, QAction], brush_size: int, opacity: float,
                 parent: QWidget | None = None) -> None:
        super().__init__("Canvas", parent)
        self.setObjectName("canvasToolbar")
        self.setMovable(False)
        self.setFloatable(False)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.tool_buttons: dict[str, QToolButton] = {}
        for tool in TOOLS:
            a = actions[f"tool_{tool.name}"]
            a.setIconText(tool.label)
            a.setToolTip(tool.tip)
            if tool.in_toolbar:
                self.addAction(a)
                self.tool_buttons[tool.name] = self._button(a)
        self.addSeparator()

        # Instance projects only (set_instance_mode shows them).
        actions["new_object"].setIconText("New object")
        actions["object_colours"].setIconText("Object colours")
        self.object_label = QLabel(self)
        self.object_label.setMinimumWidth(84)
        self.object_label.setToolTip("The current object: picked (I, Alt+click), or the last "
                                     "one painted; Delete removes it, Ctrl+click merges "
                                     "another object into it")
        self.addAction(actions["new_object"])
        label_action = self.addWidget(self.object_label)
        self.addAction(actions["object_colours"])
        self._instance_actions = [actions["new_object"], label_action,
                                  actions["object_colours"], self.addSeparator()]
        self.new_object_button = self._button(actions["new_object"])
        self.object_colours_button = self._button(actions["object_colours"])

        self.addWidget(QLabel(" Size ", self))
        self.size_slider = self._slider(1, MAX_BRUSH, brush_size, 110,
                                        "Brush size in image pixels ([ and ])")
        self.size_label = QLabel(self)
        self.size_label.setMinimumWidth(46)
        self.addWidget(self.size_label)
        # The superpixel brush only: how large its superpixels are (they are recomputed).
        self.superpixel_spin = QSpinBox(self)
        self.superpixel_spin.setRange(MIN_SIZE, MAX_SIZE)
        self.superpixel_spin.setValue(DEFAULT_SIZE)
        self.superpixel_spin.setSuffix(" px")
        self.superpixel_spin.setPrefix("Superpixels ")
        self.superpixel_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.superpixel_spin.setKeyboardTracking(False)
        self.superpixel_spin.setToolTip("Superpixel size: about this many pixels across")
        self._superpixel_action = self.addWidget(self.superpixel_spin)
        self._superpixel_action.setVisible(False)

        self.addWidget(QLabel(" Opacity ", self))
        self.opacity_slider = self._slider(0, 100, int(round(opacity * 100)), 80,
                                           "Mask overlay opacity")
        actions["mask_overlay"].setIconText("Overlay")
        self.addAction(actions["mask_overlay"])
        self.overlay_button = self._button(actions["mask_overlay"])
        actions["preserve_labels"].setIconText("Preserve labels")
        self.addAction(actions["preserve_labels"])
        self.preserve_check = self._button(actions["preserve_labels"])
        self.addSeparator()

        actions["fit"].setIconText("Fit")
        actions["zoom_100"].setIconText("100 %")
        self.addAction(actions["fit"])
        self.addAction(actions["zoom_100"])
        self.fit_button = self._button(actions["fit"])
        self.zoom100_button = self._button(actions["zoom_100"])
        self.zoom_label = QLabel(self)
        self.zoom_label.setMinimumWidth(52)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.addWidget(self.zoom_label)

    def show_superpixel_size(self, on: bool) -> None:
        self._superpixel_action.setVisible(bool(on))

    def set_instance_mode(self, on: bool) -> None:
        for a in self._instance_actions:
            a.setVisible(bool(on))

    def _button(self, action: QAction) -> QToolButton:
        w = self.widgetForAction(action)
        assert isinstance(w, QToolButton)
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas
        return w

    def _slider(self, lo: int, hi: int, value: int, width: int, tip: str) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal, self)
        s.setRange(lo, hi)
        s.setValue(value)
        s.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        s.setFixedWidth(width)
        s.setToolTip(tip)
        self.addWidget(s)
        return s
