"""The training loop: a plain generator of report events, the same headless and in the window.

    for event in train(project, config, control):
        ...

It checks ``control`` between batches (stop within one batch, pause/resume), recovers from
out-of-memory by halving the batch, stops on a NaN loss keeping the best checkpoint, writes
checkpoints atomically, and never lets an exception escape: failures end the run with a
``RunFinished(reason="failed")`` that says what happened.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from segstudio.errors import SegStudioError
from segstudio.inference.devices import (
    cpu_threads_for_training,
    describe,
    free_memory,
    is_out_of_memory,
    resolve_device,
)
from segstudio.io.atomic import SaveError, atomic_write_text
from segstudio.project.project import Project
from segstudio.training.augment import PatchSampler
from segstudio.training.config import TrainConfig
from segstudio.training.data import Sample, TrainingData, load_training_data
from segstudio.training.events import (
    CheckpointSaved,
    EpochReport,
    IterationReport,
    Notice,
    RunFinished,
    RunStarted,
)
from segstudio.training.prefetch import BatchPrefetcher

Event = RunStarted | IterationReport | EpochReport | CheckpointSaved | Notice | RunFinished


class TrainControl:
    """Thread-safe stop and pause requests, checked by the loop between batches."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.05):
            pass


def model_num_classes(num_project_classes: int) -> int:
    """Two classes train as binary (one sigmoid channel, pos_weight); more use softmax."""
    return 1 if num_project_classes == 2 else num_project_classes


