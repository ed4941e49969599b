"""Bounded, tile-based undo history for an index mask (uint8) or a packed instance label
array (uint32, see ``segstudio.core.instances``): nothing here depends on the dtype.

A step is ``begin() -> record(mask, rect) ... -> end(mask)``: one brush drag, one fill, one
polygon. ``record`` is called *before* pixels in ``rect`` are written (the painting functions of
``segstudio.core.painting`` call their ``on_write`` hook for exactly this); the first time a step
touches a tile (``tile x tile`` pixels, aligned to the mask's origin) it saves that tile's old
values. ``end`` keeps only the tiles that really changed. ``undo`` saves the tiles' current
values for ``redo`` and restores the old ones. Nothing is ever a full copy of the mask.

A tile whose pixels all hold one value (an unlabelled area, a filled blob) is stored as that
value alone, so filling a huge unlabelled region costs next to nothing to undo.

Memory is bounded in bytes per image (``History.max_bytes``; the oldest steps are dropped) and
across images (``HistoryStore.max_total_bytes``; steps of the least recently used images go
first). A step larger than the whole bound cannot be kept; the history is then cleared, since
undoing older steps across an unrecorded change would produce a state that never existed.

The history does not hold the mask: every call that reads or writes pixels takes it, so the
history of an image survives the image being closed and its mask reloaded (see
``HistoryStore`` and ``History.fingerprint`` for checking that the reloaded mask is the same).

numpy only; no Qt.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection

import numpy as np

from segstudio.core.painting import Rect

TileKey = tuple[int, int]          # (tile row, tile column)
TileData = np.ndarray | int  # the tile's pixels, or the single value they all hold
# key -> (min, max) of that tile's pixels: numpy scalars of the mask's dtype
TileRange = Callable[[TileKey], tuple[np.generic, np.generic]]

DEFAULT_TILE = 64
# Python object overhead charged per stored tile, so the bound is honest for many small tiles.
_ARRAY_OVERHEAD = 160
_SCALAR_OVERHEAD = 64


def mask_fingerprint(mask: np.ndarray) -> int:
    """A cheap checksum of a mask's pixels (CRC-32; about 0.1 s for 16384 x 16384)."""
    # .data: the array's buffer as a memoryview (what crc32 would read from the array itself)
    return zlib.crc32(np.ascontiguousarray(mask).data) ^ (mask.shape[0] << 16) ^ mask.shape[1]


def _tile_size_bytes(data: TileData) -> int:
    if isinstance(data, np.ndarray):
        return int(data.nbytes) + _ARRAY_OVERHEAD
    return _SCALAR_OVERHEAD


class Step:
    """One undoable edit: old (and, once undone, new) contents of the tiles it changed."""

    __slots__ = ("old", "new", "nbytes", "rect")

    def __init__(self) -> None:
        self.old: dict[TileKey, TileData] = {}
        self.new: dict[TileKey, TileData] | None = None
        self.nbytes = 0
        self.rect: Rect | None = None  # bounding box of the tiles, set at end()


