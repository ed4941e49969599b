"""Tiled inference: overhead against running the same tiles pre-cut, peak memory on 8192^2,
and agreement of tiled with untiled inference on 4096^2.

    python benchmarks/infer.py [--quick] [--device auto]

Prints a table and ends with one JSON line: tiled_over_precut, peak_mb_8192,
max_abs_diff_4096, label_agreement_4096.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from segstudio.inference.preprocess import Normalisation  # noqa: E402
from segstudio.inference.tiling import _starts, predict_tiled, to_probabilities  # noqa: E402
from segstudio.models import create_model  # noqa: E402


def make_model(width: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("unet", in_channels=1, num_classes=3, base_width=width,
                        levels=4).to(device).eval()


def image(size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (size // 16, size // 16), dtype=np.uint8)
    import cv2

    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)[:, :, None]


@torch.no_grad()
def throughput(model, img, norm, tile, overlap, device, repeats) -> tuple[float, float, int]:
    """Seconds for predict_tiled, and for the model alone on the same tiles, pre-cut and
    normalised in memory beforehand (no cutting, normalising, blending, argmax)."""
    H, W = img.shape[:2]
    ys, xs = _starts(H, tile, tile - overlap), _starts(W, tile, tile - overlap)
    # Same batches as predict_tiled: one row of tiles at a time, at most 4 per batch.
    batch = 4
    rows = [np.stack([norm.apply(img[y:y + tile, x:x + tile]) for x in xs]) for y in ys]
    best_tiled = best_pre = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        predict_tiled(model, img, norm.apply, tile=tile, overlap=overlap, device=device,
                      batch_size=batch)
        best_tiled = min(best_tiled, time.perf_counter() - t)
        t = time.perf_counter()
        for row in rows:
            for i in range(0, len(row), batch):
                x = torch.from_numpy(row[i:i + batch]).to(device)
                to_probabilities(model(x)).cpu()
        best_pre = min(best_pre, time.perf_counter() - t)
    return best_tiled, best_pre, len(ys) * len(xs)


def peak_memory_child(size: int, width: int, device: str) -> None:
    """Run in a fresh process: print the peak RSS growth (MB) of predicting one size^2 image."""
    dev = torch.device(device)
    model = make_model(width, dev)
    img = image(size)
    norm = Normalisation((128.0,), (64.0,))
    with torch.no_grad():   # warm-up on a small image so allocator pools exist before
        predict_tiled(model, img[:512, :512], norm.apply, tile=512, overlap=64, device=dev)
    base = _vm("VmRSS")
    _reset_hwm()
    predict_tiled(model, img, norm.apply, tile=512, overlap=64, device=dev)
    print(json.dumps({"peak_mb": (_vm("VmHWM") - base) / 1024, "image_mb": img.nbytes / 2**20}))


def _vm(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_hwm() -> None:
    try:  # writing 5 to clear_refs resets VmHWM (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


@torch.no_grad()
def agreement(model, size, device) -> tuple[float, float, float]:
    img = image(size)
    norm = Normalisation((128.0,), (64.0,))
    x = torch.from_numpy(norm.apply(img)[None]).to(device)
    full = to_probabilities(model(x))[0].cpu().numpy()
    tiled = predict_tiled(model, img, norm.apply, tile=512, overlap=128, device=device,
                          keep_probabilities=True).probabilities
    diff = np.abs(full - tiled)
    return float(diff.max()), float(diff.mean()), float((full.argmax(0) == tiled.argmax(0)).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--_peak", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_width", type=int, default=8, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._peak:
        peak_memory_child(args._peak, args._width, args.device)
        return
    from segstudio.inference.devices import resolve_device

    device = resolve_device(args.device)
    width = 8
    model = make_model(width, device)
    norm = Normalisation((128.0,), (64.0,))
    size = 1024 if args.quick else 2048
    t_tiled, t_pre, n = throughput(model, image(size), norm, 512, 64, device,
                                   2 if args.quick else 3)
    ratio = t_pre / t_tiled
    print(f"{'what':38s} {'value':>12s}")
    print(f"{'image, tiles (512, overlap 64)':38s} {f'{size}^2, {n}':>12s}")
    print(f"{'pre-cut tiles, model only (s)':38s} {t_pre:12.3f}")
    print(f"{'predict_tiled, end to end (s)':38s} {t_tiled:12.3f}")
    print(f"{'tiled_over_precut (throughput)':38s} {ratio:12.3f}")
    peak_size = 4096 if args.quick else 8192
    r = subprocess.run([sys.executable, __file__, "--_peak", str(peak_size), "--_width",
                        str(width), "--device", str(device)], capture_output=True, text=True,
                       check=True)
    peak = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"{f'peak memory growth, {peak_size}^2 (MB)':38s} {peak['peak_mb']:12.1f}")
    print(f"{'  (the uint8 image itself, MB)':38s} {peak['image_mb']:12.1f}")
    agree_size = 2048 if args.quick else 4096
    mx, mean, labels = agreement(model, agree_size, device)
    print(f"{f'tiled vs untiled {agree_size}^2: max |dp|':38s} {mx:12.4f}")
    print(f"{'  mean |dp|':38s} {mean:12.5f}")
    print(f"{'  same label':38s} {labels:12.5f}")
    out = {"tiled_over_precut": round(ratio, 4),
           f"peak_mb_{peak_size}": round(peak["peak_mb"], 1),
           f"max_abs_diff_{agree_size}": round(mx, 5), f"label_agreement_{agree_size}": labels,
           "device": str(device), "quick": args.quick}
    if "peak_mb_8192" not in out:
        out["peak_mb_8192"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
