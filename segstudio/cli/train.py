"""`segstudio train` and `segstudio import`: the headless side of the Train button."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segstudio.errors import ConfigError

if TYPE_CHECKING:
    from segstudio.training.config import TrainConfig

BUDGET_EPOCHS = 100_000  # "until the time budget is used up"


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    # All torch-free: the parser is built before any command runs.
    from segstudio.inference.device_choices import device_help
    from segstudio.models.catalog import architecture_names
    from segstudio.training.class_stats import WEIGHT_MODES
    from segstudio.training.config import TrainConfig
    from segstudio.training.loss_catalog import AUTO_LOSS, LOSS_NAMES

    d = TrainConfig()
    p.add_argument("project", help="project folder")
    p.add_argument("--model", default=d.architecture, help=", ".join(architecture_names()))
    p.add_argument("--model-options", default="{}", metavar="JSON",
                   help='model options as JSON, e.g. \'{"base_width": 32, "levels": 5}\'')
    p.add_argument("--augment", default="{}", metavar="JSON",
                   help='augmentation options as JSON, '
                        'e.g. \'{"elastic": 10, "scale": [0.7, 1.4]}\'')
    p.add_argument("--loss", default=AUTO_LOSS,
                   help=f"{AUTO_LOSS} (default: chosen from the data), "
                        f"{', '.join(LOSS_NAMES[:-1])} or {LOSS_NAMES[-1]}")
    p.add_argument("--class-weights", choices=list(WEIGHT_MODES),
                   help="weighted_ce with several classes: inverse (default) or median "
                        "frequency weights (the same up to a constant), or sqrt (milder)")
    p.add_argument("--gamma", type=float, help="focal gamma (default 2)")
    p.add_argument("--alpha", help="focal alpha: a number, 'auto', or comma-separated per class")
    p.add_argument("--epochs", type=int,
                   help=f"default {d.epochs}; with --time-budget and no --epochs, the budget "
                        "alone ends the run (the learning rate decays over the budget)")
    p.add_argument("--iterations", type=int, help="iterations per epoch (default: automatic)")
    p.add_argument("--batch", type=int, default=d.batch, help="default: chosen from the patch")
    p.add_argument("--patch", type=int, default=d.patch,
                   help="default: chosen from the image size")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--device", default=d.device, help=device_help())
    p.add_argument("--time-budget", type=float, metavar="MINUTES", help="stop after this long")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="early stop after N epochs without val mIoU gain (0 = never)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue a stopped run")
    p.add_argument("--init", metavar="CHECKPOINT", help="start from these weights")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print one JSON line per epoch")
    p.add_argument("--json-steps", action="store_true",
                   help="also one JSON line per iteration (step, loss, lr, images/s)")
    p.add_argument("--config", metavar="FILE",
                   help="the training settings as a JSON file (a job folder's config.json or "
                        "a run's config.json); only --device, --threads, --epochs, "
                        "--iterations, --time-budget and --resume may change it")
    from segstudio.cli.launch import add_launch_arguments

    add_launch_arguments(p)


def _json_object(text: str, option: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{option} is not valid JSON: {exc.msg}.") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{option} must be a JSON object.")
    return value


# What a --config file may still be changed by on the command line (where it runs decides).
CONFIG_OVERRIDES = ("device", "threads", "epochs", "iterations", "time_budget", "resume",
                    "gpus", "procs", "max_restarts", "run_dir", "sync_bn", "split_batch",
                    "json_steps", "argv")


def config_from_file(args: argparse.Namespace) -> TrainConfig:
    """--config FILE: the settings of a job folder (or of a run: its "train_config")."""
    from segstudio.io.jsonfile import JSONFileError, read_json
    from segstudio.training.config import TrainConfig

    plain = argparse.ArgumentParser(add_help=False)
    add_train_arguments(plain)
    parser_defaults = plain.parse_args([args.project])
    changed = [k for k, v in vars(args).items()
               if k not in {"project", "config", "json", "func", "command", *CONFIG_OVERRIDES}
               and getattr(parser_defaults, k, v) != v]
    if changed:
        raise ConfigError("With --config the settings come from the file; these options "
                          "cannot change it: " + ", ".join("--" + k.replace("_", "-")
                                                           for k in changed) + ".")
    try:
        data = read_json(args.config)
    except FileNotFoundError:
        raise ConfigError(f"--config: {args.config} does not exist.") from None
    except JSONFileError as exc:
        raise ConfigError(f"--config: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("train_config"), dict):
        data = data["train_config"]  # a run folder's config.json
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {args.config} is not a JSON object of training settings.")
    cfg = TrainConfig.from_json(data)
    if args.device != cfg.device and args.device != parser_defaults.device:
        cfg.device = args.device
    if args.threads:
        cfg.cpu_threads = args.threads
    if args.epochs:
        cfg.epochs = args.epochs
    if args.iterations:
        cfg.iterations_per_epoch = args.iterations
    if args.time_budget:
        cfg.time_budget_s = args.time_budget * 60
    cfg.resume_from = args.resume
    cfg.run_dir = args.run_dir
    cfg.sync_bn = cfg.sync_bn or args.sync_bn
    cfg.split_batch = cfg.split_batch or args.split_batch
    return TrainConfig.from_json(cfg.to_json())  # checked again as a whole


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from segstudio.training.config import TrainConfig, parse_focal_alpha

    if getattr(args, "config", None):
        return config_from_file(args)

    model_opts = _json_object(args.model_options, "--model-options")
    augment = _json_object(args.augment, "--augment")
    loss: dict[str, Any] = {"name": args.loss}
    if args.gamma is not None:
        loss["gamma"] = args.gamma
    if args.class_weights:
        loss["class_weight_mode"] = args.class_weights
    alpha = parse_focal_alpha(args.alpha)
    if alpha is not None:
        loss["alpha"] = alpha
    base = TrainConfig()
    # from_json: the --augment object is checked and turned into an AugmentConfig there.
    return TrainConfig.from_json(dict(
        architecture=args.model, model={**base.model, **model_opts}, loss=loss,
        epochs=args.epochs or (BUDGET_EPOCHS if args.time_budget else base.epochs),
        iterations_per_epoch=args.iterations,
        batch=args.batch, patch=args.patch, lr=args.lr, device=args.device,
        time_budget_s=args.time_budget * 60 if args.time_budget else None,
        patience=args.patience or None, resume_from=args.resume,
        init_from=args.init, seed=args.seed,
        cpu_threads=args.threads, augment=augment, run_dir=args.run_dir,
        sync_bn=args.sync_bn, split_batch=args.split_batch))


def _bar(frac: float, width: int = 24) -> str:
    n = int(round(frac * width))
    return "#" * n + "-" * (width - n)


def _silent(*args: Any, **kwargs: Any) -> None:
    """print on the ranks that do not speak."""


def cmd_train(args: argparse.Namespace) -> int:
    from segstudio.project.lock import command_lock
    from segstudio.project.project import Project
    from segstudio.training.config import format_duration
    from segstudio.training.distributed import is_main_process, torchrun_env
    from segstudio.training.events import (
        EpochReport,
        IterationReport,
        Notice,
        RunFinished,
        RunStarted,
    )
    from segstudio.training.loop import TrainControl, train

    if args.gpus is not None or args.procs is not None:
        from segstudio.cli.launch import launch

        return launch(args, getattr(args, "argv", sys.argv[1:]))
    project = Project.open(args.project)
    config = config_from_args(args)
    # Under torchrun every rank trains and rank 0 alone speaks (failures: every rank).
    main = is_main_process()
    rank = torchrun_env()
    who = "segstudio" if rank is None else f"segstudio (rank {rank.rank})"
    say = print if main else _silent
    with command_lock(project.root, "train", writes=False) as status:
        if status.held_by_other:
            say(f"note: {status.message}", flush=True)
    control = TrainControl()
    tty = sys.stderr.isatty() and main
    last_draw = 0.0
    names = [c.name for c in project.classes]
    try:
        for ev in train(project, config, control):
            if isinstance(ev, RunStarted):
                length = (f"epochs of {ev.iterations_per_epoch} iterations until "
                          f"{args.time_budget:g} minute{'' if args.time_budget == 1 else 's'} "
                          "are used"
                          if config.epochs == BUDGET_EPOCHS else
                          f"{ev.total_epochs} epochs x {ev.iterations_per_epoch} iterations")
                say(f"Training {ev.architecture} ({ev.parameters / 1e6:.2f} M parameters) on "
                      f"{ev.device}: {ev.train_images} training / {ev.val_images} validation "
                      f"images, {length}. Run folder: {ev.run_dir}", flush=True)
                for n in ev.notes:
                    say(f"note: {n}", flush=True)
            elif isinstance(ev, IterationReport):
                if args.json_steps:
                    say(json.dumps({"step": ev.iteration, "epoch": ev.epoch, "loss": ev.loss,
                                    "lr": ev.lr, "images_per_s": ev.images_per_s}), flush=True)
                now = time.monotonic()
                if tty and now - last_draw > 0.2:
                    last_draw = now
                    sys.stderr.write(f"\r[{_bar(ev.progress)}] {ev.progress:5.1%} epoch {ev.epoch} "
                                     f"loss {ev.loss:.4f} {ev.images_per_s:5.1f} img/s "
                                     f"ETA {format_duration(ev.eta_s)}  ")
                    sys.stderr.flush()
            elif isinstance(ev, EpochReport):
                if tty:
                    sys.stderr.write("\r" + " " * 90 + "\r")
                if args.json:
                    say(json.dumps({"epoch": ev.epoch, "train_loss": ev.train_loss,
                                      "val_loss": ev.val_loss, "miou": ev.miou,
                                      "iou": dict(zip(names, ev.iou, strict=False)),
                                      "depth_miou": ev.depth_miou, "seconds": ev.seconds,
                                      "confusion": ev.confusion.tolist(),
                                      **ev.instance_scores}),
                          flush=True)
                else:
                    ious = " ".join(f"{n}={v:.3f}" if v == v else f"{n}=n/a"
                                    for n, v in zip(names, ev.iou, strict=False))
                    extra = "".join(f" L{d}={v:.3f}" for d, v in ev.depth_miou.items())
                    vl = f"{ev.val_loss:.4f}" if ev.val_loss is not None else "n/a"
                    if ev.instance_scores:
                        o = ev.instance_scores
                        extra += (f"  AP@0.5={o['ap50']:.3f} mAP={o['map']:.3f}"
                                  f" AJI={o['aji']:.3f}")
                    say(f"epoch {ev.epoch:3d}  train loss {ev.train_loss:.4f}  val loss {vl}  "
                          f"mIoU {ev.miou:.4f}{' *' if ev.best else '  '} {ious}{extra}  "
                          f"[{format_duration(ev.seconds)}]", flush=True)
            elif isinstance(ev, Notice):
                say(f"note: {ev.text}", flush=True)
            elif isinstance(ev, RunFinished):
                if ev.reason == "failed":
                    print(f"{who}: {ev.message}", file=sys.stderr)
                    from segstudio.cli import EXIT_USER_ERROR

                    return EXIT_USER_ERROR  # a failed run is the data's or the options' fault
                score = "mean AP" if project.is_instances else "mIoU"
                best = (f" Best {score} {ev.best_miou:.4f}: {ev.best_checkpoint}"
                        if ev.best_checkpoint else "")
                say(f"{ev.message}{best} ({format_duration(ev.seconds)})", flush=True)
    except KeyboardInterrupt:
        control.request_stop()
        say("\nsegstudio: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    return 0


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="folder with <split>/images and <split>/masks (or "
                                   "<split>/instances with --instances)")
    p.add_argument("project", help="new project folder to create")
    p.add_argument("--classes", help="class names, comma-separated, in index order (with "
                                     "--instances index 0 is the background)")
    p.add_argument("--instances", action="store_true",
                   help="an instance project from <split>/instances/<stem>.png|.tif (0 = no "
                        "object, 1..N one id per object); an object's class comes from "
                        "<split>/masks if present, else it is class 1")


def cmd_import(args: argparse.Namespace) -> int:
    from segstudio.project.dataset_import import import_dataset

    names = [n.strip() for n in args.classes.split(",")] if args.classes else None
    objects = ""
    if args.instances:
        from segstudio.cli.export import _progress_printer
        from segstudio.project.instance_dataset_import import import_instance_dataset

        result = import_instance_dataset(args.dataset, args.project, names,
                                         progress=_progress_printer("importing"))
        for note in result.notes:
            print(f"note: {note}")
        p = result.project
        objects = f", {result.objects:,} objects"
    else:
        p = import_dataset(args.dataset, args.project, names)
        src = Path(args.dataset)
        if (src / "instances").is_dir() or any(d.is_dir() for d in src.glob("*/instances")):
            print("note: the data set has instances/ folders; --instances imports its objects")
    splits: dict[str, int] = {}
    for e in p.images:
        splits[e.split] = splits.get(e.split, 0) + 1
    print(f"Imported {len(p.images)} images (" + ", ".join(f"{k} {v}" for k, v in splits.items())
          + f"{objects}) with {len(p.classes)} classes into {p.root}")
    return 0
