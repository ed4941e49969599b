"""Everything a run needs before its first step: the device, the data and its automatic
settings, the model (new, continued from a checkpoint, or resumed with its optimiser), the loss,
the batch source and the run folder with its config.json."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segstudio.errors import SegStudioError
from segstudio.inference.checkpoints import load_checkpoint, load_optimizer_state, read_meta
from segstudio.inference.devices import (
    cpu_threads_for_training,
    describe,
    free_memory_bytes,
    resolve_device,
)
from segstudio.inference.instance_model import TASK_INSTANCES
from segstudio.io.atomic import atomic_write_text
from segstudio.models import count_parameters, create_model
from segstudio.models.base import SegmentationModel
from segstudio.project.project import Project
from segstudio.training.augment import PatchSampler
from segstudio.training.class_stats import class_weights, count_labelled_pixels, pos_weight
from segstudio.training.config import TrainConfig
from segstudio.training.data import TrainingData, colour_fraction, load_training_data
from segstudio.training.defaults import DataShape, DeviceInfo, resolve
from segstudio.training.distributed import (
    Ranks,
    convert_sync_bn,
    cpu_threads,
    rank_device,
    rank_seed,
    torchrun_env,
)
from segstudio.training.events import RunStarted
from segstudio.training.losses import build_loss
from segstudio.training.prefetch import Batch, BatchPrefetcher
from segstudio.training.run_log import BEST_CHECKPOINT, CONFIG_FILE, LAST_CHECKPOINT
from segstudio.training.schedule import auto_iterations, is_pipelined


def model_num_classes(num_project_classes: int) -> int:
    """Two classes train as binary (one sigmoid channel, pos_weight); more use softmax."""
    return 1 if num_project_classes == 2 else num_project_classes


def new_run_dir(project: Project) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = project.runs_dir / stamp
    n = 2
    while run.exists():
        run = project.runs_dir / f"{stamp}-{n}"
        n += 1
    run.mkdir(parents=True)
    return run


@dataclass
class Start:
    """Where a run starts: its model and folder, and for a resumed run what it had reached."""

    model: SegmentationModel
    run_dir: Path
    epoch: int = 1                    # the first epoch to train
    best_miou: float = -1.0
    best_path: str | None = None      # the best checkpoint saved so far


@dataclass
class TrainingSetup:
    """A run ready for its first step (what train() used to build at its top)."""

    cfg: TrainConfig                  # with its automatic settings resolved
    data: TrainingData
    device: torch.device
    model: SegmentationModel
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loss_fn: nn.Module
    start: Start
    batches: Callable[[int], Batch]   # batch(n): n patches, cut now or ahead (pipelined)
    pipelined: bool
    use_amp: bool
    amp_dtype: torch.dtype
    channels_last: bool
    iterations_per_epoch: int
    meta_base: dict[str, Any]         # what every checkpoint of the run says about it
    class_weights: tuple[float, ...] | None
    ranks: Ranks | None = None        # a distributed run's process group (distributed.py)
    net: nn.Module | None = None      # what trains: the model, or it wrapped in DDP

    @property
    def is_main(self) -> bool:
        """True for a single process and for rank 0: the one that writes and reports."""
        return self.ranks is None or self.ranks.is_main

    @property
    def run_dir(self) -> Path:
        return self.start.run_dir

    @property
    def total_steps(self) -> int:
        return self.cfg.epochs * self.iterations_per_epoch

    @property
    def warmup_steps(self) -> int:
        return int(self.cfg.warmup_epochs * self.iterations_per_epoch)

    def started(self) -> RunStarted:
        data = self.data
        return RunStarted(str(self.run_dir), describe(self.device),
                          getattr(self.model, "name", self.cfg.architecture),
                          count_parameters(self.model), len(data.train),
                          0 if data.val_is_train else len(data.val), self.cfg.epochs,
                          self.iterations_per_epoch, self.class_weights, tuple(data.notes))


def _as_segmentation_model(model: nn.Module, path: str) -> SegmentationModel:
    if not isinstance(model, SegmentationModel):
        raise SegStudioError(f"{path} does not hold a segstudio segmentation model.")
    return model


def _restarted_run(project: Project, ranks: Ranks) -> str | None:
    """Ranks restarted by torchrun (--max-restarts) without --run-dir: the newest run folder
    that ranks of the same torchrun launch started (rank 0 looks, for all ranks)."""
    found = None
    if ranks.is_main and project.runs_dir.is_dir():
        for run in sorted(project.runs_dir.iterdir(), key=lambda p: p.name, reverse=True):
            try:
                launch = json.loads((run / CONFIG_FILE).read_text("utf-8"))["distributed"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(launch, dict) and launch.get("run_id") == ranks.info.run_id:
                found = str(run)
                break
    return ranks.broadcast(found)


def _resume_run_dir(project: Project, cfg: TrainConfig, ranks: Ranks | None) -> TrainConfig:
    """A run folder given with a last checkpoint in it: resume from that (rank 0 looks, for
    all ranks), whatever --resume said: ranks restarted by torchrun go on from the newest."""
    if not cfg.run_dir and ranks is not None and ranks.info.restart > 0:
        cfg = replace(cfg, run_dir=_restarted_run(project, ranks))
    if not cfg.run_dir:
        return cfg
    last = Path(cfg.run_dir) / LAST_CHECKPOINT
    found = last.is_file()
    if ranks is not None:
        found = ranks.broadcast(found)
    return replace(cfg, resume_from=str(last)) if found else cfg


def _new_run_dir(project: Project, cfg: TrainConfig, ranks: Ranks | None) -> Path:
    """The given run folder or a new stamped one; chosen by rank 0 in a distributed run."""
    if ranks is not None and not ranks.is_main:
        return ranks.run_dir(None)
    if cfg.run_dir:
        run = Path(cfg.run_dir)
        run.mkdir(parents=True, exist_ok=True)
    else:
        run = new_run_dir(project)
    return run if ranks is None else ranks.run_dir(run)


def _start(project: Project, cfg: TrainConfig, data: TrainingData, n_out: int,
           ranks: Ranks | None = None) -> Start:
    """Resume a run, continue from a model's weights, or build a new model."""
    if cfg.resume_from:
        meta = read_meta(cfg.resume_from)
        model = _as_segmentation_model(load_checkpoint(cfg.resume_from).model, cfg.resume_from)
        run_dir = Path(cfg.resume_from).parent
        best = run_dir / BEST_CHECKPOINT
        return Start(model, run_dir, int(meta.get("epoch", 0)) + 1,
                     float(meta.get("best_miou", -1.0)), str(best) if best.exists() else None)
    if cfg.init_from:
        # Retraining after corrections: the model's own architecture and weights go on.
        model = _as_segmentation_model(load_checkpoint(cfg.init_from).model, cfg.init_from)
        if model.out_channels != (1 if n_out == 1 else n_out) or \
                model.in_channels != data.channels:
            raise SegStudioError("The model to continue from was trained for other classes or "
                                 "image channels than this project has now: train from scratch.")
    else:
        model = create_model(cfg.architecture, in_channels=data.channels, num_classes=n_out,
                             **cfg.model)
    return Start(model, _new_run_dir(project, cfg, ranks))


