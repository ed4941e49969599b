"""U-Net (Ronneberger et al. 2015) with same-padded convs, as used as the baseline in U-Net++.

Encoder X(i,0) = DoubleConv(maxpool(X(i-1,0))); decoder D(i) = DoubleConv([X(i,0), up(D(i+1))]).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segstudio.errors import ConfigError
from segstudio.models.base import DeepOutputs, SegmentationModel, check_common, resolve_filters
from segstudio.models.blocks import ConvOptions, DoubleConv, Up, init_weights
from segstudio.models.catalog import UPSAMPLING
from segstudio.models.padding import crop_to


class UNet(SegmentationModel):
    name = "unet"

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
    ) -> None:
        check_common(in_channels, num_classes, norm, dropout, head_kernel)
        if upsampling not in UPSAMPLING:
            raise ConfigError(f"Unknown upsampling {upsampling!r}; choose one of "
                              f"{', '.join(UPSAMPLING)}.")
        f = resolve_filters(filters, base_width, levels)
        super().__init__(in_channels, num_classes, f, dict(
            in_channels=in_channels, num_classes=num_classes, filters=f, norm=norm,
            dropout=dropout, upsampling=upsampling, conv_bias=conv_bias,
            head_kernel=head_kernel))
        kw = ConvOptions(norm=norm, dropout=dropout, conv_bias=conv_bias)
        n = len(f)
        self.pool = nn.MaxPool2d(2)
        self.encoder = nn.ModuleList(
            [DoubleConv(in_channels if i == 0 else f[i - 1], f[i], **kw) for i in range(n)])
        # ups[i] / decoder[i] produce level i (0 = full resolution) from level i + 1.
        self.ups = nn.ModuleList([Up(f[i + 1], f[i], upsampling) for i in range(n - 1)])
        self.decoder = nn.ModuleList([DoubleConv(2 * f[i], f[i], **kw) for i in range(n - 1)])
        self.head = nn.Conv2d(f[0], self.out_channels, head_kernel, padding=head_kernel // 2)
        init_weights(self)

    def forward(self, x: Tensor, return_all: bool = False) -> Tensor | DeepOutputs:
        self.check_input(x)
        x, size = self.pad(x)
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for i in reversed(range(len(self.decoder))):
            x = self.decoder[i](torch.cat([skips[i], self.ups[i](x)], 1))
        out = crop_to(self.head(x), size)
        return DeepOutputs([out]) if return_all else out
