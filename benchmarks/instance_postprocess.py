"""From probability maps to objects, and the object scores: time on a synthetic 2048^2 map with
about 2,000 touching round-ish objects.

    python benchmarks/instance_postprocess.py            # 2048^2, 7 runs each, threshold search
    python benchmarks/instance_postprocess.py --quick    # fewer runs, a smaller search (CI)

The map is seeded (the same every run): objects are disks around jittered grid points, cut
where two meet (each pixel to its nearest centre), so most objects touch neighbours. The
"network output" is what a good instance model gives: foreground = the objects, interior =
the objects without a 2-pixel band along their outline and along every border between two
objects, both blurred (Gaussian, sigma 1.5) with noise (sigma 0.05) and clipped to [0, 1].

Timed, median of several runs after one warm-up: wall clock, and for the 2048^2 figures also
this process's CPU time (nearly independent of other processes on the machine, which slow the
wall clock down; the load average is printed):
- ``instances_from_probs`` (thresholds, seeds, watershed, min size), the issue's <= 1 s goal;
- ``instances_from_probs_tiled`` with 1024-pixel cores and 192 pixels of context;
- ``InstanceScores.update`` + ``summary`` of the result against the true map;
- ``choose_params`` on 100 DSB2018-sized images (256^2 .. 1000^2), the default grid and pixel
  budget (--quick: 8 images).

``measure_postprocess(size, objects, repeats)`` is the 2048^2 part alone, for
benchmarks/instances.py. The last line printed is JSON (postprocess_s_2048, metrics_s_2048,
objects_2048, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from segstudio.core.instance_metrics import InstanceScores  # noqa: E402
from segstudio.inference.instance_postprocess import (  # noqa: E402
    choose_params,
    instances_from_probs,
    instances_from_probs_tiled,
)


def synthetic_instances(size: int = 2048, objects: int = 2000, seed: int = 0) -> np.ndarray:
    """A size x size instance map (uint32) with about ``objects`` touching round objects."""
    rng = np.random.default_rng(seed)
    spacing = size / np.sqrt(objects)
    grid = np.arange(spacing / 2, size, spacing)
    pts = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    pts = np.clip(np.round(pts + rng.uniform(-0.2, 0.2, pts.shape) * spacing), 0,
                  size - 1).astype(np.intp)
    centres = np.ones((size, size), bool)
    centres[pts[:, 0], pts[:, 1]] = False
    dist, (iy, ix) = ndi.distance_transform_edt(centres, return_indices=True)
    ids = np.zeros((size, size), np.uint32)
    ids[pts[:, 0], pts[:, 1]] = np.arange(1, len(pts) + 1, dtype=np.uint32)
    nearest = ids[iy, ix]
    radius = rng.uniform(0.45, 0.62, len(pts) + 1) * spacing
    inst = np.where(dist <= radius[nearest], nearest, 0).astype(np.uint32)
    present = np.unique(inst[inst > 0])
    lut = np.zeros(len(pts) + 1, np.uint32)
    lut[present] = np.arange(1, len(present) + 1, dtype=np.uint32)
    return lut[inst]


def synthetic_probs(inst: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, interior) float32 maps a good model would give for ``inst``."""
    rng = np.random.default_rng(seed + 1)
    edge = np.zeros(inst.shape, bool)
    v, h = inst[1:] != inst[:-1], inst[:, 1:] != inst[:, :-1]
    edge[1:] |= v
    edge[:-1] |= v
    edge[:, 1:] |= h
    edge[:, :-1] |= h
    objects = inst > 0
    interior = objects & ~ndi.binary_dilation(edge, iterations=2)
    out = []
    for m in (objects, interior):
        p = ndi.gaussian_filter(m.astype(np.float32), 1.5)
        p += rng.normal(0, 0.05, p.shape).astype(np.float32)
        out.append(np.clip(p, 0, 1))
    return out[0], out[1]


def _median_time(fn: Callable[[], Any], repeats: int
                 ) -> tuple[float, list[float], float, Any]:
    """(median wall seconds, every run's wall seconds, median CPU seconds of this process,
    the result of the warm-up call)."""
    result = fn()  # warm-up (allocator, caches); its result is returned
    times, cpu = [], []
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), times, statistics.median(cpu), result


