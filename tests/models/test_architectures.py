"""Shapes, configuration, gradients and output conventions of all three architectures."""

from __future__ import annotations

import pytest
import torch

from segstudio.errors import ConfigError
from segstudio.models import DeepOutputs, create_model
from segstudio.training.losses import build_loss, model_loss

from .conftest import ARCHS, tiny

SIZES = [(37, 45), (16, 16), (5, 7), (33, 64)]


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("in_ch,num_classes", [(1, 1), (3, 4), (4, 2)])
def test_output_shape_for_any_size(name, size, in_ch, num_classes):
    m = tiny(name, in_channels=in_ch, num_classes=num_classes).eval()
    x = torch.randn(2, in_ch, *size)
    with torch.no_grad():
        out = m(x)
        deep = m(x, return_all=True)
    c = 1 if num_classes == 1 else num_classes
    assert out.shape == (2, c, *size)
    assert torch.isfinite(out).all()
    assert isinstance(deep, DeepOutputs)
    assert all(h.shape == (2, c, *size) for h in deep.heads)


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("norm", ["batch", "group", "instance", "none"])
def test_every_norm_trains_a_step(name, norm):
    m = tiny(name, norm=norm, dropout=0.2).train()
    x, t = torch.randn(2, 3, 21, 19), torch.randint(0, 3, (2, 21, 19))
    loss = model_loss(m, m(x, return_all=True), t, build_loss("ce", 3))
    loss.backward()
    assert torch.isfinite(loss)


def test_norm_layers_are_what_was_asked():
    for norm, cls in [("batch", torch.nn.BatchNorm2d), ("group", torch.nn.GroupNorm),
                      ("instance", torch.nn.InstanceNorm2d)]:
        m = tiny("unet", norm=norm)
        assert any(isinstance(x, cls) for x in m.modules())
    m = tiny("unet", norm="none")
    assert not any(isinstance(x, (torch.nn.BatchNorm2d, torch.nn.GroupNorm,
                                  torch.nn.InstanceNorm2d)) for x in m.modules())


def test_padding_does_not_leak_into_output_alignment():
    # A model that is translation-equivariant far from the border: the output of an odd-sized
    # crop must match the same region of the output of a bigger image (pad/crop at bottom-right).
    m = tiny("unet", norm="none", filters=[4, 8]).eval()
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        big = m(x)
        small = m(x[..., :37, :37])
    assert torch.allclose(big[..., :24, :24], small[..., :24, :24], atol=1e-5)


@pytest.mark.parametrize("name", ARCHS)
def test_gradients_reach_every_parameter(name):
    cfg = dict(cgm=True) if name == "unet3p" else {}
    m = tiny(name, **cfg).train()
    x, t = torch.randn(2, 3, 32, 32), torch.randint(0, 3, (2, 32, 32))
    model_loss(m, m(x, return_all=True), t, build_loss("focal+dice", 3)).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_unet3p_cgm_is_trained_through_model_loss():
    m = tiny("unet3p", cgm=True, cgm_dropout=0.0)
    x, t = torch.randn(2, 3, 32, 32), torch.randint(0, 3, (2, 32, 32))  # fully labelled
    out = m(x, return_all=True)
    assert out.cls_logits.shape == (2, 3)
    model_loss(m, out, t, build_loss("ce", 3)).backward()
    assert m.cgm[1].weight.grad.abs().sum() > 0
    m.zero_grad()
    m.cgm_weight = 0.0  # without its loss term the classifier would get nothing
    model_loss(m, m(x, return_all=True), t, build_loss("ce", 3)).backward()
    assert m.cgm[1].weight.grad is None or m.cgm[1].weight.grad.abs().sum() == 0


def test_unet3p_heads_and_cgm_gating_at_inference():
    m = tiny("unet3p", num_classes=1, cgm=True).eval()
    x = torch.randn(1, 3, 24, 24)
    with torch.no_grad():
        deep = m(x, return_all=True)
        out = m(x)
    assert len(deep.heads) == 5 and deep.cls_logits.shape == (1, 1)
    absent = bool(deep.cls_logits[0, 0] < 0)
    if absent:  # class judged absent: probability ~0 everywhere (not 0.5)
        assert torch.sigmoid(out).max() < 1e-3
    else:
        assert torch.allclose(out, deep.heads[-1], atol=1e-6)
    m.set_cgm_mode("off")
    assert m.config["cgm_mode"] == "off"
    with torch.no_grad():
        assert torch.allclose(m(x), deep.heads[-1], atol=1e-6)
    with pytest.raises(ConfigError):
        m.set_cgm_mode("maybe")


def test_unet3p_without_deep_supervision_has_one_head():
    m = tiny("unet3p", deep_supervision=False)
    assert m.num_heads == 1 and len(m.heads) == 1
    assert len(m(torch.randn(1, 3, 16, 16), return_all=True).heads) == 1


@pytest.mark.parametrize("bad", [
    dict(norm="layer"), dict(dropout=1.0), dict(filters=[8]), dict(filters=[8, 0]),
    dict(num_classes=0), dict(in_channels=0), dict(head_kernel=5), dict(levels=1),
    dict(upsampling="nearest"), dict(nonsense=3),
])
def test_invalid_options_raise_config_error(bad):
    with pytest.raises(ConfigError):
        create_model("unet", **bad)


def test_wrong_input_channels_is_a_config_error():
    m = tiny("unet", in_channels=1)
    with pytest.raises(ConfigError, match="1 input channel"):
        m(torch.randn(1, 3, 16, 16))


def test_upsampling_modes_differ_in_layers():
    t = tiny("unetpp", upsampling="transpose")
    b = tiny("unetpp", upsampling="bilinear")
    assert any(isinstance(x, torch.nn.ConvTranspose2d) for x in t.modules())
    assert not any(isinstance(x, torch.nn.ConvTranspose2d) for x in b.modules())
