"""Parsing a user's list of output formats ("index,coco" on the command line, check boxes in
the window) for the mask and model exporters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from segstudio.errors import ConfigError


def parse_format_list(formats: str | Iterable[str], known: tuple[str, ...],
                      aliases: Mapping[str, str], what: str) -> tuple[str, ...]:
    """Comma-separated text or an iterable -> validated tuple in ``known``'s order."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    items = [aliases.get(f, f) for f in (f.strip().lower() for f in items) if f]
    bad = [f for f in items if f not in known]
    if bad or not items:
        raise ConfigError(f"Unknown {what} format(s) {', '.join(bad) or '(none)'}; choose from "
                          f"{', '.join(known)}.")
    return tuple(f for f in known if f in items)
