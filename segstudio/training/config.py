"""Training settings: one dataclass, JSON-able, shared by the window and the command line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from segstudio.errors import ConfigError
from segstudio.models.catalog import validate_model_options
from segstudio.training.augment import AugmentConfig

# Model options the project decides (its images' channels, its classes), not the user.
FROM_PROJECT = ("in_channels", "num_classes")


def unknown_fields(d: Mapping[str, Any], cls: type) -> list[str]:
    """The keys of d that are not fields of the dataclass cls, sorted."""
    return sorted(set(d) - {f.name for f in fields(cls)})


@dataclass
class TrainConfig:
    architecture: str = "unet"
    model: dict[str, Any] = field(default_factory=lambda: {"base_width": 16, "levels": 4})
    loss: dict[str, Any] = field(default_factory=lambda: {"name": "auto"})  # auto: defaults.py
    patch: int = 0                            # 0: chosen from the image size (defaults.py)
    batch: int = 0                            # 0: chosen from the patch size
    epochs: int = 30
    iterations_per_epoch: int | None = None   # None: enough patches to cover the images once
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    device: str = "auto"
    amp: bool = True                          # mixed precision on CUDA
    channels_last: bool = True                # on CUDA only (slower on CPU)
    time_budget_s: float | None = None
    patience: int | None = 10                 # early stop after this many epochs without gain
    val_fraction: float = 0.2
    val_tile: int = 512
    seed: int = 0
    cpu_threads: int | None = None            # None: all cores (the window's run niced)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    resume_from: str | None = None            # checkpoint of a stopped run: continue that run
    init_from: str | None = None              # checkpoint whose weights start a new run
    # Batches cut ahead in a thread and losses read from the device ~10 times a second instead
    # of after every step (each read waits for the GPU). None: on for GPUs, off on the CPU.
    pipelined: bool | None = None
    # Distributed runs (torchrun; training/distributed.py). run_dir: the run's folder, resumed
    # from its last checkpoint when it has one (so restarted ranks go on with the same run).
    run_dir: str | None = None
    sync_bn: bool = False                     # SyncBatchNorm across ranks (CUDA only)
    # Every rank cuts the batch of all ranks (seeded alike) and trains on its share: the run
    # reproduces one process with the whole batch (a check; costs ranks x the cutting).
    split_batch: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.augment, Mapping):
            aug = dict(self.augment)
            unknown = unknown_fields(aug, AugmentConfig)
            if unknown:
                raise ConfigError("Unknown augmentation option(s): " + ", ".join(unknown)
                                  + "; known: " + ", ".join(sorted(
                                      f.name for f in fields(AugmentConfig))) + ".")
            if "scale" in aug:
                aug["scale"] = tuple(aug["scale"])
            self.augment = AugmentConfig(**aug)
        checks = [(self.patch >= 16 or self.patch == 0, "patch must be at least 16 pixels"),
                  (self.batch >= 1 or self.batch == 0, "batch must be at least 1"),
                  (self.epochs >= 1, "epochs must be at least 1"),
                  (self.lr > 0, "learning rate must be positive"),
                  (0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)")]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg.capitalize() + ".")
        self._check_model()

    def _check_model(self) -> None:
        """The architecture and its options (catalog.validate_model_options): an option out
        of range fails here, before any training starts (not by allocating a huge model)."""
        if not isinstance(self.model, Mapping):
            raise ConfigError(f"Model options must be a JSON object, not {self.model!r}.")
        fixed = [k for k in FROM_PROJECT if k in self.model]
        if fixed:
            raise ConfigError(f"{', '.join(fixed)}: set by the project's images and classes; "
                              "leave out of the model options.")
        validate_model_options(self.architecture, self.model)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = asdict(self.augment)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainConfig:
        unknown = unknown_fields(d, cls)
        if unknown:
            raise ConfigError(f"Unknown training option(s): {', '.join(unknown)}.")
        return cls(**dict(d))


def parse_focal_alpha(text: str | None) -> float | str | list[float] | None:
    """Focal alpha as a user types it: empty (no balancing), "auto", one number, or numbers
    separated by commas (one per class)."""
    text = (text or "").strip()
    if not text:
        return None
    if text == "auto":
        return "auto"
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"Focal alpha must be empty, 'auto', a number, or numbers separated by "
                          f"commas (one per class), not {text!r}.") from None
    return vals[0] if len(vals) == 1 else vals


def format_duration(seconds: float | None) -> str:
    """m:ss, or h:mm:ss from an hour on; "--:--" when unknown (progress bars, logs)."""
    if seconds is None:
        return "--:--"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"
