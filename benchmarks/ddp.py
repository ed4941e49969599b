"""Distributed training (issue 16): `segstudio train` under torchrun, gloo CPU ranks, against
one process.

    python benchmarks/ddp.py --quick      # about a minute
    python benchmarks/ddp.py              # the figures in docs/scale-out.md

Parts:

exactness   2 ranks x batch B/2 with --split-batch (every rank cuts the single process's batch
            and trains on its half) against 1 process x batch B, same seeds: the largest
            difference of the loss over the first 20 steps, and whether the validation
            confusion matrix of every epoch is the same (validation is split across the ranks
            and their matrices added up). Group norm (batch norm would see half the batch).
throughput  2 ranks x 1 thread against 1 process x 2 threads (and, for reference, 1 process
            x 1 thread), the same global batch (2 x B/2 against B), each rank drawing its
            own patches: images/s between the step lines
            rank 0 prints (--json-steps) after warm-up, wall clock, so every collective counts.
            Sides alternate for --rounds rounds; each side's best round is its figure (other
            processes on a shared machine only ever slow a round down).

Both sides are the real command line (`python -m segstudio train` / `python -m
torch.distributed.run --standalone --nproc_per_node 2 -m segstudio train`) on a generated demo
project. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(*args: object) -> None:
    print(*args, flush=True)


def env(threads: int) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items()
         if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), e.get("PYTHONPATH")) if p)
    e["OMP_NUM_THREADS"] = str(threads)
    return e


def command(project: Path, ranks: int, args: list[str]) -> list[str]:
    head = [sys.executable, "-m", "segstudio"] if ranks == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={ranks}", "-m", "segstudio"]
    return head + ["train", str(project), "--json", "--json-steps", "--device", "cpu", *args]


def run(project: Path, ranks: int, threads: int, args: list[str]) -> list[tuple[float, dict]]:
    """The JSON lines rank 0 prints, each with the time it arrived."""
    proc = subprocess.Popen(command(project, ranks, ["--threads", str(threads), *args]),
                            cwd=ROOT, env=env(threads), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            lines.append((time.perf_counter(), json.loads(line)))
    err = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0:
        sys.exit(f"ddp: {' '.join(command(project, ranks, args)[:6])}... failed:\n{err[-2000:]}")
    return lines


def model_args(model: dict, patch: int, batch: int, iterations: int, epochs: int) -> list[str]:
    return ["--model-options", json.dumps(model), "--loss", "ce", "--patch", str(patch),
            "--batch", str(batch), "--iterations", str(iterations), "--epochs", str(epochs),
            "--patience", "0", "--seed", "0"]


def exactness(project: Path, steps: int, batch: int) -> dict:
    model = {"base_width": 4, "levels": 3, "norm": "group"}
    epochs = 2
    per_epoch = steps // epochs
    one = run(project, 1, 1, model_args(model, 64, batch, per_epoch, epochs))
    two = run(project, 2, 1, model_args(model, 64, batch // 2, per_epoch, epochs)
              + ["--split-batch"])

    def losses(lines: list[tuple[float, dict]]) -> list[float]:
        return [d["loss"] for _, d in lines if "step" in d]

    def confusions(lines: list[tuple[float, dict]]) -> list[list]:
        return [d["confusion"] for _, d in lines if "confusion" in d]

    a, b = losses(one), losses(two)
    assert len(a) == len(b) == steps, (len(a), len(b))
    diff = max(abs(x - y) for x, y in zip(a, b, strict=True))
    equal = confusions(one) == confusions(two) and len(confusions(one)) == epochs
    log(f"\nexactness: U-Net w4 L3 group norm, patch 64, {steps} steps, {epochs} validations")
    log(f"{'step':>5} {'1 x batch ' + str(batch):>16} {'2 x batch ' + str(batch // 2):>16}"
        f" {'|diff|':>10}")
    for i, (x, y) in enumerate(zip(a, b, strict=True), 1):
        if i <= 3 or i > steps - 2:
            log(f"{i:5d} {x:16.7f} {y:16.7f} {abs(x - y):10.2e}")
        elif i == 4:
            log(f"{'...':>5}")
    log(f"max |loss difference| {diff:.2e}; confusion matrices equal: {equal}")
    return {"ddp_max_loss_diff": diff, "ddp_confusion_equal": equal, "exact_steps": steps}


def rate(lines: list[tuple[float, dict]], batch: int, warmup: int) -> float:
    """images/s between the step lines after ``warmup`` steps (wall clock)."""
    t = [at for at, d in lines if "step" in d][warmup:]
    return (len(t) - 1) * batch / (t[-1] - t[0])


def throughput(project: Path, model: dict, patch: int, batch: int, steps: int, warmup: int,
               rounds: int) -> dict:
    args = model_args(model, patch, batch, warmup + steps, 1)
    half = model_args(model, patch, batch // 2, warmup + steps, 1)
    single, ddp, one = [], [], []
    for r in range(rounds):
        single.append(rate(run(project, 1, 2, args), batch, warmup))
        ddp.append(rate(run(project, 2, 1, half), batch, warmup))
        one.append(rate(run(project, 1, 1, args), batch, warmup))
        log(f"round {r + 1}: 1 process x 2 threads {single[-1]:6.1f} img/s, "
            f"2 ranks x 1 thread {ddp[-1]:6.1f} img/s, 1 process x 1 thread {one[-1]:6.1f}")
    best_single, best_ddp, best_one = max(single), max(ddp), max(one)
    log(f"\nthroughput: U-Net {json.dumps(model)}, patch {patch}, global batch {batch}, "
        f"{steps} steps after {warmup} warm-up, best of {rounds}")
    log(f"{'side':<26} {'img/s':>8}")
    log(f"{'1 process x 2 threads':<26} {best_single:8.1f}")
    log(f"{'2 ranks x 1 thread (gloo)':<26} {best_ddp:8.1f}")
    log(f"{'1 process x 1 thread':<26} {best_one:8.1f}")
    log(f"2 ranks / 1 process x 2 threads: {best_ddp / best_single:.3f}; "
        f"2 ranks / 1 process x 1 thread: {best_ddp / best_one:.3f}")
    return {"ddp2_over_single": best_ddp / best_single, "single_images_per_s": best_single,
            "ddp2_images_per_s": best_ddp, "one_thread_images_per_s": best_one,
            "ddp2_over_one_thread": best_ddp / best_one,
            "throughput_rounds": {"single": single, "ddp2": ddp, "one_thread": one},
            "throughput_setup": {"model": model, "patch": patch, "batch": batch,
                                 "steps": steps, "warmup": warmup}}


def rounded(o: object) -> object:
    if isinstance(o, float):
        return round(o, 4) if abs(o) >= 1e-3 else float(f"{o:.3g}")
    if isinstance(o, dict):
        return {k: rounded(v) for k, v in o.items()}
    if isinstance(o, list):
        return [rounded(v) for v in o]
    return o


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="about a minute")
    ap.add_argument("--rounds", type=int, help="throughput rounds (default 1 quick, 3 full)")
    ap.add_argument("--parts", default="exactness,throughput")
    a = ap.parse_args()
    from segstudio.project.demo import generate_demo

    parts = a.parts.split(",")
    out: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                            f"{platform.system()}", "quick": a.quick}
    with tempfile.TemporaryDirectory() as tmp:
        project = generate_demo(Path(tmp) / "demo", n_images=6, size=128 if a.quick else 256,
                                labelled=6)
        for entry in project.images[3:]:   # 3 validation images: split 2 + 1 over the ranks
            project.set_split(entry.id, "val")
        project.save()
        if "exactness" in parts:
            out.update(exactness(project.root, 20, 4))
        if "throughput" in parts:
            if a.quick:
                out.update(throughput(project.root, {"base_width": 8, "levels": 3}, 96, 8,
                                      steps=12, warmup=3, rounds=a.rounds or 1))
            else:
                out.update(throughput(project.root, {"base_width": 16, "levels": 4}, 128, 8,
                                      steps=30, warmup=4, rounds=a.rounds or 3))
    print(json.dumps(rounded(out)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
