"""The training loop: a plain generator of report events, the same headless and in the window.

    for event in train(project, config, control):
        ...

It checks ``control`` between batches (stop within one batch, pause/resume), recovers from
out-of-memory by halving the batch, stops on a NaN loss keeping the best checkpoint, writes
checkpoints atomically, and never lets an exception escape: failures end the run with a
``RunFinished(reason=EndReason.FAILED)`` that says what happened.

The parts: setup.py builds the run (device, data, model, optimiser, batches, run folder);
here each epoch's steps run and their losses are read (``_Run``); validation.py scores the
epoch; schedule.py holds the learning rate, progress, budget and early-stopping rules;
run_log.py appends the epoch to the run's metrics.jsonl.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace

import torch

from segstudio.errors import SegStudioError
from segstudio.inference import checkpoints
from segstudio.inference.devices import free_memory, is_out_of_memory
from segstudio.inference.instance_postprocess import InstanceParams
from segstudio.io.atomic import SaveError
from segstudio.project.project import Project
from segstudio.training import losses
from segstudio.training.config import TrainConfig
from segstudio.training.distributed import OTHER_RANK, failure_message
from segstudio.training.events import (
    CheckpointSaved,
    EndReason,
    EpochReport,
    IterationReport,
    Notice,
    RunFinished,
    RunStarted,
)
from segstudio.training.instance_tuning import epoch_objects, tune_objects
from segstudio.training.run_log import METRICS_FILE, append_epoch
from segstudio.training.schedule import (
    PATIENCE_FROM,
    READ_LOSSES_EVERY_S,
    EarlyStopping,
    budget_fraction,
    budget_used_up,
    eta_seconds,
    is_pipelined,
    lr_at,
    schedule_progress,
)
from segstudio.training.setup import TrainingSetup, model_num_classes, new_run_dir, prepare
from segstudio.training.validation import ObjectCase, validate_epoch

__all__ = [
    "PATIENCE_FROM", "READ_LOSSES_EVERY_S", "EndReason", "Event", "RunEnd", "TrainControl",
    "is_pipelined", "lr_at", "model_num_classes", "new_run_dir", "schedule_progress", "train",
]

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


def train(project: Project, config: TrainConfig, control: TrainControl | None = None, *,
          gui: bool = False, fault_hook: Callable[[int], None] | None = None) -> Iterator[Event]:
    """Train on the project's labelled images; yields events until one RunFinished.

    fault_hook(iteration) is called before each forward pass; tests use it to inject faults
    (an out-of-memory error, a NaN)."""
    control = control or TrainControl()
    t0 = time.perf_counter()
    try:
        with ExitStack() as cleanup:  # ends the batch producer however the run ends
            setup = prepare(project, config, gui, cleanup)
            yield setup.started()
            yield from _Run(setup, control, fault_hook, t0).epochs()
    except SegStudioError as exc:
        yield RunFinished(EndReason.FAILED, str(exc), None, None, 0, time.perf_counter() - t0)
    except Exception as exc:  # a bug or a hardware fault: end the run, say what happened
        message = failure_message(exc) or f"Training failed: {type(exc).__name__}: {exc}"
        yield RunFinished(EndReason.FAILED, message, None, None, 0, time.perf_counter() - t0)


@dataclass(frozen=True)
class RunEnd:
    """Why and how a run is ending, as its RunFinished will say."""
    reason: EndReason
    message: str


COMPLETED = RunEnd(EndReason.COMPLETED, "Training finished.")
STOPPED = RunEnd(EndReason.STOPPED, "Stopped by the user.")
TIME_UP = RunEnd(EndReason.TIME_BUDGET, "The time budget is used up.")
# Distributed runs read the losses of this many steps at once where one process reads by time
# (READ_LOSSES_EVERY_S): every rank reads, and so sees a NaN, at the same step.
READ_LOSSES_EVERY_STEPS = 8


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


@dataclass
class _EpochTotals:
    loss: float = 0.0
    n: int = 0                      # steps whose loss has been read

    @property
    def mean(self) -> float:
        return self.loss / max(self.n, 1)


class _Run:
    """One run's state between steps; each method is one part of the loop and yields its
    events. ``end`` is None while the run goes on.

    losses.model_loss and checkpoints.save_checkpoint are looked up when called, so that tests
    can replace them (a NaN loss, a slow or failing save)."""

    def __init__(self, setup: TrainingSetup, control: TrainControl,
                 fault_hook: Callable[[int], None] | None, t0: float) -> None:
        self.s, self.cfg, self.control, self.fault_hook, self.t0 = (
            setup, setup.cfg, control, fault_hook, t0)
        start = setup.start
        self.step = (start.epoch - 1) * setup.iterations_per_epoch
        self.batch = self.cfg.batch
        self.early = EarlyStopping(self.cfg.patience, start.best_miou)
        self.best_path = start.best_path
        # The score of best_path, as far as known (a resumed run's best may be unknown).
        self.saved_best_miou = start.best_miou if start.best_path and start.best_miou >= 0 \
            else None
        self.end: RunEnd | None = None
        self.last_path: str | None = None
        self.iter_times: list[float] = []
        self.pending: list[_Step] = []    # steps whose loss has not been read from the device
        self.last_read = time.perf_counter()
        self.clock = 0.0                  # distributed: the run's time as all ranks agree it
        # instance projects: the object thresholds, and the best epoch's validation maps
        # they are chosen on when the run ends (instance_tuning.py)
        self.object_params = InstanceParams()
        self.best_cases: list[ObjectCase] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def run_time(self) -> float:
        """The time the schedule follows (learning rate, budget, patience): the same on every
        rank of a distributed run."""
        return self.elapsed() if self.s.ranks is None else self.clock

    def agreed(self, end: RunEnd | None) -> RunEnd | None:
        """A distributed run: every rank's end decision and clock made the same (the gravest
        reason, the latest clock); a rank that had no reason of its own takes the others'."""
        if self.s.ranks is None:
            return end
        reason, self.clock = self.s.ranks.agree(end.reason if end else None, self.elapsed())
        if reason is None or (end is not None and end.reason is reason):
            return end
        return {EndReason.STOPPED: STOPPED, EndReason.TIME_BUDGET: TIME_UP}.get(
            reason, RunEnd(reason, OTHER_RANK))

    # ----------------------------------------------------------------- the run
    def epochs(self) -> Iterator[Event]:
        epoch = self.s.start.epoch - 1
        for epoch in range(self.s.start.epoch, self.cfg.epochs + 1):
            totals = _EpochTotals()
            yield from self.train_epoch(epoch, totals)
            if self.end is not None and (totals.n == 0 or self.end.reason is EndReason.FAILED):
                break
            yield from self.finish_epoch(epoch, totals)
            if self.end is None and self.early.should_stop:
                what = "mean AP" if self.s.data.instances else "mIoU"
                self.end = RunEnd(EndReason.EARLY_STOPPED,
                                  f"No gain in validation {what} for {self.cfg.patience} "
                                  "epochs: stopped early.")
            self.end = self.agreed(self.end)
            if self.end is not None:
                break
        end = self.end or COMPLETED
        if self.best_cases and self.best_path and end.reason is not EndReason.FAILED:
            yield from tune_objects(self.best_cases, [self.best_path, self.last_path])
        yield RunFinished(end.reason, end.message, self.best_path, self.saved_best_miou, epoch,
                          self.elapsed())

    # --------------------------------------------------------------- one epoch
    def train_epoch(self, epoch: int, totals: _EpochTotals) -> Iterator[Event]:
        """Steps until the epoch's iterations are done or the run ends; every step's loss is
        read (and reported) before this returns."""
        self.s.model.train()
        ipe = self.s.iterations_per_epoch
        it = 0
        while True:
            if self.pending and self._read_due(it >= ipe):
                yield from self.read_losses(totals)
            if self.end is not None or it >= ipe:
                return
            self.end = self.interruption()
            if self.end is not None:
                continue                         # read what is pending, then stop
            done = yield from self.train_step(epoch, it)
            if done is not None:
                it += 1
                self.pending.append(done)

    def _read_due(self, epoch_done: bool) -> bool:
        """Read pending losses now? Unpipelined always; pipelined every READ_LOSSES_EVERY_S,
        and whenever the epoch or the run ends or the run pauses."""
        if self.s.ranks is not None:
            return (not self.s.pipelined or epoch_done or self.end is not None
                    or len(self.pending) >= READ_LOSSES_EVERY_STEPS)
        return (not self.s.pipelined or epoch_done or self.end is not None
                or self.control.paused or self.control.stop_requested
                or time.perf_counter() - self.last_read >= READ_LOSSES_EVERY_S)

    def interruption(self) -> RunEnd | None:
        """Wait out a pause; then a stop request or a used-up budget ends the run (on every
        rank of a distributed run when one of them says so)."""
        self.control.wait_while_paused()
        end = None
        if self.control.stop_requested:
            end = STOPPED
        elif budget_used_up(self.elapsed(), self.cfg.time_budget_s):
            end = TIME_UP
        return self.agreed(end)

    def read_losses(self, totals: _EpochTotals) -> Iterator[Event]:
        """One read for all pending steps (on a GPU each read waits for it to finish), one
        IterationReport per step; a NaN or infinite loss ends the run."""
        pending, cfg = self.pending, self.cfg
        t_read = time.perf_counter()
        values = torch.stack([p.loss for p in pending]).float().cpu().tolist()
        self.last_read = time.perf_counter()
        # The wait for the device belongs to the steps just read (speed, ETA).
        pending[-1].seconds += self.last_read - t_read
        self.iter_times[-1] += self.last_read - t_read
        window = sum(p.seconds for p in pending)
        world = 1 if self.s.ranks is None else self.s.ranks.world  # images of every rank
        images = sum(p.batch for p in pending) * world
        for p, loss_v in zip(pending, values, strict=False):
            if not math.isfinite(loss_v):
                self.end = RunEnd(EndReason.FAILED,
                                  _nan_message(p.epoch, p.iteration, self.best_path))
                break
            totals.loss += loss_v
            totals.n += 1
            recent = self.iter_times[-20:]
            per_it = sum(recent) / len(recent)
            rate = images / max(window, 1e-9)   # unpipelined: this one step
            elapsed = self.last_read - self.t0
            total = self.s.total_steps
            yield IterationReport(p.epoch, p.step, loss_v, p.lr, rate, p.batch,
                                  schedule_progress(p.step, total, elapsed, cfg.time_budget_s),
                                  eta_seconds(total - p.step, per_it, elapsed,
                                              cfg.time_budget_s))
        pending.clear()

    def train_step(self, epoch: int, it: int) -> Generator[Event, None, _Step | None]:
        """One optimiser step on a fresh batch; returns it, or None when it did not happen
        (out of memory: the batch is halved and a Notice says so; or the run ends)."""
        s, cfg = self.s, self.cfg
        ti = time.perf_counter()
        xb, yb = s.batches(self.batch)
        x = torch.as_tensor(xb).to(s.device, non_blocking=True)
        y = torch.as_tensor(yb).to(s.device, non_blocking=True)
        if s.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        lr = lr_at(self.step, s.total_steps, s.warmup_steps, cfg.lr,
                   budget_fraction(self.run_time(), cfg.time_budget_s))
        for g in s.opt.param_groups:
            g["lr"] = lr
        try:
            if self.fault_hook is not None:
                self.fault_hook(self.step + 1)
            with torch.autocast(s.device.type, dtype=s.amp_dtype, enabled=s.use_amp):
                out = (s.net or s.model)(x, return_all=True)
                loss = losses.model_loss(s.model, out, y, s.loss_fn)
            # Distributed: the loss of every rank's batch (what is reported), and this rank's
            # loss weighted so that DDP's mean gradient is that loss's gradient.
            reported = loss
            if s.ranks is not None:
                loss, reported = s.ranks.weigh_loss(loss, y)
            # Pipelined, a NaN is seen at the next read (~0.1 s later) and that step's
            # update has been applied: the run stops all the same and the best checkpoint,
            # saved before, is what is kept.
            if not s.pipelined and not torch.isfinite(reported):
                raise FloatingPointError
            s.opt.zero_grad(set_to_none=True)
            s.scaler.scale(loss).backward()
            s.scaler.step(s.opt)
            s.scaler.update()
        except FloatingPointError:
            self.end = RunEnd(EndReason.FAILED, _nan_message(epoch, it + 1, self.best_path))
            return None
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if s.ranks is not None:  # the ranks' batches and steps must stay the same
                self.end = RunEnd(EndReason.FAILED,
                                  f"Rank {s.ranks.rank} ran out of memory: a distributed run "
                                  "cannot halve one rank's batch; choose a smaller --batch.")
                return None
            del x, y
            s.opt.zero_grad(set_to_none=True)
            free_memory(s.device)
            if self.batch == 1:
                self.end = RunEnd(EndReason.FAILED,
                                  "Out of memory even with a batch of 1: choose a smaller patch "
                                  "size or model, or the CPU.")
                return None
            self.batch = max(1, self.batch // 2)
            yield Notice(f"Out of GPU memory: batch size halved to {self.batch}; training goes "
                         "on.")
            return None
        self.step += 1
        dt = time.perf_counter() - ti
        self.iter_times.append(dt)
        return _Step(reported.detach(), epoch, it + 1, self.step, lr, self.batch, dt)

    # ------------------------------------------------- validation and keeping
    def finish_epoch(self, epoch: int, totals: _EpochTotals) -> Iterator[Event]:
        """Validate, report, save the checkpoints and log the epoch. A full disk for the
        checkpoints ends the run; for the metrics log it is a notice."""
        s, cfg = self.s, self.cfg
        cases: list[ObjectCase] | None = [] if s.data.instances else None
        report = validate_epoch(s.model, s.data, s.device, cfg.val_tile, epoch, totals.mean,
                                s.use_amp, cases, s.ranks)
        if cases is not None:
            self.object_params, objects = epoch_objects(cases)
            report = replace(report, instance_scores=objects)
        progress = schedule_progress(self.step, s.total_steps, self.run_time(), cfg.time_budget_s)
        # An instance model is kept for its objects (mean AP over 0.5:0.95), not its pixels.
        selection = report.instance_scores.get("map", report.miou) if cases is not None \
            else report.miou
        improved = self.early.update(selection, progress)
        if improved and cases:
            self.best_cases = cases
        report = replace(report, best=improved, seconds=self.elapsed())
        yield report
        if not s.is_main:        # rank 0 alone writes the run folder
            return
        try:
            yield from self.save_checkpoints(epoch, report, improved)
        except SaveError as exc:
            # A full disk: the previous checkpoints are whole (see save_checkpoint); say which
            # one to use rather than going on training what cannot be kept.
            message = f"{exc} Training stopped at epoch {epoch}."
            if self.best_path:
                score = (f" (validation mIoU {self.saved_best_miou:.3f})"
                         if self.saved_best_miou is not None else "")
                message += f" The best checkpoint{score} is kept: {self.best_path}"
            self.end = RunEnd(EndReason.FAILED, message)
            return
        try:
            append_epoch(s.run_dir, report)
        except OSError as exc:
            yield Notice(f"Could not append to {s.run_dir.name}/{METRICS_FILE} "
                         f"({exc.strerror or exc}); training goes on.")

    def save_checkpoints(self, epoch: int, report: EpochReport, improved: bool
                         ) -> Iterator[Event]:
        s = self.s
        meta = {**s.meta_base, "epoch": epoch, "best_miou": self.early.best_miou,
                "metrics": {"miou": report.miou, "iou": list(report.iou),
                            "pixel_accuracy": report.pixel_accuracy,
                            "depth_miou": {str(k): v for k, v in report.depth_miou.items()},
                            "val_loss": report.val_loss, "train_loss": report.train_loss,
                            **report.instance_scores}}
        if s.data.instances:
            meta["instance_params"] = self.object_params.to_json()
        path = checkpoints.save_checkpoint(s.run_dir / "last", s.model, meta, s.opt)
        self.last_path = str(path)
        yield CheckpointSaved(str(path), epoch, False)
        if improved:
            self.best_path = str(checkpoints.save_checkpoint(s.run_dir / "best", s.model, meta))
            self.saved_best_miou = self.early.best_miou
            yield CheckpointSaved(self.best_path, epoch, True)


def _nan_message(epoch: int, iteration: int, best_path: str | None) -> str:
    return (f"The loss became NaN or infinite at epoch {epoch}, iteration {iteration}: "
            "training stopped. Try a lower learning rate."
            + (" The best checkpoint was kept." if best_path else ""))