def measure_postprocess(size: int = 2048, objects: int = 2000, repeats: int = 5,
                        tiled: bool = False) -> dict[str, Any]:
    """Median seconds of ``instances_from_probs`` and of the metrics on one synthetic map:
    keys postprocess_s_<size>, metrics_s_<size>, objects_<size> (true objects),
    pred_objects_<size>, ap50_<size> and map_<size> of the result (a sanity check: near 1),
    with ``tiled`` tiled_s_<size> (1024-pixel cores, 192 pixels of context), and runs_s (the
    seconds of every timed run, by what was timed)."""
    inst = synthetic_instances(size, objects)
    fg, interior = synthetic_probs(inst)
    post, post_runs, post_cpu, pred = _median_time(lambda: instances_from_probs(fg, interior),
                                                   repeats)

    def score() -> dict[str, float]:
        acc = InstanceScores()
        acc.update(inst, pred)
        return acc.summary()

    metr, metr_runs, metr_cpu, scores = _median_time(score, repeats)
    out: dict[str, Any] = {
        f"postprocess_s_{size}": round(post, 4), f"metrics_s_{size}": round(metr, 4),
        f"postprocess_cpu_s_{size}": round(post_cpu, 4),
        f"metrics_cpu_s_{size}": round(metr_cpu, 4),
        f"objects_{size}": int(inst.max()), f"pred_objects_{size}": int(pred.max()),
        f"ap50_{size}": round(scores["ap50"], 4), f"map_{size}": round(scores["map"], 4),
        "runs_s": {"postprocess": post_runs, "metrics": metr_runs},
    }
    if tiled:
        t, t_runs, _, _ = _median_time(
            lambda: instances_from_probs_tiled(fg, interior, tile=1024, margin=192), repeats)
        out[f"tiled_s_{size}"] = round(t, 4)
        out["runs_s"]["tiled"] = t_runs
    return out


def measure_choose_params(images: int = 100) -> dict[str, Any]:
    """Seconds of ``choose_params`` (default grid and budget) on ``images`` synthetic
    DSB2018-sized images, and what it chose."""
    rng = np.random.default_rng(7)
    sides = [256, 256, 256, 256, 320, 360, 512, 520, 696, 1000]
    cases = []
    for i in range(images):
        n = int(rng.choice(sides))
        inst = synthetic_instances(n, int(rng.integers(10, 120)) * n * n // 256 ** 2, seed=i)
        fg, interior = synthetic_probs(inst, seed=i)
        cases.append((fg, interior, inst, None))
    t = time.perf_counter()
    params, scores = choose_params(cases)
    return {"choose_params_s": round(time.perf_counter() - t, 3),
            "choose_params_images": images,
            "choose_params_pixels": int(sum(c[2].size for c in cases)),
            "choose_params_used_images": int(scores["images"]),
            "chosen": params.to_json(), "chosen_map": round(scores["map"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs, a smaller search")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    load0 = os.getloadavg()[0]
    print(f"segstudio instance post-processing benchmark  ({platform.machine()}, "
          f"{os.cpu_count()} CPU, load average {load0:.2f} at start)", flush=True)
    r = measure_postprocess(args.size, args.objects, repeats, tiled=True)
    c = measure_choose_params(8 if args.quick else 100)
    n = args.size
    runs = r.pop("runs_s")

    def fmt(ts: list[float]) -> str:
        return " ".join(f"{t:.3f}" for t in ts)

    print(f"  {'what':44s} {'median s':>9s}   runs (s)")
    print(f"  {f'instances_from_probs {n}^2':44s} {r[f'postprocess_s_{n}']:9.3f}   "
          f"{fmt(runs['postprocess'])}   (CPU {r[f'postprocess_cpu_s_{n}']:.3f} s)")
    print(f"  {f'instances_from_probs_tiled {n}^2 (1024+192)':44s} {r[f'tiled_s_{n}']:9.3f}   "
          f"{fmt(runs['tiled'])}")
    print(f"  {f'InstanceScores update+summary {n}^2':44s} {r[f'metrics_s_{n}']:9.3f}   "
          f"{fmt(runs['metrics'])}   (CPU {r[f'metrics_cpu_s_{n}']:.3f} s)")
    print(f"  objects: {r[f'objects_{n}']} true, {r[f'pred_objects_{n}']} found; "
          f"AP@0.5 {r[f'ap50_{n}']:.4f}, mean AP {r[f'map_{n}']:.4f}")
    print(f"  {'choose_params, ' + str(c['choose_params_images']) + ' DSB-sized images':44s} "
          f"{c['choose_params_s']:9.3f}   ({c['choose_params_pixels'] / 1e6:.1f} Mpx given, "
          f"{c['choose_params_used_images']} images used; chose {c['chosen']}, "
          f"mean AP {c['chosen_map']:.4f})")
    out = {**r, **c, "quick": bool(args.quick), "repeats": repeats,
           "cpu_count": os.cpu_count(), "loadavg_start": round(load0, 2),
           "loadavg_end": round(os.getloadavg()[0], 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
