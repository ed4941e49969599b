"""Every command of the window with its text, shortcut and tip: the one home of QActions.

A command is an ActionSpec in SPECS. ``create_actions(owner, context, slots)`` makes the QActions
of one context: "window" actions (menus of the main window, shortcuts anywhere in it) and
"canvas" actions (painting tools, zoom, overlays: owned by the canvas panel, so they also work
where the panel is used alone). Shortcuts with Ctrl or Shift work anywhere in the window; bare
keys (B, E, 1…9) only while the canvas has focus, so typing "b" into a class name never
switches the tool. The main window puts both kinds into its menus,
and Help > Keyboard Shortcuts is generated from the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QKeyCombination, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar

StandardKey = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    name: str                                    # the QAction's key in the returned dict
    text: str
    menu: str                                    # where the main window lists it
    keys: tuple[str | StandardKey, ...] = ()     # the first one is shown in menus
    tip: str = ""
    checkable: bool = False
    checked: bool = False
    context: str = "window"                      # "window" or "canvas"


SPECS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("open", "&Open Project or Image Folder…", "File", (StandardKey.Open,),
               "Open a project folder, or a folder of images to start a new project"),
    ActionSpec("add_images", "&Add Images…", "File", (), "Add image files to this project"),
    ActionSpec("remove_image", "&Remove Image from Project", "File", (),
               "Take the current image out of the project (the file itself stays)"),
    ActionSpec("import_masks", "&Import Masks…", "File", (),
               "Masks from index PNGs, labelme or COCO"),
    ActionSpec("export_masks", "&Export Masks…", "File", ("Ctrl+E",),
               "Index PNG, colour PNG, COCO JSON"),
    ActionSpec("save", "&Save", "File", (StandardKey.Save,), "Save masks and the project file"),
    ActionSpec("quit", "&Quit", "File", (StandardKey.Quit,)),
    # Edit
    ActionSpec("undo", "&Undo", "Edit", (StandardKey.Undo,), context="canvas"),
    ActionSpec("redo", "&Redo", "Edit", ("Ctrl+Shift+Z", "Ctrl+Y"), context="canvas"),
    ActionSpec("preferences", "&Preferences…", "Edit", (StandardKey.Preferences,)),
    # Tools (canvas)
    ActionSpec("tool_brush", "&Brush", "Tools", ("B",), "Paint the current class",
               checkable=True, checked=True, context="canvas"),
    ActionSpec("tool_eraser", "&Eraser", "Tools", ("E",),
               "Make pixels unlabelled again (instance projects: only the object the stroke "
               "starts on; Shift+drag erases everything)", checkable=True, context="canvas"),
    ActionSpec("tool_wand", "&Fill (Magic Wand)", "Tools", ("F",),
               "Fill the connected region of similar colour in the image; hold and drag or "
               "turn the wheel to change the tolerance, release to fill", checkable=True,
               context="canvas"),
    ActionSpec("tool_fill_region", "Fill &Mask Region", "Tools", ("Shift+F",),
               "Fill the connected region of one mask value under the click (close a painted "
               "outline)", checkable=True, context="canvas"),
    ActionSpec("tool_superpixel", "&Superpixel Brush", "Tools", ("S",),
               "A drag labels every superpixel it touches, whole", checkable=True,
               context="canvas"),
    ActionSpec("tool_box", "Bo&x to Object", "Tools", ("X",),
               "Drag a box around one object: GrabCut cuts it out (one undo step)",
               checkable=True, context="canvas"),
    ActionSpec("tool_model_brush", "&Model Brush", "Tools", ("M",),
               "Paint to accept the model's prediction under the brush", checkable=True,
               context="canvas"),
    ActionSpec("tool_polygon", "&Polygon", "Tools", ("P",),
               "Click vertices or drag a lasso; Enter or double-click fills", checkable=True,
               context="canvas"),
    ActionSpec("tool_picker", "Class P&icker", "Tools", ("I",),
               "Pick the class (instance projects: the object) under the click (Alt+click "
               "with any tool)", checkable=True, context="canvas"),
    ActionSpec("brush_bigger", "Brush &Bigger", "Tools", ("]",), context="canvas"),
    ActionSpec("brush_smaller", "Brush &Smaller", "Tools", ("[",), context="canvas"),
    ActionSpec("preserve_labels", "&Preserve Labels", "Tools", (),
               "Brush, fill and polygon only change unlabelled pixels", checkable=True,
               context="canvas"),
    # Objects (canvas, instance projects; ui/canvas/objects.py)
    ActionSpec("new_object", "&New Object", "Tools", ("N",),
               "The next stroke, fill or polygon starts a new object, even on an existing "
               "one (a stroke started off any object always does)", context="canvas"),
    ActionSpec("delete_object", "&Delete Current Object", "Tools", ("Delete",),
               "Make the current object's pixels unlabelled", context="canvas"),
    # View (canvas)
    ActionSpec("fit", "&Fit to Window", "View", ("Ctrl+0",), "Fit the image to the window",
               context="canvas"),
    ActionSpec("zoom_100", "&Actual Pixels (100 %)", "View", ("Ctrl+1",),
               "Show image pixels 1:1", context="canvas"),
    ActionSpec("zoom_in", "Zoom &In", "View", ("+", "="), context="canvas"),
    ActionSpec("zoom_out", "Zoom &Out", "View", ("-",), context="canvas"),
    ActionSpec("mask_overlay", "&Mask Overlay", "View", ("O",), "Show the mask overlay",
               checkable=True, checked=True, context="canvas"),
    ActionSpec("opacity_up", "Mask Overlay More &Opaque", "View", (), context="canvas"),
    ActionSpec("opacity_down", "Mask Overlay More &Transparent", "View", (), context="canvas"),
    ActionSpec("superpixel_boundaries", "Superpi&xel Boundaries", "View", (),
               "Outline the superpixels the superpixel brush labels", checkable=True,
               context="canvas"),
    ActionSpec("object_colours", "Colour Each O&bject", "View", (),
               "Instance projects: fill each object in its own colour, outlined in its class "
               "colour (off: class colour fill, object colour outline)", checkable=True,
               checked=True, context="canvas"),
    # Model
    ActionSpec("predict", "&Predict Current Image", "Model", ("Ctrl+P",),
               "Segment the current image with the model"),
    ActionSpec("predict_all", "Predict &All Images", "Model", (),
               "Segment every image in the background"),
    ActionSpec("accept_unlabelled", "Accept Prediction into &Unlabelled Pixels", "Model",
               ("Ctrl+Return",), "Copy the prediction where you have not labelled"),
    ActionSpec("accept_all", "Accept Prediction &Everywhere", "Model", (),
               "Replace this image's mask with the prediction"),
    ActionSpec("show_prediction", "&Show Prediction", "Model", ("Shift+O",),
               "Show the model's prediction under your labels", checkable=True, checked=True,
               context="canvas"),
    ActionSpec("show_confidence", "Show &Confidence Instead", "Model", ("Shift+C",),
               "Light up the pixels the model is unsure of (where to correct first)",
               checkable=True),
    ActionSpec("live_prediction", "Predict While &Training", "Model", (),
               "Re-predict the current image at each new best checkpoint (off: the canvas "
               "shows only your labels while a model trains)", checkable=True),
    ActionSpec("label_next", "Label &Here Next", "Model", ("Ctrl+U",),
               "Go to the image and region the model is least sure of (after each new best "
               "model the window scores every image in the background)"),
    ActionSpec("order_uncertain", "&Order Images by Uncertainty", "Model", (),
               "List the images the model is least sure of first", checkable=True),
    ActionSpec("uncertainty_map", "Show Uncertainty &Map", "Model", ("Ctrl+Shift+U",),
               "Light up where the model is unsure, over the pixels you have not labelled",
               checkable=True),
    ActionSpec("run_on_server", "Run on a Ser&ver…", "Model", (),
               "Write a job folder (project, settings, shell and SLURM scripts) to train with "
               "the form's settings on another machine"),
    ActionSpec("run_import", "&Import Run…", "Model", (),
               "Bring a run folder back (finished or still running): its curves and its model"),
    ActionSpec("load_model", "&Load Model…", "Model", (),
               "Use a saved segstudio model for predictions"),
    ActionSpec("export_model", "E&xport Model…", "Model", (), "safetensors, TorchScript, ONNX"),
    # Help
    ActionSpec("shortcuts", "&Keyboard Shortcuts", "Help", (StandardKey.HelpContents,)),
    ActionSpec("docs", "&Documentation", "Help", (), "Open segstudio's documentation"),
    ActionSpec("about", "&About segstudio", "Help", ()),
)

# Keys that are not commands of their own (they act inside a tool or the view).
OTHER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Canvas", "1 … 9", "Paint with class 1 … 9"),
    ("Canvas", "Space + drag, middle drag", "Pan"),
    ("Canvas", "Wheel", "Zoom at the cursor"),
    ("Canvas", "Alt + click", "Pick the class (instance projects: the object) under the cursor"),
    ("Objects", "Stroke started on an object", "Extend that object (started elsewhere: a new "
                                                "object)"),
    ("Objects", "Ctrl + click", "Merge the clicked object into the current object"),
    ("Objects", "Shift + eraser drag", "Erase every label, not only one object"),
    ("Polygon", "Enter, double-click", "Fill the polygon"),
    ("Polygon", "Backspace", "Remove the last vertex"),
    ("Polygon", "Esc", "Cancel the polygon"),
)

MODIFIERS = ("Ctrl+", "Shift+", "Alt+", "Meta+")
MENUS = ("File", "Edit", "Tools", "View", "Model", "Help")


def spec(name: str) -> ActionSpec:
    for s in SPECS:
        if s.name == name:
            return s
    raise KeyError(name)


def key_sequences(s: ActionSpec) -> list[QKeySequence]:
    out: list[QKeySequence] = []
    for k in s.keys:
        out.extend(QKeySequence.keyBindings(k) if isinstance(k, StandardKey)
                   else [QKeySequence(k)])
    return out


def create_actions(owner: QObject, context: str,
                   slots: dict[str, Callable[..., object]]) -> dict[str, QAction]:
    """The QActions of ``context`` ("window" or "canvas"), parented to ``owner``, each
    connected to ``slots[name]`` (triggered, or toggled for checkable ones)."""
    actions: dict[str, QAction] = {}
    for s in SPECS:
        if s.context != context:
            continue
        a = QAction(s.text, owner)
        a.setObjectName(f"action_{s.name}")
        keys = key_sequences(s)
        a.setShortcuts(keys)
        bare = bool(s.keys) and all(isinstance(k, str) and not k.startswith(MODIFIERS)
                                    for k in s.keys)
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut
                             if context == "canvas" and bare
                             else Qt.ShortcutContext.WindowShortcut)
        if s.tip:
            a.setStatusTip(s.tip)
            a.setToolTip(f"{s.tip} ({a.shortcut().toString()})" if s.keys else s.tip)
        if s.checkable:
            a.setCheckable(True)
            a.setChecked(s.checked)
        slot = slots.get(s.name)
        if slot is not None:
            (a.toggled if s.checkable else a.triggered).connect(slot)
        actions[s.name] = a
    return actions


# A separator goes before the first command of these groups (by the name's first word).
_SEPARATE = ("import", "save", "quit", "preferences", "brush", "preserve", "new", "mask",
             "object", "accept", "show", "label", "run", "load")


def fill_menus(bar: QMenuBar, actions: dict[str, QAction]) -> dict[str, QMenu]:
    """The menus of MENUS, each with its commands in SPECS order."""
    menus = {m: bar.addMenu(f"&{m}") for m in MENUS}
    last: dict[str, str] = {}
    for s in SPECS:
        group = s.name.split("_")[0]
        if s.menu in last and last[s.menu] != group and group in _SEPARATE:
            menus[s.menu].addSeparator()
        last[s.menu] = group
        menus[s.menu].addAction(actions[s.name])
    return menus


def class_actions(owner: QObject, choose: Callable[[int], None]) -> dict[str, QAction]:
    """Keys 1-9: paint with class 1-9 (canvas focus only, so digits still type elsewhere)."""
    actions = {}
    for i in range(9):
        a = QAction(f"Class {i + 1}", owner)
        a.setShortcut(QKeySequence(str(i + 1)))
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.triggered.connect(lambda _=False, i=i: choose(i))
        actions[f"class_{i + 1}"] = a
    return actions


def trigger_matching(actions: dict[str, QAction], event: QKeyEvent) -> bool:
    """Trigger the enabled action whose shortcut is this key press. Qt fires shortcuts itself
    while the window is active; a key press that still reaches the canvas (window not active,
    e.g. driven by a test or a remote session) ends up here, so the QActions stay the only
    key map."""
    mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    pressed = QKeySequence(QKeyCombination(mods, Qt.Key(event.key())))
    for a in actions.values():
        if a.isEnabled() and any(k.matches(pressed) == QKeySequence.SequenceMatch.ExactMatch
                                 for k in a.shortcuts()):
            a.trigger()
            return True
    return False


def shortcut_rows() -> list[tuple[str, str, str]]:
    """(menu, keys, what) for every shortcut: the Help > Keyboard Shortcuts table."""
    rows = []
    for s in SPECS:
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                         for k in key_sequences(s))
        if keys:
            rows.append((s.menu, keys, s.text.replace("&", "").rstrip("…")))
    return rows + list(OTHER_KEYS)
