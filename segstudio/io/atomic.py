"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never a torn one.

Write to a temporary file in the same folder, flush and fsync it, then ``os.replace`` it over the
target. On failure (disk full, permission) the temporary file is removed and the old file stays.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, IO

from segstudio.errors import SegStudioError


class SaveError(SegStudioError):
    """Writing a file failed; the previous version of the file is intact."""


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(fileobj)`` on a temporary file and move it over ``path`` when it succeeds."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # ".<name>.<random>.tmp" must fit the 255-byte limit of a file name: shorten the name.
        stem = os.fsencode(target.name)[:80].decode("utf-8", "ignore")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise SaveError(f"Could not save {target.name}: {exc.strerror or exc}. "
                        "The previous version is unchanged.") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise SaveError(f"Could not save {target.name}: {exc.strerror or exc}. "
                            "The previous version is unchanged.") from exc
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
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
