"""Test-wide setup: Qt offscreen, settings and the demo folder kept away from the user's own."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_tmp = tempfile.mkdtemp(prefix="segstudio-tests-")
os.environ.setdefault("SEGSTUDIO_SETTINGS", os.path.join(_tmp, "settings.ini"))
os.environ.setdefault("SEGSTUDIO_DEMO_DIR", os.path.join(_tmp, "demo-project"))
# A folder of images opened in the window becomes a semantic project without the modal
# "semantic or instances?" question (segstudio/ui/main_window.py, choose_task).
os.environ.setdefault("SEGSTUDIO_NEW_PROJECT_TASK", "semantic")
# Keep torch from taking both cores while Qt tests measure responsiveness.
os.environ.setdefault("OMP_NUM_THREADS", "1")
