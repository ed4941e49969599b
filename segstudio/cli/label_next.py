"""`segstudio next`: which images (and where) to label next - the window's Label Here Next,
headless. Every image is predicted with the model and scored by the mean uncertainty of its
unlabelled pixels (inference/uncertainty.py); the list is printed least sure first."""

from __future__ import annotations

import argparse
import json
from typing import Any

from segstudio.inference.device_choices import device_help


def add_next_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project folder")
    p.add_argument("checkpoint",
                   help="a .safetensors checkpoint (e.g. runs/<run>/best.safetensors)")
    p.add_argument("--measure", choices=("entropy", "margin"), default="entropy",
                   help="per-pixel uncertainty: normalised entropy (default) or 1 - margin "
                        "between the two most probable classes")
    p.add_argument("--top", type=int, default=0, help="print only the N least sure images")
    p.add_argument("--depth", type=int, help="U-Net++ depth 1..4 (default: the deepest)")
    p.add_argument("--device", default="auto", help=device_help())
    p.add_argument("--json", action="store_true", help="print one JSON line")


def cmd_next(args: argparse.Namespace) -> int:
    from segstudio.core.uncertainty import order_by_uncertainty
    from segstudio.inference.predictor import Predictor
    from segstudio.inference.uncertainty import score_project
    from segstudio.project.project import Project

    project = Project.open(args.project)
    predictor = Predictor.load(args.checkpoint, device=args.device)
    failed: list[tuple[str, str]] = []
    scores = {s.image_id: s for s in score_project(
        predictor, project, measure=args.measure, depth=args.depth,
        on_failure=lambda i, m: failed.append((i, m)))}
    order = order_by_uncertainty({k: v.score for k, v in scores.items()})
    if args.top > 0:
        order = order[:args.top]
    rows: list[dict[str, Any]] = []
    for image_id in order:
        s = scores[image_id]
        region = s.region(project.load_mask(project.entry(image_id), s.shape))
        rows.append({"image": image_id, "uncertainty": round(s.score, 5),
                     "region": list(region) if region is not None else None})
    if args.json:
        print(json.dumps({"measure": args.measure, "images": rows,
                          "failed": [{"image": i, "message": m} for i, m in failed]}))
        return 0
    for i, m in failed:
        print(f"skipped {i}: {m}")
    print(f"{len(scores)} image(s) scored by {args.measure}; label these first:")
    width = max([len(r["image"]) for r in rows] + [5])
    for r in rows:
        box = r["region"]
        where = (f"x {box[0]}-{box[2]}, y {box[1]}-{box[3]}" if box is not None
                 else "fully labelled")
        print(f"  {r['image']:<{width}}  uncertainty {r['uncertainty']:.3f}  region {where}")
    return 0
