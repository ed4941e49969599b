"""Hand a run to a server and take it back: a self-contained job folder, and importing a run
folder into a project.

A job folder holds everything `segstudio train` needs on another machine:

    JOB/project/        the project: segstudio.json, masks/ (and instances/), and its images
                        copied into project/images/ - or, with a path map, left where they are
                        (absolute paths: the server sees the same shared file system)
    JOB/config.json     the training settings (the window's form; "auto" left to the server,
                        which chooses for its own device)
    JOB/init/           the checkpoint a "continue from the current model" run starts from
    JOB/run.sh          plain shell: one process, or torchrun over $GPUS GPUs
    JOB/run.sbatch      SLURM: sbatch run.sbatch (edit the #SBATCH lines for your cluster)
    JOB/README.txt      what to type, and what to bring back

The run writes JOB/project/runs/<stamp>/, the same run folder as a local run; "Import run"
copies such a folder (finished, or still running: what is there so far) into the project's
runs/, where the dashboard and the model are read from. No pickle anywhere: checkpoints are
safetensors + JSON, and are checked before they are imported.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from segstudio.errors import ConfigError
from segstudio.io.atomic import atomic_write_text
from segstudio.project.project import ImageEntry, Project
from segstudio.training.config import TrainConfig
from segstudio.training.run_log import CONFIG_FILE, read_run

JOB_CONFIG = "config.json"


@dataclass(frozen=True)
class JobFolder:
    root: Path
    images_copied: int
    masks: int

    @property
    def script(self) -> Path:
        return self.root / "run.sh"

    @property
    def runs_dir(self) -> Path:
        return self.root / "project" / "runs"


def _checked_dest(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ConfigError(f"{dest} is not an empty folder: choose a new folder for the job.")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def write_job_folder(project: Project, config: TrainConfig, dest: str | os.PathLike[str], *,
                     copy_images: bool = True, gpus: int = 1) -> JobFolder:
    """Write a job folder for training ``project`` with ``config`` elsewhere (module doc)."""
    from segstudio import __version__

    dest = Path(dest)
    _checked_dest(dest)
    labelled = [e for e in project.images if project.mask_path(e).is_file()]
    if not labelled:
        raise ConfigError("No image of this project has labels yet: paint some first.")
    job_project = dest / "project"
    job_project.mkdir(parents=True)
    entries: list[ImageEntry] = []
    copied = 0
    for e in project.images:
        src = project.image_path(e)
        if copy_images:
            if not src.is_file():
                raise ConfigError(f"{e.id}: its image {src} cannot be read, so it cannot be "
                                  "copied into the job.")
            rel = f"images/{e.id}{src.suffix.lower()}"
            _copy(src, job_project / rel)
            copied += 1
            entries.append(ImageEntry(e.id, rel, e.split, e.labelled, e.objects))
        else:
            entries.append(ImageEntry(e.id, src.resolve().as_posix(), e.split, e.labelled,
                                      e.objects))
    masks = 0
    for e in labelled:
        _copy(project.mask_path(e), job_project / "masks" / f"{e.id}.png")
        masks += 1
        if project.is_instances and project.instance_path(e).is_file():
            inst = project.instance_path(e)
            _copy(inst, job_project / "instances" / inst.name)
    job = Project(root=job_project, classes=list(project.classes), images=entries,
                  name=project.name, settings=dict(project.settings), task=project.task)
    job.save()

    cfg = TrainConfig.from_json(config.to_json())
    cfg.resume_from = None
    cfg.cpu_threads = None  # the server's cores
    if cfg.init_from:
        init = Path(cfg.init_from).with_suffix(".safetensors")
        for suffix in (".safetensors", ".json"):
            _copy(init.with_suffix(suffix), dest / "init" / f"model{suffix}")
        cfg.init_from = "init/model.safetensors"  # run.sh runs in the job folder
    atomic_write_text(dest / JOB_CONFIG, _json(cfg))
    _write_scripts(dest, project.name, max(1, int(gpus)), __version__)
    return JobFolder(dest, copied, masks)


def _json(cfg: TrainConfig) -> str:
    import json

    return json.dumps(cfg.to_json(), indent=1) + "\n"


RUN_SH = """#!/usr/bin/env bash
# segstudio job for the project "{name}" (written {date} by segstudio {version}).
#   bash run.sh                  train with the settings in config.json
#   GPUS=4 bash run.sh           ... on 4 GPUs of this machine (torchrun, one process each;
#                                --max-restarts 2 resumes from the last checkpoint on a crash)
#   bash run.sh --time-budget 30 --device cuda     (options of `segstudio train` are added)
# The run folder appears in project/runs/<start time>/; bring that folder back and use
# Model > Import Run... in the window.
set -euo pipefail
cd "$(dirname "$0")"
PY=${{PYTHON:-python3}}
GPUS=${{GPUS:-{gpus}}}
if [ "$GPUS" -gt 1 ]; then
  exec "$PY" -m segstudio train project --config config.json --gpus "$GPUS" "$@"
