"""benchmarks/instances.py end to end on a few DSB2018 images with a budget of seconds: import
--instances, sparse objects, `segstudio train`, `segstudio evaluate`, the table and the JSON."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "dsb2018_nuclei"


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not on this machine")
def test_quick_instances_runs_and_reports(tmp_path):
    r = subprocess.run([sys.executable, "benchmarks/instances.py", "--quick", "--budget-scale",
                        "0.1", "--work", str(tmp_path), "--threads", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    last = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("ap50", "map", "aji", "iou", "sparse_over_full_ap50", "postprocess_s_2048"):
        assert isinstance(last[key], float), key
    assert 0 <= last["ap50"] <= 1 and 0 <= last["map"] <= last["ap50"] + 1e-9
    assert "| dsb-sparse10 |" in r.stdout
    note = json.loads((tmp_path / "instances.json").read_text())["rows"][1]["note"]
    kept, total = int(note.split()[0]), int(note.split()[2])
    assert 0.05 <= kept / total <= 0.2
