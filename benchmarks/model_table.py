"""Parameter and multiply-add counts per model and U-Net++ depth, at the papers' configurations.

    python benchmarks/model_table.py            # table + CPU latency of pruned U-Net++ depths
    python benchmarks/model_table.py --quick    # counts only (seconds)

Counts run on a shape-only ("meta") copy, so they cost nothing; latency is real CPU time.
The last line is one JSON object with every figure (docs/models.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from segstudio.models import count_flops, count_parameters, create_model, paper_model

# (row label, paper key or None, config overrides, depth, the paper's figure in millions)
ROWS = [
    ("U-Net", "unet", {}, None, 7.76),
    ("U-Net++ L1", "unetpp", {}, 1, 0.1),
    ("U-Net++ L2", "unetpp", {}, 2, 0.5),
    ("U-Net++ L3", "unetpp", {}, 3, 2.2),
    ("U-Net++ L4", "unetpp", {}, 4, 9.0),
    ("U-Net++ (all 4 heads)", "unetpp", {}, None, 9.04),
    ("UNet 3+", "unet3p", {}, None, 26.97),
    ("UNet 3+ + deep sup.", "unet3p", {"deep_supervision": True}, None, None),
    ("UNet 3+ + deep sup. + CGM", "unet3p", {"deep_supervision": True, "cgm": True}, None,
     None),
]
# segstudio's defaults (RGB in, 2 classes, batch norm, bilinear), for the UI's users.
DEFAULT_ROWS = [
    ("unet (defaults)", "unet", None),
    ("unetpp (defaults) L1", "unetpp", 1),
    ("unetpp (defaults) L4", "unetpp", 4),
    ("unetpp (defaults) accurate", "unetpp", None),
    ("unet3p (defaults)", "unet3p", None),
]


def latency_ms(model: torch.nn.Module, shape: tuple[int, ...], depth: int | None,
               reps: int) -> float:
    model.eval()
    x = torch.randn(shape)
    with torch.no_grad():
        model(x, depth=depth) if depth else model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            model(x, depth=depth) if depth else model(x)
    return 1000 * (time.perf_counter() - start) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="counts only, no latency timing")
    ap.add_argument("--size", type=int, default=256, help="input side for MACs (default 256)")
    args = ap.parse_args()
    s = args.size
    results = []
    print(f"{'model':30s} {'params':>10s} {'paper':>7s} {'GMACs@' + str(s):>11s}")
    for label, key, over, depth, paper in ROWS:
        with torch.device("meta"):
            m = paper_model(key, **over)
        params = count_parameters(m, depth)
        macs = count_flops(m, (1, 1, s, s), depth)
        results.append(dict(model=label, params=params, paper_m=paper, gmacs=macs / 1e9))
        paper_s = "-" if paper is None else f"{paper:.2f}M"
        print(f"{label:30s} {params / 1e6:9.3f}M {paper_s:>7s} {macs / 1e9:11.2f}")
    print()
    for label, name, depth in DEFAULT_ROWS:
        with torch.device("meta"):
            m = create_model(name)
        params = count_parameters(m, depth)
        macs = count_flops(m, (1, 3, s, s), depth)
        results.append(dict(model=label, params=params, paper_m=None, gmacs=macs / 1e9))
        print(f"{label:30s} {params / 1e6:9.3f}M {'-':>7s} {macs / 1e9:11.2f}")

    timings = {}
    if not args.quick:
        torch.manual_seed(0)
        torch.set_num_threads(max(1, torch.get_num_threads()))
        m = paper_model("unetpp")
        print(f"\nU-Net++ (paper config) CPU latency, 1x1x{s}x{s}, "
              f"{torch.get_num_threads()} threads:")
        for depth in (1, 2, 3, 4, None):
            ms = latency_ms(m, (1, 1, s, s), depth, reps=3)
            key = f"L{depth}" if depth else "accurate"
            timings[key] = ms
            print(f"  {key:9s} {ms:8.1f} ms")
    print(json.dumps(dict(input_size=s, rows=results, unetpp_latency_ms=timings)))


if __name__ == "__main__":
    main()
