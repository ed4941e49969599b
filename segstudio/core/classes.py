"""The class table: names and colours of the labels a mask can hold.

Index i of the table is mask value i; 255 is "not labelled" and never a class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from segstudio.errors import ConfigError

UNLABELLED = 255
MAX_CLASSES = 255  # values 0..254; 255 is reserved for "not labelled"

# Distinct, colour-blind-friendly defaults (Okabe-Ito first, then Tableau-like extras).
DEFAULT_COLORS = [
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7",
    "#999999", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ff9896",
]

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ClassInfo:
    name: str
    color: str  # "#rrggbb"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("A class needs a non-empty name.")
        if not isinstance(self.color, str) or not _HEX.match(self.color):
            raise ConfigError(f"Class colour {self.color!r} is not of the form #rrggbb.")

    @property
    def rgb(self) -> tuple[int, int, int]:
        c = self.color
        return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def default_color(index: int) -> str:
    if index < len(DEFAULT_COLORS):
        return DEFAULT_COLORS[index]
    # Beyond the table: spread hues with the golden ratio so neighbours differ.
    import colorsys

    h = (index * 0.61803398875) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.95)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def palette_rgba(classes: list[ClassInfo], alpha: int = 255) -> np.ndarray:
    """A 256 x 4 uint8 lookup table: class colours, transparent for unused values and 255."""
    lut = np.zeros((256, 4), np.uint8)
    for i, c in enumerate(classes):
        lut[i, :3] = c.rgb
        lut[i, 3] = alpha
    return lut


def palette_flat_rgb(classes: list[ClassInfo]) -> list[int]:
    """768 ints for a PIL "P" image: class colours, black elsewhere (255 stays black)."""
    pal = [0] * 768
    for i, c in enumerate(classes):
        pal[3 * i: 3 * i + 3] = list(c.rgb)
    return pal
