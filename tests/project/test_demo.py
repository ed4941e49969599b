"""The demo project: the built-in one is a sparse instance project; the semantic one is
unchanged."""

from __future__ import annotations

import numpy as np

from segstudio.core.classes import UNLABELLED
from segstudio.core.instances import object_classes, object_ids
from segstudio.project.demo import (
    DEMO_TASK,
    draw_cell_objects,
    draw_cells,
    ensure_demo,
    generate_demo,
    touching_pairs,
)
from segstudio.project.project import Project


def test_instance_demo_is_sparse_and_consistent(tmp_path):
    p = generate_demo(tmp_path / "d", n_images=4, size=160, labelled=3, task="instances")
    assert Project.open(p.root).task == "instances"
    assert [c.name for c in p.classes] == ["background", "cell"]
    for entry in p.images[:3]:
        mask = p.load_mask(entry, (160, 160))
        inst = p.load_instances(entry, (160, 160))
        ids = object_ids(inst)
        assert 3 <= len(ids) <= 5 and list(ids) == list(range(1, len(ids) + 1))
        assert entry.objects == len(ids)
        assert set(object_classes(inst, mask).values()) == {1}
        assert ((mask == 1) == (inst != 0)).all()            # every cell pixel is an object's
        assert (mask == 0).any() and (mask == UNLABELLED).mean() > 0.5  # sparse
        assert touching_pairs(inst)                          # neighbours are taught apart
        gt = p.root / "ground_truth" / "instances" / f"{entry.id}.png"
        assert gt.is_file()
    for entry in p.images[3:]:
        assert entry.labelled == 0 and entry.objects == 0


def test_built_in_demo_is_the_instance_one(tmp_path):
    assert DEMO_TASK == "instances"
    p = ensure_demo(tmp_path / "demo")
    assert p.is_instances and sum(e.objects for e in p.images) > 0
    assert ensure_demo(tmp_path / "demo").root == p.root    # kept, not regenerated


def test_semantic_demo_unchanged(tmp_path):
    p = generate_demo(tmp_path / "s", n_images=2, size=96, labelled=1)
    assert p.task == "semantic" and [c.name for c in p.classes] == ["background", "cell",
                                                                   "nucleus"]
    assert not p.instances_dir.exists()
    # draw_cells is draw_cell_objects without the ids, for the same generator state.
    img, label = draw_cells(np.random.default_rng(3), 128)
    img2, label2, cells = draw_cell_objects(np.random.default_rng(3), 128)
    assert np.array_equal(img, img2) and np.array_equal(label, label2)
    assert ((cells != 0) == (label != 0)).all()