class History:
    """Undo/redo history of one mask. See the module docstring."""

    def __init__(self, shape: tuple[int, int], tile: int = DEFAULT_TILE,
                 max_bytes: int = 256 << 20) -> None:
        if tile < 1:
            raise ValueError("tile must be positive")
        self.shape = (int(shape[0]), int(shape[1]))
        self.tile = int(tile)
        self.max_bytes = int(max_bytes)
        self._undo: list[Step] = []
        self._redo: list[Step] = []
        self._open: Step | None = None
        self._open_overflow = False
        self.nbytes = 0
        # Set by the owner: checksum of the mask as last saved, and whether it still holds.
        self.fingerprint: int | None = None

    # ------------------------------------------------------------------ state
    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or self._open is not None and bool(self._open.old)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_steps(self) -> int:
        return len(self._undo)

    @property
    def redo_steps(self) -> int:
        return len(self._redo)

    @property
    def in_step(self) -> bool:
        return self._open is not None

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._open = None
        self._open_overflow = False
        self.nbytes = 0

    # ---------------------------------------------------------------- editing
    def begin(self) -> None:
        """Open a step. Opening while a step is open is an error (end it first)."""
        if self._open is not None:
            raise RuntimeError("a history step is already open")
        self._open = Step()
        self._open_overflow = False

    def record(self, mask: np.ndarray, rect: Rect) -> None:
        """Save the old values of the tiles of ``rect`` not yet saved in the open step.
        Call before writing any pixel of ``rect``."""
        step = self._open
        if step is None:
            raise RuntimeError("record() outside begin()/end()")
        if self._open_overflow:
            return
        self._check_shape(mask)
        t = self.tile
        h, w = self.shape
        x0, y0 = max(0, rect.x0), max(0, rect.y0)
        x1, y1 = min(w, rect.x1), min(h, rect.y1)
        if x1 <= x0 or y1 <= y0:
            return
        ty0, ty1 = y0 // t, (y1 - 1) // t + 1
        tx0, tx1 = x0 // t, (x1 - 1) // t + 1
        old = step.old
        new_keys = [(ty, tx) for ty in range(ty0, ty1) for tx in range(tx0, tx1)
                    if (ty, tx) not in old]
        if not new_keys:
            return
        added = 0
        # Many tiles: their mins and maxes in one vectorised pass.
        ranges = _tile_min_max(mask, t, ty0, ty1, tx0, tx1) if len(new_keys) > 16 else None
        for key in new_keys:
            ty, tx = key
            tile = mask[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t]
            if ranges is not None:
                lo, hi = ranges
                a, b = lo[ty - ty0, tx - tx0], hi[ty - ty0, tx - tx0]
            else:
                a, b = tile.min(), tile.max()
            data: TileData = int(a) if a == b else tile.copy()
            old[key] = data
            added += _tile_size_bytes(data)
        step.nbytes += added
        self.nbytes += added
        if self.nbytes > self.max_bytes:
            self._shrink(keep_open=True)
            if step.nbytes > self.max_bytes:
                # This step alone is over the bound: it cannot be undone, and neither can the
                # steps before it (see the module docstring).
                self._open_overflow = True
                self.nbytes -= step.nbytes
                step.old.clear()
                step.nbytes = 0
                self._drop_all_closed()

    def end(self, mask: np.ndarray) -> bool:
        """Close the open step. Tiles whose values did not change are dropped; a step that
        changed nothing is discarded. Returns True when a step was added."""
        step = self._open
        if step is None:
            return False
        self._open = None
        if self._open_overflow:
            self._open_overflow = False
            self._drop_all_closed()
            return False
        t = self.tile
        freed = 0
        ranges = self._min_max_of(mask, step.old)
        for key in list(step.old):
            data = step.old[key]
            ty, tx = key
            a, b = ranges(key)
            if not isinstance(data, np.ndarray):
                same = a == b == data
            elif a == b:
                same = False  # the tile is uniform now and was not before
            else:
                same = np.array_equal(mask[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t], data)
            if same:
                freed += _tile_size_bytes(data)
                del step.old[key]
        step.nbytes -= freed
        self.nbytes -= freed
        if not step.old:
            self.nbytes -= step.nbytes
            return False
        step.rect = self._keys_rect(step.old)
        for s in self._redo:
            self.nbytes -= s.nbytes
        self._redo.clear()
        self._undo.append(step)
        self._shrink()
        return True

    def undo(self, mask: np.ndarray, on_write: Callable[[Rect], None] | None = None
             ) -> Rect | None:
        """Restore the state before the last step; returns the bounding box of its tiles.
        ``on_write(tile_rect)`` is called before each tile is written."""
        if self._open is not None:
            self.end(mask)
        if not self._undo:
            return None
        self._check_shape(mask)
        step = self._undo.pop()
        t = self.tile
        if step.new is None:
            step.new = {}
            added = 0
            ranges = self._min_max_of(mask, step.old)
            for key in step.old:
                ty, tx = key
                cur = mask[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t]
                a, b = ranges(key)
                data: TileData = int(a) if a == b else cur.copy()
                step.new[key] = data
                added += _tile_size_bytes(data)
            step.nbytes += added
            self.nbytes += added
        self._apply(mask, step.old, on_write)
        self._redo.append(step)
        self._shrink()
        return step.rect

    def redo(self, mask: np.ndarray, on_write: Callable[[Rect], None] | None = None
             ) -> Rect | None:
        """Re-apply the last undone step; returns the bounding box of its tiles."""
        if self._open is not None:
            self.end(mask)
        if not self._redo:
            return None
        self._check_shape(mask)
        step = self._redo.pop()
        assert step.new is not None
        self._apply(mask, step.new, on_write)
        self._undo.append(step)
        self._shrink()
        return step.rect

    # ---------------------------------------------------------------- helpers
    def _min_max_of(self, mask: np.ndarray, keys: Collection[TileKey]) -> TileRange:
        """A function key -> (min, max) of that tile of ``mask``; vectorised over the tiles'
        bounding range when the keys fill a good part of it (big fills), else per tile."""
        t = self.tile
        if len(keys) > 32:
            tys = [k[0] for k in keys]
            txs = [k[1] for k in keys]
            ty0, ty1, tx0, tx1 = min(tys), max(tys) + 1, min(txs), max(txs) + 1
            if len(keys) * 4 >= (ty1 - ty0) * (tx1 - tx0):
                lo, hi = _tile_min_max(mask, t, ty0, ty1, tx0, tx1)
                return lambda k: (lo[k[0] - ty0, k[1] - tx0], hi[k[0] - ty0, k[1] - tx0])

        def one(k: TileKey) -> tuple[np.generic, np.generic]:
            tile = mask[k[0] * t:(k[0] + 1) * t, k[1] * t:(k[1] + 1) * t]
            return tile.min(), tile.max()
        return one

    def _apply(self, mask: np.ndarray, tiles: dict[TileKey, TileData],
               on_write: Callable[[Rect], None] | None = None) -> None:
        t = self.tile
        h, w = self.shape
        for (ty, tx), data in tiles.items():
            if on_write is not None:
                on_write(Rect(tx * t, ty * t, min(w, (tx + 1) * t), min(h, (ty + 1) * t)))
            mask[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t] = data

    def _keys_rect(self, keys: Collection[TileKey]) -> Rect:
        t = self.tile
        tys = [k[0] for k in keys]
        txs = [k[1] for k in keys]
        h, w = self.shape
        return Rect(min(txs) * t, min(tys) * t, min(w, (max(txs) + 1) * t),
                    min(h, (max(tys) + 1) * t))

    def _check_shape(self, mask: np.ndarray) -> None:
        if mask.shape != self.shape:
            raise ValueError(f"mask shape {mask.shape} does not match history {self.shape}")

    def _drop_all_closed(self) -> None:
        for s in self._undo:
            self.nbytes -= s.nbytes
        for s in self._redo:
            self.nbytes -= s.nbytes
        self._undo.clear()
        self._redo.clear()

    def drop_oldest(self) -> bool:
        """Drop the oldest undo step (or, with none left, the farthest redo step)."""
        if self._undo:
            s = self._undo.pop(0)
        elif self._redo:
            s = self._redo.pop(0)
        else:
            return False
        self.nbytes -= s.nbytes
        return True

    def _shrink(self, keep_open: bool = False) -> None:
        while self.nbytes > self.max_bytes and self.drop_oldest():
            pass


