"""benchmarks/quality.py end to end on the real ISBI data, with a budget of a few seconds:
import, scribbles, `segstudio train`, `segstudio evaluate`, the table and the JSON line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "isbi2012_membrane"


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not on this machine")
def test_quick_isbi_pair_runs_and_reports(tmp_path):
    r = subprocess.run([sys.executable, "benchmarks/quality.py", "--quick", "--only",
                        "quick-isbi-unet,quick-isbi-unet-sparse", "--budget-scale", "0.05",
                        "--work", str(tmp_path), "--threads", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert 0 <= last["isbi_test_pixel_error"] <= 1 and 0 <= last["isbi_membrane_iou"] <= 1
    assert last["sparse_over_full_isbi"] > 0
    assert "| quick-isbi-unet-sparse | sparse |" in r.stdout
    saved = json.loads((tmp_path / "results" / "quick-isbi-unet.json").read_text())
    assert saved["split"] == "test" and saved["loss"] == "ce" and saved["patch"] == 256
    log = (tmp_path / "logs" / "quick-isbi-unet-sparse.log").read_text()
    cover = float(log.split("scribbles cover ")[1].split()[0])
    assert 0.04 <= cover <= 0.08
