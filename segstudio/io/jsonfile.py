"""Reading JSON that users hand us (segstudio.json, labelme and COCO files, model sidecars).

``json.loads`` raises more than ``JSONDecodeError`` on hostile text: ``RecursionError`` for
100,000 nested brackets, ``ValueError`` for an integer of 5,000 digits,
``UnicodeDecodeError`` for bytes that are not UTF-8, ``MemoryError`` for a gigabyte of
numbers. ``read_json`` and ``parse_json`` turn each into :class:`JSONFileError`, whose
``reason`` is a short text and whose ``corrupt`` says whether the file could be read but is
not valid JSON (False: it could not be read at all). Callers wrap it in their own error with
their own wording. Only regular files are opened (a pipe named ``x.json`` never blocks), and a
file larger than ``max_bytes`` is refused before it is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from segstudio.errors import SegStudioError
from segstudio.io.files import open_error_text, read_regular_bytes

# A COCO file of the 2017 training set is 450 MB; nothing segstudio reads is larger.
DEFAULT_MAX_JSON_BYTES = 1 << 30


class JSONFileError(SegStudioError):
    """A JSON file cannot be read (``corrupt`` False) or is not valid JSON (True)."""

    def __init__(self, name: str, reason: str, corrupt: bool) -> None:
        what = "not valid JSON" if corrupt else "cannot be read"
        super().__init__(f"{name}: {what} ({reason}).")
        self.name = name
        self.reason = reason
        self.corrupt = corrupt


def parse_json(text: str | bytes, name: str = "JSON") -> Any:
    """``json.loads`` whose every failure is a JSONFileError naming ``name``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise JSONFileError(name, f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                            False) from None
    except json.JSONDecodeError as exc:
        raise JSONFileError(name, f"line {exc.lineno}: {exc.msg}", True) from None
    except RecursionError:
        raise JSONFileError(name, "nested too deeply", True) from None
    except MemoryError:
        raise JSONFileError(name, "too large to hold in memory", True) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise JSONFileError(name, str(exc).split(";")[0][:120], True) from None


def read_json(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> Any:
    """The parsed content of a JSON file (UTF-8, an optional BOM allowed). Raises
    FileNotFoundError when the file does not exist (callers word that themselves) and
    JSONFileError for everything else that can go wrong."""
    p = Path(path)
    try:
        data = read_regular_bytes(p, max_bytes)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise JSONFileError(p.name, open_error_text(exc), False) from None
    return parse_json(data, p.name)
