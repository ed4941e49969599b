from segstudio.ui.canvas.panel import CanvasPanel, CursorInfo

__all__ = ["CanvasPanel", "CursorInfo"]