def _tile_min_max(mask: np.ndarray, t: int, ty0: int, ty1: int, tx0: int, tx1: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile min and max over tiles [ty0, ty1) x [tx0, tx1), vectorised for big boxes."""
    h, w = mask.shape
    ny, nx = ty1 - ty0, tx1 - tx0
    lo = np.empty((ny, nx), mask.dtype)
    hi = np.empty((ny, nx), mask.dtype)
    fy = min(ny, (h - ty0 * t) // t)  # tiles fully inside the mask
    fx = min(nx, (w - tx0 * t) // t)
    if fy > 0 and fx > 0:
        block = mask[ty0 * t:(ty0 + fy) * t, tx0 * t:(tx0 + fx) * t].reshape(fy, t, fx, t)
        lo[:fy, :fx] = block.min(axis=(1, 3))
        hi[:fy, :fx] = block.max(axis=(1, 3))
    for iy in range(ny):
        for ix in range(nx):
            if iy < fy and ix < fx:
                continue
            ty, tx = ty0 + iy, tx0 + ix
            tile = mask[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t]
            lo[iy, ix] = tile.min()
            hi[iy, ix] = tile.max()
    return lo, hi


class HistoryStore:
    """Histories keyed by image id, bounded per image and in total.

    ``get`` returns the image's history (creating it), marking it most recently used.
    ``enforce`` drops the oldest steps of the least recently used images until the total is
    within ``max_total_bytes``."""

    def __init__(self, max_bytes_per_image: int = 256 << 20, max_total_bytes: int = 512 << 20,
                 tile: int = DEFAULT_TILE) -> None:
        self.max_bytes_per_image = int(max_bytes_per_image)
        self.max_total_bytes = int(max_total_bytes)
        self.tile = int(tile)
        self._items: OrderedDict[str, History] = OrderedDict()

    def __contains__(self, image_id: str) -> bool:
        return image_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def peek(self, image_id: str) -> History | None:
        return self._items.get(image_id)

    def get(self, image_id: str, shape: tuple[int, int]) -> History:
        h = self._items.get(image_id)
        if h is None or h.shape != (int(shape[0]), int(shape[1])):
            h = History(shape, self.tile, self.max_bytes_per_image)
            self._items[image_id] = h
        self._items.move_to_end(image_id)
        return h

    def drop(self, image_id: str) -> None:
        self._items.pop(image_id, None)

    def clear(self) -> None:
        self._items.clear()

    @property
    def nbytes(self) -> int:
        return sum(h.nbytes for h in self._items.values())

    def enforce(self) -> None:
        total = self.nbytes
        if total <= self.max_total_bytes:
            return
        for image_id in list(self._items):  # least recently used first
            h = self._items[image_id]
            while total > self.max_total_bytes:
                before = h.nbytes
                if not h.drop_oldest():
                    break
                total -= before - h.nbytes
            if total <= self.max_total_bytes:
                return


def reconcile_returning_mask(history: History, mask: np.ndarray,
                             load_disk: Callable[[], np.ndarray | None]) -> np.ndarray:
    """An image edited earlier in this session comes back with ``mask`` (as read from disk).
    Its history is valid only for the mask last saved (``history.fingerprint``). A mask that
    differs was either read before our last save landed (then the file, ``load_disk()``, now
    holds our state: use it) or changed outside the canvas (then the old undo steps would
    corrupt it: drop them)."""
    if history.fingerprint is None:
        if history.can_undo or history.can_redo:
            history.clear()  # unsaved state of unknown fate: do not trust old steps
        return mask
    if mask_fingerprint(mask) == history.fingerprint:
        return mask
    try:
        disk = load_disk()
    except Exception:  # unreadable now: the old steps cannot be trusted either
        disk = None
    if disk is not None and mask_fingerprint(disk) == history.fingerprint:
        return np.array(disk, dtype=mask.dtype, order="C")
    history.clear()
    history.fingerprint = None
    return mask
