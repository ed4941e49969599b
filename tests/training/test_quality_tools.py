"""Tools of the quality study: simulated scribbles, elastic augmentation, the time-budget
schedule, and `segstudio evaluate` against a float64 / sklearn oracle."""

import json

import numpy as np
import pytest

from segstudio.training.augment import elastic_warp
from segstudio.training.loop import lr_at
from segstudio.training.scribbles import simulate_scribbles, skeleton


def _scene(seed=0, size=128):
    """Blobs of 3 classes on a background, plus a thin one-pixel line class and void."""
    rng = np.random.default_rng(seed)
    m = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for k in (1, 2):
        for _ in range(3):
            cy, cx, r = rng.integers(15, size - 15, 2).tolist() + [int(rng.integers(6, 14))]
            m[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = k
    m[:, 100] = 3                       # a pole: one pixel wide
    m[:6, :6] = 255                     # void
    return m


def test_scribbles_cover_five_percent_and_keep_every_class():
    m = _scene()
    s = simulate_scribbles(m, 0.05, seed=1)
    labelled = np.count_nonzero(m != 255)
    cover = np.count_nonzero(s != 255) / labelled
    assert 0.045 <= cover <= 0.08, cover
    # Strokes only ever hold the true class, never the void.
    assert np.all((s == 255) | (s == m))
    assert set(np.unique(s[s != 255])) == {0, 1, 2, 3}
    # Deterministic for a seed, different for another.
    assert np.array_equal(s, simulate_scribbles(m, 0.05, seed=1))
    assert not np.array_equal(s, simulate_scribbles(m, 0.05, seed=2))


def test_scribbles_stay_inside_regions_away_from_boundaries():
    m = np.zeros((80, 80), np.uint8)
    m[20:60, 10:70] = 1                 # a 40-pixel-thick bar
    s = simulate_scribbles(m, 0.05)
    ys, xs = np.nonzero(s == 1)
    assert ys.size and ys.min() >= 30 and ys.max() <= 50   # along the middle of the bar


def test_skeleton_is_thin_and_inside():
    m = np.full((60, 60), 255, np.uint8)
    m[10:50, 10:50] = 0
    sk = skeleton(m)
    assert sk.any() and np.all(m[sk] == 0)
    assert sk.sum() < 0.1 * (m == 0).sum()


def test_empty_mask_gives_no_scribbles():
    assert np.all(simulate_scribbles(np.full((20, 20), 255, np.uint8)) == 255)


def test_elastic_warp_moves_pixels_but_keeps_labels_valid():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 64, 1), dtype=np.uint8)
    msk = (img[:, :, 0] > 128).astype(np.uint8)
    out, m = elastic_warp(img, msk, 8.0, rng)
    assert out.shape == img.shape and m.shape == msk.shape
    assert set(np.unique(m)) <= {0, 1, 255}
    assert not np.array_equal(out, img)
    # Image and mask move together: where the mask is labelled, the warped image matches the
    # threshold that made the mask (bilinear blur aside, nearly everywhere).
    lab = m != 255
    agree = ((out[:, :, 0] > 128) == (m == 1))[lab].mean()
    assert agree > 0.75
    out0, m0 = elastic_warp(img, msk, 0.0, np.random.default_rng(1))
    assert np.array_equal(out0, img) and np.array_equal(m0, msk)


def test_time_budget_moves_the_cosine_on():
    # Halfway through the steps but the whole budget used: the rate is at its floor.
    assert lr_at(50, 100, 0, 1.0, time_fraction=1.0) == pytest.approx(0.01)
    assert lr_at(50, 100, 0, 1.0, time_fraction=0.0) == pytest.approx(0.505)
    # The later of steps and time wins.
    assert lr_at(90, 100, 0, 1.0, 0.1) == lr_at(90, 100, 0, 1.0)
    # Warm-up: by steps, but over by 5 % of the budget at the latest (then the cosine by time).
    assert lr_at(2, 100, 10, 1.0, 0.01) == pytest.approx(0.3)
    assert lr_at(2, 100, 10, 1.0, 0.04) == pytest.approx(0.8)
    assert lr_at(2, 100, 10, 1.0, 0.5) == pytest.approx(lr_at(50, 100, 0, 1.0, 0.5))


