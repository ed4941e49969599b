import numpy as np
import pytest

from segstudio.errors import ImageReadError
from segstudio.io.images import read_image, thumbnail_rgb8, to_display_rgb8
from tests.image_corpus import gradient, make_corpus, write_exif_rotated_jpeg


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def test_png_kinds_keep_pixels(corpus):
    assert np.array_equal(read_image(corpus["rgb_png"]).data, gradient(30, 50))
    assert np.array_equal(read_image(corpus["gray_png"]).data, gradient(30, 50, 1))
    rgba = read_image(corpus["rgba_png"]).data
    assert rgba.shape == (30, 50, 4) and np.array_equal(rgba, gradient(30, 50, 4))


def test_bmp(corpus):
    assert np.array_equal(read_image(corpus["bmp"]).data, gradient(30, 50))


def test_16bit_tiff_keeps_full_range(corpus):
    img = read_image(corpus["tiff16"]).data
    assert img.dtype == np.uint16 and img.shape == (33, 47)
    assert np.array_equal(img, gradient(33, 47, 1, np.uint16))
    disp = to_display_rgb8(img)
    assert disp.dtype == np.uint8 and disp.shape == (33, 47, 3)
    assert disp.min() == 0 and disp.max() == 255


def test_multipage_tiff_reads_first_page_with_note(corpus):
    img = read_image(corpus["tiff_multi"])
    assert np.array_equal(img.data, gradient(20, 20, 1))
    assert "first of 2 pages" in img.note


def test_exif_orientation_applied(tmp_path):
    stored = write_exif_rotated_jpeg(tmp_path / "r.jpg", w=40, h=24)
    img = read_image(tmp_path / "r.jpg").data
    # Orientation 6: rotate 90 degrees clockwise -> 24 wide, 40 high, stored-left ends on top.
    assert img.shape == (40, 24, 3)
    top, bottom = img[:10].reshape(-1, 3).mean(0), img[-10:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60       # red (stored left half) on top
    assert bottom[2] > 200 and bottom[0] < 60
    assert stored.shape == (24, 40, 3)


def test_non_ascii_path(corpus):
    assert read_image(corpus["non_ascii"]).data.shape == (16, 16, 3)


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"), (b"this is text", "not"), (b"\x89PNG\r\n\x1a\n\x00\x00", "not")])
def test_bad_files_raise_readable_errors(tmp_path, content, needle):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_image(p)
    assert "bad.png" in str(info.value) and needle in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_pixel_limit_checked_before_decoding(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((100, 200), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="larger than the limit"):
        read_image(tmp_path / "big.png", max_pixels=100 * 199)
    assert read_image(tmp_path / "big.png", max_pixels=100 * 200).data.shape == (100, 200)


def test_thumbnail_bounds_size():
    t = thumbnail_rgb8(gradient(300, 500), 64)
    assert t.shape == (38, 64, 3) and t.dtype == np.uint8
