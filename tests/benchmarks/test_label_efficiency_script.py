"""benchmarks/label_efficiency.py: the simulated annotator is honest (on synthetic scenes), the
actions-to-target interpolation, and the script end to end in its --smoke size (one small image
per data set, two tiny rounds, latency on small images), checking the table and the JSON."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import label_efficiency as le  # noqa: E402

SPEC = le.Spec("synthetic", ["background", "object"], brush=3, big_brush=9, stroke=24,
               superpixel=8, window=32, iterations=1, patch=64, batch=1)


def _scene(flat: bool = False) -> le.Scene:
    """A 64 x 64 grey image: background 130 with a 24 x 24 object of 100 (invisible when
    ``flat``), small noise; the ground truth is the object square."""
    rng = np.random.default_rng(0)
    gt = np.zeros((64, 64), np.uint8)
    gt[20:44, 20:44] = 1
    img = np.full((64, 64), 130.0)
    if not flat:
        img[gt == 1] = 100.0
    img = np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)
    return le.Scene("s", img, gt)


def _object_region(scene: le.Scene) -> int:
    return scene.region_cls.index(1)


def test_brush_labels_only_pixels_of_the_regions_class() -> None:
    scene = _scene()
    scene.gt[30, 20:44] = 0          # a background line through the object: never painted 1
    scene = le.Scene("s", scene.image, scene.gt)
    for rid in range(len(scene.region_cls)):
        o = le.brush_action(scene, rid, SPEC)
        assert o is not None
        new = o.mask != scene.mask
        assert new.any() and o.wrong == 0
        assert np.all(o.mask[new] == scene.region_cls[rid])
        assert np.all(scene.gt[new] == scene.region_cls[rid])
        assert new.sum() <= SPEC.stroke * SPEC.brush * 2   # one stroke, not a fill


def test_brush_never_overwrites_labels() -> None:
    scene = _scene()
    scene.mask[:, :] = 0
    scene.mask[20:44, 20:44] = le.VOID
    o = le.brush_action(scene, _object_region(scene), SPEC)
    assert o is not None and np.all(o.mask[scene.mask != le.VOID] == 0)


def test_wand_takes_the_largest_tolerance_that_stays_95_percent_right() -> None:
    scene = _scene()
    o = le.wand_action(scene, _object_region(scene), SPEC)
    assert o is not None
    tol = int(o.tool.split()[1])
    # 64 and 48 reach the background (30 grey levels away); the chosen one does not
    assert tol < 30 and tol == max(t for t in le.TOLERANCES if t < 30)
    assert o.wrong <= (1 - le.WAND_PURITY) * (o.correct + o.wrong)
    assert o.correct >= 0.9 * 24 * 24


def test_wand_is_refused_when_no_tolerance_is_95_percent_right() -> None:
    scene = _scene(flat=True)        # the object is not in the image: every region leaks
    assert le.wand_action(scene, _object_region(scene), SPEC) is None
    best = le.best_tool(scene, _object_region(scene), SPEC, ("brush", "wand", "superpixels"))
    assert best is not None and best.wrong <= le.MAX_WRONG * (best.correct + best.wrong)


def test_superpixel_drag_labels_only_pure_superpixels() -> None:
    scene = _scene()
    o = le.superpixel_action(scene, _object_region(scene), SPEC)
    assert o is not None
    lab = scene.superpixels.labels
    for sp in np.unique(lab[o.mask != scene.mask]):
        inside = lab == sp
        assert (scene.gt[inside] == 1).mean() >= le.SUPERPIXEL_PURITY


def test_model_brush_accepts_only_where_the_prediction_is_right() -> None:
    scene = _scene()
    pred = scene.gt.copy()
    pred[20:32, 20:32] = 0           # the model misses a quarter of the object
    heavy = pred != scene.gt
    o = le.model_brush_action(scene, SPEC, pred, le.Rect(0, 0, 64, 64), heavy)
    assert o is not None and o.wrong == 0
    assert not (o.mask[heavy] != le.VOID).any()


def test_actions_to_reach_interpolates_log_linearly() -> None:
    curve = [(5, 0.2), (10, 0.4), (20, 0.8)]
    n, kind = le.actions_to_reach(curve, 0.6)
    assert kind == "exact" and math.isclose(n, math.sqrt(10 * 20))
    assert le.actions_to_reach(curve, 0.1) == (5.0, "at_most")
    assert le.actions_to_reach(curve, 0.9) == (20.0, "more_than")
    assert le.ratio_of((10.0, "exact"), (40.0, "exact")) == (0.25, "exact")
    assert le.ratio_of((10.0, "exact"), (160.0, "more_than")) == (10 / 160, "upper")
    assert le.ratio_of((160.0, "more_than"), (40.0, "exact")) == (4.0, "lower")
    assert le.ratio_of((160.0, "more_than"), (160.0, "more_than")) == (None, None)


def test_smoke_run_reports_the_json(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "benchmarks/label_efficiency.py", "--smoke",
                        "--work", str(tmp_path), "--threads", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    last = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("actions_ratio_isbi", "actions_ratio_camvid", "actions_ratio_dsb",
                "wand_ms_8192", "slic_s_2048", "grabcut_ms_512"):
        assert key in last, key
    assert last["mode"] == "smoke"
    for key in ("isbi", "camvid", "dsb"):
        if last[f"full_miou_{key}"] is None:      # the data set is not on this machine
            continue
        assert 0 <= last[f"full_miou_{key}"] <= 1
        assert set(last[f"curves_{key}"]) == {"a", "b", "c"}
        assert isinstance(last[f"c_reached_{key}"], bool)
        assert f"| {key} |" in r.stdout
    if (le.DATA / "camvid11").is_dir():
        assert last["wand_ms_8192"] > 0 and last["slic_s_2048"] > 0
    if (le.DATA / "dsb2018_nuclei").is_dir():
        assert last["grabcut_ms_512"] > 0


@pytest.mark.parametrize("size", [40, 200])
def test_tiling_a_real_image_keeps_its_values(size: int) -> None:
    img = (np.arange(30 * 20) % 251).astype(np.uint8).reshape(30, 20)
    big = le._tile_to(img, size)
    assert big.shape == (size, size)
    assert np.array_equal(big[:30, :20], img[:min(30, size), :min(20, size)])
