"""U-Net++ depth costs: interleaved rounds, the fastest of each, more rounds while noise still
inverts the order; parameters per depth from the model itself."""

from __future__ import annotations

import itertools

from segstudio.inference import prune_costs
from segstudio.models import UNetPlusPlus, count_parameters


def test_noise_that_inverts_depths_is_measured_again(monkeypatch):
    model = UNetPlusPlus(in_channels=1, num_classes=2, base_width=4, levels=4)
    assert list(model.depths) == [1, 2, 3]
    true = {1: 10.0, 2: 20.0, 3: 30.0}
    # Rounds 1-3: another process slows every measurement of L2 down (L2 > L3); round 4 is
    # quiet. Timing each depth once after the other would report L2 slower than L3.
    calls = itertools.count()

    def noisy(_model, _x, depth, _cuda):
        n = next(calls)
        return true[depth] + (25.0 if depth == 2 and n < 9 else 0.0)

    monkeypatch.setattr(prune_costs, "_timed", noisy)
    costs = prune_costs.measure_depth_costs(model, 1, size=32, repeats=3)
    assert {d: ms for d, (_, ms) in costs.items()} == true
    assert next(calls) == 12                         # 4 rounds of 3 depths were needed
    assert [p for p, _ in costs.values()] == [count_parameters(model, depth=d) for d in (1, 2, 3)]


def test_real_timing_is_increasing_with_depth_on_a_tiny_model():
    model = UNetPlusPlus(in_channels=1, num_classes=2, base_width=4, levels=4)
    costs = prune_costs.measure_depth_costs(model, 1, size=64, repeats=3)
    assert set(costs) == {1, 2, 3} and all(ms > 0 for _, ms in costs.values())
