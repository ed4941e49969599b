"""The pipelined training loop (what GPUs get: batches cut ahead in a thread, losses read from
the device in groups), run on the CPU by forcing ``pipelined=True``."""

import threading

import numpy as np
import pytest
import torch

from segstudio.project.demo import generate_demo
from segstudio.training.augment import AugmentConfig, PatchSampler
from segstudio.training.config import TrainConfig
from segstudio.training.data import load_training_data
from segstudio.training.events import IterationReport, Notice, RunFinished
from segstudio.training.loop import TrainControl, train
from segstudio.training.prefetch import BatchPrefetcher

TINY = dict(model={"base_width": 4, "levels": 3}, patch=64, batch=4, iterations_per_epoch=3,
            epochs=2, val_tile=256, cpu_threads=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("demo"), n_images=4, size=96, labelled=3)


def _producers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "segstudio-batches" and t.is_alive()]


def _sampler(project, seed=3) -> PatchSampler:
    data = load_training_data(project, 0.2, 0)
    return PatchSampler(data.train, data.norm, 64, AugmentConfig(rotate90=True), seed)


def test_prefetcher_gives_the_samplers_batches_in_order(demo):
    reference = _sampler(demo)
    expected = [reference.batch(4) for _ in range(5)]
    with BatchPrefetcher(_sampler(demo).batch, depth=2) as pre:
        got = [pre.batch(4) for _ in range(5)]
    for (xe, ye), (xg, yg) in zip(expected, got, strict=False):
        np.testing.assert_array_equal(xe, xg)
        np.testing.assert_array_equal(ye, yg)
    assert not _producers()


def test_prefetcher_new_size_pinning_errors_and_close(demo):
    pre = BatchPrefetcher(_sampler(demo).batch, depth=2)
    assert pre.batch(4)[0].shape[0] == 4
    assert pre.batch(2)[0].shape[0] == 2          # after an out-of-memory halving
    pre.close()
    pre.close()                                    # idempotent
    assert not _producers()

    calls = []

    def failing(n):
        calls.append(n)
        if len(calls) == 2:
            raise MemoryError("no room for the batch")
        return np.zeros((n, 1, 8, 8), np.float32), np.zeros((n, 8, 8), np.int64)

    pre = BatchPrefetcher(failing)
    assert pre.batch(3)[1].shape == (3, 8, 8)
    with pytest.raises(MemoryError, match="no room"):
        pre.batch(3)
    pre.close()
    assert not _producers()
    if torch.cuda.is_available():  # pinning needs the CUDA runtime
        with BatchPrefetcher(_sampler(demo).batch, pin=True) as pre:
            x, y = pre.batch(2)
            assert isinstance(x, torch.Tensor) and x.is_pinned() and y.is_pinned()


def _losses(events):
    return [e.loss for e in events if isinstance(e, IterationReport)]


def test_pipelined_run_trains_exactly_like_the_plain_one(demo):
    plain = list(train(demo, TrainConfig(**TINY, pipelined=False)))
    piped = list(train(demo, TrainConfig(**TINY, pipelined=True)))
    assert plain[-1].reason == piped[-1].reason == "completed"
    # Same batches, same order, same updates: the same losses step by step.
    assert len(_losses(piped)) == 6
    np.testing.assert_allclose(_losses(piped), _losses(plain), rtol=1e-5)
    assert [(e.epoch, e.iteration) for e in piped if isinstance(e, IterationReport)] == \
        [(1, 1), (1, 2), (1, 3), (2, 4), (2, 5), (2, 6)]
    assert all(e.images_per_s > 0 and e.lr > 0 for e in piped if isinstance(e, IterationReport))
    assert not _producers()


def test_pipelined_stop_oom_and_abandoned_run_end_the_producer(demo):
    control = TrainControl()
    events = []
    cfg = TrainConfig(**{**TINY, "epochs": 50, "iterations_per_epoch": 50, "pipelined": True})
    for e in train(demo, cfg, control):
        events.append(e)
        if isinstance(e, IterationReport) and not control.stop_requested:
            control.request_stop()
    assert events[-1].reason == "stopped"
    assert not _producers()

    calls = []

    def hook(it):
        calls.append(it)
        if len(calls) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    events = list(train(demo, TrainConfig(**TINY, pipelined=True), fault_hook=hook))
    assert any(isinstance(e, Notice) and "halved to 2" in e.text for e in events)
    its = [e for e in events if isinstance(e, IterationReport)]
    assert its[0].batch_size == 4 and its[-1].batch_size == 2 and len(its) == 6
    assert isinstance(events[-1], RunFinished) and events[-1].reason == "completed"

    gen = train(demo, TrainConfig(**TINY, pipelined=True))
    for e in gen:
        if isinstance(e, IterationReport):
            break
    assert _producers()
    gen.close()                                    # the window dropped the run
    assert not _producers()
