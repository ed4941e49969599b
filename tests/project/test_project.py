import json

import numpy as np
import pytest

from segstudio.core.classes import ClassInfo
from segstudio.errors import ConfigError, ProjectError
from segstudio.io.masks import read_mask
from segstudio.project.project import (
    PROJECT_FILE,
    SCHEMA_VERSION,
    Project,
    find_images,
    open_or_create,
)
from tests.image_corpus import make_corpus


def _project(tmp_path, n_classes=3):
    p = Project.create(tmp_path / "proj", classes=[ClassInfo(f"c{i}", "#102030")
                                                   for i in range(n_classes)])
    img_dir = tmp_path / "proj" / "imgs"
    img_dir.mkdir()
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.zeros((8, 10), np.uint8)).save(img_dir / f"im{i}.png")
    p.add_images(sorted(img_dir.iterdir()))
    return p


def test_save_and_reopen_round_trip(tmp_path):
    p = _project(tmp_path)
    p.set_split("im1", "val")
    m = np.full((8, 10), 255, np.uint8)
    m[2:4, 3:6] = 1
    p.save_mask(p.images[0], m)
    p.save()
    q = Project.open(p.root)
    assert q.classes == p.classes and q.images == p.images
    assert q.images[1].split == "val"
    assert q.images[0].labelled == pytest.approx(6 / 80)
    assert q.images[0].path == "imgs/im0.png"  # relative inside the project
    assert np.array_equal(q.load_mask(q.images[0], (8, 10)), m)
    assert (q.load_mask(q.images[2], (8, 10)) == 255).all()


def test_class_add_rename_recolour_and_duplicates(tmp_path):
    p = _project(tmp_path)
    assert p.add_class("nucleus") == 3
    p.rename_class(3, "Nucleus ")
    assert p.classes[3].name == "Nucleus"
    p.recolor_class(3, "#abcdef")
    assert p.classes[3].color == "#abcdef"
    with pytest.raises(ConfigError, match="already"):
        p.add_class("c0")
    with pytest.raises(ConfigError):
        p.recolor_class(0, "red")


def test_delete_class_remaps_masks_and_reports_impact(tmp_path):
    p = _project(tmp_path)
    m = np.tile(np.array([0, 1, 2, 255, 1], np.uint8), (8, 2))
    p.save_mask(p.images[0], m)
    impact = p.class_deletion_impact(1)
    assert impact.images == 1 and impact.pixels == int((m == 1).sum())
    assert impact.shifted == ["c2"]
    assert "c2" in impact.describe() and f"{impact.pixels:,}" in impact.describe()
    p.delete_class(1)
    assert [c.name for c in p.classes] == ["c0", "c2"]
    got = read_mask(p.mask_path(p.images[0]))
    expected = np.select([m == 0, m == 1, m == 2], [0, 255, 1], 255).astype(np.uint8)
    assert np.array_equal(got, expected)


def test_corrupt_project_file_is_reported_and_untouched(tmp_path):
    p = _project(tmp_path)
    p.save()
    broken = p.file.read_text()[:-20]
    p.file.write_text(broken)
    with pytest.raises(ProjectError, match="corrupt"):
        Project.open(p.root)
    assert p.file.read_text() == broken


def test_newer_schema_is_refused(tmp_path):
    p = _project(tmp_path)
    data = p.to_json()
    data["schema"] = SCHEMA_VERSION + 1
    p.file.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match="newer segstudio"):
        Project.open(p.root)


@pytest.mark.parametrize("field,value,needle", [
    ("id", "../../evil", "invalid image id"),
    ("path", "../../etc/passwd", "outside the project"),
    ("split", "holdout", "unknown split"),
])
def test_hostile_entries_are_refused(tmp_path, field, value, needle):
    p = _project(tmp_path)
    data = p.to_json()
    data["images"][0][field] = value
    p.file.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=needle):
        Project.open(p.root)


def test_missing_project(tmp_path):
    with pytest.raises(ProjectError, match="missing"):
        Project.open(tmp_path)


def test_folder_of_images_becomes_project(tmp_path):
    corpus = make_corpus(tmp_path / "pics")
    for own in ("masks", "predictions", "runs", "exports"):   # the project's own outputs
        (tmp_path / "pics" / own).mkdir()
        (tmp_path / "pics" / own / "ignored.png").write_bytes(b"")
    p = open_or_create(tmp_path / "pics")
    assert (tmp_path / "pics" / PROJECT_FILE).exists()
    assert len(p.images) == len(corpus)  # corrupt file listed too; masks/ skipped
    ids = {e.id for e in p.images}
    assert "zellen_ä_细胞" in ids
    again = open_or_create(tmp_path / "pics")
    assert again.images == p.images


def test_duplicate_stems_get_unique_ids(tmp_path):
    from PIL import Image

    for sub in ("a", "b"):
        (tmp_path / "d" / sub).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "d" / sub / "x.png")
    p = open_or_create(tmp_path / "d")
    assert sorted(e.id for e in p.images) == ["x", "x-2"]
    assert len(p.add_images(find_images(tmp_path / "d"))) == 0  # already there


def test_instance_project_round_trip_and_old_schema_opens_as_semantic(tmp_path):
    import json

    from PIL import Image as PILImage

    from segstudio.project.project import Project

    img = tmp_path / "a.png"
    PILImage.fromarray(np.zeros((8, 10), np.uint8)).save(img)
    p = Project.create(tmp_path / "p", task="instances")
    entry, = p.add_images([img])
    inst = np.zeros((8, 10), np.uint32)
    inst[1:3, 1:3] = 1
    inst[5:7, 5:9] = 2
    mask = np.where(inst > 0, 1, 0).astype(np.uint8)
    p.save_labels(entry, mask, inst)
    p.save()
    q = Project.open(p.root)
    assert q.is_instances and q.images[0].objects == 2
    np.testing.assert_array_equal(q.load_instances(q.images[0], (8, 10)), inst)
    assert not q.load_instances(q.images[0], (8, 10)).dtype.kind == "i"
    # a schema-1 file (round one) opens as a semantic project
    data = json.loads(q.file.read_text())
    data["schema"] = 1
    del data["task"]
    q.file.write_text(json.dumps(data))
    old = Project.open(q.root)
    assert old.task == "semantic" and not old.is_instances
    # deleting the class removes its objects from the instance map too
    q.delete_class(1)
    assert q.load_instances(q.images[0], (8, 10)).max() == 0
    assert q.images[0].objects == 0
