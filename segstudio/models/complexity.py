"""Parameter and multiply-add counts, without external profilers.

FLOPs here are *multiply-adds* (MACs) of Conv2d, ConvTranspose2d and Linear layers, counted
by forward hooks on a shape-only ("meta" device) copy of the model, so even a 27M-parameter
model at 512 x 512 costs no real compute. Norms, ReLU, pooling and interpolation are not
counted (they are a few percent of the total). "GFLOPs" in papers are often 2 x MACs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from segstudio.errors import ConfigError


def _unique_params(modules: Sequence[nn.Module]) -> int:
    seen: dict[int, int] = {}
    for m in modules:
        for p in m.parameters():
            seen[id(p)] = p.numel()
    return sum(seen.values())


def count_parameters(model: nn.Module, depth: int | None = None) -> int:
    """Learnable parameters of ``model``; with ``depth`` (U-Net++ only), of the sub-network
    that ``forward(x, depth=depth)`` runs: encoder X(0..L,0), nodes i+j<=L and head L."""
    if depth is None:
        return _unique_params([model])
    submodules = getattr(model, "submodules", None)
    if submodules is None:
        raise ConfigError(f"{type(model).__name__} cannot be pruned; depth applies to U-Net++.")
    return _unique_params(submodules(depth))


@dataclass(frozen=True)
class LayerCall:
    """One call of a counted layer during a forward pass."""

    name: str
    module: nn.Module
    macs: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def _macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(m, nn.ConvTranspose2d):
        # every input pixel scatters a k x k x C_out patch
        kh, kw = m.kernel_size
        return inp.numel() * (m.out_channels // m.groups) * kh * kw
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return out.numel() * (m.in_channels // m.groups) * kh * kw
    if isinstance(m, nn.Linear):
        return out.numel() * m.in_features
    return 0


def trace_layers(model: nn.Module, input_shape: Sequence[int], depth: int | None = None,
                 *, device: str = "meta") -> list[LayerCall]:
    """Run one forward pass of a copy of ``model`` on zeros of ``input_shape`` and record every
    counted layer call. ``input_shape`` is (N, C, H, W), (C, H, W) or (H, W)."""
    shape = tuple(int(s) for s in input_shape)
    in_ch = getattr(model, "in_channels", 1)
    if len(shape) == 2:
        shape = (1, in_ch, *shape)
    elif len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ConfigError(f"input_shape must be (H, W), (C, H, W) or (N, C, H, W), got {shape}.")
    twin = copy.deepcopy(model).to(device).eval()
    names = {m: n for n, m in twin.named_modules()}
    calls: list[LayerCall] = []

    def hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        calls.append(LayerCall(names[m], m, _macs(m, args[0], out), tuple(args[0].shape),
                               tuple(out.shape)))

    handles = [m.register_forward_hook(hook) for m in twin.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            x = torch.zeros(shape, device=device)
            twin(x) if depth is None else twin(x, depth=depth)
    finally:
        for h in handles:
            h.remove()
    return calls


def count_flops(model: nn.Module, input_shape: Sequence[int], depth: int | None = None) -> int:
    """Multiply-adds of one inference forward pass (``model(x)`` or ``model(x, depth=L)``).

    For U-Net++ in "accurate" mode ``depth=None`` counts the full network with all heads."""
    return sum(c.macs for c in trace_layers(model, input_shape, depth))
