import numpy as np
import pytest
from PIL import Image

from segstudio.core.classes import ClassInfo
from segstudio.errors import MaskError
from segstudio.io.masks import read_mask, write_mask

CLASSES = [ClassInfo("a", "#ff0000"), ClassInfo("b", "#00ff00"), ClassInfo("c", "#0000ff")]


def test_indexed_png_round_trip_with_palette(tmp_path):
    rng = np.random.default_rng(0)
    m = rng.choice([0, 1, 2, 255], size=(37, 53)).astype(np.uint8)
    write_mask(tmp_path / "m.png", m, CLASSES)
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "P"
        assert im.getpalette()[:9] == [255, 0, 0, 0, 255, 0, 0, 0, 255]
        assert np.array_equal(np.asarray(im), m)
    assert np.array_equal(read_mask(tmp_path / "m.png", shape=(37, 53), num_classes=3), m)


def test_wrong_size_is_refused(tmp_path):
    write_mask(tmp_path / "m.png", np.zeros((10, 12), np.uint8), CLASSES)
    with pytest.raises(MaskError, match="12 x 10"):
        read_mask(tmp_path / "m.png", shape=(10, 13))


def test_values_beyond_classes_are_refused(tmp_path):
    m = np.zeros((4, 4), np.uint8)
    m[0, 0] = 7
    write_mask(tmp_path / "m.png", m, CLASSES)
    with pytest.raises(MaskError, match=r"values \[7\]"):
        read_mask(tmp_path / "m.png", num_classes=3)


def test_rgb_mask_is_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(MaskError, match="single-channel"):
        read_mask(tmp_path / "m.png")
