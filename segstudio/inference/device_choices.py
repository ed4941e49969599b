"""Where a model can run, as the user chooses it: plain data (no torch), read by the training
form and the command line; devices.resolve_device turns a choice into a torch device."""

from __future__ import annotations

DEVICE_LABELS: dict[str, str] = {"auto": "Auto", "cuda": "CUDA", "mps": "Apple MPS",
                                 "cpu": "CPU"}
DEVICE_CHOICES: tuple[str, ...] = tuple(DEVICE_LABELS)   # "cuda:N" is accepted too


def device_choices() -> list[tuple[str, str]]:
    """(choice, label) pairs in display order."""
    return list(DEVICE_LABELS.items())


def device_help() -> str:
    """The choices for a command-line help text: "auto, cuda, mps or cpu"."""
    *rest, last = DEVICE_CHOICES
    return f"{', '.join(rest)} or {last}"
