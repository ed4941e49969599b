"""Training on several processes with torch.distributed, started by torchrun.

    torchrun --nproc_per_node 2 -m segstudio train PROJECT ...

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE in every process it starts;
without them (``torchrun_env() is None``) nothing here runs and a run is the single process
it always was. With them, setup.py makes one :class:`Ranks` per run: it joins the process group
(NCCL on CUDA, each rank on cuda:LOCAL_RANK; gloo on the CPU) and the loop asks it for

- the model wrapped in DistributedDataParallel (``wrap``; the loop keeps the bare model for
  checkpoints and validation, so saved keys have no ``module.`` prefix),
- each rank's loss weighted by its labelled pixels (``weigh_loss``): the averaged gradient and
  the reported loss are those of one batch holding every rank's patches,
- its share of the validation images and the sum of every rank's counts (``share``, ``sum``),
- the same decision on every rank (``agree``): any rank's reason to end the run ends it on all,
  and the clock is the latest rank's, so the learning rate and the budget agree too.

Only rank 0 (``is_main``) writes the run folder (config, checkpoints, metrics.jsonl) and prints.
A rank that dies makes every collective of the others fail (gloo at once, NCCL by its watchdog)
or be ended by torchrun; ``timeout_s`` bounds any wait, and ``failure_message`` says what
happened in one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from segstudio.errors import ConfigError
from segstudio.training.events import EndReason

T = TypeVar("T")

TIMEOUT_ENV = "SEGSTUDIO_DIST_TIMEOUT"  # seconds any rank waits for the others
DEFAULT_TIMEOUT_S = 600.0
# An end decision as a number, so one all-reduce (max) gives every rank the same one.
END_CODES = (None, EndReason.TIME_BUDGET, EndReason.STOPPED, EndReason.EARLY_STOPPED,
             EndReason.FAILED)
OTHER_RANK = "Another rank ended the run (its output says why)."


@dataclass(frozen=True)
class RankInfo:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    restart: int = 0          # torchrun's restart count (--max-restarts)
    run_id: str = ""          # torchrun's --rdzv-id (a fresh one per --standalone launch)


def torchrun_env(environ: Mapping[str, str] | None = None) -> RankInfo | None:
    """The rank of this process as torchrun describes it, or None when not under torchrun."""
    env = os.environ if environ is None else environ
    if not all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return None
    try:
        world = int(env["WORLD_SIZE"])
        return RankInfo(int(env["RANK"]), world, int(env["LOCAL_RANK"]),
                        int(env.get("LOCAL_WORLD_SIZE", world)),
                        int(env.get("TORCHELASTIC_RESTART_COUNT", 0)),
                        env.get("TORCHELASTIC_RUN_ID", ""))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be numbers (torchrun sets "
                          "them).") from None


def is_main_process() -> bool:
    """False on every torchrun rank but 0 (the command line prints only on rank 0)."""
    info = torchrun_env()
    return info is None or info.rank == 0


def rank_seed(seed: int, rank: int) -> int:
    """A patch-sampling seed of its own for each rank (rank 0's differs from ``seed`` too)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def cpu_threads(local_world_size: int) -> int:
    """Each rank's share of the machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(local_world_size, 1))


def failure_message(exc: BaseException) -> str | None:
    """One line for an error of a collective (a rank died or the wait timed out), else None."""
    gloo_lost = isinstance(exc, RuntimeError) and any(
        s in str(exc) for s in ("Connection closed by peer", "Connection reset", "Gloo",
                                "NCCL", "Timed out"))
    if not isinstance(exc, dist.DistError) and not gloo_lost:
        return None
    info = torchrun_env()
    who = f"Rank {info.rank}" if info else "This rank"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r"^\[[^\]]*\.(cc|cpp):\d+\]\s*", "", first).split(". ")[0][:160]
    return (f"{who} lost the other ranks (one stopped, was killed or did not answer within "
            f"{timeout_s():g} s: {first}). The run ends; its last checkpoint is kept and "
            "`segstudio train ... --run-dir RUN` (or torchrun --max-restarts) resumes it.")


def timeout_s() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def rank_device(device: torch.device, info: RankInfo) -> torch.device:
    """cuda:LOCAL_RANK for a CUDA run, the CPU for a CPU run; other devices are refused."""
    if device.type == "cuda":
        if info.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"Rank {info.rank} needs GPU {info.local_rank} but this machine "
                              f"has {torch.cuda.device_count()}: start fewer processes per node.")
        return torch.device("cuda", info.local_rank)
    if device.type != "cpu":
        raise ConfigError(f"Distributed training runs on CUDA GPUs or the CPU, not {device}.")
    return device


class Ranks:
    """The process group of one run (see the module's doc). ``close`` leaves it."""

    def __init__(self, info: RankInfo, device: torch.device) -> None:
        self.info, self.device = info, device
        self.rank, self.world = info.rank, info.world_size
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        wait = timedelta(seconds=timeout_s())
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", timeout=wait, device_id=device)
            # Decisions and counts are small CPU values: a gloo group beside NCCL, so that
            # reading them never waits for the GPU.
            self.control: dist.ProcessGroup | None = dist.new_group(backend="gloo",
                                                                    timeout=wait)
        else:
            dist.init_process_group("gloo", timeout=wait)
            self.control = None   # the default group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def describe(self) -> str:
        return (f"Distributed: {self.world} rank{'s' if self.world != 1 else ''} "
                f"({self.backend}), "
                f"{self.info.local_world_size} on this node.")

    # ------------------------------------------------------------------ the model
    def wrap(self, model: nn.Module) -> nn.Module:
        """The model in DistributedDataParallel (convert_sync_bn first for SyncBatchNorm).
        U-Net++ and U-Net 3+ may leave heads out of the loss (head weights of 0, a CGM
        without weight): for them DDP looks for parameters without a gradient."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(
            model, device_ids=ids,
            find_unused_parameters=getattr(model, "name", "unet") != "unet")

    def sync_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (batch-norm statistics) on every rank: validation scores the
        model rank 0 saves."""
        for b in model.buffers():
            dist.broadcast(b, 0)

    def weigh_loss(self, loss: torch.Tensor, target: torch.Tensor, ignore: int = 255
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the loss to backpropagate, the loss of all ranks' batches together).

        Each rank's loss is a mean over its labelled pixels; weighted by world x its share of
        all labelled pixels, DDP's average of the gradients is the gradient of the mean over
        every rank's pixels, as one process with the whole batch computes it."""
        n = (target != ignore).sum().to(torch.float64)
        stats = torch.stack([n, loss.detach().to(torch.float64) * n])
        dist.all_reduce(stats)
        total = torch.clamp(stats[0], min=1.0)
        share = (n * self.world / total).to(loss.dtype)
        return loss * share, (stats[1] / total).to(loss.dtype)

    # ------------------------------------------------------------ data and counts
    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's items: every world-th from its rank."""
        return list(items[self.rank::self.world])

    def batch_share(self, xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return xb[self.rank::self.world], yb[self.rank::self.world]

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Every rank's array added up (int64 counts stay exact)."""
        t = torch.from_numpy(np.ascontiguousarray(a))
        dist.all_reduce(t, group=self.control)
        return t.numpy()

    def broadcast(self, obj: T) -> T:
        """Rank 0's picklable object on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, 0, group=self.control)
        return box[0]

    def agree(self, end: EndReason | None, clock_s: float) -> tuple[EndReason | None, float]:
        """The same end decision (the gravest any rank has) and clock (the latest) on every
        rank."""
        t = torch.tensor([float(END_CODES.index(end)), clock_s], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        return END_CODES[int(t[0])], float(t[1])

    def run_dir(self, choose: Path | None) -> Path:
        """The run folder rank 0 chose (``choose`` on rank 0; None elsewhere)."""
        return Path(self.broadcast(str(choose) if choose is not None else ""))


def convert_sync_bn(model: nn.Module, device: torch.device) -> nn.Module:
    if device.type != "cuda":
        raise ConfigError("--sync-bn needs CUDA GPUs (torch synchronises batch norm only "
                          "there); on the CPU each rank normalises its own patches: leave "
                          "--sync-bn out, or use a model with norm 'group'.")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)
