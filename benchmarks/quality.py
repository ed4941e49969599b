"""Model quality on the real data sets in ../shared/data, trained from the command line with
segstudio's defaults (the ones the Train button uses), scored by `segstudio evaluate`.

    python benchmarks/quality.py --quick            # CI smoke, under 5 minutes on 2 CPU cores
    python benchmarks/quality.py                    # the full study of docs/quality.md
    python benchmarks/quality.py --only isbi-unet,isbi-unet-sparse --threads 1
    python benchmarks/quality.py --list             # the experiments and their budgets

Every experiment imports a data set as a project (`segstudio import`, the data set's own split),
optionally replaces the training masks by simulated scribbles (about 5 % of the pixels, see
segstudio/training/scribbles.py), trains with `segstudio train --time-budget M` and scores the
best checkpoint with `segstudio evaluate` on ISBI's test split or CamVid's val split (CamVid has
no separate test split here: its val split also picks the best epoch, so it scores the *last*
checkpoint, which no val score chose).

CamVid runs at half resolution (240 x 180, images INTER_AREA, masks nearest) from a resized copy
in the work folder; ISBI at full 512 x 512. Results go to WORK/results/<experiment>.json;
``--reuse`` takes those instead of training again, so several invocations (one per core) can
share the work and a last one prints the table. The last line is JSON with
isbi_test_pixel_error, isbi_membrane_iou, camvid_val_miou, sparse_over_full_isbi (and
sparse_over_full_camvid, per-experiment scores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CAMVID_CLASSES = ("Sky,Building,Pole,Road,Sidewalk,Tree,SignSymbol,Fence,Car,Pedestrian,"
                  "Bicyclist")
RARE_CAMVID = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist")


@dataclass(frozen=True)
class Experiment:
    name: str
    dataset: str                 # "isbi" or "camvid-half"
    minutes: float
    model: str | None = None     # None: the default
    loss: str | None = None      # None: the default
    labels: str = "full"         # "full" or "sparse"
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def score_split(self) -> str:
        return "test" if self.dataset == "isbi" else "val"

    @property
    def checkpoint(self) -> str:
        return "best" if self.score_split == "test" else "last"


# The comparisons (architecture, loss, sparse labels) share an equal, shorter budget; the
# goal runs (ISBI 15 min, CamVid 60 min) use the defaults alone.
CMP = 8
OLD_AUG = ("--augment", '{"rotate90": true, "class_balance": 0}')
FULL = [
    Experiment("isbi-unet", "isbi", 15),
    Experiment("isbi-unet-sparse", "isbi", 15, labels="sparse"),
    Experiment("isbi-unetpp", "isbi", 15, model="unetpp"),
    Experiment("isbi-unet-elastic", "isbi", 15, extra=("--augment", '{"elastic": 10}')),
    Experiment("isbi-unet-w32", "isbi", 15, extra=("--model-options", '{"base_width": 32}')),
    Experiment("camvid-unet-60", "camvid-half", 60),
    # The loss comparison ran before rotations and class balancing became automatic: it pins
    # the settings of then (rotate90 on, no class-balanced sampling).
    Experiment("camvid-ce", "camvid-half", CMP, model="unet", loss="ce", extra=OLD_AUG),
    Experiment("camvid-weighted-ce", "camvid-half", CMP, model="unet", loss="weighted_ce",
               extra=OLD_AUG),
    Experiment("camvid-focal", "camvid-half", CMP, model="unet", loss="focal", extra=OLD_AUG),
    Experiment("camvid-ce-dice", "camvid-half", CMP, model="unet", loss="ce+dice",
               extra=OLD_AUG),
    Experiment("camvid-ce-norot", "camvid-half", CMP, model="unet", loss="ce",
               extra=("--augment", '{"rotate90": false, "class_balance": 0}')),
    Experiment("camvid-ce-norot-balanced", "camvid-half", CMP, model="unet", loss="ce",
               extra=("--augment", '{"rotate90": false, "class_balance": 0.5}')),
    Experiment("camvid-ce-norot-b4", "camvid-half", CMP, model="unet", loss="ce",
               extra=("--augment", '{"rotate90": false, "class_balance": 0}', "--batch", "4",
                      "--lr", "0.003")),
    Experiment("camvid-ce-norot-b4-intensity", "camvid-half", CMP, model="unet", loss="ce",
               extra=("--augment", '{"rotate90": false, "class_balance": 0, "brightness": 0.4, '
                      '"contrast": 0.3}', "--batch", "4", "--lr", "0.003")),
    Experiment("camvid-wce-auto-aug", "camvid-half", CMP, model="unet", loss="weighted_ce"),
    Experiment("camvid-wce-sqrt-auto-aug", "camvid-half", CMP, model="unet", loss="weighted_ce",
               extra=("--class-weights", "sqrt")),
    Experiment("camvid-unet-sparse", "camvid-half", CMP, labels="sparse"),
    Experiment("camvid-unetpp", "camvid-half", CMP, model="unetpp"),
]
QUICK = [
    Experiment("quick-isbi-unet", "isbi", 1.2),
    Experiment("quick-isbi-unet-sparse", "isbi", 1.2, labels="sparse"),
    Experiment("quick-camvid-unet", "camvid-half", 1.2),
]


def run(cmd: list[str], log: Path) -> str:
    """Run a segstudio command, its output streaming into ``log`` (to follow a long run);
    returns that output."""
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        start = fh.tell()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, text=True)
    with open(log, encoding="utf-8") as fh:
        fh.seek(start)
        out = fh.read()
    if proc.returncode != 0:
        raise SystemExit(f"quality.py: {' '.join(cmd[2:4])} failed ({proc.returncode}): "
                         f"{out.strip().splitlines()[-1] if out.strip() else ''}")
    return out


def segstudio(*args: str) -> list[str]:
    return [sys.executable, "-m", "segstudio", *args]


def camvid_half(work: Path) -> Path:
    """A half-resolution copy of CamVid (cached in the work folder)."""
    import cv2

    out = work / "data" / "camvid11_half"
    done = out / ".complete"
    if done.exists():
        return out
    src = DATA / "camvid11"
    for split in ("train", "val"):
        for kind in ("images", "masks"):
            (out / split / kind).mkdir(parents=True, exist_ok=True)
        for img in sorted((src / split / "images").glob("*.png")):
            a = cv2.imread(str(img), cv2.IMREAD_UNCHANGED)
            m = cv2.imread(str(src / split / "masks" / img.name), cv2.IMREAD_UNCHANGED)
            h, w = a.shape[:2]
            cv2.imwrite(str(out / split / "images" / img.name),
                        cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
            cv2.imwrite(str(out / split / "masks" / img.name),
                        cv2.resize(m, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST))
    done.write_text("ok")
    return out


def make_project(exp: Experiment, work: Path, log: Path) -> Path:
    from segstudio.io.masks import read_mask
    from segstudio.project.project import Project
    from segstudio.training.scribbles import simulate_scribbles

    if exp.dataset == "isbi":
        data, classes = DATA / "isbi2012_membrane", "membrane,cell"
    else:
        data, classes = camvid_half(work), CAMVID_CLASSES
    project = work / "projects" / exp.name
    shutil.rmtree(project, ignore_errors=True)
    run(segstudio("import", str(data), str(project), "--classes", classes), log)
    if exp.labels == "sparse":
        p = Project.open(project)
        covered = total = 0
        for i, (entry, mask_path) in enumerate(p.saved_masks()):
            if entry.split != "train":
                continue
            full = read_mask(mask_path)
            sparse = simulate_scribbles(full, 0.05, seed=i)
            covered += int(np.count_nonzero(sparse != 255))
            total += int(np.count_nonzero(full != 255))
            p.save_mask(entry, sparse)
        p.save()
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"scribbles cover {covered / total:.4f} of the labelled training pixels\n")
    return project


def run_experiment(exp: Experiment, work: Path, threads: int | None,
                   budget_scale: float = 1.0) -> dict:
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{exp.name}.log"
    log.write_text("")
    t0 = time.perf_counter()
    project = make_project(exp, work, log)
    minutes = exp.minutes * budget_scale
    cmd = ["train", str(project), "--time-budget", f"{minutes:g}", "--json", *exp.extra]
    if exp.model:
        cmd += ["--model", exp.model]
    if exp.loss:
        cmd += ["--loss", exp.loss]
    if threads:
        cmd += ["--threads", str(threads)]
    t_train = time.perf_counter()
    out = run(segstudio(*cmd), log)
    train_s = time.perf_counter() - t_train
    started = next(ln for ln in out.splitlines() if ln.startswith("Training "))
    run_dir = Path(started.rsplit("Run folder: ", 1)[1].strip())
    epochs = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    config = json.loads((run_dir / "config.json").read_text())["train_config"]
    ck = run_dir / f"{exp.checkpoint}.safetensors"
    ev = json.loads(run(segstudio("evaluate", str(project), str(ck), "--split", exp.score_split,
                                  "--json"), log).strip().splitlines()[-1])
    tta = None
    if exp.dataset == "isbi":
        # The U-Net paper's ISBI figure averaged rotated inputs: score that way too.
        tta = json.loads(run(segstudio("evaluate", str(project), str(ck), "--split",
                                       exp.score_split, "--tta", "--json"), log)
                         .strip().splitlines()[-1])
    return {"experiment": exp.name, "dataset": exp.dataset, "labels": exp.labels,
            "model": config["architecture"], "model_options": config["model"],
            "loss": config["loss"]["name"], "patch": config["patch"], "batch": config["batch"],
            "lr": config["lr"], "budget_min": minutes, "threads": threads,
            "epochs": len(epochs), "train_s": train_s, "total_s": time.perf_counter() - t0,
            "split": exp.score_split, "checkpoint": exp.checkpoint,
            "best_val_miou": max((e["miou"] for e in epochs), default=None),
            "miou": ev["miou"], "pixel_error": ev["pixel_error"], "iou": ev["iou"],
            "tta": None if tta is None else {k: tta[k] for k in ("miou", "pixel_error", "iou")},
            "device": f"{platform.machine()} CPU, {os.cpu_count()} cores, "
                      f"{threads or 'all'} thread(s)",
            "date": time.strftime("%Y-%m-%d"), "command": shlex.join(["segstudio", *cmd])}


def options(r: dict) -> str:
    """The training options of a row beyond the defaults (the run's command, shortened)."""
    args = shlex.split(r["command"])[3:]
    keep, skip = [], {"--time-budget", "--threads"}
    i = 0
    while i < len(args):
        if args[i] in skip:
            i += 2
            continue
        if args[i] not in ("--json",):
            keep.append(shlex.quote(args[i]))
        i += 1
    return " ".join(keep) or "(defaults)"


def table(results: list[dict]) -> str:
    rows = ["| experiment | labels | options | budget | epochs | split | mIoU | pixel error "
            "| per-class IoU |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ious = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} n/a"
                         for k, v in r["iou"].items())
        tta = f" ({r['tta']['pixel_error']:.4f} with TTA)" if r.get("tta") else ""
        rows.append(f"| {r['experiment']} | {r['labels']} | `{options(r)}` | "
                    f"{r['budget_min']:g} min | {r['epochs']} | {r['split']} | {r['miou']:.4f} | "
                    f"{r['pixel_error']:.4f}{tta} | {ious} |")
    return "\n".join(rows)


def summary(results: dict[str, dict]) -> dict:
    def pick(*names: str) -> dict | None:
        return next((results[n] for n in names if n in results), None)

    out: dict = {}
    isbi = pick("isbi-unet", "quick-isbi-unet")
    if isbi:
        out["isbi_test_pixel_error"] = round(isbi["pixel_error"], 4)
        out["isbi_membrane_iou"] = round(isbi["iou"]["membrane"], 4)
        out["isbi_test_miou"] = round(isbi["miou"], 4)
        if isbi.get("tta"):
            out["isbi_test_pixel_error_tta"] = round(isbi["tta"]["pixel_error"], 4)
    camvid = pick("camvid-unet-60", "quick-camvid-unet")
    if camvid:
        out["camvid_val_miou"] = round(camvid["miou"], 4)
        out["camvid_budget_min"] = camvid["budget_min"]
    for ds in ("isbi", "camvid"):
        # camvid-wce-sqrt-auto-aug ran the defaults (they are what "auto" resolves to).
        full = pick(f"{ds}-unet", f"{ds}-wce-sqrt-auto-aug", f"quick-{ds}-unet")
        sparse = pick(f"{ds}-unet-sparse", f"quick-{ds}-unet-sparse")
        if full and sparse:
            out[f"sparse_over_full_{ds}"] = round(sparse["miou"] / full["miou"], 4)
    out["experiments"] = {k: {"miou": round(v["miou"], 4),
                              "pixel_error": round(v["pixel_error"], 4)}
                          for k, v in results.items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke: three short runs")
    ap.add_argument("--only", help="comma-separated experiment names")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--work", default=os.environ.get("SEGSTUDIO_QUALITY_WORK",
                                                     "/tmp/segstudio-quality"))
    ap.add_argument("--threads", type=int, help="CPU threads per training run")
    ap.add_argument("--reuse", action="store_true", help="use saved results where present")
    ap.add_argument("--report", action="store_true",
                    help="train nothing: print the table and JSON of the saved results")
    ap.add_argument("--budget-scale", type=float, default=1.0,
                    help="multiply every time budget (tests use a tiny one)")
    args = ap.parse_args()
    exps = QUICK if args.quick else FULL
    if args.list:
        for e in exps:
            print(f"{e.name:22s} {e.dataset:12s} {e.minutes:5g} min  labels {e.labels}"
                  f"  model {e.model or 'default'}  loss {e.loss or 'default'} "
                  + " ".join(e.extra))
        return 0
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in {e.name for e in FULL + QUICK}]
        if unknown:
            print(f"quality.py: unknown experiment(s) {', '.join(unknown)}", file=sys.stderr)
            return 2
        exps = [e for e in FULL + QUICK if e.name in wanted]
    if not (DATA / "isbi2012_membrane").is_dir():
        print(f"quality.py: the data sets are not at {DATA}", file=sys.stderr)
        return 2
    work = Path(args.work)
    (work / "results").mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for exp in exps:
        path = work / "results" / f"{exp.name}.json"
        if (args.reuse or args.report) and path.exists():
            results[exp.name] = json.loads(path.read_text())
            continue
        if args.report:
            continue
        print(f"-- {exp.name}: {exp.dataset}, {exp.minutes * args.budget_scale:g} min ...",
              flush=True)
        r = run_experiment(exp, work, args.threads, args.budget_scale)
        path.write_text(json.dumps(r, indent=1))
        results[exp.name] = r
        print(f"   mIoU {r['miou']:.4f}  pixel error {r['pixel_error']:.4f}  "
              f"({r['epochs']} epochs, {r['total_s'] / 60:.1f} min)", flush=True)
    print()
    print(table(list(results.values())))
    print(json.dumps(summary(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
