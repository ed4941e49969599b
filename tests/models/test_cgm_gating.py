"""apply_cgm: classes judged absent must get probability ~0 (not 0.5), present ones unchanged."""

from __future__ import annotations

import torch

from segstudio.models import apply_cgm


def test_hard_binary_absent_gives_zero_probability():
    z = torch.randn(2, 1, 5, 5) * 3
    cls = torch.tensor([[-2.0], [2.0]])  # image 0: absent, image 1: present
    out = apply_cgm(z, cls, "hard")
    assert torch.sigmoid(out[0]).max() < 1e-6
    torch.testing.assert_close(out[1], z[1])


def test_hard_multiclass_absent_class_never_wins():
    z = torch.randn(1, 3, 6, 6)
    z[:, 1] += 10  # class 1 would win everywhere
    out = apply_cgm(z, torch.tensor([[1.0, -0.1, 1.0]]), "hard")
    assert (out.argmax(1) != 1).all()
    assert out.softmax(1)[:, 1].max() < 1e-6
    torch.testing.assert_close(out[:, [0, 2]] - out[:, [0, 2]].logsumexp(1, keepdim=True),
                               z[:, [0, 2]] - z[:, [0, 2]].logsumexp(1, keepdim=True))


def test_soft_binary_multiplies_probabilities():
    z = torch.randn(2, 1, 4, 4) * 4
    cls = torch.tensor([[-1.5], [0.7]])
    out = apply_cgm(z, cls, "soft")
    want = torch.sigmoid(z) * torch.sigmoid(cls)[:, :, None, None]
    torch.testing.assert_close(torch.sigmoid(out), want, rtol=1e-5, atol=1e-6)


def test_soft_multiclass_reweights_probabilities():
    z = torch.randn(2, 3, 4, 4)
    cls = torch.randn(2, 3)
    out = apply_cgm(z, cls, "soft")
    w = torch.softmax(z, 1) * torch.sigmoid(cls)[:, :, None, None]
    torch.testing.assert_close(out.softmax(1), w / w.sum(1, keepdim=True))


def test_off_is_identity():
    z = torch.randn(1, 2, 3, 3)
    assert torch.equal(apply_cgm(z, torch.tensor([[-9.0, -9.0]]), "off"), z)


def test_soft_binary_is_finite_at_extremes():
    z = torch.tensor([-80.0, -5.0, 0.0, 5.0, 80.0]).reshape(1, 1, 1, 5).repeat(3, 1, 1, 1)
    cls = torch.tensor([[-80.0], [0.0], [80.0]])
    out = apply_cgm(z, cls, "soft")
    assert torch.isfinite(out).all()
    want = torch.sigmoid(z.double()) * torch.sigmoid(cls.double())[:, :, None, None]
    torch.testing.assert_close(torch.sigmoid(out.double()), want, rtol=1e-5, atol=1e-12)
