"""Opening users' files safely: only regular files are ever read, and paths are resolved
without tracebacks.

- ``open_regular(path)`` opens a file for reading *without blocking* (``O_NONBLOCK``), then
  checks what it opened: a named pipe (FIFO) named ``x.png``, a socket or a device would make
  a plain ``open`` + ``read`` wait forever (``segstudio predict`` never returned, the window's
  thumbnail loader hung). Such files raise :class:`NotRegularFileError` (an ``OSError``)
  before a byte is read. Checking the opened descriptor, not the path, leaves no window for
  the file to be swapped between the check and the read.
- ``resolve_path(path)`` is ``Path.resolve()`` that never raises: a symbolic link loop
  (``a.png -> b.png -> a.png``) makes ``resolve()`` raise ``RuntimeError`` (``OSError`` on
  Python 3.13); it falls back to the absolute path, unresolved, and reading that file then
  reports the loop (``ELOOP``) like any unreadable file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegularFileError(OSError):
    """The path names something other than a regular file (a pipe, socket, device)."""


def describe_mode(mode: int) -> str:
    """What a non-regular file is, for a message."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading in binary mode; it must be a regular file (symbolic links
    to one are fine). Raises FileNotFoundError, IsADirectoryError, NotRegularFileError or
    another OSError (ELOOP for a symbolic link loop); never blocks on a pipe."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, f"{describe_mode(mode)}, not a file",
                                      str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | os.PathLike[str], max_bytes: int | None = None) -> bytes:
    """The whole content of a regular file. With ``max_bytes``, a larger file raises
    ``FileTooLargeError`` (an OSError) before it is read."""
    with open_regular(path) as fh:
        if max_bytes is not None:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise FileTooLargeError(errno.EFBIG, f"{size / 2**20:,.0f} MB, more than the "
                                        f"{max_bytes / 2**20:,.0f} MB allowed", str(path))
        return fh.read()


class FileTooLargeError(OSError):
    """A file is larger than what segstudio reads of its kind."""


def open_error_text(exc: OSError) -> str:
    """A short reason for a failed ``open_regular`` (no full path: messages name the file)."""
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop (the link points back to itself)"
    return str(exc.strerror or exc)


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """``Path(path).resolve()``, or the absolute (unresolved) path when it cannot be resolved
    (a symbolic link loop, a path too long or otherwise unusable)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))
