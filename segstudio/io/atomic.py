"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never a torn one.

Write to a temporary file in the same folder, flush and fsync it, then ``os.replace`` it over the
target. On failure (disk full, permission) the temporary file is removed and the old file stays.

File modes: ``mkstemp`` creates the temporary file 0600 whatever the umask, so every mask,
project file, export and model segstudio wrote used to be private to its owner. The
temporary file now gets the mode a plain ``open(path, "w")`` would give
(``0o666 & ~umask``: 0644 under the usual umask 022), or the mode of the file it replaces,
so a user's ``chmod`` on a mask survives the next save. The umask is read once, without
changing it (``/proc/self/status`` on Linux; elsewhere by setting it and putting it back
at import, before any thread of ours runs).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from segstudio.errors import SegStudioError


class SaveError(SegStudioError):
    """Writing a file failed; the previous version of the file is intact."""


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # the only portable way to read it: set it and put it back
    os.umask(mask)
    return mask & 0o777


UMASK = _read_umask()
NEW_FILE_MODE = 0o666 & ~UMASK


def _mode_for(target: Path) -> int:
    """The permission bits for ``target``: those of the file it replaces, if any (a user's
    chmod is kept), else what the umask gives a new file."""
    try:
        st = os.stat(target)
    except OSError:
        return NEW_FILE_MODE
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else NEW_FILE_MODE


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(fileobj)`` on a temporary file and move it over ``path`` when it succeeds
    (what ``write`` returns is ignored: ``fh.write`` itself will do)."""
    target = Path(path)
    tmp_name = _write_temp(target, write)
    try:
        os.replace(tmp_name, target)
    except OSError as exc:
        _discard(tmp_name)
        raise _save_error(target, exc) from exc
    _fsync_dir(target.parent)


def atomic_write_many(items: Sequence[tuple[str | os.PathLike[str], bytes]]) -> None:
    """Write files that belong together (a checkpoint's weights and its description): every
    one goes to a temporary file first, and only when all are complete are they moved over
    their targets, in the order given. A failed write (disk full) leaves every previous
    version as it was; only a crash between the renames, microseconds, can mix them."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in items:
            target = Path(path)
            temps.append((_write_temp(target, _writer(data)), target))
    except BaseException:
        for tmp_name, _ in temps:
            _discard(tmp_name)
        raise
    for i, (tmp_name, target) in enumerate(temps):
        try:
            os.replace(tmp_name, target)
        except OSError as exc:
            for later, _ in temps[i:]:
                _discard(later)
            raise _save_error(target, exc) from exc
    for folder in {t.parent for _, t in temps}:
        _fsync_dir(folder)


def _write_temp(target: Path, write: Callable[[IO[bytes]], object]) -> str:
    """A complete, fsync'd temporary file beside ``target``; its name. Raises SaveError (and
    leaves nothing behind) when it cannot be written."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # ".<name>.<random>.tmp" must fit the 255-byte limit of a file name: shorten the name.
        stem = os.fsencode(target.name)[:80].decode("utf-8", "ignore")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _save_error(target, exc) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), _mode_for(target))
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        _discard(tmp_name)
        if isinstance(exc, OSError):
            raise _save_error(target, exc) from exc
        raise
    return tmp_name


def _writer(data: bytes) -> Callable[[IO[bytes]], int]:
    return lambda fh: fh.write(data)


def _save_error(target: Path, exc: OSError) -> SaveError:
    return SaveError(f"Could not save {target.name}: {exc.strerror or exc}. "
                     "The previous version is unchanged.")


def _discard(tmp_name: str) -> None:
    try:
        os.unlink(tmp_name)
    except OSError:
        pass


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
