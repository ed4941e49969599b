"""benchmarks/gpu_check.sh is valid bash, and on a machine without a GPU (this one, CI) it
says so in one line and exits 2 instead of failing half-way."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_gpu_check_parses_and_refuses_without_a_gpu(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    if shutil.which("nvidia-smi"):
        return  # a GPU machine: the script really runs there (docs/benchmarks.md)
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path / "out")})
    assert r.returncode == 2 and r.stderr.strip().startswith("gpu_check: no NVIDIA GPU")
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
