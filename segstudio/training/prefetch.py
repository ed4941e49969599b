"""Cutting training batches ahead of time, in a background thread.

On a GPU a training step of the default U-Net takes milliseconds, as long as cutting and
augmenting its batch on the CPU (~3 ms for 8 x 192^2): done in the training thread, the two
take turns and the GPU waits half the time. The prefetcher cuts the next batches while the GPU
computes, and pins them so the host-to-device copy overlaps too. On the CPU it is not used:
there the step takes ~1 s, the batch 0.3 % of that, and a second busy thread would take a core
from the step (docs/benchmarks.md, "Trainer against a bare loop").
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Batch = tuple[Any, Any]


class BatchPrefetcher:
    """``batch(n)`` as ``PatchSampler.batch(n)`` but cut ahead by a producer thread.

    One producer calls the sampler in sequence, so the batches and their order are exactly the
    sampler's own. ``batch`` with a new size (the loop halves it after running out of memory)
    drops the batches cut for the old size and starts over. With ``pin`` the arrays come back
    as page-locked tensors (for ``.to("cuda", non_blocking=True)``). An exception raised while
    cutting is raised again by ``batch``. ``close`` (idempotent) ends the producer."""

    def __init__(self, cut: Callable[[int], tuple[np.ndarray, np.ndarray]], depth: int = 2,
                 pin: bool = False) -> None:
        self._cut, self._depth, self._pin = cut, depth, pin
        self._n: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(depth)

    def batch(self, n: int) -> Batch:
        if n != self._n or self._thread is None:
            self.close()
            self._n, self._stop, self._queue = n, threading.Event(), queue.Queue(self._depth)
            self._thread = threading.Thread(target=self._produce, name="segstudio-batches",
                                            args=(n, self._queue, self._stop), daemon=True)
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._thread = None          # the producer has ended; a next call starts another
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            # The producer may be blocked on a full queue: it looks at the stop flag every
            # 50 ms, so this returns within one batch's cutting time.
            thread.join()

    def _produce(self, n: int, q: queue.Queue, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                xb, yb = self._cut(n)
                item: Any = (torch.from_numpy(xb).pin_memory(), torch.from_numpy(yb).pin_memory()) \
                    if self._pin else (xb, yb)
            except BaseException as exc:  # handed to the training thread, which reports it
                item = exc
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    break
                except queue.Full:
                    pass
            if isinstance(item, BaseException):
                return

    def __enter__(self) -> BatchPrefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
