"""Run on a server and import the run back, from the window: a job folder written from the
training form, its shell script run headless on this CPU (as a server would), the run
imported: the dashboard shows its epochs and its model is the current one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segstudio.project.demo import generate_demo
from tests.ui.window_helpers import open_project_window, tiny_form

ROOT = Path(__file__).resolve().parents[2]


def test_job_folder_from_the_form_runs_headless_and_comes_back(qtbot, tmp_path):
    project = generate_demo(tmp_path / "demo", n_images=3, size=96, labelled=2,
                            task="semantic")
    w = open_project_window(qtbot, project.root)
    tiny_form(w, levels=2, batch=2, epochs=1)
    job_dir = tmp_path / "job"
    with qtbot.waitSignal(w.server_runs.job_written, timeout=20000) as got:
        w.server_runs.write_job(job_dir)
    job = got.args[0]
    cfg = json.loads((job_dir / "config.json").read_text())
    assert cfg["model"]["base_width"] == 4 and cfg["epochs"] == 1 and cfg["batch"] == 2
    assert (job_dir / "run.sbatch").read_text().count("#SBATCH") >= 5
    assert job.images_copied == 3 and job.masks == 2
    assert os.access(job.script, os.X_OK)
    # The server: plain bash, this Python, a tiny run.
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    r = subprocess.run(["bash", str(job.script), "--iterations", "2", "--device", "cpu"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    runs = sorted(job.runs_dir.iterdir())
    assert len(runs) == 1 and (runs[0] / "best.safetensors").is_file()
    # Back in the window.
    with qtbot.waitSignal(w.server_runs.run_imported, timeout=20000) as imported:
        w.server_runs.import_run(runs[0])
    dest = Path(imported.args[0])
    assert dest.parent == project.runs_dir and dest.name == runs[0].name
    assert w.session.checkpoint == str(dest / "best.safetensors")
    assert len(w.dashboard.history.epochs) == 1
    assert "Imported run" in w.training_panel.status.text()
    w.close()


def test_import_run_refuses_what_is_not_a_run_of_this_project(qtbot, tmp_path):
    from segstudio.core.classes import ClassInfo
    from segstudio.errors import SegStudioError
    from segstudio.project.project import Project
    from segstudio.training.config import TrainConfig
    from segstudio.training.job_folder import import_run, write_job_folder

    project = generate_demo(tmp_path / "demo", n_images=2, size=64, labelled=1,
                            task="semantic")
    with pytest.raises(SegStudioError, match="not a segstudio run folder"):
        import_run(project, tmp_path)
    other = Project.create(tmp_path / "other", [ClassInfo("a", "#000000")])
    with pytest.raises(SegStudioError, match="not an empty folder"):
        write_job_folder(project, TrainConfig(), tmp_path / "demo")
    with pytest.raises(SegStudioError, match="No image"):
        write_job_folder(other, TrainConfig(), tmp_path / "j0")
    # A path map instead of copies: absolute image paths, nothing copied.
    job = write_job_folder(project, TrainConfig(), tmp_path / "j1", copy_images=False)
    data = json.loads((tmp_path / "j1" / "project" / "segstudio.json").read_text())
    assert job.images_copied == 0 and all(Path(e["path"]).is_absolute() for e in data["images"])
    assert not (tmp_path / "j1" / "project" / "images").exists()


def test_import_of_a_run_with_a_named_pipe_or_a_link_is_refused_and_writes_nothing(tmp_path):
    import shutil

    from segstudio.errors import SegStudioError
    from segstudio.training.job_folder import import_run
    from tests.ui.window_helpers import train_tiny_demo

    root, ckpt = train_tiny_demo(tmp_path / "demo", n_images=2, size=64, levels=2)
    from segstudio.project.project import Project

    project = Project.open(root)
    run = Path(ckpt).parent
    for name, make in (("metrics.jsonl", os.mkfifo),
                       ("last.json", lambda p: os.symlink("/dev/zero", p))):
        bad = tmp_path / f"bad-{name}"
        shutil.copytree(run, bad)
        (bad / name).unlink()
        make(bad / name)
        before = sorted(p.name for p in project.runs_dir.iterdir())
        with pytest.raises(SegStudioError, match=f"{name} is not a regular file"):
            import_run(project, bad)                  # and it returns: no hang on the pipe
        assert sorted(p.name for p in project.runs_dir.iterdir()) == before
