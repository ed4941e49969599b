"""What each U-Net++ depth costs: parameters used and measured inference time per image.

The depths are timed in interleaved rounds (L1, L2, L3, L1, L2, L3, ...) and each keeps its
fastest round: another process on the machine (a training run, the window) only ever slows a
round down, and in one round it slows all depths alike, so noise cannot turn the order of the
depths around the way timing each depth once after the other did (a user saw L2 393 ms and
L3 288 ms). A deeper model does strictly more work: while the fastest times do not increase
with depth, more rounds are taken (up to ``max_rounds``).
"""

from __future__ import annotations

import time

import torch


def _timed(model: torch.nn.Module, x: torch.Tensor, depth: int, cuda: bool) -> float:
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    model(x, depth=depth)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1000


@torch.no_grad()
def measure_depth_costs(model: torch.nn.Module, channels: int, size: int = 256,
                        repeats: int = 3, device: str | torch.device = "cpu",
                        max_rounds: int = 12) -> dict[int, tuple[int, float]]:
    """depth -> (parameters, fastest milliseconds for one size x size image), from at least
    ``repeats`` interleaved rounds, more (up to ``max_rounds``) while the times are not
    increasing with depth."""
    from segstudio.models import count_parameters

    model = model.to(device).eval()
    cuda = torch.device(device).type == "cuda"
    x = torch.randn(1, channels, size, size, device=device)
    depths = list(getattr(model, "depths", []))
    for d in depths:
        model(x, depth=d)  # warm-up
    best = {d: float("inf") for d in depths}
    for done in range(1, max(repeats, max_rounds) + 1):
        for d in depths:
            best[d] = min(best[d], _timed(model, x, d, cuda))
        ordered = all(best[a] < best[b] for a, b in zip(depths, depths[1:], strict=False))
        if done >= repeats and ordered:
            break
    return {d: (count_parameters(model, depth=d), best[d]) for d in depths}
