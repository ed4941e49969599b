"""The `segstudio` command's headless side (segstudio/launcher.py opens the window when no
command is given).

    segstudio demo DIR        write the demo project into DIR
    segstudio info PROJECT    summarise a project (classes, images, labels)
    segstudio train PROJECT   train a model headless (options: segstudio train --help)
    segstudio evaluate PROJECT CHECKPOINT   score a model on the project's test masks
    segstudio import DATASET PROJECT   a folder of images + index masks becomes a project
                                       (--instances: + instance maps, an instance project)
    segstudio export PROJECT --out DIR             masks as index PNG, colour PNG, COCO
    segstudio export-model CHECKPOINT --out DIR    safetensors, TorchScript, ONNX + scripts
    segstudio predict MODEL IMAGES... --out DIR    index masks (and COCO) for images
    segstudio import-masks PROJECT SOURCE --format labelme|coco|index
    segstudio next PROJECT CHECKPOINT   images to label next, least sure first (and where)

Errors a user can cause print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from segstudio import __version__
from segstudio.errors import SegStudioError

EXIT_USER_ERROR = 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from segstudio.project.demo import DEMO_TASK, generate_demo

    project = generate_demo(args.dir, task=DEMO_TASK)
    print(f"Demo project ({project.task}) with {len(project.images)} images written to "
          f"{project.root}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from segstudio.io.images import read_image_size
    from segstudio.project.project import Project

    p = Project.open(args.project)
    print(f"{p.name}: {len(p.images)} images, {len(p.classes)} classes, {p.task}")
    for i, c in enumerate(p.classes):
        print(f"  {i}: {c.name} ({c.color})")
    labelled = sum(1 for e in p.images if e.labelled > 0)
    print(f"  {labelled} image(s) have labels")
    if p.is_instances:
        print(f"  {sum(e.objects for e in p.images)} objects labelled")
    splits: dict[str, int] = {}
    for e in p.images:
        splits[e.split] = splits.get(e.split, 0) + 1
    print("  splits: " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items())))
    # Headers only (a fast check); read_image_size never opens a FIFO or a folder.
    unreadable = [e.id for e in p.images if read_image_size(p.image_path(e)) is None]
    if unreadable:
        shown = ", ".join(unreadable[:10]) + (f" and {len(unreadable) - 10} more"
                                              if len(unreadable) > 10 else "")
        print(f"  {len(unreadable)} image(s) cannot be read: {shown}")
    return 0


# (help, add the arguments to a subparser, run it); what the second returns is not used.
Subcommand = tuple[str, Callable[[argparse.ArgumentParser], object],
                   Callable[[argparse.Namespace], int]]


def _lazy(module: str, help_text: str, add: str, cmd: str) -> Subcommand:
    """A subcommand whose module (and torch with it) is imported only when it runs."""
    import importlib

    def get(name: str) -> Callable[..., Any]:
        func: Callable[..., Any] = getattr(importlib.import_module(f"segstudio.{module}"), name)
        return func

    return help_text, lambda p: get(add)(p), lambda a: int(get(cmd)(a))


SUBCOMMANDS: dict[str, Subcommand] = {
    "demo": ("write the demo project into a folder",
             lambda p: p.add_argument("dir", help="destination folder"), _cmd_demo),
    "info": ("summarise a project",
             lambda p: p.add_argument("project", help="project folder"), _cmd_info),
    "train": _lazy("cli.train", "train a model on a project's labels (as the Train button "
                   "does)", "add_train_arguments", "cmd_train"),
    "evaluate": _lazy("cli.evaluate", "score a model on a project's test (or val) masks: "
                      "per-class IoU, mIoU, pixel error", "add_evaluate_arguments",
                      "cmd_evaluate"),
    "import": _lazy("cli.train", "make a project from a folder of images and index masks "
                    "(or instance maps: --instances)", "add_import_arguments", "cmd_import"),
    "export": _lazy("cli.export", "export a project's masks (index PNG, colour PNG, COCO JSON; "
                    "instance maps and measurements CSV)", "add_export_arguments",
                    "cmd_export"),
    "export-model": _lazy("cli.export", "export a model (safetensors, TorchScript, ONNX) with "
                          "sample scripts", "add_export_model_arguments", "cmd_export_model"),
    "predict": _lazy("cli.export", "segment images with a model, writing index masks (and "
                     "COCO)", "add_predict_arguments", "cmd_predict"),
    "import-masks": _lazy("cli.export", "import index masks, labelme or COCO annotations into "
                          "a project", "add_import_masks_arguments", "cmd_import_masks"),
    "next": _lazy("cli.label_next", "which images to label next: a model's uncertainty over "
                  "each image's unlabelled pixels, least sure first", "add_next_arguments",
                  "cmd_next"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segstudio",
        description="Paint class masks, train a U-Net on your images, export masks and models. "
                    "Without a command, opens the window (on PATH, or on the demo project).")
    parser.add_argument("--version", action="version", version=f"segstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, func) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text)
        add_args(sp)
        sp.set_defaults(func=func)
    return parser


def is_command_line(argv: list[str]) -> bool:
    """True when ``argv`` asks for a subcommand or an option (--help, --version); otherwise
    the `segstudio` command opens the window (segstudio/launcher.py)."""
    return bool(argv) and (argv[0] in SUBCOMMANDS or argv[0].startswith("-"))


def main(argv: list[str] | None = None) -> int:
    """Run one headless subcommand; user errors print one ``segstudio:`` line and return 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # what was typed, for a command that starts itself again (train --gpus)
    if getattr(args, "func", None) is None:
        parser.print_usage(sys.stderr)
        print("segstudio: give a command (segstudio --help lists them)", file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except SegStudioError as exc:
        print(f"segstudio: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("segstudio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`segstudio info P | head`): not an error. Point stdout at
        # /dev/null so Python's flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