def prepare(project: Project, cfg: TrainConfig, gui: bool, cleanup: ExitStack) -> TrainingSetup:
    """Set a run up; the batch producer of a pipelined run is closed with ``cleanup``."""
    device = resolve_device(cfg.device)
    info = torchrun_env()
    ranks = None
    if info is not None:                      # started by torchrun: one rank of several
        device = rank_device(device, info)
        ranks = Ranks(info, device)
        cleanup.callback(ranks.close)
    if device.type == "cpu":
        torch.set_num_threads(cfg.cpu_threads or (
            cpu_threads(info.local_world_size) if info else cpu_threads_for_training()))
    torch.manual_seed(cfg.seed)
    data = load_training_data(project, cfg.val_fraction, cfg.seed)
    K = data.target_classes  # an instance project adds the object boundary class
    n_out = model_num_classes(K)
    shape = DataShape(tuple(s.mask.shape[0] for s in data.train),
                      tuple(s.mask.shape[1] for s in data.train), K, data.channels,
                      colour_fraction(s.image for s in data.train), data.instances)
    device_info = DeviceInfo(device.type, describe(device), free_memory_bytes(device))
    cfg, chosen = resolve(cfg, shape, device_info)
    if chosen:
        data.notes.insert(0, "Automatic settings: " + ", ".join(chosen) + ".")
    counts = count_labelled_pixels((s.train_mask for s in data.train), K)
    loss_fn = build_loss(cfg.loss, n_out, counts).to(device)

    cfg = _resume_run_dir(project, cfg, ranks)
    start = _start(project, cfg, data, n_out, ranks)
    model = start.model
    model.to(device)
    channels_last = cfg.channels_last and device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stub
    if cfg.sync_bn and ranks is not None:
        convert_sync_bn(model, device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.resume_from:
        load_optimizer_state(cfg.resume_from, opt)
    if device.type == "cuda":
        # Fixed patch and batch sizes: cuDNN's fastest convolution algorithms, found once.
        torch.backends.cudnn.benchmark = True
    net = ranks.wrap(model) if ranks is not None else None
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    seed = cfg.seed + start.epoch
    if ranks is not None and not cfg.split_batch:
        seed = rank_seed(seed, ranks.rank)    # each rank draws patches of its own
    sampler = PatchSampler(data.train, data.norm, cfg.patch, cfg.augment, seed)
    pipelined = is_pipelined(cfg, device)
    batches: Callable[[int], Batch] = sampler.batch
    world = 1 if ranks is None else ranks.world
    if ranks is not None:
        data.notes.append(f"{ranks.describe()} Batch {cfg.batch} per rank, "
                          f"{cfg.batch * world} in all.")
        if cfg.split_batch:
            shared, of = ranks, sampler.batch
            batches = lambda n: shared.batch_share(*of(n * shared.world))  # noqa: E731
    if pipelined:
        batches = cleanup.enter_context(
            BatchPrefetcher(sampler.batch, pin=device.type == "cuda")).batch
    ipe = cfg.iterations_per_epoch or auto_iterations(data.train, cfg.patch, cfg.batch * world)
    meta_base = {
        "classes": [{"name": c.name, "color": c.color} for c in project.classes],
        "channels": data.channels, "normalisation": data.norm.to_json(),
        "project": project.name, "train_config": cfg.to_json(),
    }
    if data.instances:
        meta_base["task"] = TASK_INSTANCES
    if ranks is None or ranks.is_main:
        extra = {} if ranks is None else {"distributed": {
            "world_size": world, "backend": ranks.backend, "run_id": ranks.info.run_id}}
        atomic_write_text(start.run_dir / CONFIG_FILE, json.dumps(
            {"train_config": cfg.to_json(), "train_images": [s.image_id for s in data.train],
             "val_images": [s.image_id for s in data.val], "iterations_per_epoch": ipe,
             **meta_base, **extra}, indent=1))
    weights = None
    if cfg.loss.get("name") == "weighted_ce":
        weights = ((pos_weight(counts),) if n_out == 1 else
                   tuple(float(v) for v in class_weights(
                       counts, cfg.loss.get("class_weight_mode", "inverse"))))
    return TrainingSetup(cfg, data, device, model, opt, scaler, loss_fn, start, batches,
                         pipelined, use_amp, amp_dtype, channels_last, ipe, meta_base, weights,
                         ranks, net)
