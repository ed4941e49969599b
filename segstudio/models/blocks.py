"""Convolution building blocks shared by the three architectures.

Every block takes the same knobs (normalisation, dropout, bias) so that one model config can
describe the papers' exact layers (e.g. no normalisation, biased convs) as well as our defaults.
"""

from __future__ import annotations

import math
from typing import TypedDict

from torch import Tensor, nn

from segstudio.errors import ConfigError
from segstudio.models.catalog import NORMS, UPSAMPLING

# GroupNorm uses gcd(channels, GROUPS) groups, so any channel count works (4 -> 4, 48 -> 8).
GROUPS = 8


def make_norm(norm: str, channels: int) -> nn.Module:
    """Return the normalisation layer for ``channels`` feature maps (Identity for "none")."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        return nn.GroupNorm(math.gcd(channels, GROUPS), channels)
    if norm == "instance":
        # affine so it has the same learnable scale/shift as the other norms.
        return nn.InstanceNorm2d(channels, affine=True)
    if norm == "none":
        return nn.Identity()
    raise ConfigError(f"Unknown normalisation {norm!r}; choose one of {', '.join(NORMS)}.")


def resolve_bias(norm: str, conv_bias: bool | None) -> bool:
    """A bias right before a norm layer is redundant, so by default convs only get one without."""
    return norm == "none" if conv_bias is None else bool(conv_bias)


class ConvOptions(TypedDict):
    """The knobs every conv unit of a model shares (``**options`` into the blocks)."""

    norm: str
    dropout: float
    conv_bias: bool | None


class ConvNormAct(nn.Sequential):
    """conv k x k -> norm -> ReLU -> (dropout). The unit both papers stack."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        *,
        norm: str = "batch",
        dropout: float = 0.0,
        conv_bias: bool | None = None,
        kernel_size: int = 3,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2,
                      bias=resolve_bias(norm, conv_bias)),
            make_norm(norm, out_ch),
            nn.ReLU(inplace=True),
        ]
        if dropout > 0:
            # Channel-wise dropout: neighbouring pixels are correlated, element dropout barely
            # regularises a conv net.
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two ConvNormAct units: U-Net's and U-Net++'s node X(i, j)."""

    def __init__(self, in_ch: int, out_ch: int, *, norm: str = "batch", dropout: float = 0.0,
                 conv_bias: bool | None = None) -> None:
        kw = ConvOptions(norm=norm, dropout=dropout, conv_bias=conv_bias)
        super().__init__(ConvNormAct(in_ch, out_ch, **kw), ConvNormAct(out_ch, out_ch, **kw))


class Up(nn.Module):
    """Double the resolution and map ``in_ch`` to ``out_ch`` channels.

    "transpose": 2x2 stride-2 transposed conv (the U-Net / U-Net++ papers).
    "bilinear": 1x1 conv then bilinear x2. Both are linear and per-pixel/per-channel, so doing
    the 1x1 conv first is exactly equivalent and four times cheaper; no checkerboard artefacts.
    """

    def __init__(self, in_ch: int, out_ch: int, mode: str = "bilinear") -> None:
        super().__init__()
        if mode not in UPSAMPLING:
            raise ConfigError(
                f"Unknown upsampling {mode!r}; choose one of {', '.join(UPSAMPLING)}.")
        self.mode = mode
        if mode == "transpose":
            self.conv: nn.Module = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)
        else:
            self.conv = nn.Conv2d(in_ch, out_ch, 1)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return x if self.mode == "transpose" else self.up(x)


def init_weights(model: nn.Module) -> None:
    """He-normal convs (both papers use He init), zero biases, unit norms."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
