"""The process the kill test kills: the real canvas (offscreen) painting and autosaving.

    python -m tests.reliability.kill_worker PROJECT RECORD SEED

Opens PROJECT headless (no window, the real ``CanvasPanel`` with its ``Autosaver``), then
loops forever: pick one of the project's images, make 1-3 edits (brush drags with real mouse
events, filled rectangles as one undo step, undo or redo), then save the way the window does
when it leaves an image or closes: ``flush_saves()`` (the autosaver's worker thread writes the
PNG atomically) and ``Project.save()`` (segstudio.json, atomically).

Around each save it appends to RECORD, flushed and fsync'd before going on:

    pending <image id> <fingerprint>   the state about to be saved
    saved <image id> <fingerprint>     that save completed

so that, whenever SIGKILL lands, each mask on disk must decode and equal the last ``saved``
state or the ``pending`` one after it. Prints "ready" once the first image is shown.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: list[str]) -> int:
    import numpy as np
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from segstudio.core.history import mask_fingerprint
    from segstudio.core.painting import Rect
    from segstudio.io.images import read_image
    from segstudio.project.project import Project
    from segstudio.ui.canvas import CanvasPanel

    if os.environ.get("SEGSTUDIO_KILL_UNSAFE_WRITES") == "1":
        _unsafe_mask_writes()
    project_dir, record_path, seed = argv[0], argv[1], int(argv[2])
    rng = np.random.default_rng(seed)
    app = QApplication.instance() or QApplication([])
    project = Project.open(project_dir)
    panel = CanvasPanel(autosave_delay_ms=3_600_000)  # saves happen when we flush
    panel.resize(400, 300)
    panel.show()
    app.processEvents()
    panel.set_project(project)
    images = {e.id: read_image(project.image_path(e)).data for e in project.images}
    record = os.open(record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(kind: str, image_id: str, mask) -> None:
        os.write(record, f"{kind} {image_id} {mask_fingerprint(mask)}\n".encode())
        os.fsync(record)

    def show(entry) -> None:
        image = images[entry.id]
        panel.show_image(entry, image, project.load_mask(entry, image.shape[:2]))
        panel.fit_to_window()
        app.processEvents()

    def brush_drag(h: int, w: int) -> None:
        view = panel.view
        pts = []
        for _ in range(int(rng.integers(2, 6))):
            p = view.widget_pos_of_pixel(int(rng.integers(0, w)), int(rng.integers(0, h)))
            pts.append(QPoint(int(p.x()), int(p.y())))
        QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[0])
        for p in pts[1:]:
            QTest.mouseMove(view, p)
        QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[-1])

    entry = project.images[0]
    show(entry)
    print("ready", flush=True)
    n_classes = len(project.classes)
    while True:
        if rng.random() < 0.3:
            entry = project.images[int(rng.integers(len(project.images)))]
            show(entry)
        h, w = panel.current_mask().shape
        for _ in range(int(rng.integers(1, 4))):
            r = rng.random()
            panel.set_active_class(int(rng.integers(n_classes)))
            if r < 0.5:
                panel.set_brush_size(int(rng.integers(1, 30)))
                panel.set_tool("eraser" if rng.random() < 0.15 else "brush")
                brush_drag(h, w)
            elif r < 0.85:
                x0, y0 = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
                x1, y1 = int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))
                value = 255 if rng.random() < 0.1 else int(rng.integers(n_classes))
                panel.apply_block(Rect(x0, y0, x1, y1),
                                  np.full((y1 - y0, x1 - x0), value, np.uint8))
            elif r < 0.95:
                panel.undo()
            else:
                panel.redo()
        doc = panel.document
        if doc is not None and doc.dirty:
            note("pending", doc.image_id, doc.mask)
            panel.flush_saves()
            if doc.dirty:   # the save failed: the canvas keeps the edits, nothing to record
                continue
            note("saved", doc.image_id, doc.mask)
            project.save()
        app.processEvents()


def _unsafe_mask_writes() -> None:
    """Negative control: masks written in place, in 256-byte pieces, as a naive program would.
    The kill test must then find torn masks (benchmarks/kill_test.py --unsafe-control)."""
    import segstudio.io.masks as masks

    def in_place(path, data: bytes) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            for i in range(0, len(data), 256):
                fh.write(data[i:i + 256])
                fh.flush()
                os.fsync(fh.fileno())

    masks.atomic_write_bytes = in_place


# ------------------------------------------------------------------------------ the parent
def make_kill_project(folder, n_images: int = 3, shape=(480, 640)):
    """The project the workers paint: ``n_images`` random RGB images, three classes."""
    from tests.ui.canvas_helpers import make_project

    return make_project(folder, n_images=n_images, shape=shape)


def _disk_states(project, repair: bool = False) -> dict:
    """{image id: fingerprint of the decoded mask on disk, or None if there is none}. Raises
    if a mask does not decode (or is of the wrong size, or holds invalid values); with
    ``repair``, deletes such a mask instead (only the negative control leaves one, and its
    failure was counted by the kill that tore it)."""
    from segstudio.core.history import mask_fingerprint
    from segstudio.errors import MaskError
    from segstudio.io.images import read_image
    from segstudio.io.masks import read_mask

    out = {}
    for e in project.images:
        path = project.mask_path(e)
        out[e.id] = None
        if not path.exists():
            continue
        shape = read_image(project.image_path(e)).data.shape[:2]
        try:
            out[e.id] = mask_fingerprint(read_mask(path, shape, len(project.classes)))
        except MaskError:
            if not repair:
                raise
            path.unlink()
    return out


def kill_once(project_dir, seed: int, delay_s: float, workdir, unsafe: bool = False) -> dict:
    """Start a worker, SIGKILL it ``delay_s`` after it is ready, check what it left.
    ``unsafe``: the worker writes masks in place (the negative control).

    Returns {"ok", "problems", "records", "in_save", "file_is": "saved"|"pending"|...,
    "temp_files", "seconds"}; ``ok`` is False with ``problems`` listing what broke."""
    import signal
    import subprocess
    import time
    from pathlib import Path

    from segstudio.project.project import Project

    project_dir, workdir = Path(project_dir), Path(workdir)
    root = Path(__file__).resolve().parents[2]
    baseline = _disk_states(Project.open(project_dir), repair=True)
    record = workdir / f"record-{seed}.txt"
    record.unlink(missing_ok=True)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "SEGSTUDIO_KILL_UNSAFE_WRITES": "1" if unsafe else "0"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.kill_worker",
                             str(project_dir), str(record), str(seed)], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    problems: list[str] = []
    try:
        line = proc.stdout.readline().strip()
        if line != "ready":
            problems.append(f"worker did not start (said {line!r})")
        time.sleep(delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    # What the worker said it was doing, up to the last complete line.
    text = record.read_text() if record.exists() else ""
    lines = text.split("\n")[:-1]
    saved = dict(baseline)
    pending: dict = {}
    for ln in lines:
        kind, image_id, fp = ln.split()
        if kind == "pending":
            pending[image_id] = int(fp)
        else:
            saved[image_id] = int(fp)
            pending.pop(image_id, None)
    file_is = "saved"
    try:
        project = Project.open(project_dir)
    except Exception as exc:
        problems.append(f"project does not open: {exc}")
        project = None
    if project is not None:
        try:
            disk = _disk_states(project)
        except Exception as exc:
            problems.append(f"a mask does not decode: {exc}")
            disk = {}
        for image_id, fp in disk.items():
            if fp == saved.get(image_id):
                continue
            if image_id in pending and fp == pending[image_id]:
                file_is = "pending"   # the kill landed after the rename, before "saved"
                continue
            problems.append(f"{image_id}: mask on disk ({fp}) is neither the last saved state "
                            f"({saved.get(image_id)}) nor the one being saved "
                            f"({pending.get(image_id)})")
    temps = [p.name for p in project_dir.rglob("*.tmp")]
    return {"ok": not problems, "problems": problems, "records": len(lines),
            "in_save": bool(pending), "file_is": file_is, "temp_files": len(temps),
            "seconds": time.perf_counter() - t0}


def run_kills(project_dir, n: int, seed: int = 0, max_delay_s: float = 0.6,
              workdir=None, progress=None, unsafe: bool = False) -> list[dict]:
    """``n`` kills at random moments (uniform in 0..max_delay_s after the worker is ready)."""
    import random
    import tempfile

    rng = random.Random(seed)
    workdir = workdir or tempfile.mkdtemp(prefix="segstudio-kill-")
    results = []
    for i in range(n):
        r = kill_once(project_dir, seed * 100_000 + i, rng.uniform(0.0, max_delay_s), workdir,
                      unsafe)
        results.append(r)
        if progress is not None:
            progress(i + 1, r)
    return results


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
