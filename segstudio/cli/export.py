"""`segstudio export`, `export-model`, `predict` and `import-masks`: masks and models in and
out, headless. The work is done by segstudio.project.mask_export / mask_import / model_export and
segstudio.inference.predictor; this module only parses arguments and prints."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segstudio.errors import ConfigError
from segstudio.inference.device_choices import device_help

if TYPE_CHECKING:
    from segstudio.inference.predictor import Predictor

EXIT_SOME_FAILED = 2  # same status as any other error a user can cause (see cli.py)


# ------------------------------------------------------------------------------ export
def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project folder")
    p.add_argument("--out", required=True, metavar="DIR", help="destination folder")
    p.add_argument("--format", metavar="LIST",
                   help="comma-separated: index (grayscale PNG, value = class index), color "
                        "(RGBA PNG), coco (JSON: one annotation per region, in an instance "
                        "project per object); instance projects also: instances (instance "
                        "maps, 16-bit PNG or uint32 TIFF), measurements (CSV, one row per "
                        "object); default: all of the project's")
    p.add_argument("--palette", action="store_true",
                   help="index masks as palette PNGs carrying the class colours (viewers show "
                        "colours; OpenCV's imread then returns colours, not class indices)")
    p.add_argument("--which", default="labelled", choices=("labelled", "all", "predictions"),
                   help="labelled images (default), all images, or predictions of --model")
    p.add_argument("--model", metavar="CHECKPOINT", help="model for --which predictions")
    p.add_argument("--depth", type=int, metavar="L", help="U-Net++ depth for predictions")
    p.add_argument("--tile", type=int, default=512, help="tile size for predictions")
    p.add_argument("--device", default="auto", help=device_help())


class _LazyPredictions(Mapping):
    """{image id: Prediction}, predicted when asked for, so memory holds one image at a time."""

    def __init__(self, project: Any, predictor: Any, depth: int | None) -> None:
        self.project, self.predictor, self.depth = project, predictor, depth
        self.ids = [e.id for e in project.images]

    def __getitem__(self, image_id: str) -> Any:
        from segstudio.io.images import read_image

        entry = self.project.entry(image_id)
        image = read_image(self.project.image_path(entry)).data
        return self.predictor.predict(image, self.depth)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def _out_folder(text: str) -> Path:
    """The --out folder, checked before anything is written: it is a folder, or can be made
    inside the nearest folder that exists, and that folder takes files. Creates nothing (the
    probe is an unnamed temporary file). Otherwise ConfigError, one line for the user."""
    out = Path(text)
    # os.path (not Path) asks: False, not PermissionError, under a folder that cannot be read
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out} is a file, not a folder.")
    base = out
    while not os.path.exists(base) and base.parent != base:   # /dev/null/x: not there
        base = base.parent
    what = "cannot be written" if base == out else "cannot be created"
    if not os.path.isdir(base):
        raise ConfigError(f"--out {out} {what}: {base} is not a folder.")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"--out {out} {what}: {base}: {reason}.") from None
    return out


def _load_predictor(path: str, depth: int | None, tile: int, device: str) -> Predictor:
    from segstudio.inference.predictor import Predictor

    if tile < 32:
        raise ConfigError("--tile must be at least 32 pixels.")
    predictor = Predictor.load(path, device=device, tile=tile, overlap=min(64, tile // 4))
    if depth is not None and depth not in predictor.depths:
        if not predictor.depths:
            raise ConfigError("--depth applies to U-Net++ models only.")
        raise ConfigError(f"--depth must be one of {', '.join(map(str, predictor.depths))} for "
                          "this model.")
    return predictor


def _progress_printer(label: str) -> Callable[[int, int], None]:
    tty = sys.stderr.isatty()

    def show(done: int, total: int) -> None:
        if tty:
            sys.stderr.write(f"\r{label} {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
    return show


def cmd_export(args: argparse.Namespace) -> int:
    from segstudio.core.classes import ClassInfo
    from segstudio.project.mask_export import default_formats, export_masks, parse_formats
    from segstudio.project.project import Project

    project = Project.open(args.project)
    formats = parse_formats(args.format or default_formats(project))
    out = _out_folder(args.out)
    predictions = classes = None
    if args.which == "predictions":
        if not args.model:
            raise ConfigError("--which predictions needs --model CHECKPOINT.")
        predictor = _load_predictor(args.model, args.depth, args.tile, args.device)
        predictions = _LazyPredictions(project, predictor, args.depth)
        classes = [ClassInfo(c["name"], c["color"]) for c in predictor.checkpoint.classes]
    elif args.model or args.depth is not None:
        raise ConfigError("--model and --depth apply to --which predictions only.")
    summary = export_masks(project, out, formats, args.which, predictions, classes,
                           progress=_progress_printer("exporting"), palette=args.palette)
    for image_id, reason in summary.failed:
        print(f"segstudio: {image_id}: {reason}", file=sys.stderr)
    print(f"Exported {len(summary.exported)} mask(s) ({', '.join(formats)}) to "
          f"{summary.out_dir}")
    return EXIT_SOME_FAILED if summary.failed else 0


# ------------------------------------------------------------------------------ export-model
def add_export_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="segstudio model (.safetensors with its .json beside it)")
    p.add_argument("--out", required=True, metavar="DIR", help="destination folder")
    p.add_argument("--format", default="safetensors,torchscript,onnx", metavar="LIST",
                   help="comma-separated: safetensors, torchscript, onnx (default: all three)")
    p.add_argument("--depth", type=int, metavar="L",
                   help="U-Net++: export the sub-network of head L only (pruned)")
    p.add_argument("--no-normalisation", action="store_true",
                   help="TorchScript/ONNX take normalised input instead of raw pixels")


def cmd_export_model(args: argparse.Namespace) -> int:
    from segstudio.inference.model_export import export_model, parse_formats

    formats = parse_formats(args.format)
    out = _out_folder(args.out)
    summary = export_model(args.checkpoint, out, formats, args.depth,
                           bake_normalisation=not args.no_normalisation)
    print(summary.describe())
    for fmt, diff in summary.max_abs_diff.items():
        print(f"  {fmt}: largest logit difference to PyTorch {diff:.2e}")
    print(f"  see {out / 'README.txt'} for how to run it")
    return 0


# ------------------------------------------------------------------------------ predict
def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="segstudio model (.safetensors with its .json beside it)")
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--out", required=True, metavar="DIR", help="destination folder")
    p.add_argument("--coco", action="store_true",
                   help="also write DIR/coco.json (one annotation per object, with a score)")
    p.add_argument("--color", action="store_true",
                   help="also write RGBA colour PNGs to DIR/color/")
    p.add_argument("--instances", action="store_true",
                   help="instance models: also write the objects to DIR/objects/: "
                        "instances/<image>.png (16-bit ids), coco.json (one annotation per "
                        "object) and measurements.csv (area, centroid, bbox, intensity...)")
    p.add_argument("--min-area", type=int, default=16, metavar="PIXELS",
                   help="--coco: leave out objects smaller than this (default 16 pixels)")
    p.add_argument("--depth", type=int, metavar="L", help="U-Net++ depth (pruned inference)")
    p.add_argument("--tile", type=int, default=512, help="tile size in pixels (default 512)")
    p.add_argument("--device", default="auto", help=device_help())


def _expand_images(items: list[str]) -> list[Path]:
    from segstudio.project.project import find_images

    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = find_images(p)
            if not found:
                raise ConfigError(f"{p} holds no images.")
            out += found
        else:
            out.append(p)  # unreadable or missing files are reported when they are read
    return out


def cmd_predict(args: argparse.Namespace) -> int:
    """Writes DIR/<stem>.png (grayscale PNG, value = class index) per image, as the sample
    scripts of an exported model do (DIR/color/<stem>.png and DIR/coco.json on request).
    Images that cannot be read are reported on stderr, one line each; the others are still
    written and the exit status is non-zero if any failed."""
    from segstudio.core.classes import ClassInfo
    from segstudio.inference.predict_many import predict_many
    from segstudio.project.mask_export import MaskWriter

    images = _expand_images(args.images)
    out = _out_folder(args.out)
    predictor = _load_predictor(args.model, args.depth, args.tile, args.device)
    classes = [ClassInfo(c["name"], c["color"]) for c in predictor.checkpoint.classes]
    formats = ["index"] + (["color"] if args.color else []) + (["coco"] if args.coco else [])
    if args.min_area < 0:
        raise ConfigError(f"--min-area must be 0 or more, got {args.min_area}.")
    writer = MaskWriter(out, classes, formats, description="segstudio predictions",
                        index_dir="", min_area=args.min_area)
    objects = None
    if args.instances:
        if not predictor.is_instances:
            raise ConfigError(f"{Path(args.model).name} is a semantic model: it predicts "
                              "classes, not objects; train it in an instance project for "
                              "--instances.")
        from segstudio.io.instance_export import InstanceWriter

        objects = InstanceWriter(out / "objects", classes, description="segstudio objects")
    used: set[str] = set()
    items = []
    for path in images:  # one output name per image, stems made unique case-insensitively
        name, n = path.stem, 2
        while name.lower() in used:
            name, n = f"{path.stem}-{n}", n + 1
        used.add(name.lower())
        items.append((name, path))

    def sink(name: str, pred: Any, path: Path, image: Any = None) -> None:
        writer.add(name, pred.labels, file_name=path.as_posix(), confidence=pred.confidence)
        if objects is not None:
            from segstudio.io.instance_export import InstanceItem

            objects.add(InstanceItem(name, pred.instances, pred.object_classes, image=image,
                                     file_name=path.as_posix()))
        count = "" if objects is None else f" ({len(pred.object_classes)} objects)"
        print(f"{path} -> {out / (name + '.png')}{count}", flush=True)

    result = predict_many(predictor, items, sink, depth=args.depth,
                          with_image=objects is not None,
                          on_failure=lambda f: print(f"segstudio: {f.message}",
                                                     file=sys.stderr))
    writer.finish()
    if objects is not None:
        objects.finish()
    failed, written = len(result.failed), result.written
    extra = f" and {out / 'coco.json'}" if args.coco else ""
    if objects is not None:
        extra += (f"; objects in {out / 'objects'} (instances/, coco.json, "
                  "measurements.csv)")
    print(f"{written} mask(s) written to {out}{extra}"
          + (f"; {failed} image(s) failed" if failed else ""))
    return EXIT_SOME_FAILED if failed else 0


# ------------------------------------------------------------------------------ import-masks
def add_import_masks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project folder")
    p.add_argument("source", help="folder of index masks, labelme .json file(s), a COCO .json "
                                  "or (instance projects) a folder of instance maps")
    p.add_argument("--format", required=True, choices=("index", "labelme", "coco", "instances"),
                   help="index: semantic projects; instances (<stem>.png|.tif, 0 = no object): "
                        "instance projects; labelme, coco: both (in an instance project one "
                        "object per shape or annotation)")
    p.add_argument("--merge", action="store_true",
                   help="paint imported labels over existing masks instead of replacing them")
    p.add_argument("--background", metavar="CLASS",
                   help="class for pixels no annotation covers (default: not labelled)")


def cmd_import_masks(args: argparse.Namespace) -> int:
    from segstudio.project.mask_import import import_masks
    from segstudio.project.project import Project

    project = Project.open(args.project)
    summary = import_masks(project, args.source, args.format,
                           mode="merge" if args.merge else "replace",
                           background=args.background,
                           progress=_progress_printer("importing"))
    print(summary.describe(limit=50))
    # Images of the source that are not in the project are listed, not an error; failures
    # are, and so is an import that matched nothing at all.
    if summary.failed or not summary.imported:
        return EXIT_SOME_FAILED
    return 0
