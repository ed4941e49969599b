import os

import pytest

from segstudio.io.atomic import SaveError, atomic_write, atomic_write_bytes


def test_replaces_content(tmp_path):
    p = tmp_path / "f.json"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in tmp_path.iterdir()] == ["f.json"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "f.json"
    atomic_write_bytes(p, b"old")

    def fail(fh):
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(SaveError, match="No space left.*unchanged"):
        atomic_write(p, fail)
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.json"]
