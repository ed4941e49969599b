"""The wheel built from this tree holds every file of segstudio/ (modules and resources),
declares the `segstudio` command and every third-party package segstudio imports, and runs
on its own: unpacked into an empty folder, with only that folder on the path, it imports every
module and opens (and closes) the window.

A wheel once shipped without segstudio.ui.canvas because packages were listed by hand; this is
the check that would have caught it. The build runs without isolation (setuptools from this
environment, no download) on a copy of the tree, so stale build/ output cannot hide a miss."""

from __future__ import annotations

import ast
import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "segstudio"
JUNK_SUFFIXES = (".pyc", ".pyo", ".tmp")   # what .gitignore leaves out of the tree too
# Imported by the sample scripts written next to an export (run by users, outside segstudio)
RESOURCES = SRC / "resources"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _tree_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in SRC.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in JUNK_SUFFIXES}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(SRC, src / "segstudio",
                    ignore=shutil.ignore_patterns("__pycache__", *(f"*{s}" for s in JUNK_SUFFIXES)))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "-q", "-w", str(work / "dist"), str(src)],
        capture_output=True, text=True, timeout=300, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    (whl,) = (work / "dist").glob("segstudio-*.whl")
    return whl


@pytest.fixture(scope="module")
def unpacked(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def _dist_info(names: list[str], file: str) -> str:
    (path,) = [n for n in names if re.fullmatch(rf"segstudio-[^/]+\.dist-info/{file}", n)]
    return path


def test_wheel_holds_every_file_of_the_package_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    missing = sorted(_tree_files() - set(names))
    assert not missing, f"not in the wheel (pyproject.toml packages / package-data): {missing}"
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"segstudio"}, tops
    assert not [n for n in names if "__pycache__" in n or n.endswith(JUNK_SUFFIXES)]


def test_console_script_is_declared(wheel):
    z = zipfile.ZipFile(wheel)
    entry = configparser.ConfigParser()
    entry.read_string(z.read(_dist_info(z.namelist(), "entry_points.txt")).decode())
    assert entry["console_scripts"]["segstudio"].strip() == "segstudio.launcher:main"


def _requirements(wheel: Path) -> tuple[set[str], dict[str, set[str]]]:
    """(required distributions, {extra: its distributions}) from the wheel's METADATA."""
    z = zipfile.ZipFile(wheel)
    meta = z.read(_dist_info(z.namelist(), "METADATA")).decode()
    base: set[str] = set()
    extras: dict[str, set[str]] = {}
    for line in meta.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        spec = line.split(":", 1)[1].strip()
        m = re.match(r"[A-Za-z0-9._-]+", spec)
        assert m, line
        name = _norm(m.group(0))
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", spec)
        if extra:
            extras.setdefault(extra.group(1), set()).add(name)
        else:
            base.add(name)
    return base, extras


def _third_party_imports() -> dict[str, set[str]]:
    """{top-level import name: modules importing it} over segstudio/ (not the sample scripts)."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        if RESOURCES in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "segstudio" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_declared_dependencies_cover_every_import(wheel):
    base, extras = _requirements(wheel)
    assert "torch" in base and "numpy" in base
    # onnx / onnxruntime are optional (the `export` extra): model_export checks for them and
    # says what to install.
    optional = extras.get("export", set())
    providers = packages_distributions()
    undeclared = {}
    for name, users in sorted(_third_party_imports().items()):
        dists = {_norm(d) for d in providers.get(name, [])}
        assert dists, f"{name} (imported by {sorted(users)}) is not installed here"
        if not dists & (base | optional):
            undeclared[name] = sorted(users)
    assert not undeclared, f"imported but not in pyproject's dependencies: {undeclared}"


def _clean_env(site: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SEGSTUDIO_"))}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", QT_QPA_PLATFORM="offscreen",
               HOME=str(home), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"), XDG_RUNTIME_DIR=str(home / "run"))
    (home / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    return env


IMPORT_ALL = """
import importlib, importlib.resources, pkgutil, sys
from pathlib import Path
site = Path(sys.argv[1]).resolve()
import segstudio, segstudio.launcher
names = [m.name for m in pkgutil.walk_packages(segstudio.__path__, "segstudio.")
         if not m.name.endswith("__main__")]   # __main__ would start the program
for name in names:
    importlib.import_module(name)
outside = [n for n, m in sys.modules.items() if n.split(".")[0] == "segstudio"
           and getattr(m, "__file__", None) and site not in Path(m.__file__).resolve().parents]
assert not outside, outside
scripts = importlib.resources.files("segstudio.resources") / "export_scripts"
for f in ("predict_common.py", "predict_onnx.py", "predict_torchscript.py",
          "predict_safetensors.py"):
    assert (scripts / f).read_text(encoding="utf-8").strip(), f
print(len(names), segstudio.__file__)
"""


def test_installed_wheel_imports_every_module(unpacked, tmp_path):
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(unpacked)],
                          env=_clean_env(unpacked, tmp_path / "home"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    count, where = done.stdout.split()
    modules = [p for p in _tree_files() if p.endswith(".py") and not p.endswith("__main__.py")
               and not p.startswith("segstudio/resources/export_scripts/")]
    assert int(count) == len(modules) - 1   # the package itself is not among walk_packages'
    assert Path(where).resolve().is_relative_to(unpacked.resolve())


START_WINDOW = """
import importlib.metadata, sys
from pathlib import Path
site = Path(sys.argv[1]).resolve()
(ep,) = [e for e in importlib.metadata.entry_points(group="console_scripts")
         if e.name == "segstudio"]
assert Path(ep.dist.locate_file("")).resolve() == site, ep.dist   # the wheel's, not the tree's
main = ep.load()                                 # what the `segstudio` command runs
import segstudio
assert site in Path(segstudio.__file__).resolve().parents, segstudio.__file__
sys.exit(main([]))
"""


def test_installed_wheel_opens_and_closes_the_window(unpacked, tmp_path):
    home = tmp_path / "home"
    env = _clean_env(unpacked, home)
    env.update(SEGSTUDIO_QUIT_AFTER_MS="2000", SEGSTUDIO_DEMO_DIR=str(tmp_path / "demo"),
               SEGSTUDIO_SETTINGS=str(tmp_path / "settings.ini"))
    done = subprocess.run([sys.executable, "-c", START_WINDOW, str(unpacked)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    # The window opened the demo project (written on first use) before it closed.
    assert (tmp_path / "demo" / "segstudio.json").is_file()
