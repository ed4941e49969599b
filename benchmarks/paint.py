"""Brush-segment latency and memory of the mask canvas, offscreen.

    python benchmarks/paint.py            # 2048^2, 8192^2, 16384^2, 1000 segments per row
    python benchmarks/paint.py --quick    # about a minute: fewer segments, fewer rows
    python benchmarks/paint.py --quick --instances   # the same in an instance project

One *segment* is what one mouse-move event during a brush drag costs, end to end: a real
QMouseEvent (left button held) sent to the canvas view -> the brush tool paints the capsule
from the previous point (core.painting) -> the undo history saves the old tiles it touches ->
the view schedules the changed widget rectangle (and the brush outline) -> the posted
UpdateRequest is delivered synchronously (QApplication.sendPostedEvents), so the dirty
rectangle is repainted (layers resampled, blitted, flushed to the offscreen backing store)
before the clock stops. The benchmark checks that every segment really painted.

Memory: one panel (window 1600 x 1000, shown) is created and warmed up first, so its fixed
cost (backing store, fonts, style) is not charged to images. For each size the image (uint8
RGB, the common case; shown without a copy) and the mask are allocated, then the resident set
size (RSS, /proc/self/statm) is read before ``show_image`` and after all strokes of that size:
the difference divided by the pixel count is "extra bytes per pixel" (it includes the undo
history of the benchmark strokes). The panel's own accounting (display copy + history bytes)
is printed beside it. Autosave is measured separately (time, RSS peak above the steady state via
VmHWM, and segment latency while a save of the same mask runs in the worker thread).

With ``--instances`` the project is an instance project: the canvas edits the packed uint32
label array (class << 24 | object id) and draws it with the instance layer (object colours and
outlines); each stroke starts off any object, so it is a new object of class "cell" (the
press, which picks the new object and repaints the view for its highlight, is timed apart).

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from segstudio.core.classes import UNLABELLED, ClassInfo  # noqa: E402
from segstudio.core.instances import UNLABELLED_LABEL  # noqa: E402
from segstudio.project.project import ImageEntry, Project  # noqa: E402
from segstudio.ui.canvas import CanvasPanel  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


try:
    import ctypes

    _libc = ctypes.CDLL("libc.so.6")
except OSError:  # pragma: no cover - not glibc
    _libc = None


def rss() -> int:
    """Anonymous resident memory (RssAnon: heap and arrays; file-backed pages such as shared
    libraries come and go with the page cache and are left out), after returning freed heap
    memory to the OS (glibc malloc_trim) so freed temporaries do not blur the figure."""
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    with open("/proc/self/statm") as fh:  # pragma: no cover - very old kernels
        return int(fh.read().split()[1]) * PAGE


def vmrss() -> int:
    """Total resident set size (what VmHWM, the peak, is measured in)."""
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def hwm() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def make_image(n: int) -> np.ndarray:
    """An n x n uint8 RGB image with texture (pages touched, like a decoded file)."""
    img = np.empty((n, n, 3), np.uint8)
    x = np.arange(n, dtype=np.uint32)
    for r0 in range(0, n, 512):
        y = np.arange(r0, min(n, r0 + 512), dtype=np.uint32)[:, None]
        v = ((x[None, :] * 7 + y * 13) ^ (x[None, :] * y >> 6)) & 0xFF
        img[r0:r0 + 512, :, 0] = v
        img[r0:r0 + 512, :, 1] = v >> 1
        img[r0:r0 + 512, :, 2] = 255 - v
    return img


def mouse(view, kind, pos: QPointF, button, buttons) -> None:
    ev = QMouseEvent(
        kind, pos, view.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(view, ev)


def repaint_now() -> None:
    QApplication.sendPostedEvents(None, QEvent.Type.UpdateRequest)


def blank(n: int, instances: bool) -> np.ndarray:
    if instances:
        return np.full((n, n), UNLABELLED_LABEL, np.uint32)
    return np.full((n, n), UNLABELLED, np.uint8)


def run_strokes(panel, n_segments: int, brush: int, seg_px: float, rng, per_stroke: int = 25,
                stop=None, cpu_times: list | None = None,
                press_times: list | None = None) -> tuple[list[float], list[float]]:
    """Brush strokes of ``per_stroke`` segments each inside the visible area; returns the
    per-segment and per-stroke-end wall-clock times (seconds). ``cpu_times`` collects the GUI
    thread's CPU time per segment (excludes time the OS gave to other processes)."""
    view = panel.view
    panel.set_brush_size(brush)
    w, h = view.width(), view.height()
    margin = 40
    seg_times, end_times = [], []
    done = 0
    while done < n_segments:
        x, y = rng.uniform(margin, w - margin), rng.uniform(margin, h - margin)
        ang = rng.uniform(0, 2 * math.pi)
        t0 = time.perf_counter()
        mouse(
            view,
            QEvent.Type.MouseButtonPress,
            QPointF(round(x), round(y)),
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.LeftButton,
        )
        repaint_now()
        if press_times is not None:
            press_times.append(time.perf_counter() - t0)
        for _ in range(per_stroke):
            ang += rng.normal(0, 0.5)
            step = seg_px * rng.uniform(0.6, 1.4)
            nx, ny = x + step * math.cos(ang), y + step * math.sin(ang)
            if not (margin < nx < w - margin and margin < ny < h - margin):
                ang += math.pi
                nx, ny = x + step * math.cos(ang), y + step * math.sin(ang)
            x, y = nx, ny
            before = view.paint_count
            c0 = time.thread_time()
            t0 = time.perf_counter()
            mouse(
                view,
                QEvent.Type.MouseMove,
                QPointF(round(x), round(y)),
                Qt.MouseButton.NoButton,
                Qt.MouseButton.LeftButton,
            )
            repaint_now()
            seg_times.append(time.perf_counter() - t0)
            if cpu_times is not None:
                cpu_times.append(time.thread_time() - c0)
            if view.paint_count == before:
                raise RuntimeError("a segment did not repaint: the measurement would be wrong")
            done += 1
            if done >= n_segments or (stop is not None and stop()):
                break
        t0 = time.perf_counter()
        mouse(
            view,
            QEvent.Type.MouseButtonRelease,
            QPointF(round(x), round(y)),
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.NoButton,
        )
        repaint_now()
        end_times.append(time.perf_counter() - t0)
        if stop is not None and stop():
            break
    return seg_times, end_times


def stats_ms(ts: list[float]) -> dict:
    a = np.asarray(ts) * 1000
    return {"n": int(a.size), "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about a minute")
    ap.add_argument("--sizes", default="2048,8192,16384")
    ap.add_argument("--segments", type=int, default=None)
    ap.add_argument("--no-save", action="store_true", help="skip the autosave measurements")
    ap.add_argument("--instances", action="store_true",
                    help="an instance project (packed uint32 labels, objects and outlines)")
    ap.add_argument("--during-superpixels", action="store_true",
                    help="measure while a worker thread computes SLIC superpixels of a 2048^2 "
                         "image over and over (what the superpixel brush does in the "
                         "background)")
    args = ap.parse_args()
    inst = bool(args.instances)
    sizes = [int(s) for s in args.sizes.split(",")]
    n_seg = args.segments or (250 if args.quick else 1000)

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="segstudio-bench-"))
    project = Project.create(tmp / "proj", [ClassInfo("background", "#3b4cc0"),
                                            ClassInfo("cell", "#e69f00"),
                                            ClassInfo("nucleus", "#cc3355")],
                             task="instances" if inst else "semantic")
    panel = CanvasPanel(autosave_delay_ms=10 ** 9)
    panel.resize(1600, 1000 + panel.toolbar.sizeHint().height())
    panel.set_project(project)
    if inst:
        panel.set_active_class(1)  # each stroke a new "cell" object
    panel.show()
    QTest.qWaitForWindowExposed(panel)
    # Warm up: Qt's first paints, fonts, cv2 and numpy code paths, full-view repaints at the
    # zoom levels measured (their screen-sized temporaries belong to the window, not to images).
    warm = ImageEntry("warm", "warm.png")
    project.images.append(warm)
    panel.show_image(warm, make_image(2048), blank(2048, inst))
    for z in (1.0, 4.0, 1.0):
        panel.view.set_zoom(z)
        app.processEvents()
        run_strokes(panel, 60, 25, 12 * z, np.random.default_rng(0))
    panel.clear()
    panel.histories.clear()
    app.processEvents()
    gc.collect()

    rows = []
    results: dict = {"sizes": {}}
    rng = np.random.default_rng(1)
    stop_background, background_runs = threading.Event(), [0]
    if args.during_superpixels:
        from segstudio.core.superpixels import compute_superpixels
        from segstudio.ui.preload import wait_preloaded

        wait_preloaded(180)  # as in the window: scikit-image is imported by then
        sp_image = make_image(2048)

        def superpixels_forever() -> None:
            from segstudio.ui.canvas.assist import ASSIST_NICE
            from segstudio.ui.tasks import lower_thread_priority

            lower_thread_priority(ASSIST_NICE)  # as the canvas's assistants' worker is
            while not stop_background.is_set():
                compute_superpixels(sp_image, 24)
                background_runs[0] += 1

        threading.Thread(target=superpixels_forever, daemon=True).start()
    load0 = os.getloadavg()[0]
    print(f"segstudio paint benchmark  ({platform.machine()}, {os.cpu_count()} CPU, "
          f"Qt offscreen, view {panel.view.width()} x {panel.view.height()}, load average "
          f"{load0:.2f} at start)", flush=True)
    print("  times per brush segment: wall clock (what the user waits, including time the OS"
          " gave other processes) and the GUI thread's CPU time", flush=True)
    for n in sizes:
        t_alloc = time.perf_counter()
        image = make_image(n)
        mask = blank(n, inst)
        entry = ImageEntry(f"bench{n}", f"bench{n}.png")
        project.images.append(entry)
        gc.collect()
        alloc_s = time.perf_counter() - t_alloc
        rss0 = rss()
        t0 = time.perf_counter()
        # (The window's loader finds an instance image's next free id in its worker.)
        panel.show_image(entry, image, mask, next_object_id=1 if inst else 0)
        show_ms = (time.perf_counter() - t0) * 1000
        panel.zoom_100()
        app.processEvents()
        variants = [(1.0, 25, 12.0)]
        if not args.quick or n <= 8192:
            variants.append((4.0, 25, 12.0))
        if not args.quick:
            variants.append((1.0, 100, 24.0))
        size_res = {}
        for zoom, brush, seg_px in variants:
            if zoom == 1.0:
                panel.zoom_100()
            else:
                panel.view.set_zoom(zoom)
            app.processEvents()
            count = n_seg if (zoom, brush) == (1.0, 25) else max(100, n_seg // 3)
            if args.quick and n >= 16384:
                count = max(100, count // 2)
            cpu: list[float] = []
            presses: list[float] = []
            seg, ends = run_strokes(panel, count, brush, seg_px * zoom, rng, cpu_times=cpu,
                                    press_times=presses)
            s, e, c = stats_ms(seg), stats_ms(ends), stats_ms(cpu)
            key = f"zoom{zoom:g}_brush{brush}"
            size_res[key] = {"segment": s, "stroke_end": e, "segment_cpu": c,
                             "press": stats_ms(presses)}
            rows.append((n, zoom, brush, s, e))
            print(f"  {n:>5}^2  zoom {zoom * 100:>4.0f} %  brush {brush:>3} px  "
                  f"segments {s['n']:>4}:"
                  f"  p50 {s['p50']:6.2f} ms  p95 {s['p95']:6.2f} ms  max {s['max']:7.2f} ms"
                  f"  | CPU p50 {c['p50']:5.2f} p95 {c['p95']:5.2f} ms"
                  f"  | stroke end p95 {e['p95']:5.2f} ms"
                  f"  | press p95 {stats_ms(presses)['p95']:5.2f} ms", flush=True)
        panel.zoom_100()
        app.processEvents()
        gc.collect()
        rss1 = rss()
        extra_rss = (rss1 - rss0) / (n * n)
        own = panel.extra_bytes / (n * n)
        size_res.update({"show_image_ms": show_ms, "alloc_s": alloc_s,
                         "extra_bytes_per_pixel_rss": extra_rss,
                         "canvas_owned_bytes_per_pixel": own,
                         "history_bytes": panel.histories.nbytes})
        print(f"  {n:>5}^2  show_image {show_ms:.1f} ms; extra memory {extra_rss:.3f} B/px by RSS "
              f"({(rss1 - rss0) / 2**20:.1f} MiB), canvas-owned {own:.4f} B/px "
              f"(history {panel.histories.nbytes / 2**20:.2f} MiB)", flush=True)

        do_save = not args.no_save and not (args.quick and n > 8192)
        if do_save:
            # Autosave of this mask in the worker while painting continues on the GUI thread.
            base = vmrss()
            have_hwm = reset_hwm()
            t0 = time.perf_counter()
            panel.autosaver.save_now(panel.document, project)
            gui_ms = (time.perf_counter() - t0) * 1000
            # Results come back through the event loop, which this loop does not run: watch the
            # autosave runner's jobs instead.
            save_done = lambda: not panel.autosaver._runner.busy  # noqa: E731
            seg, _ = run_strokes(panel, 10 ** 6, 25, 12.0, rng, stop=save_done)
            panel.flush_saves()  # waits for the save of the strokes made meanwhile
            save_s = time.perf_counter() - t0
            peak = (hwm() - base) / (n * n) if have_hwm else float("nan")
            s = stats_ms(seg) if seg else {"n": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
            size_res["autosave"] = {"gui_thread_ms": gui_ms, "total_s": save_s,
                                    "transient_peak_bytes_per_pixel": peak,
                                    "segment_during_save": s}
            print(f"  {n:>5}^2  autosave: GUI thread {gui_ms:.2f} ms, written after {save_s:.2f} s"
                  f" (incl. a second save of the strokes made meanwhile), transient peak "
                  f"{peak:.2f} B/px; {s['n']} segments during the save: p50 {s['p50']:.2f} ms "
                  f"p95 {s['p95']:.2f} ms max {s['max']:.2f} ms", flush=True)
        results["sizes"][str(n)] = size_res
        panel.clear()
        panel.histories.clear()
        project.images = [e for e in project.images if e.id != entry.id]
        del image, mask
        gc.collect()
        app.processEvents()

    # 16-bit images need one uint8 display copy: show how much that adds.
    gray16 = None
    if not args.quick:
        n = 8192
        image = (np.arange(n * n, dtype=np.uint32).reshape(n, n) % 65521).astype(np.uint16)
        mask = blank(n, inst)
        entry = ImageEntry("gray16", "gray16.tif")
        project.images.append(entry)
        rss0 = rss()
        panel.show_image(entry, image, mask)
        panel.zoom_100()
        app.processEvents()
        run_strokes(panel, 100, 25, 12.0, rng)
        gray16 = (rss() - rss0) / (n * n)
        print(f"   8192^2 uint16 gray image: extra memory {gray16:.3f} B/px by RSS "
              f"(display copy {panel.image_layer.extra_bytes / (n * n):.2f} B/px)", flush=True)
        panel.clear()
        panel.histories.clear()
        del image, mask
        gc.collect()

    out = {"quick": bool(args.quick), "instances": inst, "cpu_count": os.cpu_count(),
           "view": [panel.view.width(), panel.view.height()],
           "loadavg_start": round(load0, 2), "loadavg_end": round(os.getloadavg()[0], 2)}
    for n in sizes:
        r = results["sizes"][str(n)]
        out[f"p50_ms_{n}"] = round(r["zoom1_brush25"]["segment"]["p50"], 3)
        out[f"p95_ms_{n}"] = round(r["zoom1_brush25"]["segment"]["p95"], 3)
        out[f"max_ms_{n}"] = round(r["zoom1_brush25"]["segment"]["max"], 3)
        out[f"p95_cpu_ms_{n}"] = round(r["zoom1_brush25"]["segment_cpu"]["p95"], 3)
        out[f"press_p95_ms_{n}"] = round(r["zoom1_brush25"]["press"]["p95"], 3)
        out[f"extra_bytes_per_pixel_{n}"] = round(r["extra_bytes_per_pixel_rss"], 4)
        if "autosave" in r:
            out[f"p95_ms_during_save_{n}"] = round(r["autosave"]["segment_during_save"]["p95"], 3)
            out[f"save_transient_bytes_per_pixel_{n}"] = round(
                r["autosave"]["transient_peak_bytes_per_pixel"], 3)
    # The headline figure: the largest image measured (where a few MiB of allocator noise is
    # negligible per pixel), RSS-based, never below the canvas's own exact accounting.
    largest = results["sizes"][str(max(sizes))]
    out["extra_bytes_per_pixel"] = round(max(largest["extra_bytes_per_pixel_rss"],
                                             largest["canvas_owned_bytes_per_pixel"]), 4)
    if gray16 is not None:
        out["extra_bytes_per_pixel_uint16_gray_8192"] = round(gray16, 4)
    stop_background.set()
    if args.during_superpixels:
        out["during_superpixels"] = True
        out["superpixel_runs_meanwhile"] = background_runs[0]
    panel.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
