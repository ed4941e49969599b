"""How long the dashboard's loss plot holds the GUI thread per redraw as a run's iterations grow
(a GPU run reaches 10^5 iterations; the dashboard redraws up to 10 times a second).

    python benchmarks/dashboard_redraw.py            # 10^3, 2 x 10^4, 2 x 10^5 iterations
    python benchmarks/dashboard_redraw.py --quick    # 10^3, 2 x 10^4

One redraw = ``Dashboard._draw_loss()`` (raw and smoothed curves, epoch curves) plus a repaint
of the plot, offscreen, in a 1200 x 400 window; the fastest of 7 repeats after one warm-up. The
last line is JSON: ``redraw_ms_<n>`` per size.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from segstudio.ui.dashboard.widget import Dashboard

    app = QApplication.instance() or QApplication([])
    dash = Dashboard()
    dash.resize(1200, 400)
    dash.show()
    app.processEvents()
    dash.start_run(["background", "cell"], ["#000000", "#ff0000"], "unet")
    rng = np.random.default_rng(0)
    sizes = (1_000, 20_000) if args.quick else (1_000, 20_000, 200_000)
    out: dict[str, float] = {}
    print(f"{'iterations':>10s} {'redraw ms':>10s}")
    for n in sizes:
        while len(dash.history.iterations) < n:
            i = len(dash.history.iterations) + 1
            dash.history.add_iteration(i, float(1 / (1 + i / 1000) + 0.1 * rng.random()))
        times = []
        for _ in range(8):
            t = time.perf_counter()
            dash._draw_loss()
            dash.loss_plot.repaint()
            app.processEvents()
            times.append(time.perf_counter() - t)
        ms = 1000 * min(times[1:])
        out[f"redraw_ms_{n}"] = round(ms, 2)
        print(f"{n:10d} {ms:10.1f}")
    dash.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
