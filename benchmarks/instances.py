"""Instance segmentation on DSB2018 nuclei with the defaults, from the command line alone:
`segstudio import DIR PROJECT --instances`, `segstudio train PROJECT --time-budget M`,
`segstudio evaluate PROJECT best --split val --json`; then the same with sparse labels (10 %
of the objects of each training image labelled, a ring of background around each, the rest
not labelled), and the time to make objects from a 2048 x 2048 prediction.

    python benchmarks/instances.py             # the goal runs: 15 minutes each (about 35 min)
    python benchmarks/instances.py --quick     # CI size: 24 + 8 images, about 1.5 minutes
    python benchmarks/instances.py --budget-scale 0.1 --work /tmp/inst

The val split also picks the best epoch and the object thresholds (as the Train button does),
so its scores are a little optimistic; the data set's test split is kept apart for
independent scoring with the same commands. Prints a table; the last line is JSON with ap50,
ap75, map, aji, iou, count_error, sparse_ap50, sparse_over_full_ap50, postprocess_s_2048.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "dsb2018_nuclei"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _segstudio(*args: str, log: Path, threads: int | None) -> str:
    cmd = [sys.executable, "-m", "segstudio", *args]
    if threads and args[0] == "train":
        cmd += ["--threads", str(threads)]
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=fh, text=True)
        fh.write(r.stdout)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed (exit {r.returncode}); see {log}")
    return r.stdout


def subset(src: Path, dst: Path, train: int, val: int) -> Path:
    """The first ``train`` / ``val`` images of each split, as symbolic links."""
    for split, n in (("train", train), ("val", val)):
        names = sorted(p.name for p in (src / split / "images").glob("*.png"))[:n]
        for sub in ("images", "instances"):
            (dst / split / sub).mkdir(parents=True, exist_ok=True)
            for name in names:
                (dst / split / sub / name).symlink_to(src / split / sub / name)
    return dst


def sparsify(project_dir: Path, fraction: float, ring: int = 8, seed: int = 0) -> tuple[int, int]:
    """Keep ``fraction`` of the objects of every training image (at least one), and background
    within ``ring`` pixels of them; everything else becomes not labelled."""
    from scipy import ndimage

    from segstudio.io.masks import read_mask
    from segstudio.project.project import Project

    project = Project.open(project_dir)
    rng = np.random.default_rng(seed)
    kept = total = 0
    for entry in list(project.images):
        if entry.split != "train":
            continue
        mask = read_mask(project.mask_path(entry))
        inst = project.load_instances(entry, mask.shape)
        ids = np.unique(inst[inst > 0])
        if len(ids) == 0:
            continue
        chosen = ids[rng.random(len(ids)) < fraction]
        if len(chosen) == 0:
            chosen = rng.choice(ids, 1)
        keep = np.isin(inst, chosen)
        near = ndimage.binary_dilation(keep, iterations=ring)
        new_mask = np.where(keep, mask, np.where(near & (inst == 0), 0, 255)).astype(np.uint8)
        project.save_labels(entry, new_mask, np.where(keep, inst, 0).astype(np.uint32))
        kept += len(chosen)
        total += len(ids)
    project.save()
    return kept, total


def run_one(name: str, dataset: Path, work: Path, minutes: float, threads: int | None,
            sparse: float | None) -> dict:
    log = work / f"{name}.log"
    project = work / name
    if project.exists():
        shutil.rmtree(project)
    _segstudio("import", str(dataset), str(project), "--instances", log=log, threads=threads)
    note = ""
    if sparse is not None:
        kept, total = sparsify(project, sparse)
        note = f"{kept} of {total} training objects labelled"
    t0 = time.perf_counter()
    _segstudio("train", str(project), "--time-budget", f"{minutes:g}", log=log, threads=threads)
    seconds = time.perf_counter() - t0
    best = max((project / "runs").iterdir()) / "best.safetensors"
    out = _segstudio("evaluate", str(project), str(best), "--split", "val", "--json",
                     log=log, threads=threads)
    scores = json.loads(out.strip().splitlines()[-1])
    meta = json.loads(best.with_suffix(".json").read_text())
    return {"name": name, "minutes": minutes, "train_s": round(seconds, 1), "note": note,
            "epoch": meta.get("epoch"), "instance_params": meta.get("instance_params"),
            **{k: scores[k] for k in ("ap50", "ap75", "map", "dsb_score", "aji", "iou",
                                      "count_error", "precision50", "recall50", "f150",
                                      "gt_objects", "pred_objects", "images") if k in scores}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI size: a subset, short budgets")
    ap.add_argument("--minutes", type=float, default=15.0, help="training budget per run")
    ap.add_argument("--budget-scale", type=float, default=1.0)
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--no-sparse", action="store_true")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"{args.data} is not on this machine; nothing to measure.")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="segstudio-instances-"))
    work.mkdir(parents=True, exist_ok=True)
    minutes = (1.5 if args.quick else args.minutes) * args.budget_scale
    dataset = args.data
    if args.quick:
        sub = work / "dsb-subset"
        if sub.exists():
            shutil.rmtree(sub)
        dataset = subset(args.data, sub, train=24, val=8)
    rows = [run_one("dsb-full", dataset, work, minutes, args.threads, None)]
    if not args.no_sparse:
        rows.append(run_one("dsb-sparse10", dataset, work, minutes, args.threads, 0.10))

    from instance_postprocess import measure_postprocess  # benchmarks/instance_postprocess.py

    post = measure_postprocess(repeats=3 if args.quick else 5)

    print(f"\nDSB2018 nuclei, val split, {platform.node()} ({os.cpu_count()} cores), "
          f"{time.strftime('%Y-%m-%d')}{' (quick)' if args.quick else ''}\n")
    print("| run | labels | minutes | epoch | AP@0.5 | AP@0.75 | mean AP | AJI | IoU | "
          "count error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['note'] or 'all objects'} | {r['minutes']:g} | {r['epoch']} "
              f"| {r['ap50']:.3f} | {r['ap75']:.3f} | {r['map']:.3f} | {r['aji']:.3f} | "
              f"{r['iou']:.3f} | {r['count_error']:.2f} |")
    print(f"\nobjects from a 2048 x 2048 prediction: {post['postprocess_s_2048']:.3f} s "
          f"({post.get('objects_2048', '?')} objects)")
    full = rows[0]
    result = {k: full[k] for k in ("ap50", "ap75", "map", "aji", "iou", "count_error")}
    if len(rows) > 1:
        result["sparse_ap50"] = rows[1]["ap50"]
        result["sparse_map"] = rows[1]["map"]
        result["sparse_over_full_ap50"] = round(rows[1]["ap50"] / max(full["ap50"], 1e-9), 4)
    result["postprocess_s_2048"] = post["postprocess_s_2048"]
    result["minutes"] = minutes
    (work / "instances.json").write_text(json.dumps({"rows": rows, **result}, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