fi
if [ "${{PROCS:-1}}" -gt 1 ]; then   # a CPU server: PROCS processes (gloo) share its cores
  exec "$PY" -m segstudio train project --config config.json --procs "$PROCS" "$@"
fi
exec "$PY" -m segstudio train project --config config.json "$@"
"""

RUN_SBATCH = """#!/bin/bash
# SLURM job for the segstudio project "{name}": sbatch run.sbatch
# Edit these lines for your cluster (partition, account, time, GPUs per node).
#SBATCH --job-name={job}
#SBATCH --nodes=1
#SBATCH --gres=gpu:{gpus}
#SBATCH --cpus-per-task={cpus}
#SBATCH --time=04:00:00
#SBATCH --output=segstudio-%j.log
# Several nodes: set --nodes=N above and replace the last line by
#   export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1     # (restarts: see docs/scale-out.md)
#   srun python3 -m torch.distributed.run --nnodes "$SLURM_NNODES" --nproc_per_node {gpus} \\
#     --rdzv-backend c10d --rdzv-endpoint "$(scontrol show hostnames "$SLURM_JOB_NODELIST" \\
#     | head -n1):29500" -m segstudio train project --config config.json
set -euo pipefail
cd "${{SLURM_SUBMIT_DIR:-$(dirname "$0")}}"
GPUS={gpus} bash run.sh
"""

README = """segstudio job: {name}
=============

On the server (Python 3.10+):

    pip install "segstudio=={version}"      # and a torch build for its GPUs
    bash run.sh                             # or: GPUS=4 bash run.sh, or: sbatch run.sbatch

The run is written to project/runs/<start time>/ (config.json, metrics.jsonl, best and last
checkpoints), the same as a run in the window. Copy that folder back - while it runs, too -
and choose Model > Import Run... in the window: the dashboard shows its curves and its best
model becomes the current one.

Settings: config.json (the window's form when the job was written). Options of
`segstudio train` after run.sh change the device, threads, epochs, iterations, time budget.
"""


def _write_scripts(dest: Path, name: str, gpus: int, version: str) -> None:
    values = dict(name=name.replace('"', "'"), date=time.strftime("%Y-%m-%d %H:%M"),
                  version=version, gpus=gpus, cpus=max(4, 8 * gpus),
                  job=shlex.quote("segstudio-" + "".join(c if c.isalnum() else "-"
                                                         for c in name)[:40]))
    for file, text, mode in (("run.sh", RUN_SH, 0o755), ("run.sbatch", RUN_SBATCH, 0o755),
                             ("README.txt", README, 0o644)):
        atomic_write_text(dest / file, text.format(**values))
        os.chmod(dest / file, mode)


def _copy_run_files(src: Path, dst: Path) -> None:
    """A run folder's files (it has no sub-folders), regular files only: a named pipe, a
    device or a link would hang the copy or copy something else than the run."""
    dst.mkdir(parents=True)
    for entry in sorted(src.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith(".tmp"):
            continue  # an atomic write in progress, or not the run's
        if entry.is_symlink() or not stat.S_ISREG(entry.lstat().st_mode):
            raise ConfigError(f"{src.name}: {entry.name} is not a regular file; a run folder "
                              "holds only the files a run writes. Nothing was imported.")
        shutil.copyfile(entry, dst / entry.name)


def import_run(project: Project, run_dir: str | os.PathLike[str]) -> Path:
    """Copy a run folder (from a job, another machine, a still running run) into the
    project's runs/ and return where it now is. Its model must be for the project's classes.
    Importing the same run again refreshes it."""
    from segstudio.inference.checkpoints import read_meta
    from segstudio.inference.model_classes import check_model_classes

    src = Path(run_dir)
    if not (src / CONFIG_FILE).is_file():
        raise ConfigError(f"{src} is not a segstudio run folder (it has no {CONFIG_FILE}).")
    run = read_run(src)
    if run.checkpoint is None:
        raise ConfigError(f"{src.name}: the run has no checkpoint yet; import it once it has "
                          "finished an epoch.")
    meta = read_meta(run.checkpoint)  # checked as a model file, never unpickled
    check_model_classes([str(c["name"]) for c in meta["classes"]],
                        [c.name for c in project.classes])
    dest = project.runs_dir / src.name
    if dest.resolve() == src.resolve():
        return dest
    tmp = project.runs_dir / f".{src.name}.importing"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _copy_run_files(src, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-copied stays in runs/
        raise
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest
