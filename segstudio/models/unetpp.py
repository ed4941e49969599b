"""U-Net++ (Zhou et al. 2018): nested dense skip pathways, deep supervision, pruning.

Node X(i, j) sits at level i (resolution / 2**i) and column j. Column 0 is the encoder;
for j >= 1,  X(i, j) = DoubleConv([X(i,0), ..., X(i,j-1), up(X(i+1, j-1))]).
Head L (1 <= L <= levels - 1) is a conv on X(0, L). Head L only depends on nodes with
i + j <= L, so ``forward(x, depth=L)`` builds just that sub-network: pruned inference runs
fewer operations, not the full net with some outputs thrown away.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segstudio.errors import ConfigError
from segstudio.models.base import (
    DeepOutputs,
    SegmentationModel,
    average_heads,
    check_common,
    check_ds_weights,
    resolve_filters,
)
from segstudio.models.blocks import ConvOptions, DoubleConv, Up, init_weights
from segstudio.models.catalog import UNETPP_MODES as MODES
from segstudio.models.catalog import UPSAMPLING
from segstudio.models.padding import crop_to


class UNetPlusPlus(SegmentationModel):
    name = "unetpp"

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        *,
        base_width: int = 32,
        levels: int = 5,
        filters: Sequence[int] | None = None,
        norm: str = "batch",
        dropout: float = 0.0,
        upsampling: str = "bilinear",
        conv_bias: bool | None = None,
        head_kernel: int = 1,
        deep_supervision: bool = True,
        ds_weights: Sequence[float] | None = None,
        mode: str = "accurate",
        fast_depth: int | None = None,
    ) -> None:
        check_common(in_channels, num_classes, norm, dropout, head_kernel)
        if upsampling not in UPSAMPLING:
            raise ConfigError(f"Unknown upsampling {upsampling!r}; choose one of "
                              f"{', '.join(UPSAMPLING)}.")
        f = resolve_filters(filters, base_width, levels)
        n = len(f)
        depths = list(range(1, n)) if deep_supervision else [n - 1]
        super().__init__(in_channels, num_classes, f, dict(
            in_channels=in_channels, num_classes=num_classes, filters=f, norm=norm,
            dropout=dropout, upsampling=upsampling, conv_bias=conv_bias,
            head_kernel=head_kernel, deep_supervision=bool(deep_supervision),
            ds_weights=None if ds_weights is None else [float(w) for w in ds_weights],
            mode=mode, fast_depth=fast_depth))
        self.max_depth = n - 1
        self.deep_supervision = bool(deep_supervision)
        self.depths = depths  # depths that have a head, i.e. valid values of `depth`
        self.ds_weights = check_ds_weights(ds_weights, len(depths))
        self.set_inference(mode, fast_depth)

        kw = ConvOptions(norm=norm, dropout=dropout, conv_bias=conv_bias)
        self.pool = nn.MaxPool2d(2)
        self.encoder = nn.ModuleList(
            [DoubleConv(in_channels if i == 0 else f[i - 1], f[i], **kw) for i in range(n)])
        self.nodes = nn.ModuleDict()
        self.ups = nn.ModuleDict()
        for j in range(1, n):
            for i in range(n - j):
                # Each node has its own upsampler, as in the paper's code (up12, up22, ...).
                self.ups[f"x_{i}_{j}"] = Up(f[i + 1], f[i], upsampling)
                self.nodes[f"x_{i}_{j}"] = DoubleConv((j + 1) * f[i], f[i], **kw)
        self.heads = nn.ModuleDict({
            f"head_{d}": nn.Conv2d(f[0], self.out_channels, head_kernel,
                                   padding=head_kernel // 2) for d in depths})
        init_weights(self)

    @property
    def num_heads(self) -> int:
        return len(self.depths)

    def set_inference(self, mode: str, fast_depth: int | None = None) -> None:
        """Choose what ``model(x)`` returns: "accurate" = average of all heads, "fast" = one."""
        if mode not in MODES:
            raise ConfigError(f"Unknown U-Net++ mode {mode!r}; choose one of {', '.join(MODES)}.")
        depth = self.max_depth if fast_depth is None else fast_depth
        self._check_depth(depth)
        self.mode, self.fast_depth = mode, depth
        self.config.update(mode=mode, fast_depth=fast_depth)

    def _check_depth(self, depth: int) -> None:
        if depth not in self.depths:
            if isinstance(depth, int) and 1 <= depth <= self.max_depth:
                raise ConfigError(f"Depth {depth} has no trained head: pruning needs "
                                  f"deep_supervision=True.")
            raise ConfigError(f"depth must be an integer from 1 to {self.max_depth}, "
                              f"got {depth!r}.")

    def node_names(self, depth: int) -> list[str]:
        """Names of the nodes X(i, j) that head ``depth`` needs (i + j <= depth)."""
        return [f"x_{i}_{j}" for j in range(depth + 1) for i in range(depth + 1 - j)]

    def submodules(self, depth: int | None = None) -> list[nn.Module]:
        """Modules with parameters that ``forward(x, depth=depth)`` uses (None: all)."""
        if depth is None:
            return [self]
        self._check_depth(depth)
        mods: list[nn.Module] = [self.encoder[i] for i in range(depth + 1)]
        for name in self.node_names(depth):
            if not name.endswith("_0"):
                mods += [self.ups[name], self.nodes[name]]
        return mods + [self.heads[f"head_{depth}"]]

    def _nodes(self, x: Tensor, depth: int) -> dict[tuple[int, int], Tensor]:
        """Compute X(i, j) for i + j <= depth, and nothing else."""
        X: dict[tuple[int, int], Tensor] = {}
        for i in range(depth + 1):
            X[i, 0] = self.encoder[i](x if i == 0 else self.pool(X[i - 1, 0]))
        for j in range(1, depth + 1):
            for i in range(depth + 1 - j):
                name = f"x_{i}_{j}"
                up = self.ups[name](X[i + 1, j - 1])
                X[i, j] = self.nodes[name](torch.cat([X[i, k] for k in range(j)] + [up], 1))
        return X

    def forward(self, x: Tensor, depth: int | None = None,
                return_all: bool = False) -> Tensor | DeepOutputs:
        """Inference logits; ``depth=L`` runs only the sub-network of head L (pruning);
        ``return_all=True`` returns every head (L1..L4 for 5 levels) for training."""
        self.check_input(x)
        if depth is not None:
            self._check_depth(depth)
        elif not return_all and self.mode == "fast":
            depth = self.fast_depth
        x, size = self.pad(x)
        if depth is not None and not return_all:
            X = self._nodes(x, depth)
            return crop_to(self.heads[f"head_{depth}"](X[0, depth]), size)
        X = self._nodes(x, self.max_depth)
        heads = [crop_to(self.heads[f"head_{d}"](X[0, d]), size) for d in self.depths]
        if return_all:
            return DeepOutputs(heads)
        return self.combine_heads(heads)

    def combine_heads(self, heads: list[Tensor]) -> Tensor:
        """The inference output from all heads (``return_all``), as ``forward`` gives it: one
        pass can then score every depth and the default output (validation)."""
        if self.mode == "fast":
            return heads[self.depths.index(self.fast_depth)]
        return heads[0] if len(heads) == 1 else average_heads(heads)