def test_cli_evaluate_matches_sklearn(tmp_path, capsys):
    """Train a tiny model on the demo, then `segstudio evaluate` on its test split: the JSON
    scores equal sklearn's confusion matrix of the model's own predictions."""
    from sklearn.metrics import confusion_matrix

    from segstudio.cli import main
    from segstudio.inference.predictor import Predictor
    from segstudio.io.images import read_image
    from segstudio.io.masks import read_mask
    from segstudio.project.demo import generate_demo
    from segstudio.project.project import Project

    p = generate_demo(tmp_path / "demo", n_images=4, size=96, labelled=4)
    test_ids = [e.id for e in p.images if e.labelled][:1]
    for i in test_ids:
        p.set_split(i, "test")
    p.save()
    assert main(["train", str(p.root), "--epochs", "1", "--iterations", "2", "--patch", "64",
                 "--batch", "2", "--model-options", '{"base_width": 4, "levels": 2}']) == 0
    ck = next((p.root / "runs").glob("*/last.safetensors"))
    capsys.readouterr()
    assert main(["evaluate", str(p.root), str(ck), "--json"]) == 0
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    p = Project.open(p.root)
    e = p.entry(test_ids[0])
    img = read_image(p.image_path(e)).data
    mask = read_mask(p.mask_path(e))
    pred = Predictor.load(ck, "cpu").predict(img).labels
    keep = mask != 255
    cm = confusion_matrix(mask[keep], pred[keep], labels=[0, 1, 2])
    assert got["confusion"] == cm.tolist() and got["images"] == 1
    assert got["pixel_error"] == pytest.approx(1 - np.trace(cm) / cm.sum())
    diag = np.diag(cm).astype(float)
    iou = diag / (cm.sum(0) + cm.sum(1) - diag)
    present = (cm.sum(0) + cm.sum(1)) > 0
    assert got["miou"] == pytest.approx(iou[present].mean())
    # A split without labelled images, or one that does not exist: one clear line, exit 2.
    p.set_split(test_ids[0], "auto")
    p.save()
    assert main(["evaluate", str(p.root), str(ck), "--split", "test"]) == 2
    assert capsys.readouterr().err.startswith("segstudio: No labelled image")
    assert main(["evaluate", str(p.root), str(ck), "--split", "nonesuch"]) == 2
    assert capsys.readouterr().err.startswith("segstudio: Unknown split")


def test_class_balanced_sampling_draws_rare_classes_as_often_as_common_ones():
    from segstudio.inference.preprocess import Normalisation
    from segstudio.training.augment import AugmentConfig, PatchSampler
    from segstudio.training.data import Sample, _centres

    rng = np.random.default_rng(0)
    masks = [np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8)]
    masks[1][30:33, 30:33] = 1                      # 9 pixels of a rare class in one image
    samples = [Sample(str(i), np.zeros((64, 64, 1), np.uint8), m, _centres(m, rng))
               for i, m in enumerate(masks)]
    norm = Normalisation((0.0,), (1.0,))

    def rare_share(balance):
        aug = AugmentConfig(flips=False, rotate90=False, scale=(1, 1), brightness=0, contrast=0,
                            class_balance=balance)
        sampler = PatchSampler(samples, norm, 8, aug, seed=1)
        # A patch of 8 around a jittered centre holds the rare class iff it was drawn near it.
        return np.mean([(sampler.one()[1] == 1).any() for _ in range(400)])

    assert rare_share(0.0) < 0.1
    assert 0.4 < rare_share(1.0) <= 0.75
