"""U-Net++ deep supervision and pruning: depth L computes only what head L needs."""

from __future__ import annotations

import pytest
import torch

from segstudio.errors import ConfigError
from segstudio.models import average_heads, count_flops, count_parameters, trace_layers
from segstudio.training.losses import build_loss, deep_supervision_loss, model_loss

from .conftest import tiny

DEPTHS = [1, 2, 3, 4]


@pytest.fixture
def model():
    return tiny("unetpp", num_classes=2, dropout=0.0).eval()


@pytest.mark.parametrize("depth", DEPTHS)
def test_pruned_forward_equals_head_of_full_forward(model, depth):
    x = torch.randn(2, 3, 37, 45)
    with torch.no_grad():
        heads = model(x, return_all=True).heads
        pruned = model(x, depth=depth)
    assert len(heads) == 4
    assert pruned.shape == (2, 2, 37, 45)
    torch.testing.assert_close(pruned, heads[depth - 1], rtol=1e-5, atol=1e-6)
    # heads differ from one another, so the comparison above can fail
    assert not torch.allclose(heads[depth - 1], heads[depth % 4], atol=1e-4)


def test_pruned_forward_equals_head_in_training_mode_too():
    m = tiny("unetpp", num_classes=2).train()  # batch-norm batch statistics
    x = torch.randn(2, 3, 20, 20)
    heads = m(x, return_all=True).heads
    torch.testing.assert_close(m(x, depth=2), heads[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("depth", DEPTHS)
def test_pruned_depth_runs_exactly_its_subnetwork(model, depth):
    calls = trace_layers(model, (1, 3, 32, 32), depth=depth)
    ran = {c.name.split(".")[0] + "." + c.name.split(".")[1] for c in calls}
    expected_nodes = {f"x_{i}_{j}" for j in range(1, depth + 1) for i in range(depth + 1 - j)}
    expected = ({f"encoder.{i}" for i in range(depth + 1)}
                | {f"nodes.{n}" for n in expected_nodes} | {f"ups.{n}" for n in expected_nodes}
                | {f"heads.head_{depth}"})
    assert ran == expected
    # parameters of the modules that ran == count_parameters(depth)
    ran_modules = {c.module for c in calls}
    ran_params = sum(p.numel() for m in ran_modules for p in m.parameters(recurse=False))
    norm_params = sum(p.numel() for name, m in model.named_modules()
                      if isinstance(m, torch.nn.BatchNorm2d)
                      and any(name.startswith(e + ".") for e in expected) for p in m.parameters())
    assert ran_params + norm_params == count_parameters(model, depth)


def test_fewer_flops_and_modules_at_smaller_depth(model):
    flops = [count_flops(model, (1, 3, 64, 64), depth=d) for d in DEPTHS]
    assert all(a < b for a, b in zip(flops, flops[1:], strict=False)), flops
    names = [{c.name for c in trace_layers(model, (1, 3, 64, 64), depth=d)} for d in DEPTHS]
    for small, big in zip(names, names[1:], strict=False):
        assert small - {n for n in small if n.startswith("heads.")} < big
    # accurate mode runs all four heads on the full network: more than depth 4 alone
    assert count_flops(model, (1, 3, 64, 64)) > flops[-1]


def test_pruned_params_grow_with_depth(model):
    counts = [count_parameters(model, d) for d in DEPTHS]
    assert all(a < b for a, b in zip(counts, counts[1:], strict=False))
    heads_extra = sum(p.numel() for n, p in model.named_parameters()
                      if n.startswith("heads.") and not n.startswith("heads.head_4"))
    assert counts[-1] + heads_extra == count_parameters(model)


@pytest.mark.parametrize("depth", DEPTHS)
def test_gradients_reach_exactly_the_pruned_subnetwork(depth):
    m = tiny("unetpp", num_classes=2).train()
    x, t = torch.randn(2, 3, 24, 24), torch.randint(0, 2, (2, 24, 24))
    build_loss("ce", 2)(m(x, depth=depth), t).backward()
    used = {id(p) for sub in m.submodules(depth) for p in sub.parameters()}
    for name, p in m.named_parameters():
        if id(p) in used:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name


def test_accurate_mode_averages_head_probabilities(model):
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        heads = model(x, return_all=True).heads
        out = model(x)
    mean_prob = torch.stack([h.softmax(1) for h in heads]).mean(0)
    torch.testing.assert_close(out.softmax(1), mean_prob, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(average_heads(heads), out)


def test_accurate_mode_binary_is_logit_of_mean_sigmoid():
    m = tiny("unetpp", num_classes=1).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        heads = m(x, return_all=True).heads
        out = m(x)
    mean_prob = torch.stack([torch.sigmoid(h) for h in heads]).mean(0)
    torch.testing.assert_close(torch.sigmoid(out), mean_prob, rtol=1e-5, atol=1e-6)


def test_fast_mode_uses_one_depth(model):
    x = torch.randn(1, 3, 32, 32)
    model.set_inference("fast", 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x, depth=2))
    assert count_flops(model, (1, 3, 32, 32)) == count_flops(model, (1, 3, 32, 32), depth=2)


def test_training_loss_averages_heads_with_configurable_weights():
    x, t = torch.randn(2, 3, 16, 16), torch.randint(0, 2, (2, 16, 16))
    loss_fn = build_loss("ce", 2)
    m = tiny("unetpp", num_classes=2).eval()
    out = m(x, return_all=True)
    per_head = torch.stack([loss_fn(h, t) for h in out.heads])
    torch.testing.assert_close(model_loss(m, out, t, loss_fn), per_head.mean())
    w = [0.1, 0.2, 0.3, 0.4]
    m.ds_weights = w
    torch.testing.assert_close(model_loss(m, out, t, loss_fn),
                               (per_head * torch.tensor(w)).sum() / sum(w))
    torch.testing.assert_close(deep_supervision_loss(out.heads, t, loss_fn, [0, 0, 0, 1]),
                               per_head[-1])


def test_depth_validation():
    m = tiny("unetpp")
    with pytest.raises(ConfigError):
        m(torch.randn(1, 3, 16, 16), depth=5)
    with pytest.raises(ConfigError):
        tiny("unetpp", ds_weights=[1, 2])
    no_ds = tiny("unetpp", deep_supervision=False)
    assert no_ds.num_heads == 1
    with pytest.raises(ConfigError, match="deep_supervision"):
        no_ds(torch.randn(1, 3, 16, 16), depth=2)


def test_levels_are_configurable():
    m = tiny("unetpp", filters=None, base_width=4, levels=3)
    assert m.max_depth == 2 and m.num_heads == 2
    x = torch.randn(1, 3, 13, 11)
    out = m.eval()(x, return_all=True)
    torch.testing.assert_close(m(x, depth=1), out.heads[0])
