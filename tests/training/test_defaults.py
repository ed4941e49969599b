"""Automatic training settings: resolved from the data when a run starts."""

import json
from pathlib import Path

import pytest

from segstudio.project.demo import generate_demo
from segstudio.training.config import TrainConfig
from segstudio.training.defaults import DataShape, auto_batch, auto_patch, resolve
from segstudio.training.events import RunFinished, RunStarted
from segstudio.training.loop import train


@pytest.mark.parametrize("h,w,patch", [(512, 512, 256), (180, 240, 192), (360, 480, 256),
                                       (96, 96, 96), (40, 3000, 64), (8192, 8192, 256)])
def test_patch_fits_the_typical_image(h, w, patch):
    assert auto_patch(DataShape((h,), (w,), 3)) == patch


def test_batch_keeps_pixels_per_step():
    assert auto_batch(192) == 8 and auto_batch(256) == 4
    assert auto_batch(64) == 32 and auto_batch(2048) == 2


def test_resolve_fills_only_auto_fields():
    shape = DataShape((512,) * 3, (512,) * 3, 2)
    cfg, notes = resolve(TrainConfig(), shape)
    assert (cfg.patch, cfg.loss["name"]) == (256, "ce") and cfg.batch == auto_batch(256)
    assert len(notes) == 4 and cfg.augment.rotate90 is True          # grey: rotations on
    colour = resolve(TrainConfig(), DataShape((512,), (512,), 2, channels=3))[0]
    assert colour.augment.rotate90 is False
    multi = resolve(TrainConfig(), DataShape((100,), (100,), 5))[0]
    assert multi.loss == {"name": "weighted_ce", "class_weight_mode": "sqrt"}
    assert multi.patch == 96
    assert resolve(TrainConfig(), DataShape((180,), (240,), 11))[0].batch == 8
    fixed = TrainConfig(patch=64, batch=2, loss={"name": "focal", "gamma": 1.0},
                        augment={"rotate90": True})
    assert resolve(fixed, shape) == (fixed, [])


def test_run_records_the_resolved_settings(tmp_path):
    demo = generate_demo(tmp_path / "d", n_images=3, size=96, labelled=3)
    cfg = TrainConfig(model={"base_width": 4, "levels": 2}, epochs=1, iterations_per_epoch=1)
    events = list(train(demo, cfg))
    assert isinstance(events[-1], RunFinished) and events[-1].reason == "completed"
    start = events[0]
    assert isinstance(start, RunStarted)
    assert any(n.startswith("Automatic settings: patch 96") for n in start.notes)
    saved = json.loads((Path(start.run_dir) / "config.json").read_text())["train_config"]
    assert saved["patch"] == 96 and saved["batch"] == auto_batch(96)
    assert saved["loss"]["name"] == "weighted_ce"        # the demo has 3 classes


def test_unknown_augmentation_option_is_a_clear_error(tmp_path, capsys):
    from segstudio.cli import main
    from segstudio.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown augmentation option.*bogus"):
        TrainConfig(augment={"bogus": 1})
    demo = generate_demo(tmp_path / "d", n_images=2, size=64, labelled=2)
    assert main(["train", str(demo.root), "--augment", '{"bogus": 1}']) == 2
    assert "Unknown augmentation option(s): bogus" in capsys.readouterr().err
    assert main(["train", str(demo.root), "--augment", "[1]"]) == 2
    assert TrainConfig(augment={"elastic": 4}).augment.elastic == 4   # the rest stay default


def test_grey_images_stored_as_rgb_rotate_and_instance_projects_take_smaller_patches():
    import numpy as np

    from segstudio.training.data import colour_fraction

    grey_rgb = np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8, 1), 3, axis=2)
    colour = grey_rgb.copy()
    colour[0, 0, 1] = 200
    assert colour_fraction([grey_rgb, grey_rgb, colour]) == 1 / 3
    assert colour_fraction([np.zeros((4, 4), np.uint8)]) == 0.0
    shape = DataShape((256,), (320,), 3, channels=3, colour_fraction=1 / 3, instances=True)
    cfg, notes = resolve(TrainConfig(), shape)
    assert cfg.augment.rotate90 is True and cfg.patch == 128 and cfg.batch == 18
    semantic = resolve(TrainConfig(), DataShape((256,), (320,), 2, channels=3,
                                                colour_fraction=0.9))[0]
    assert semantic.patch == 256 and semantic.augment.rotate90 is False


# ------------------------------------------------------------------ GPU-ready defaults

def test_gpu_batches_and_patches_are_larger_and_fit_the_free_memory():
    from segstudio.training.defaults import (
        BYTES_PER_PIXEL_W16,
        CPU,
        GPU_BATCH_MAX,
        GPU_BATCH_PIXELS,
        MEMORY_SHARE,
        DeviceInfo,
        auto_batch,
        auto_patch,
        resolve,
    )

    big = DataShape((2048,) * 3, (2048,) * 3, 3, 3)
    h100 = DeviceInfo("cuda", "H100", 80 << 30)
    small = DeviceInfo("cuda", "laptop GPU", 2 << 30)
    assert auto_patch(big, CPU) == 256 and auto_patch(big, h100) == 512
    # Plenty of memory: the pixel target decides; little memory: the memory does.
    assert auto_batch(256, h100) == GPU_BATCH_PIXELS // (256 * 256) == 32
    fit = int(MEMORY_SHARE * (2 << 30) / BYTES_PER_PIXEL_W16) // (256 * 256)
    assert auto_batch(256, small) == max(2, fit) < 32
    assert auto_batch(256, small, base_width=64) < auto_batch(256, small)
    assert auto_batch(64, h100) == GPU_BATCH_MAX                  # never a huge batch count
    assert auto_batch(192, CPU) == 8                              # the CPU rule is unchanged
    assert auto_batch(256, DeviceInfo("mps")) == 32               # memory unknown: the target
    cfg, notes = resolve(TrainConfig(), big, h100)
    assert (cfg.patch, cfg.batch) == (512, 8)
    assert any("a GPU, 80 GiB free" in n for n in notes)
    assert resolve(TrainConfig(), big)[0].patch == 256            # CPU unchanged
