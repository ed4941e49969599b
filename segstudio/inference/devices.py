"""Choosing where to train: CUDA, Apple MPS or the CPU."""

from __future__ import annotations

import os

import torch

from segstudio.errors import ConfigError
from segstudio.inference.device_choices import DEVICE_CHOICES


def mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(choice: str = "auto") -> torch.device:
    choice = (choice or "auto").lower()
    if choice not in DEVICE_CHOICES and not choice.startswith("cuda:"):
        raise ConfigError(f"Unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was chosen but no CUDA GPU is usable here (is the CUDA build of "
                          "PyTorch installed?). Choose Auto or CPU.")
    if choice == "mps" and not mps_available():
        raise ConfigError("Apple MPS was chosen but is not available on this machine.")
    return torch.device(choice)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "Apple MPS"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory of a CUDA device now (None elsewhere or when it cannot be asked)."""
    if device.type != "cuda":
        return None
    try:
        return int(torch.cuda.mem_get_info(device)[0])
    except (RuntimeError, AssertionError):
        return None


def cpu_threads_for_training(leave_for_gui: bool = False) -> int:
    """All cores, with a window too: leaving one core to the window cost ~40 % of training
    speed on 2 cores for no measured gain in fluidity; the window's training threads run at
    a lower OS priority instead (ui/training/controller.py, benchmarks/train_speed.py).
    ``leave_for_gui`` keeps the old choice (one core fewer) for that comparison."""
    n = os.cpu_count() or 1
    return max(1, n - 1) if leave_for_gui else n


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
