"""Guard against Qt for Python releases that corrupt reference counts.

PySide6 6.12.0 released a reference to None on every void QPainter call; under Python < 3.12
(mortal None) the process aborts with "deallocating None" after some thousand repaints.
"""

import sys

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage, QPainter


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12")
def test_void_painter_calls_keep_none_alive(qapp):
    img = QImage(32, 32, QImage.Format.Format_ARGB32)
    p = QPainter(img)
    try:
        before = sys.getrefcount(None)
        for _ in range(500):
            p.resetTransform()
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.drawLine(QPointF(0, 0), QPointF(5, 5))
            p.save()
            p.restore()
        lost = before - sys.getrefcount(None)
    finally:
        p.end()
    assert lost < 100, f"this PySide6 loses references to None ({lost} in 2500 calls)"
