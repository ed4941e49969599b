"""`segstudio next`: images ordered by the model's uncertainty over their unlabelled pixels,
checked against a direct computation with the same model; a fully labelled image has no
region; a bad model path is one line and status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segstudio.cli import main
from segstudio.core.uncertainty import order_by_uncertainty
from segstudio.project.demo import generate_demo
from segstudio.training.config import TrainConfig
from segstudio.training.loop import train
from tests.uncertainty_oracle import direct_scores


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    project = generate_demo(tmp_path_factory.mktemp("n") / "demo", n_images=4, size=64,
                            labelled=2, task="semantic")
    cfg = TrainConfig(model={"base_width": 4, "levels": 2}, patch=32, batch=2, epochs=1,
                      iterations_per_epoch=2)
    events = list(train(project, cfg))
    return project, events[-1].best_checkpoint


def test_next_orders_images_as_a_direct_computation(trained, capsys):
    from segstudio.io.images import read_image
    from segstudio.io.masks import write_mask

    project, ckpt = trained
    first = project.images[0]
    image = read_image(project.image_path(first)).data
    write_mask(project.mask_path(first), np.zeros(image.shape[:2], np.uint8), project.classes)
    direct = direct_scores(project, ckpt)
    capsys.readouterr()
    assert main(["next", str(project.root), ckpt, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    got = [r["image"] for r in out["images"]]
    assert got == order_by_uncertainty(direct)
    by_id = {r["image"]: r for r in out["images"]}
    for k, v in direct.items():
        assert by_id[k]["uncertainty"] == pytest.approx(v, abs=2e-3)
    assert by_id[first.id]["uncertainty"] == 0 and by_id[first.id]["region"] is None
    assert got[-1] == first.id
    assert main(["next", str(project.root), ckpt, "--top", "1"]) == 0
    assert "label these first" in capsys.readouterr().out


def test_next_with_a_missing_model_is_one_line(trained, capsys, tmp_path):
    project, _ = trained
    assert main(["next", str(project.root), str(tmp_path / "none.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segstudio:")
