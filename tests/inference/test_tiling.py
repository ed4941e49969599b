import numpy as np
import pytest
import torch

from segstudio.inference.preprocess import Normalisation
from segstudio.inference.tiling import predict_tiled, to_probabilities
from segstudio.models import create_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = create_model("unet", in_channels=1, num_classes=3, base_width=4, levels=3, norm="batch")
    return m.eval()


@torch.no_grad()
def test_single_tile_equals_plain_forward(model):
    x = np.random.default_rng(0).normal(size=(1, 90, 70)).astype(np.float32)
    pred = predict_tiled(model, x, tile=128, keep_probabilities=True)
    ref = to_probabilities(model(torch.from_numpy(x[None])))[0].numpy()
    assert np.allclose(pred.probabilities, ref, atol=1e-6)
    assert np.array_equal(pred.labels, ref.argmax(0))


@torch.no_grad()
def test_tiled_matches_untiled_within_blending_tolerance(model):
    rng = np.random.default_rng(1)
    img = (rng.random((300, 256)) * 255).astype(np.uint8)[:, :, None]
    norm = Normalisation((128.0,), (64.0,))
    full = predict_tiled(model, img, norm.apply, tile=1024, keep_probabilities=True)
    tiled = predict_tiled(model, img, norm.apply, tile=128, overlap=64, keep_probabilities=True)
    diff = np.abs(full.probabilities - tiled.probabilities)
    # Convolutions see padding at tile borders; blending keeps the error small and local.
    assert diff.mean() < 0.01 and np.quantile(diff, 0.99) < 0.1
    assert (full.labels == tiled.labels).mean() > 0.97
    assert np.allclose(tiled.probabilities.sum(0), 1, atol=1e-5)


def test_streaming_band_equals_full_accumulation(model):
    """Labels written band by band equal the argmax of the kept probability volume."""
    img = np.random.default_rng(2).normal(size=(1, 211, 180)).astype(np.float32)
    p = predict_tiled(model, img, tile=64, overlap=16, keep_probabilities=True)
    assert np.array_equal(p.labels, p.probabilities.argmax(0))
    assert np.array_equal(p.confidence,
                          np.clip(p.probabilities.max(0) * 255 + 0.5, 0, 255).astype(np.uint8))


def test_progress_and_cancel(model):
    img = np.zeros((1, 200, 200), np.float32)
    seen = []
    predict_tiled(model, img, tile=64, overlap=16, progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(InterruptedError):
        predict_tiled(model, img, tile=64, overlap=16, progress=lambda f: False)


@torch.no_grad()
def test_tta_is_the_mean_over_the_eight_flips_and_rotations(model):
    """Oracle: the plain model on each transformed image, transformed back, averaged."""
    from segstudio.inference.tiling import predict_probabilities

    x = np.random.default_rng(1).normal(size=(1, 64, 64)).astype(np.float32)
    got = predict_probabilities(model, x, tile=128, tta=True)
    views = []
    for k in range(4):
        for flip in (False, True):
            t = np.rot90(x, k, (1, 2))
            t = t[:, :, ::-1] if flip else t
            p = predict_probabilities(model, np.ascontiguousarray(t), tile=128)
            p = p[:, :, ::-1] if flip else p
            views.append(np.rot90(p, -k, (1, 2)))
    want = np.mean(views, 0)
    np.testing.assert_allclose(got, want, atol=1e-5)
    plain = predict_probabilities(model, x, tile=128)
    assert np.abs(plain - want).max() > 1e-3   # the views differ: the test can fail


@torch.no_grad()
def test_predict_heads_equals_one_pass_per_depth():
    """One tiled pass of U-Net++ gives each depth's output as the pruned sub-network does."""
    from segstudio.inference.tiling import predict_heads, predict_probabilities

    torch.manual_seed(0)
    m = create_model("unetpp", in_channels=1, num_classes=3, base_width=4, levels=4).eval()
    x = np.random.default_rng(2).normal(size=(1, 150, 120)).astype(np.float32)
    default, per_depth = predict_heads(m, x, tile=96, overlap=16)
    assert sorted(per_depth) == [1, 2, 3]
    np.testing.assert_allclose(default, predict_probabilities(m, x, tile=96, overlap=16),
                               atol=1e-5)
    for d, p in per_depth.items():
        np.testing.assert_allclose(p, predict_probabilities(m, x, tile=96, overlap=16, depth=d),
                                   atol=1e-5)
    assert np.abs(per_depth[1] - per_depth[3]).max() > 1e-3
