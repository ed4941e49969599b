"""Losses against independent oracles, ignore-255 handling, stability and the factory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segstudio.errors import ConfigError, MaskError
from segstudio.models import DeepOutputs
from segstudio.training.losses import (
    LOSS_NAMES,
    BinaryFocal,
    Dice,
    Focal,
    LossConfig,
    build_loss,
    cgm_loss,
    model_loss,
    presence_targets,
)


def make_batch(c: int, seed: int, n=2, h=13, w=17, frac_unlabelled=0.3, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(n, c, h, w, generator=g, dtype=torch.float64)).float()
    t = torch.randint(0, max(c, 2), (n, h, w), generator=g)
    t[torch.rand(n, h, w, generator=g) < frac_unlabelled] = 255
    return logits.requires_grad_(), t


# ------------------------------------------------------------------ oracles

@pytest.mark.parametrize("seed", range(5))
def test_weighted_bce_matches_torch_bce_with_pos_weight(seed):
    z, t = make_batch(1, seed)
    counts = np.array([700, 100])
    ours = build_loss("weighted_ce", 1, class_counts=counts)(z, t)
    keep = t != 255
    oracle = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(7.0))(
        z[:, 0][keep], t[keep].float())
    torch.testing.assert_close(ours, oracle)
    g_ours, = torch.autograd.grad(ours, z)
    g_oracle, = torch.autograd.grad(oracle, z)
    torch.testing.assert_close(g_ours, g_oracle)


def focal_oracle(z: np.ndarray, y: np.ndarray, gamma: float, alpha: float | None) -> float:
    """float64 transcription of the seed's formula, mean over the given pixels."""
    z = z.astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-z))
    a = 1.0 if alpha is None else alpha
    b = 1.0 if alpha is None else 1.0 - alpha
    loss = -a * (1 - p) ** gamma * y * np.log(p) - b * p ** gamma * (1 - y) * np.log(1 - p)
    return float(loss.mean())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gamma,alpha", [(2.0, 0.25), (0.0, None), (1.5, 0.8), (3.0, None)])
def test_binary_focal_matches_float64_transcription(seed, gamma, alpha):
    z, t = make_batch(1, seed)
    ours = BinaryFocal(gamma, alpha)(z, t)
    keep = (t != 255).numpy()
    oracle = focal_oracle(z.detach()[:, 0].numpy()[keep], t.numpy()[keep], gamma, alpha)
    assert ours.item() == pytest.approx(oracle, rel=1e-5, abs=1e-7)


def test_focal_gamma_zero_alpha_none_is_bce():
    z, t = make_batch(1, 3)
    torch.testing.assert_close(BinaryFocal(0.0, None)(z, t), build_loss("ce", 1)(z, t))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("gamma,alpha", [(2.0, None), (1.0, [0.2, 0.5, 0.3, 1.0])])