def lr_at(step: int, total: int, warmup: int, base: float, time_fraction: float = 0.0) -> float:
    """Linear warm-up then cosine decay to 1 % of the base rate.

    time_fraction (elapsed / time budget) moves the decay on when the budget, not the number of
    epochs, ends the run: a budgeted run still ends on low learning rates, where a cut-off
    cosine would stop at a high one (measured: ISBI, docs/quality.md)."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    t = max((step - warmup) / max(1, total - warmup), time_fraction)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def new_run_dir(project: Project) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = project.runs_dir / stamp
    n = 2
    while run.exists():
        run = project.runs_dir / f"{stamp}-{n}"
        n += 1
    run.mkdir(parents=True)
    return run


def train(project: Project, config: TrainConfig, control: TrainControl | None = None, *,
          gui: bool = False, fault_hook: Callable[[int], None] | None = None) -> Iterator[Event]:
    """Train on the project's labelled images; yields events until one RunFinished.

    fault_hook(iteration) is called before each forward pass; tests use it to inject faults
    (an out-of-memory error, a NaN)."""
    control = control or TrainControl()
    t0 = time.perf_counter()
    try:
        with ExitStack() as cleanup:  # ends the batch producer however the run ends
            yield from _train(project, config, control, gui, fault_hook, t0, cleanup)
    except SegStudioError as exc:
        yield RunFinished("failed", str(exc), None, None, 0, time.perf_counter() - t0)
    except Exception as exc:  # a bug or a hardware fault: end the run, say what happened
        yield RunFinished("failed", f"Training failed: {type(exc).__name__}: {exc}", None, None,
                          0, time.perf_counter() - t0)


def _train(project: Project, cfg: TrainConfig, control: TrainControl, gui: bool,
           fault_hook: Callable[[int], None] | None, t0: float,
           cleanup: ExitStack) -> Iterator[Event]:
    from segstudio.inference.checkpoints import (
        load_checkpoint,
        load_optimizer_state,
        read_meta,
        save_checkpoint,
    )
    from segstudio.models import create_model
    from segstudio.training.class_stats import count_labelled_pixels
    from segstudio.training.losses import build_loss, model_loss

    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.cpu_threads or cpu_threads_for_training(gui))
    torch.manual_seed(cfg.seed)
    data = load_training_data(project, cfg.val_fraction, cfg.seed)
    K = len(project.classes)
    n_out = model_num_classes(K)
    from segstudio.training.defaults import DataShape, resolve

    shape = DataShape(tuple(s.mask.shape[0] for s in data.train),
                      tuple(s.mask.shape[1] for s in data.train), K, data.channels)
    cfg, chosen = resolve(cfg, shape)
    if chosen:
        data.notes.insert(0, "Automatic settings: " + ", ".join(chosen) + ".")
    counts = count_labelled_pixels((s.mask for s in data.train), K)
    loss_fn = build_loss(cfg.loss, n_out, counts).to(device)

    start_epoch, best_miou, best_path = 1, -1.0, None
    run_dir: Path
    if cfg.resume_from:
        meta = read_meta(cfg.resume_from)
        ck = load_checkpoint(cfg.resume_from)
        model = ck.model
        run_dir = Path(cfg.resume_from).parent
        start_epoch = int(meta.get("epoch", 0)) + 1
        best_miou = float(meta.get("best_miou", -1.0))
        best = run_dir / "best.safetensors"
        best_path = str(best) if best.exists() else None
    elif cfg.init_from:
        # Retraining after corrections: the model's own architecture and weights go on.
        model = load_checkpoint(cfg.init_from).model
        if model.out_channels != (1 if n_out == 1 else n_out) or \
                model.in_channels != data.channels:
            raise SegStudioError("The model to continue from was trained for other classes or "
                                 "image channels than this project has now: train from scratch.")
    else:
        model = create_model(cfg.architecture, in_channels=data.channels, num_classes=n_out,
                             **cfg.model)
    if not cfg.resume_from:
        run_dir = new_run_dir(project)
    saved_best_miou = best_miou if best_path and best_miou >= 0 else None  # of best_path
    model.to(device)
    channels_last = cfg.channels_last and device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.resume_from:
        load_optimizer_state(cfg.resume_from, opt)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    sampler = PatchSampler(data.train, data.norm, cfg.patch, cfg.augment, cfg.seed + start_epoch)
    pipelined = is_pipelined(cfg, device)
    batches: Callable[[int], tuple] = sampler.batch
    if pipelined:
        batches = cleanup.enter_context(
            BatchPrefetcher(sampler.batch, pin=device.type == "cuda")).batch
    ipe = cfg.iterations_per_epoch or _auto_iterations(data.train, cfg.patch, cfg.batch)
    total_steps = cfg.epochs * ipe
    warmup = int(cfg.warmup_epochs * ipe)
    batch = cfg.batch
    meta_base = {
        "classes": [{"name": c.name, "color": c.color} for c in project.classes],
        "channels": data.channels, "normalisation": data.norm.to_json(),
        "project": project.name, "train_config": cfg.to_json(),
    }
    atomic_write_text(run_dir / "config.json", json.dumps(
        {"train_config": cfg.to_json(), "train_images": [s.image_id for s in data.train],
         "val_images": [s.image_id for s in data.val], **meta_base}, indent=1))
    weights = None
    if cfg.loss.get("name") == "weighted_ce":
        from segstudio.training.class_stats import class_weights, pos_weight

        weights = ((pos_weight(counts),) if n_out == 1 else
                   tuple(float(v) for v in class_weights(
                       counts, cfg.loss.get("class_weight_mode", "inverse"))))
    from segstudio.models import count_parameters

    yield RunStarted(str(run_dir), describe(device), getattr(model, "name", cfg.architecture),
                     count_parameters(model),
                     len(data.train), 0 if data.val_is_train else len(data.val), cfg.epochs, ipe,
                     weights, tuple(data.notes))

    step = (start_epoch - 1) * ipe
    since_best = 0
    iter_times: list[float] = []
    reason, message = "completed", "Training finished."
    epoch = start_epoch - 1
    pending: list[_Step] = []      # steps whose loss has not been read from the device yet
    last_read = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs + 1):
        model.train()
        epoch_loss, epoch_n = 0.0, 0
        it = 0
        while True:
            if pending and (not pipelined or it >= ipe or reason != "completed"
                            or control.paused or control.stop_requested
                            or time.perf_counter() - last_read >= READ_LOSSES_EVERY_S):
                # One read for all pending steps: on a GPU each read waits for it to finish.
                t_read = time.perf_counter()
                values = torch.stack([p.loss for p in pending]).float().cpu().tolist()
                last_read = time.perf_counter()
                # The wait for the device belongs to the steps just read (speed, ETA).
                pending[-1].seconds += last_read - t_read
                iter_times[-1] += last_read - t_read
                window = sum(p.seconds for p in pending)
                images = sum(p.batch for p in pending)
                for p, loss_v in zip(pending, values, strict=False):
                    if not math.isfinite(loss_v):
                        reason, message = "failed", _nan_message(p.epoch, p.iteration, best_path)
                        break
                    epoch_loss += loss_v
                    epoch_n += 1
                    recent = iter_times[-20:]
                    per_it = sum(recent) / len(recent)
                    rate = images / max(window, 1e-9)   # unpipelined: this one step
                    elapsed = last_read - t0
                    eta = (total_steps - p.step) * per_it
                    if cfg.time_budget_s:     # whichever ends the run first
                        eta = max(0.0, min(eta, cfg.time_budget_s - elapsed))
                    yield IterationReport(p.epoch, p.step, loss_v, p.lr, rate, p.batch,
                                          schedule_progress(p.step, total_steps, elapsed,
                                                            cfg.time_budget_s), eta)
                pending.clear()
            if reason != "completed" or it >= ipe:
                break
            control.wait_while_paused()
            if control.stop_requested:
                reason, message = "stopped", "Stopped by the user."
                continue                         # read what is pending, then stop
            if cfg.time_budget_s and time.perf_counter() - t0 > cfg.time_budget_s:
                reason, message = "time-budget", "The time budget is used up."
                continue
            ti = time.perf_counter()
            xb, yb = batches(batch)
            x = torch.as_tensor(xb).to(device, non_blocking=True)
            y = torch.as_tensor(yb).to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            budget_frac = ((time.perf_counter() - t0) / cfg.time_budget_s
                           if cfg.time_budget_s else 0.0)
            lr = lr_at(step, total_steps, warmup, cfg.lr, budget_frac)
            for g in opt.param_groups:
                g["lr"] = lr
            try:
                if fault_hook is not None:
                    fault_hook(step + 1)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    out = model(x, return_all=True)
                    loss = model_loss(model, out, y, loss_fn)
                # Pipelined, a NaN is seen at the next read (~0.1 s later) and that step's
                # update has been applied: the run stops all the same and the best checkpoint,
                # saved before, is what is kept.
                if not pipelined and not torch.isfinite(loss):
                    raise FloatingPointError
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            except FloatingPointError:
                reason, message = "failed", _nan_message(epoch, it + 1, best_path)
                continue
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                del x, y
                opt.zero_grad(set_to_none=True)
                free_memory(device)
                if batch == 1:
                    reason = "failed"
                    message = ("Out of memory even with a batch of 1: choose a smaller patch "
                               "size or model, or the CPU.")
                    continue
                batch = max(1, batch // 2)
                yield Notice(f"Out of GPU memory: batch size halved to {batch}; training goes on.")
                continue
            it += 1
            step += 1
            dt = time.perf_counter() - ti
            iter_times.append(dt)
            pending.append(_Step(loss.detach(), epoch, it, step, lr, batch, dt))
        if reason not in ("completed",) and epoch_n == 0:
            break
        if reason == "failed":
            break
        report = _validate(model, data, loss_fn, device, cfg, epoch,
                           epoch_loss / max(epoch_n, 1), use_amp)
        improved = report.miou > best_miou + 1e-6
        if improved:
            best_miou = report.miou
            since_best = 0
        elif schedule_progress(step, total_steps, time.perf_counter() - t0,
                               cfg.time_budget_s) >= PATIENCE_FROM:
            since_best += 1
        report = EpochReport(**{**report.__dict__, "best": improved,
                                "seconds": time.perf_counter() - t0})
        yield report
        meta = {**meta_base, "epoch": epoch, "best_miou": best_miou,
                "metrics": {"miou": report.miou, "iou": list(report.iou),
                            "pixel_accuracy": report.pixel_accuracy,
                            "depth_miou": {str(k): v for k, v in report.depth_miou.items()},
                            "val_loss": report.val_loss, "train_loss": report.train_loss}}
        try:
            path = save_checkpoint(run_dir / "last", model, meta, opt)
            yield CheckpointSaved(str(path), epoch, False)
            if improved:
                best_path = str(save_checkpoint(run_dir / "best", model, meta))
                saved_best_miou = best_miou
                yield CheckpointSaved(best_path, epoch, True)
        except SaveError as exc:
            # A full disk: the previous checkpoints are whole (see save_checkpoint); say which
            # one to use rather than going on training what cannot be kept.
            reason = "failed"
            message = f"{exc} Training stopped at epoch {epoch}."
            if best_path:
                score = (f" (validation mIoU {saved_best_miou:.3f})"
                         if saved_best_miou is not None else "")
                message += f" The best checkpoint{score} is kept: {best_path}"
            break
        try:
            _append_metrics(run_dir, report)
        except OSError as exc:
            yield Notice(f"Could not append to {run_dir.name}/metrics.jsonl "
                         f"({exc.strerror or exc}); training goes on.")
        if reason != "completed":
            break
        if cfg.patience and since_best >= cfg.patience:
            reason, message = "early-stopped", (f"No gain in validation mIoU for {cfg.patience} "
                                                "epochs: stopped early.")
            break
    yield RunFinished(reason, message, best_path, saved_best_miou, epoch,
                      time.perf_counter() - t0)


# Early stopping counts epochs without gain only from this share of the schedule on: before, the
# learning rate is high and a small validation set's score jumps by several points from epoch to
# epoch (ISBI, 5 slices: a 15-minute run stopped after 7.5 minutes at the peak rate; see
# docs/quality.md).
PATIENCE_FROM = 0.5


def is_pipelined(cfg: TrainConfig, device: torch.device) -> bool:
    """Batches cut ahead and losses read in groups: by default on GPUs only (prefetch.py)."""
    return cfg.pipelined if cfg.pipelined is not None else device.type != "cpu"


def schedule_progress(step: int, total_steps: int, elapsed_s: float,
                      budget_s: float | None) -> float:
    """How far the run is through its schedule, 0..1: by steps, or by time under a budget."""
    by_steps = step / max(1, total_steps)
    return min(1.0, max(by_steps, elapsed_s / budget_s if budget_s else 0.0))


# How often a pipelined run reads its losses from the device (each read waits for the device).
READ_LOSSES_EVERY_S = 0.1


@dataclass
class _Step:
    """A training step whose loss may still be on the device."""
    loss: torch.Tensor
    epoch: int
    iteration: int      # within the epoch, from 1
    step: int           # within the run, from 1
    lr: float
    batch: int
    seconds: float


def _nan_message(epoch: int, iteration: int, best_path: str | None) -> str:
    return (f"The loss became NaN or infinite at epoch {epoch}, iteration {iteration}: "
            "training stopped. Try a lower learning rate."
            + (" The best checkpoint was kept." if best_path else ""))


def _auto_iterations(train: list[Sample], patch: int, batch: int) -> int:
    pixels = sum(s.mask.size for s in train)
    return int(max(8, min(500, math.ceil(pixels / (patch * patch) / batch))))


@torch.no_grad()
def _validate(model, data: TrainingData, loss_fn, device: torch.device, cfg: TrainConfig,
              epoch: int, train_loss: float, amp: bool) -> EpochReport:
    from segstudio.core.metrics import ConfusionMatrix
    from segstudio.inference.tiling import predict_heads, predict_probabilities

    model.eval()
    K = data.num_classes
    cm = ConfusionMatrix(K)
    depths = list(getattr(model, "depths", []) or [])
    depth_cms = {d: ConfusionMatrix(K) for d in depths} if len(depths) > 1 else {}
    losses, weights = [], []
    for s in data.val:
        x = data.norm.apply(s.image)
        if depth_cms:
            # One pass for the default output and every depth (not one pass per depth).
            probs, per_depth = predict_heads(model, x, tile=cfg.val_tile, device=device, amp=amp)
            for d, dcm in depth_cms.items():
                dcm.update(per_depth[d].argmax(0), s.mask)
        else:
            probs = predict_probabilities(model, x, tile=cfg.val_tile, device=device, amp=amp)
        pred = probs.argmax(0)
        cm.update(pred, s.mask)
        labelled = s.mask != 255
        n = int(labelled.sum())
        if n:
            p_true = np.take_along_axis(probs, np.where(labelled, s.mask, 0)[None].astype(np.int64), 0)[0]
            losses.append(float(-np.log(np.clip(p_true[labelled], 1e-7, 1)).mean()))
            weights.append(n)
    model.train()
    iou = cm.iou_per_class()
    val_loss = float(np.average(losses, weights=weights)) if losses else None
    return EpochReport(epoch, train_loss, val_loss, cm.matrix.copy(),
                       tuple(float(v) for v in iou), cm.miou(), cm.pixel_accuracy(),
                       {d: dcm.miou() for d, dcm in depth_cms.items()})


def _append_metrics(run_dir: Path, r: EpochReport) -> None:
    line = json.dumps({"epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss,
                       "miou": r.miou, "iou": [None if np.isnan(v) else v for v in r.iou],
                       "pixel_accuracy": r.pixel_accuracy,
                       "depth_miou": {str(k): v for k, v in r.depth_miou.items()},
                       "seconds": r.seconds})
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
