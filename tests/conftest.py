"""Test-wide setup: Qt offscreen, settings and the demo folder kept away from the user's own."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_tmp = tempfile.mkdtemp(prefix="segstudio-tests-")
os.environ.setdefault("SEGSTUDIO_SETTINGS", os.path.join(_tmp, "settings.ini"))
os.environ.setdefault("SEGSTUDIO_DEMO_DIR", os.path.join(_tmp, "demo-project"))
# Keep torch from taking both cores while Qt tests measure responsiveness.
os.environ.setdefault("OMP_NUM_THREADS", "1")