def test_multiclass_focal_matches_float64_transcription(seed, gamma, alpha):
    z, t = make_batch(4, seed)
    ours = Focal(4, gamma, alpha)(z, t)
    zz = z.detach().double().numpy()
    p = np.exp(zz - zz.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    tt = t.numpy()
    keep = tt != 255
    pt = np.take_along_axis(p, np.where(keep, tt, 0)[:, None], 1)[:, 0][keep]
    a = np.ones(4) if alpha is None else np.asarray(alpha)
    oracle = np.mean(-a[tt[keep]] * (1 - pt) ** gamma * np.log(pt))
    assert ours.item() == pytest.approx(oracle, rel=1e-5)


def test_two_class_softmax_focal_equals_binary_focal_on_logit_difference():
    z, t = make_batch(2, 7)
    binary = BinaryFocal(2.0, 0.3)(z[:, 1:] - z[:, :1], t)
    multi = Focal(2, 2.0, [0.7, 0.3])(z, t)
    torch.testing.assert_close(binary, multi)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch_with_ignore_index(seed, weighted):
    z, t = make_batch(5, seed)
    w = torch.tensor([0.5, 1.0, 2.0, 0.1, 3.0])
    cfg = LossConfig(name="weighted_ce", class_weights=w.tolist()) if weighted else "ce"
    ours = build_loss(cfg, 5)(z, t)
    oracle = F.cross_entropy(z, t, weight=w if weighted else None, ignore_index=255)
    torch.testing.assert_close(ours, oracle)
    torch.testing.assert_close(torch.autograd.grad(ours, z)[0], torch.autograd.grad(oracle, z)[0])


def test_weighted_ce_uses_training_set_counts():
    z, t = make_batch(3, 1)
    counts = np.array([1000, 100, 10])
    for mode in ("inverse", "median"):
        from segstudio.training.class_stats import class_weights
        w = torch.tensor(class_weights(counts, mode), dtype=torch.float32)
        ours = build_loss(LossConfig("weighted_ce", class_weight_mode=mode), 3, counts)(z, t)
        torch.testing.assert_close(ours, F.cross_entropy(z, t, weight=w, ignore_index=255))


def dice_oracle(z: np.ndarray, t: np.ndarray, binary: bool, smooth=1.0) -> float:
    z = z.astype(np.float64)
    keep = t != 255
    if binary:
        p = 1 / (1 + np.exp(-z[:, 0]))
        y = (t == 1)
        i = (p * y)[keep].sum()
        return 1 - (2 * i + smooth) / (p[keep].sum() + y[keep].sum() + smooth)
    e = np.exp(z - z.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    dices = []
    for k in range(z.shape[1]):
        pk, yk = p[:, k][keep], (t == k)[keep]
        dices.append((2 * (pk * yk).sum() + smooth) / (pk.sum() + yk.sum() + smooth))
    return 1 - float(np.mean(dices))


@pytest.mark.parametrize("c", [1, 3])
def test_dice_matches_numpy(c):
    z, t = make_batch(c, 2)
    ours = Dice(c)(z, t)
    assert ours.item() == pytest.approx(dice_oracle(z.detach().numpy(), t.numpy(), c == 1),
                                        rel=1e-5)


def test_dice_of_perfect_prediction_is_near_zero():
    t = torch.randint(0, 3, (1, 32, 32))
    z = 50.0 * F.one_hot(t, 3).permute(0, 3, 1, 2).float()
    assert Dice(3)(z, t).item() < 1e-3


def test_combined_losses_are_sums():
    z, t = make_batch(3, 4)
    torch.testing.assert_close(
        build_loss(LossConfig("focal+dice", dice_weight=0.5), 3)(z, t),
        Focal(3)(z, t) + 0.5 * Dice(3)(z, t))
    torch.testing.assert_close(build_loss("ce+dice", 3)(z, t),
                               F.cross_entropy(z, t, ignore_index=255) + Dice(3)(z, t))


# ------------------------------------------------------------------ ignore 255 / edge cases

@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("c", [1, 4])
def test_all_unlabelled_batch_gives_zero_loss_and_zero_grad(name, c):
    counts = np.array([10, 5]) if c == 1 else np.array([10, 5, 3, 2])
    cfg = LossConfig(name, alpha="auto")
    z = torch.randn(2, c, 9, 11, requires_grad=True)
    t = torch.full((2, 9, 11), 255)
    loss = build_loss(cfg, c, counts)(z, t)
    loss.backward()
    assert loss.item() == 0.0
    assert z.grad is not None and torch.equal(z.grad, torch.zeros_like(z))


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("c", [1, 3])
def test_unlabelled_pixels_do_not_change_the_loss(name, c):
    counts = np.array([10, 5]) if c == 1 else np.array([10, 5, 3])
    fn = build_loss(LossConfig(name, alpha="auto"), c, counts)
    z, t = make_batch(c, 9, frac_unlabelled=0.0)
    z2 = torch.cat([z, 100 * torch.randn_like(z)], 3)  # extra unlabelled columns
    t2 = torch.cat([t, torch.full_like(t, 255)], 2)
    torch.testing.assert_close(fn(z, t), fn(z2, t2))


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("c", [1, 3])
def test_extreme_logits_stay_finite(name, c):
    counts = np.array([10, 5]) if c == 1 else np.array([10, 5, 3])
    fn = build_loss(LossConfig(name, alpha="auto", gamma=0.5), c, counts)
    t = torch.randint(0, max(c, 2), (2, 8, 8))
    z = (1e4 * torch.randn(2, c, 8, 8)).requires_grad_()
    loss = fn(z, t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_confidently_wrong_bce_is_large_not_inf():
    z = torch.full((1, 1, 1, 1), -200.0)
    t = torch.ones(1, 1, 1, dtype=torch.long)
    assert build_loss("ce", 1)(z, t).item() == pytest.approx(200.0)


def test_out_of_range_target_is_mask_error():
    with pytest.raises(MaskError):
        build_loss("ce", 3)(torch.randn(1, 3, 4, 4), torch.full((1, 4, 4), 7))


# ------------------------------------------------------------------ factory

def test_factory_errors():
    with pytest.raises(ConfigError, match="Unknown loss"):
        build_loss("hinge", 2)
    with pytest.raises(ConfigError, match="class counts"):
        build_loss("weighted_ce", 3)
    with pytest.raises(ConfigError, match="one value per class"):
        build_loss(LossConfig("focal", alpha=0.25), 3)
    with pytest.raises(ConfigError):
        build_loss({"name": "ce", "bogus": 1}, 2)
    with pytest.raises(ConfigError):
        build_loss("weighted_ce", 1, class_counts=np.array([5, 0]))  # no positives


def test_auto_alpha_balances_classes():
    fn = build_loss(LossConfig("focal", alpha="auto"), 1, np.array([900, 100]))
    assert fn.alpha == pytest.approx(0.9)
    multi = build_loss(LossConfig("focal", alpha="auto"), 3, np.array([100, 100, 50]))
    assert multi.alpha.tolist() == pytest.approx([0.25, 0.25, 0.5])


# ------------------------------------------------------------------ CGM targets and loss

def test_presence_targets_respect_sparse_labels():
    t = torch.full((3, 4, 4), 255)
    t[0] = 0
    t[0, 0, 0] = 2          # fully labelled: 0, 2 present; 1 absent
    t[1, 0, 0] = 1          # sparse: 1 present, 0 and 2 unknown
    # image 2: nothing labelled: all unknown
    y, known = presence_targets(t, 3)
    assert y.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert known.tolist() == [[True, True, True], [False, True, False], [False, False, False]]
    yb, kb = presence_targets(t, 1)  # binary: the presence of class 1
    assert yb.tolist() == [[0], [1], [0]] and kb.tolist() == [[True], [True], [False]]


def test_cgm_loss_only_counts_known_entries():
    t = torch.full((2, 4, 4), 255)
    t[0, 0, 0] = 1
    z = torch.tensor([[5.0, -1.0, 9.0], [3.0, 3.0, 3.0]], requires_grad=True)
    loss = cgm_loss(z, t, 3)
    torch.testing.assert_close(loss, F.softplus(torch.tensor(1.0)))  # only (0, 1) is known
    loss.backward()
    assert torch.count_nonzero(z.grad) == 1
    empty = cgm_loss(z, torch.full((2, 4, 4), 255), 3)
    assert empty.item() == 0.0


def test_model_loss_adds_weighted_cgm_term():
    class Stub(torch.nn.Module):
        num_classes, ds_weights, cgm_weight = 3, None, 0.5

    z, t = make_batch(3, 0, frac_unlabelled=0.0)
    cls = torch.randn(2, 3)
    fn = build_loss("ce", 3)
    got = model_loss(Stub(), DeepOutputs([z, 2 * z], cls), t, fn)
    want = (fn(z, t) + fn(2 * z, t)) / 2 + 0.5 * cgm_loss(cls, t, 3)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(model_loss(Stub(), z, t, fn), fn(z, t))
