"""What each U-Net++ depth costs: parameters used and measured inference time per image."""

from __future__ import annotations

import time

import torch


@torch.no_grad()
def measure_depth_costs(model: torch.nn.Module, channels: int, size: int = 256,
                        repeats: int = 3, device: str | torch.device = "cpu"
                        ) -> dict[int, tuple[int, float]]:
    """depth -> (parameters, median milliseconds for one size x size image)."""
    from segstudio.models import count_parameters

    model = model.to(device).eval()
    x = torch.randn(1, channels, size, size, device=device)
    out: dict[int, tuple[int, float]] = {}
    for d in getattr(model, "depths", []):
        model(x, depth=d)  # warm-up
        times = []
        for _ in range(repeats):
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(x, depth=d)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t) * 1000)
        out[d] = (count_parameters(model, depth=d), sorted(times)[len(times) // 2])
    return out
