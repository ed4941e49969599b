"""`segstudio train PROJECT --gpus N | --procs N`: start torchrun on this machine.

    segstudio train P --gpus 4 ...   ->  python -m torch.distributed.run --standalone
                                         --nproc_per_node 4 -m segstudio train P ... --run-dir R

The ranks get the same arguments without the launcher's own (--gpus, --procs,
--max-restarts) and with ``--run-dir``: the run folder is made here, so that ranks restarted by
torchrun (``--max-restarts``) resume that run from its last checkpoint. --gpus needs that many
CUDA GPUs and is refused otherwise; --procs N starts N CPU processes (gloo), each with its
share of the cores unless --threads is given. Several machines: start torchrun yourself
(docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from segstudio.errors import ConfigError

LAUNCHER_OPTIONS = ("--gpus", "--procs", "--max-restarts")
# torchrun shares its rendezvous store with the ranks' process group by default; ranks it
# restarts then read the dead ranks' addresses and cannot connect (pytorch/pytorch#135712).
LAUNCH_ENV = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


def add_launch_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("several processes (docs/scale-out.md)")
    g.add_argument("--gpus", type=int, metavar="N",
                   help="train on N CUDA GPUs of this machine (starts torchrun, one process "
                        "per GPU; --batch is per GPU)")
    g.add_argument("--procs", type=int, metavar="N",
                   help="train with N CPU processes (gloo; --batch is per process)")
    g.add_argument("--max-restarts", type=int, default=0, metavar="K",
                   help="with --gpus/--procs: restart the processes up to K times after a "
                        "failure, resuming from the last checkpoint")
    g.add_argument("--sync-bn", action="store_true",
                   help="synchronise batch norm across GPUs (SyncBatchNorm; CUDA only)")
    g.add_argument("--split-batch", action="store_true",
                   help="a check: every rank cuts the batch of all ranks as one process "
                        "would and trains on its share, so N ranks with --batch B give the "
                        "losses of one process with batch N x B")
    g.add_argument("--run-dir", metavar="DIR",
                   help="the run's folder (default: a new runs/<stamp>); when it holds a last "
                        "checkpoint the run resumes from it")


def rank_arguments(argv: list[str]) -> list[str]:
    """``argv`` without the launcher's options (``--gpus 2`` and ``--gpus=2`` alike)."""
    out: list[str] = []
    skip = False
    for tok in argv:
        if skip:
            skip = False
        elif tok in LAUNCHER_OPTIONS:
            skip = True
        elif not tok.startswith(tuple(o + "=" for o in LAUNCHER_OPTIONS)):
            out.append(tok)
    return out


def launch_command(argv: list[str], procs: int, run_dir: str, max_restarts: int = 0,
                   device: str | None = None) -> list[str]:
    rest = rank_arguments(argv)
    if device:
        rest += ["--device", device]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={procs}", f"--max-restarts={max_restarts}",
            "-m", "segstudio", *rest, "--run-dir", run_dir]


def check_launch(args: argparse.Namespace) -> tuple[int, str | None]:
    """(processes, the device the ranks are given) or a ConfigError saying what is wrong."""
    if args.gpus is not None and args.procs is not None:
        raise ConfigError("Give --gpus or --procs, not both.")
    n = args.gpus if args.gpus is not None else args.procs
    if n < 1:
        raise ConfigError("--gpus and --procs need at least 1.")
    if args.procs is not None:
        if args.device.startswith("cuda"):
            raise ConfigError("--procs starts CPU processes; for GPUs use --gpus N.")
        return n, "cpu"
    import torch

    have = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if have == 0:
        raise ConfigError(f"--gpus {n}: no CUDA GPU is usable here; --procs {n} trains with "
                          f"{n} CPU processes instead.")
    if have < n:
        raise ConfigError(f"--gpus {n}: this machine has {have} usable CUDA GPU(s).")
    if args.device not in ("auto", "cuda"):
        raise ConfigError(f"--gpus trains on CUDA, not on --device {args.device}.")
    return n, "cuda"


def launch(args: argparse.Namespace, argv: list[str]) -> int:
    """Start torchrun with ``n`` ranks of this `segstudio train`; its exit status."""
    from segstudio.project.project import Project
    from segstudio.training.setup import new_run_dir

    n, device = check_launch(args)
    run_dir = args.run_dir
    if run_dir is None:
        run_dir = str(Path(args.resume).parent if args.resume else
                      new_run_dir(Project.open(args.project)))
    cmd = launch_command(argv, n, run_dir, args.max_restarts, device)
    print(f"Starting {n} {'GPU' if device == 'cuda' else 'CPU'} processes (torchrun); run "
          f"folder: {run_dir}", flush=True)
    try:
        return subprocess.run(cmd, env={**LAUNCH_ENV, **os.environ}).returncode
    except KeyboardInterrupt:   # torchrun has the signal too and ends the ranks
        return 130
