"""`segstudio evaluate`: score a checkpoint on a project's held-out masks."""

from __future__ import annotations

import argparse
import json

from segstudio.inference.device_choices import device_help


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project folder")
    p.add_argument("checkpoint",
                   help="a .safetensors checkpoint (e.g. runs/<run>/best.safetensors)")
    p.add_argument("--split", default=None,
                   help="which images to score: test, val (the images training validated on), "
                        "train, auto or all (default: test where labelled, else val)")
    p.add_argument("--depth", type=int, help="U-Net++ depth 1..4 (default: the deepest)")
    p.add_argument("--tta", action="store_true",
                   help="average the 8 flips and rotations of each tile (8x slower)")
    p.add_argument("--device", default="auto", help=device_help())
    p.add_argument("--json", action="store_true", help="print the scores as one JSON line")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from segstudio.inference.evaluate import evaluate_project
    from segstudio.project.project import Project
    from segstudio.project.splits import resolve_split

    project = Project.open(args.project)
    args.split = resolve_split(project, args.split)
    ev = evaluate_project(project, args.checkpoint, args.split, depth=args.depth, tta=args.tta,
                          device=args.device)
    if args.json:
        print(json.dumps({"split": args.split, **ev.to_json()}))
        return 0
    for line in ev.skipped:
        print(f"skipped {line}")
    print(f"{ev.images} image(s) of split {args.split!r} in {ev.seconds:.1f} s")
    width = max(len(n) for n in ev.class_names)
    for name, v in zip(ev.class_names, ev.iou, strict=False):
        print(f"  {name:<{width}}  IoU {'n/a' if v != v else f'{v:.4f}'}")
    print(f"mIoU {ev.miou:.4f}  pixel error {ev.pixel_error:.4f}")
    if ev.objects is not None:
        o = ev.objects
        print(f"objects: AP@0.5 {o['ap50']:.4f}  AP@0.75 {o['ap75']:.4f}  mean AP (0.5:0.95) "
              f"{o['map']:.4f}  AJI {o['aji']:.4f}  count error {o['count_error']:.2f} per "
              f"image  ({int(o['gt_objects'])} true, {int(o['pred_objects'])} found)")
        print(f"foreground IoU {ev.foreground_iou:.4f}")
    return 0
