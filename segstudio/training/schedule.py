"""When a run's learning rate changes and when it ends: warm-up and cosine decay, progress
through the schedule (by steps or by time), the time budget and early stopping."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from segstudio.training.config import TrainConfig
from segstudio.training.data import Sample

# Early stopping counts epochs without gain only from this share of the schedule on: before, the
# learning rate is high and a small validation set's score jumps by several points from epoch to
# epoch (ISBI, 5 slices: a 15-minute run stopped after 7.5 minutes at the peak rate; see
# docs/quality.md).
PATIENCE_FROM = 0.5

# How often a pipelined run reads its losses from the device (each read waits for the device).
READ_LOSSES_EVERY_S = 0.1

# A gain in validation mIoU smaller than this is no gain.
MIN_GAIN = 1e-6
# Under a time budget the warm-up ends by this share of the budget at the latest: one epoch of
# DSB2018 (276 steps) is a third of a 15-minute CPU run, which then never trained at its full
# learning rate (docs/quality.md).
WARMUP_BUDGET_SHARE = 0.05


def lr_at(step: int, total: int, warmup: int, base: float, time_fraction: float = 0.0) -> float:
    """Linear warm-up then cosine decay to 1 % of the base rate.

    time_fraction (elapsed / time budget) moves the decay on when the budget, not the number of
    epochs, ends the run: a budgeted run still ends on low learning rates, where a cut-off
    cosine would stop at a high one (measured: ISBI, docs/quality.md)."""
    if warmup > 0 and step < warmup:
        ramp = (step + 1) / warmup
        if time_fraction > 0:
            ramp = max(ramp, time_fraction / WARMUP_BUDGET_SHARE)
        if ramp < 1:
            return base * ramp
    t = max((step - warmup) / max(1, total - warmup), time_fraction)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def schedule_progress(step: int, total_steps: int, elapsed_s: float,
                      budget_s: float | None) -> float:
    """How far the run is through its schedule, 0..1: by steps, or by time under a budget."""
    by_steps = step / max(1, total_steps)
    return min(1.0, max(by_steps, elapsed_s / budget_s if budget_s else 0.0))


def is_pipelined(cfg: TrainConfig, device: torch.device) -> bool:
    """Batches cut ahead and losses read in groups: by default on GPUs only (prefetch.py)."""
    return cfg.pipelined if cfg.pipelined is not None else device.type != "cpu"


def auto_iterations(train: Sequence[Sample], patch: int, batch: int) -> int:
    """Iterations per epoch when not set: enough patches to cover the images once (8..500)."""
    pixels = sum(s.mask.size for s in train)
    return int(max(8, min(500, math.ceil(pixels / (patch * patch) / batch))))


def budget_fraction(elapsed_s: float, budget_s: float | None) -> float:
    """Share of the time budget used (0 without a budget); moves the cosine decay on."""
    return elapsed_s / budget_s if budget_s else 0.0


def budget_used_up(elapsed_s: float, budget_s: float | None) -> bool:
    return bool(budget_s) and elapsed_s > (budget_s or 0.0)


def eta_seconds(steps_left: int, seconds_per_step: float, elapsed_s: float,
                budget_s: float | None) -> float:
    """Time left: by the recent step time, or the budget's rest if that ends the run first."""
    eta = steps_left * seconds_per_step
    if budget_s:
        eta = max(0.0, min(eta, budget_s - elapsed_s))
    return eta


@dataclass
class EarlyStopping:
    """The best validation mIoU so far and the epochs without gain since (counted only from
    PATIENCE_FROM of the schedule on). patience None or 0: never stops."""

    patience: int | None
    best_miou: float = -1.0
    since_best: int = 0

    def update(self, miou: float, progress: float) -> bool:
        """Record an epoch's score; True if it is a new best."""
        if miou > self.best_miou + MIN_GAIN:
            self.best_miou = miou
            self.since_best = 0
            return True
        if progress >= PATIENCE_FROM:
            self.since_best += 1
        return False

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.since_best >= (self.patience or 0)
