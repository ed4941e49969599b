"""The losses a user can choose, by name and label: plain data (no torch), read by the
training form and the command line; losses.build_loss builds them."""

from __future__ import annotations

AUTO_LOSS = "auto"   # chosen from the data (defaults.py)
LOSS_LABELS: dict[str, str] = {
    AUTO_LOSS: "Auto (measured best for the data)",
    "ce": "Cross-entropy",
    "weighted_ce": "Weighted cross-entropy",
    "focal": "Focal",
    "dice": "Dice",
    "focal+dice": "Focal + Dice",
    "ce+dice": "Cross-entropy + Dice",
}
# What build_loss accepts ("auto" is resolved before it is called).
LOSS_NAMES: tuple[str, ...] = tuple(n for n in LOSS_LABELS if n != AUTO_LOSS)


def loss_choices() -> list[tuple[str, str]]:
    """(name, label) of every choice, "auto" first, as the form lists them."""
    return list(LOSS_LABELS.items())


def uses_focal(name: str) -> bool:
    """Whether the loss has focal's gamma and alpha."""
    return str(name).startswith("focal")
