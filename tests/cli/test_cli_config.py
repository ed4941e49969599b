"""`segstudio train --config FILE`: the settings of a job folder or of a run's config.json;
only where-it-runs options may change them, anything else is one line and status 2."""

from __future__ import annotations

import json

import pytest

from segstudio.cli import build_parser, main
from segstudio.cli.train import config_from_args
from segstudio.training.config import TrainConfig


@pytest.fixture
def project_dir(tmp_path):
    from segstudio.core.classes import ClassInfo
    from segstudio.project.project import Project

    Project.create(tmp_path / "p", [ClassInfo("a", "#000000"), ClassInfo("b", "#ffffff")]).save()
    return tmp_path / "p"


def parse(*argv):
    return build_parser().parse_args(["train", *argv])


def test_config_file_gives_the_settings_and_where_it_runs_may_change_them(tmp_path):
    cfg = TrainConfig(architecture="unetpp", model={"base_width": 8, "levels": 3}, patch=96,
                      batch=3, epochs=7, lr=1e-3)
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg.to_json()))
    got = config_from_args(parse("p", "--config", str(f)))
    assert got.to_json() == cfg.to_json()
    got = config_from_args(parse("p", "--config", str(f), "--device", "cpu", "--threads", "3",
                                 "--epochs", "2", "--iterations", "5", "--time-budget", "1.5"))
    assert (got.device, got.cpu_threads, got.epochs, got.iterations_per_epoch,
            got.time_budget_s) == ("cpu", 3, 2, 5, 90.0)
    assert got.architecture == "unetpp" and got.lr == 1e-3
    # A run folder's config.json holds the settings under "train_config".
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"train_config": cfg.to_json(), "classes": []}))
    assert config_from_args(parse("p", "--config", str(run))).to_json() == cfg.to_json()


@pytest.mark.parametrize("extra, message", [
    (["--lr", "0.1"], "--lr"), (["--model", "unet3p"], "--model"),
])
def test_config_file_with_other_options_is_one_line(tmp_path, project_dir, capsys, extra,
                                                    message):
    f = tmp_path / "config.json"
    f.write_text(json.dumps(TrainConfig().to_json()))
    assert main(["train", str(project_dir), "--config", str(f), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_bad_config_files_are_one_line(tmp_path, project_dir, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"epochs": 3, "colour": "red"}))
    for f, words in ((tmp_path / "none.json", "does not exist"), (bad, "--config"),
                     (wrong, "colour")):
        assert main(["train", str(project_dir), "--config", str(f)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
