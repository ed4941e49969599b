"""The `segstudio` command.

    segstudio                 open the window with the demo project
    segstudio PATH            open a project folder, or a folder of images as a new project
    segstudio demo DIR        write the demo project into DIR
    segstudio info PROJECT    summarise a project (classes, images, labels)
    segstudio train PROJECT   train a model headless (options: segstudio train --help)
    segstudio import DATASET PROJECT   a folder of images + index masks becomes a project
    segstudio export PROJECT --out DIR             masks as index PNG, colour PNG, COCO
    segstudio export-model CHECKPOINT --out DIR    safetensors, TorchScript, ONNX + scripts
    segstudio predict MODEL IMAGES... --out DIR    index masks (and COCO) for images
    segstudio import-masks PROJECT SOURCE --format labelme|coco|index

Errors a user can cause print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from segstudio import __version__
from segstudio.errors import SegStudioError

EXIT_USER_ERROR = 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from segstudio.resources.demo_project import generate_demo

    project = generate_demo(args.dir)
    print(f"Demo project with {len(project.images)} images written to {project.root}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from segstudio.core.project import Project

    p = Project.open(args.project)
    print(f"{p.name}: {len(p.images)} images, {len(p.classes)} classes")
    for i, c in enumerate(p.classes):
        print(f"  {i}: {c.name} ({c.color})")
    labelled = sum(1 for e in p.images if e.labelled > 0)
    print(f"  {labelled} image(s) have labels")
    splits: dict[str, int] = {}
    for e in p.images:
        splits[e.split] = splits.get(e.split, 0) + 1
    print("  splits: " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items())))
    return 0


SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                             Callable[[argparse.Namespace], int]]] = {
    "demo": ("write the demo project into a folder",
             lambda p: p.add_argument("dir", help="destination folder"), _cmd_demo),
    "info": ("summarise a project",
             lambda p: p.add_argument("project", help="project folder"), _cmd_info),
    "train": ("train a model on a project's labels (as the Train button does)",
              lambda p: _lazy("add_train_arguments")(p), lambda a: _lazy("cmd_train")(a)),
    "import": ("make a project from a folder of images and index masks",
               lambda p: _lazy("add_import_arguments")(p), lambda a: _lazy("cmd_import")(a)),
    "export": ("export a project's masks (index PNG, colour PNG, COCO JSON)",
               lambda p: _lazy_export("add_export_arguments")(p),
               lambda a: _lazy_export("cmd_export")(a)),
    "export-model": ("export a model (safetensors, TorchScript, ONNX) with sample scripts",
                     lambda p: _lazy_export("add_export_model_arguments")(p),
                     lambda a: _lazy_export("cmd_export_model")(a)),
    "predict": ("segment images with a model, writing index masks (and COCO)",
                lambda p: _lazy_export("add_predict_arguments")(p),
                lambda a: _lazy_export("cmd_predict")(a)),
    "import-masks": ("import index masks, labelme or COCO annotations into a project",
                     lambda p: _lazy_export("add_import_masks_arguments")(p),
                     lambda a: _lazy_export("cmd_import_masks")(a)),
}


def _lazy(name: str):
    from segstudio import cli_train

    return getattr(cli_train, name)


def _lazy_export(name: str):
    from segstudio import cli_export

    return getattr(cli_export, name)


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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")):
        if len(argv) > 1:
            print("segstudio: give at most one folder to open", file=sys.stderr)
            return EXIT_USER_ERROR
        from segstudio.ui.app import run_gui

        return run_gui(argv[0] if argv else None)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SegStudioError as exc:
        print(f"segstudio: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("segstudio: interrupted", file=sys.stderr)
        return 130
