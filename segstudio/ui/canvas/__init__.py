from segstudio.ui.canvas.input import CursorInfo
from segstudio.ui.canvas.panel import CanvasPanel

__all__ = ["CanvasPanel", "CursorInfo"]
