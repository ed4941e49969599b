"""Kill test, full length: SIGKILL a painting, autosaving canvas process at random moments.

    python benchmarks/kill_test.py                    # 200 kills (a few minutes)
    python benchmarks/kill_test.py --kills 50
    python benchmarks/kill_test.py --unsafe-control   # masks written in place: must FAIL

Each kill starts ``tests/reliability/kill_worker.py`` on the same project (state carries over
from kill to kill, as it would for a user whose machine keeps crashing), waits until it shows
its first image, sleeps a random 0..0.6 s while it paints (real mouse drags, filled blocks,
undo/redo) and saves (the canvas autosaver's worker thread + segstudio.json), then SIGKILLs it
and checks: every mask decodes (right size, valid values) and equals the last state recorded
as saved or the one recorded as being saved; the project opens.

``--unsafe-control`` makes the worker write masks in place in 256-byte pieces, as a program without
atomic saves would: the check must then find torn masks, which shows that it can.

Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--max-delay", type=float, default=0.6, metavar="S")
    ap.add_argument("--unsafe-control", action="store_true",
                    help="negative control: the worker writes masks in place")
    args = ap.parse_args()

    from tests.reliability.kill_worker import make_kill_project, run_kills

    work = Path(tempfile.mkdtemp(prefix="segstudio-killtest-"))
    make_kill_project(work / "proj")
    t0 = time.perf_counter()

    def show(i: int, r: dict) -> None:
        if i % 20 == 0 or not r["ok"]:
            print(f"  {i:4d} kills, last: {'ok' if r['ok'] else 'FAILED ' + r['problems'][0]}",
                  file=sys.stderr, flush=True)

    results = run_kills(work / "proj", args.kills, args.seed, args.max_delay, work, show,
                        unsafe=args.unsafe_control)
    wall = time.perf_counter() - t0
    failed = [r for r in results if not r["ok"]]
    in_save = [r for r in results if r["in_save"]]
    file_is = Counter(r["file_is"] for r in results)
    kinds = Counter()
    for r in failed:
        for p in r["problems"]:
            kinds["does not decode" if "does not decode" in p else
                  "project does not open" if "project" in p else "wrong state"] += 1
    temps = results[-1]["temp_files"] if results else 0

    kind = 'UNSAFE in-place writes (control)' if args.unsafe_control else 'atomic saves'
    print(f"segstudio kill test ({kind}), "
          f"{platform.machine()} {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"{'kills':<44}{len(results):>8}")
    print(f"{'  landing between pending and saved records':<44}{len(in_save):>8}")
    print(f"{'    of which the new file was already in place':<44}{file_is.get('pending', 0):>8}")
    print(f"{'saves completed by the workers (records/2)':<44}"
          f"{sum(r['records'] for r in results) // 2:>8}")
    print(f"{'kills after which a check failed':<44}{len(failed):>8}")
    for k, v in kinds.items():
        print(f"{'  ' + k:<44}{v:>8}")
    opened = 'yes' if not kinds.get('project does not open') else 'NO'
    print(f"{'project opened after every kill':<44}{opened:>8}")
    print(f"{'leftover temporary files (.*.tmp)':<44}{temps:>8}")
    print(f"{'wall time (s)':<44}{wall:>8.1f}")
    print(json.dumps({"benchmark": "kill_test", "unsafe_control": args.unsafe_control,
                      "kills": len(results), "in_save": len(in_save),
                      "new_file_in_place": file_is.get("pending", 0),
                      "saves": sum(r["records"] for r in results) // 2,
                      "failed": len(failed), "failure_kinds": dict(kinds),
                      "leftover_temp_files": temps, "seconds": round(wall, 1),
                      "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
                      "cores": os.cpu_count()}))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed and not args.unsafe_control else 0


if __name__ == "__main__":
    sys.exit(main())
