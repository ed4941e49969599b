"""Rules of the source tree that tools do not check: module size, and every folder of code a
package (the wheel's package discovery finds only those)."""

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "segstudio"
MAX_LINES = 500
DATA = SRC / "resources"   # package data: sample scripts copied next to exports


def test_no_module_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"


def test_every_code_folder_is_a_package():
    folders = {p.parent for p in SRC.rglob("*.py") if DATA not in p.parents}
    missing = [str(f.relative_to(SRC.parent)) for f in folders if not (f / "__init__.py").exists()]
    assert not missing
