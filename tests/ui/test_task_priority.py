"""Background jobs the user did not wait for run at a lower OS priority (per thread on Linux),
and the GUI thread's own priority is untouched."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from segstudio.ui.tasks import TaskRunner


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_nice_runner_lowers_only_its_worker_threads(qtbot):
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    plain, nice = TaskRunner("plain"), TaskRunner("nice", nice=5)

    def priority(_task) -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    got: dict[str, int] = {}
    plain.submit(priority, on_done=lambda p: got.__setitem__("plain", p))
    nice.submit(priority, on_done=lambda p: got.__setitem__("nice", p))
    assert plain.wait(10000) and nice.wait(10000)
    nice.submit(priority, on_done=lambda p: got.__setitem__("again", p))  # not lowered twice
    assert nice.wait(10000)
    assert got["plain"] == here and got["nice"] == min(19, here + 5) == got["again"]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_the_window_trains_on_every_core_at_a_lower_priority(qtbot, tmp_path):
    import torch

    from segstudio.project.demo import generate_demo
    from segstudio.training.config import TrainConfig
    from segstudio.ui.training.controller import TRAINING_NICE, TrainingController

    project = generate_demo(tmp_path / "d", n_images=2, size=64, labelled=2, task="semantic")
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[tuple[int, int]] = []
    c = TrainingController()
    c.fault_hook = lambda step: seen.append(
        (os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), torch.get_num_threads()))
    with qtbot.waitSignal(c.run_finished, timeout=60000):
        assert c.start(project, TrainConfig(model={"base_width": 4, "levels": 2}, patch=32,
                                            batch=2, epochs=1, iterations_per_epoch=2,
                                            device="cpu"))
    assert seen and seen[0] == (min(19, here + TRAINING_NICE), os.cpu_count())
