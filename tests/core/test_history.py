"""Undo history: exactness against full copies, tiles, byte bounds, the per-image store."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.core import painting as P
from segstudio.core.classes import UNLABELLED
from segstudio.core.history import History, HistoryStore, mask_fingerprint
from segstudio.core.painting import Rect


def random_edit(rng, mask, hist):
    """One random undoable edit through the painting API; returns True if it was recorded."""
    h, w = mask.shape
    hist.begin()
    hook = lambda r: hist.record(mask, r)  # noqa: E731
    kind = rng.integers(5)
    value = int(rng.choice([0, 1, 2, UNLABELLED]))
    preserve = bool(rng.integers(2))
    if kind == 0:  # a stroke of several segments
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        size = int(rng.integers(1, 12))
        for _ in range(int(rng.integers(1, 6))):
            nx, ny = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
            P.paint_segment(mask, x, y, nx, ny, size, value, preserve, hook)
            x, y = nx, ny
    elif kind == 1:
        P.flood_fill(mask, int(rng.integers(w)), int(rng.integers(h)), value, preserve, hook)
    elif kind == 2:
        pts = [(int(rng.integers(-10, w + 10)), int(rng.integers(-10, h + 10))) for _ in range(5)]
        P.fill_polygon(mask, pts, value, preserve, hook)
    elif kind == 3:
        P.paint_dab(mask, rng.uniform(0, w), rng.uniform(0, h), int(rng.integers(1, 30)), value,
                    preserve, hook)
    else:  # a write straight into a box
        x0, y0 = int(rng.integers(w)), int(rng.integers(h))
        r = Rect(x0, y0, min(w, x0 + int(rng.integers(1, 40))),
                 min(h, y0 + int(rng.integers(1, 40))))
        hook(r)
        mask[r.slices] = value
    return hist.end(mask)


@pytest.mark.parametrize("seed,tile,shape", [(0, 16, (97, 131)), (1, 64, (200, 150)),
                                             (2, 7, (50, 50)), (3, 32, (128, 256))])
def test_random_edits_undo_redo_exact(seed, tile, shape):
    rng = np.random.default_rng(seed)
    mask = np.full(shape, UNLABELLED, np.uint8)
    hist = History(shape, tile=tile, max_bytes=1 << 30)
    states = [mask.copy()]  # reference: full copies (tests only)
    for _ in range(60):
        if random_edit(rng, mask, hist):
            states.append(mask.copy())
        else:
            assert np.array_equal(mask, states[-1])
    n = len(states) - 1
    assert hist.undo_steps == n
    # Undo everything, checking each intermediate state.
    for i in range(n, 0, -1):
        assert hist.undo(mask) is not None
        assert np.array_equal(mask, states[i - 1]), f"undo to state {i - 1}"
    assert hist.undo(mask) is None and not hist.can_undo
    # Redo half, undo a few, redo again: random walk over the states.
    pos = 0
    for _ in range(80):
        if rng.random() < 0.5 and pos < n:
            hist.redo(mask)
            pos += 1
        elif pos > 0:
            hist.undo(mask)
            pos -= 1
        assert np.array_equal(mask, states[pos])
    # A new edit after undos drops the redo branch.
    while pos > n // 2:
        hist.undo(mask)
        pos -= 1
    before = mask.copy()
    hist.begin()
    hist.record(mask, Rect(0, 0, 3, 3))
    mask[0:3, 0:3] = 42
    assert hist.end(mask)
    assert not hist.can_redo
    hist.undo(mask)
    assert np.array_equal(mask, before)


def test_step_without_change_is_discarded_and_keeps_redo():
    mask = np.zeros((64, 64), np.uint8)
    h = History(mask.shape, tile=16)
    h.begin()
    h.record(mask, Rect(0, 0, 10, 10))
    mask[0:10, 0:10] = 1
    assert h.end(mask)
    h.undo(mask)
    assert h.can_redo
    h.begin()
    h.record(mask, Rect(0, 0, 64, 64))  # recorded but nothing written
    assert not h.end(mask)
    assert h.can_redo and h.nbytes > 0
    assert h.redo(mask) == Rect(0, 0, 16, 16)
    assert (mask[0:10, 0:10] == 1).all()


def test_only_changed_tiles_are_kept_and_uniform_tiles_cost_no_pixels():
    mask = np.full((256, 256), UNLABELLED, np.uint8)
    h = History(mask.shape, tile=64)
    h.begin()
    h.record(mask, Rect(0, 0, 256, 256))    # touches all 16 tiles
    mask[10, 10] = 1                        # changes one
    h.end(mask)
    assert h.nbytes < 200                   # one uniform tile: a value, not 4096 bytes
    assert h.undo(mask) == Rect(0, 0, 64, 64)
    assert (mask == UNLABELLED).all()


def test_big_uniform_fill_is_cheap_to_undo():
    mask = np.full((2048, 2048), UNLABELLED, np.uint8)
    mask[1024, :] = 0  # the fill covers tile rows 0..15 exactly
    h = History(mask.shape, tile=64, max_bytes=1 << 20)
    h.begin()
    P.flood_fill(mask, 5, 5, 1, on_write=lambda r: h.record(mask, r))
    assert h.end(mask)
    assert h.undo_steps == 1
    assert h.nbytes < 16 * 32 * 100  # 512 uniform tiles: a value each, no pixels
    h.undo(mask)
    assert (mask[:1024] == UNLABELLED).all() and (mask[1024] == 0).all()


def test_byte_bound_drops_oldest_steps():
    rng = np.random.default_rng(5)
    mask = rng.integers(0, 3, (256, 256)).astype(np.uint8)  # noisy: tiles are not uniform
    bound = 3 * (32 * 32 + 200)
    h = History(mask.shape, tile=32, max_bytes=bound)
    states = [mask.copy()]
    for i in range(10):
        h.begin()
        r = Rect(32 * i % 256, 0, 32 * i % 256 + 1, 1)
        h.record(mask, r)
        mask[r.slices] = 7 + i
        assert h.end(mask)
        states.append(mask.copy())
        assert h.nbytes <= bound
    assert h.undo_steps == 3
    undone = 0
    for _ in range(3):
        if h.undo(mask) is not None:
            undone += 1
        assert h.nbytes <= bound
        # Each undo that happened is exact.
        assert np.array_equal(mask, states[10 - undone])
    # Undo keeps the new values for redo, which costs bytes too: older steps made room.
    assert undone == 2 and h.undo_steps == 0 and h.redo_steps == 1
    h.redo(mask)
    assert np.array_equal(mask, states[9])


def test_step_larger_than_bound_clears_history():
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 3, (128, 128)).astype(np.uint8)
    h = History(mask.shape, tile=16, max_bytes=4000)
    h.begin()
    h.record(mask, Rect(0, 0, 2, 2))
    mask[0, 0] = 9
    h.end(mask)
    assert h.can_undo
    h.begin()
    h.record(mask, Rect(0, 0, 128, 128))
    mask[:] = 5
    assert not h.end(mask)
    assert not h.can_undo and not h.can_redo and h.nbytes == 0


def test_undo_reports_each_tile_before_writing():
    mask = np.full((100, 100), UNLABELLED, np.uint8)
    h = History(mask.shape, tile=32)
    h.begin()
    h.record(mask, Rect(10, 10, 70, 40))
    mask[10:40, 10:70] = 1
    h.end(mask)
    seen = []
    h.undo(mask, on_write=lambda r: seen.append((r, int(mask[r.y0, r.x0]))))
    assert sorted(r for r, _ in seen) == sorted([Rect(0, 0, 32, 32), Rect(32, 0, 64, 32),
                                                 Rect(64, 0, 96, 32), Rect(0, 32, 32, 64),
                                                 Rect(32, 32, 64, 64), Rect(64, 32, 96, 64)])


def test_misuse_raises():
    h = History((10, 10))
    with pytest.raises(RuntimeError):
        h.record(np.zeros((10, 10), np.uint8), Rect(0, 0, 1, 1))
    h.begin()
    with pytest.raises(RuntimeError):
        h.begin()
    with pytest.raises(ValueError):
        h.record(np.zeros((11, 10), np.uint8), Rect(0, 0, 1, 1))


def test_store_per_image_and_total_bound():
    store = HistoryStore(max_bytes_per_image=10_000, max_total_bytes=12_000, tile=16)
    rng = np.random.default_rng(0)
    masks = {k: rng.integers(0, 3, (64, 64)).astype(np.uint8) for k in "abc"}
    for k, m in masks.items():
        h = store.get(k, m.shape)
        for i in range(8):
            h.begin()
            h.record(m, Rect(16 * (i % 4), 16 * (i // 4), 16 * (i % 4) + 1, 16 * (i // 4) + 1))
            m[16 * (i // 4), 16 * (i % 4)] = 9
            h.end(m)
            store.enforce()
            assert h.nbytes <= 10_000
            assert store.nbytes <= 12_000
    # The most recently used image kept the most.
    assert store.peek("c").undo_steps >= store.peek("a").undo_steps
    assert store.get("a", (64, 64)) is store.peek("a")   # survives, same object
    assert store.get("a", (65, 64)) is not None          # new shape: a new history
    assert store.peek("a").undo_steps == 0
    store.drop("b")
    assert "b" not in store and len(store) == 2


def test_fingerprint_changes_with_content():
    a = np.zeros((100, 100), np.uint8)
    f = mask_fingerprint(a)
    a[50, 50] = 1
    assert mask_fingerprint(a) != f
    assert (mask_fingerprint(np.zeros((50, 200), np.uint8))
            != mask_fingerprint(np.zeros((200, 50), np.uint8)))
