"""UNet 3+ (Huang et al. 2020): full-scale skip connections, deep supervision, CGM.

Decoder stage i (level i, resolution / 2**i) receives every level j:
  j < i  encoder map E(j) max-pooled by 2**(i-j),
  j == i encoder map E(i),
  j > i  decoder map D(j) (D(n-1) = E(n-1)) bilinearly upsampled by 2**(j-i),
each mapped by conv3x3-norm-ReLU to ``cat_channels`` (64 in the paper), concatenated
(n * 64 = 320 channels) and fused by one more conv3x3-norm-ReLU to 320 channels.
Deep supervision: a conv head on every D(i) (and on E(n-1)), upsampled to full size.
Classification-guided module (CGM): dropout -> 1x1 conv -> global max pool on E(n-1), one
presence logit per output channel, trained with its own loss and used to gate the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segstudio.errors import ConfigError
from segstudio.models.base import (
    DeepOutputs,
    SegmentationModel,
    apply_cgm,
    check_common,
    check_ds_weights,
    resolve_filters,
)
from segstudio.models.blocks import ConvNormAct, ConvOptions, DoubleConv, init_weights
from segstudio.models.catalog import CGM_MODES
from segstudio.models.padding import crop_to


class UNet3Plus(SegmentationModel):
    name = "unet3p"

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        *,
        base_width: int = 32,
        levels: int = 5,
        filters: Sequence[int] | None = None,
        cat_channels: int | None = None,
        norm: str = "batch",
        dropout: float = 0.0,
        conv_bias: bool | None = None,
        head_kernel: int = 3,
        deep_supervision: bool = True,
        ds_weights: Sequence[float] | None = None,
        cgm: bool = False,
        cgm_weight: float = 1.0,
        cgm_mode: str = "hard",
        cgm_dropout: float = 0.5,
    ) -> None:
        check_common(in_channels, num_classes, norm, dropout, head_kernel)
        f = resolve_filters(filters, base_width, levels)
        n = len(f)
        cat = f[0] if cat_channels is None else cat_channels
        if not isinstance(cat, int) or cat < 1:
            raise ConfigError(f"cat_channels must be a positive integer, got {cat_channels!r}.")
        if cgm_mode not in CGM_MODES:
            raise ConfigError(f"Unknown cgm_mode {cgm_mode!r}; choose one of "
                              f"{', '.join(CGM_MODES)}.")
        if not 0.0 <= cgm_dropout < 1.0:
            raise ConfigError(f"cgm_dropout must be in [0, 1), got {cgm_dropout!r}.")
        if not cgm_weight >= 0.0:
            raise ConfigError(f"cgm_weight must be >= 0, got {cgm_weight!r}.")
        super().__init__(in_channels, num_classes, f, dict(
            in_channels=in_channels, num_classes=num_classes, filters=f, cat_channels=cat,
            norm=norm, dropout=dropout, conv_bias=conv_bias, head_kernel=head_kernel,
            deep_supervision=bool(deep_supervision),
            ds_weights=None if ds_weights is None else [float(w) for w in ds_weights],
            cgm=bool(cgm), cgm_weight=float(cgm_weight), cgm_mode=cgm_mode,
            cgm_dropout=float(cgm_dropout)))
        self.deep_supervision = bool(deep_supervision)
        self.cat_channels = cat
        self.up_channels = n * cat
        self.cgm_mode = cgm_mode
        self.cgm_weight = float(cgm_weight) if cgm else 0.0
        # Heads from deepest (E(n-1)) to shallowest (D(0)), so heads[-1] is the main output.
        self.head_levels = list(range(n - 1, -1, -1)) if self.deep_supervision else [0]
        self.ds_weights = check_ds_weights(ds_weights, len(self.head_levels))

        kw = ConvOptions(norm=norm, dropout=dropout, conv_bias=conv_bias)
        self.pool = nn.MaxPool2d(2)
        self.encoder = nn.ModuleList(
            [DoubleConv(in_channels if i == 0 else f[i - 1], f[i], **kw) for i in range(n)])
        ch = [self.up_channels] * (n - 1) + [f[-1]]  # channels of D(j)
        # stages[i][j]: conv taking level j's map to stage i; stages[i][n]: the fusion conv.
        self.stages = nn.ModuleList()
        for i in range(n - 1):
            convs = [ConvNormAct(f[j] if j <= i else ch[j], cat, **kw) for j in range(n)]
            convs.append(ConvNormAct(self.up_channels, self.up_channels, **kw))
            self.stages.append(nn.ModuleList(convs))
        self.heads = nn.ModuleDict({
            f"head_{i}": nn.Conv2d(ch[i], self.out_channels, head_kernel,
                                   padding=head_kernel // 2) for i in self.head_levels})
        self.cgm = nn.Sequential(
            nn.Dropout(cgm_dropout), nn.Conv2d(f[-1], self.out_channels, 1),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(1)) if cgm else None
        init_weights(self)

    @property
    def num_heads(self) -> int:
        return len(self.head_levels)

    def set_cgm_mode(self, mode: str) -> None:
        """How ``model(x)`` applies the CGM: "hard", "soft" or "off" (kept in the config)."""
        if mode not in CGM_MODES:
            raise ConfigError(f"Unknown cgm_mode {mode!r}; choose one of {', '.join(CGM_MODES)}.")
        self.cgm_mode = mode
        self.config["cgm_mode"] = mode

    def _stage(self, i: int, enc: list[Tensor], dec: dict[int, Tensor]) -> Tensor:
        convs = cast(nn.ModuleList, self.stages[i])   # stages holds one ModuleList per stage
        size = enc[i].shape[-2:]
        parts = []
        for j in range(self.levels):
            if j < i:
                src = F.max_pool2d(enc[j], 2 ** (i - j), ceil_mode=True)
            elif j == i:
                src = enc[i]
            else:
                src = F.interpolate(dec[j], size=size, mode="bilinear", align_corners=False)
            parts.append(convs[j](src))
        return convs[self.levels](torch.cat(parts, 1))

    def _head(self, i: int, d: Tensor, size: tuple[int, int], full: tuple[int, ...]) -> Tensor:
        out = self.heads[f"head_{i}"](d)
        if i > 0:  # conv at low resolution, then upsample: as the paper's code does
            out = F.interpolate(out, size=full, mode="bilinear", align_corners=False)
        return crop_to(out, size)

    def forward(self, x: Tensor, return_all: bool = False) -> Tensor | DeepOutputs:
        """Inference logits (CGM-gated if enabled), or DeepOutputs for training."""
        self.check_input(x)
        x, size = self.pad(x)
        full = tuple(x.shape[-2:])
        enc: list[Tensor] = []
        for i, block in enumerate(self.encoder):
            enc.append(block(x if i == 0 else self.pool(enc[-1])))
        n = self.levels
        dec = {n - 1: enc[-1]}
        for i in range(n - 2, -1, -1):
            dec[i] = self._stage(i, enc, dec)
        cls_logits = self.cgm(enc[-1]) if self.cgm is not None else None
        if return_all:
            heads = [self._head(i, dec[i], size, full) for i in self.head_levels]
            return DeepOutputs(heads, cls_logits)
        out = self._head(0, dec[0], size, full)
        if cls_logits is not None:
            out = apply_cgm(out, cls_logits, self.cgm_mode)
        return out
