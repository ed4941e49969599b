"""The mask being edited: its pixels, its undo history and its copy-on-write save snapshots.

The array is a uint8 index mask (semantic projects) or the packed uint32 label array of an
instance project (``segstudio.core.instances``: class << 24 | object id); nothing here depends
on which, so both have one undo history and one snapshot.

No Qt here (plain Python + numpy), so the rules are tested without a window.

Every write to the mask - brush, fill, polygon, undo, redo - first calls
``MaskDocument.before_write(rect)``. That hook (1) records the old tile values in the undo
history while a step is open and (2) freezes the tiles of every save snapshot still being
taken. A ``FrozenSnapshot`` is how autosave gets "the mask at one moment" without copying it on
the GUI thread: creating one costs nothing; the save worker copies the live mask band by band
and then pastes over it the tiles the GUI thread froze (their values at the snapshot moment)
before its first write to them. Any tile that could have been copied half-written was frozen
before that write began, so the result equals the mask at the moment the snapshot was made.
GUI-thread cost: one tile copy per tile first written while a save is being assembled (a few
hundred milliseconds for the largest masks), nothing otherwise.
"""

from __future__ import annotations

import threading

import numpy as np

from segstudio.core.history import History
from segstudio.core.painting import Rect


class FrozenSnapshot:
    """A copy-on-write snapshot of a live mask, taken at construction time."""

    BAND_BYTES = 1 << 20  # the worker copies ~1 MB at a time

    def __init__(self, mask: np.ndarray, tile: int = 64) -> None:
        self._mask = mask
        self._tile = int(tile)
        self._frozen: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.Lock()
        self._open = True
        self.frozen_bytes = 0  # for tests and measurements

    @property
    def is_open(self) -> bool:
        return self._open

    def before_write(self, rect: Rect) -> None:
        """GUI thread, before pixels of ``rect`` change: keep their snapshot-time values."""
        if not self._open:
            return
        t = self._tile
        h, w = self._mask.shape
        x0, y0 = max(0, rect.x0), max(0, rect.y0)
        x1, y1 = min(w, rect.x1), min(h, rect.y1)
        if x1 <= x0 or y1 <= y0:
            return
        with self._lock:
            if not self._open:
                return
            frozen = self._frozen
            for ty in range(y0 // t, (y1 - 1) // t + 1):
                for tx in range(x0 // t, (x1 - 1) // t + 1):
                    if (ty, tx) not in frozen:
                        tile = self._mask[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t].copy()
                        frozen[(ty, tx)] = tile
                        self.frozen_bytes += tile.nbytes

    def materialize(self) -> np.ndarray:
        """Worker thread: the mask as it was when the snapshot was made (a new array).
        Closes the snapshot: later writes are no longer tracked."""
        mask = self._mask
        h, w = mask.shape
        out = np.empty_like(mask)
        band = max(1, self.BAND_BYTES // max(1, w * mask.itemsize))
        for r0 in range(0, h, band):
            out[r0:r0 + band] = mask[r0:r0 + band]
        with self._lock:
            self._open = False
            frozen, self._frozen = self._frozen, {}
        t = self._tile
        for (ty, tx), tile in frozen.items():
            out[ty * t:ty * t + tile.shape[0], tx * t:tx * t + tile.shape[1]] = tile
        return out

    def close(self) -> None:
        with self._lock:
            self._open = False
            self._frozen = {}


class MaskDocument:
    """One image's mask under edit. ``serial`` counts completed edits; ``saved_serial`` is the
    serial of the last state written to disk, so ``dirty`` says whether a save is owed."""

    def __init__(self, image_id: str, mask: np.ndarray, history: History,
                 entry: object | None = None) -> None:
        if mask.dtype not in (np.uint8, np.uint32) or mask.ndim != 2:
            raise ValueError("a mask is a 2-D uint8 (or packed uint32 instance) array")
        if not mask.flags.c_contiguous:
            raise ValueError("the mask must be C-contiguous (it is shown without a copy)")
        self.image_id = image_id
        # The owner's record of the image (the project's ImageEntry); core only carries it.
        self.entry = entry
        self.mask = mask
        self.history = history
        self.serial = 0
        self.saved_serial = 0
        self._snapshots: list[FrozenSnapshot] = []
        self._in_edit = False
        self._touched = False

    # ----------------------------------------------------------------- state
    @property
    def dirty(self) -> bool:
        return self.serial != self.saved_serial

    @property
    def in_edit(self) -> bool:
        return self._in_edit

    @property
    def shape(self) -> tuple[int, int]:
        h, w = self.mask.shape
        return h, w

    # ----------------------------------------------------------------- writes
    def before_write(self, rect: Rect) -> None:
        """Must run before any pixel of ``rect`` changes (painting ops' ``on_write``)."""
        if self._in_edit:
            self._touched = True
            self.history.record(self.mask, rect)
        if self._snapshots:
            alive = []
            for s in self._snapshots:
                if s.is_open:
                    s.before_write(rect)
                    alive.append(s)
            self._snapshots = alive

    def begin_edit(self) -> None:
        if self._in_edit:
            self.end_edit()
        self.history.begin()
        self._in_edit = True
        self._touched = False

    def end_edit(self) -> bool:
        """Close the edit; True when it changed the mask (even if the history could not keep
        it, because it was larger than the history's byte bound)."""
        if not self._in_edit:
            return False
        self._in_edit = False
        self.history.end(self.mask)
        if self._touched:
            self._changed()
        return self._touched

    def undo(self) -> Rect | None:
        if self._in_edit:
            self.end_edit()
        rect = self.history.undo(self.mask, on_write=self._before_restore)
        if rect is not None:
            self._changed()
        return rect

    def redo(self) -> Rect | None:
        if self._in_edit:
            self.end_edit()
        rect = self.history.redo(self.mask, on_write=self._before_restore)
        if rect is not None:
            self._changed()
        return rect

    def _before_restore(self, rect: Rect) -> None:
        if self._snapshots:
            for s in self._snapshots:
                s.before_write(rect)

    def _changed(self) -> None:
        self.serial += 1
        self.history.fingerprint = None  # the saved checksum no longer describes the mask

    # ------------------------------------------------------------------ saves
    def snapshot(self) -> FrozenSnapshot:
        """A snapshot of the mask as it is now (GUI thread; costs nothing)."""
        s = FrozenSnapshot(self.mask, self.history.tile)
        self._snapshots = [x for x in self._snapshots if x.is_open] + [s]
        return s
