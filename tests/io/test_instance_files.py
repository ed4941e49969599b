"""Instance map files: 16-bit PNG while ids fit, uint32 TIFF beyond; bad files refused."""

import numpy as np
import pytest
from PIL import Image

from segstudio.errors import MaskError
from segstudio.io.instances import read_instances, write_instances


def test_png_round_trip_and_tif_beyond_65535(tmp_path):
    inst = np.zeros((20, 30), np.uint32)
    inst[2:5, 3:9] = 1
    inst[10:15, 10:20] = 65535
    p = write_instances(tmp_path / "a.png", inst)
    assert p.suffix == ".png"
    assert Image.open(p).mode.startswith("I")  # 16-bit, readable by ImageJ and napari
    np.testing.assert_array_equal(read_instances(p, shape=(20, 30)), inst)
    inst[0, 0] = 70000
    p2 = write_instances(tmp_path / "a.png", inst)
    assert p2.suffix == ".tif" and not p.exists()
    np.testing.assert_array_equal(read_instances(p2), inst)
    inst[0, 0] = 0
    p3 = write_instances(tmp_path / "a.png", inst)
    assert p3.suffix == ".png" and not p2.exists()


def test_bad_instance_files_get_a_message(tmp_path):
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(rgb)
    with pytest.raises(MaskError, match="single-channel"):
        read_instances(rgb)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"nope")
    with pytest.raises(MaskError, match="not a readable"):
        read_instances(junk)
    ok = write_instances(tmp_path / "ok.png", np.ones((4, 4), np.uint32))
    with pytest.raises(MaskError, match="4 x 4"):
        read_instances(ok, shape=(5, 4))
    with pytest.raises(MaskError, match="not found"):
        read_instances(tmp_path / "missing.png")
