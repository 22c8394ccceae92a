"""The log: a rotating file in the user log folder that keeps the tracebacks of failed worker jobs; console
progress for the command-line tools."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

import pytest

from lusapp import logs


@pytest.fixture
def clean_root():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield root
    for h in root.handlers:
        if h not in before:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_file_log_rotates_and_is_added_once(clean_root, tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES", 2000)
    path = logs.log_to_file(tmp_path / "logs")
    assert path == tmp_path / "logs" / "lusapp.log"
    assert logs.log_to_file(tmp_path / "logs") == path
    assert sum(isinstance(h, RotatingFileHandler) for h in clean_root.handlers) == 1
    for i in range(100):
        logging.getLogger("lusapp.test").info("line %d %s", i, "x" * 40)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["lusapp.log", "lusapp.log.1", "lusapp.log.2", "lusapp.log.3"]  # three old files kept
    assert "line 99" in path.read_text(encoding="utf-8")


def test_unwritable_log_folder_does_not_stop_the_app(clean_root, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert logs.log_to_file(blocker / "logs") is None
    assert "no log file" in capsys.readouterr().err


def test_failed_job_traceback_goes_to_the_log_file(qtbot, clean_root, tmp_path):
    from lusapp.gui.workers import run_job

    path = logs.log_to_file(tmp_path)
    seen = []

    def broken():
        return {}["missing key"]

    job = run_job(broken, on_error=lambda exc, tb: seen.append(exc), name="load model")
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=5000)
    for h in clean_root.handlers:
        h.flush()
    text = path.read_text(encoding="utf-8")
    assert "ERROR lusapp.gui.workers" in text and "job 'load model' failed: KeyError" in text
    assert "Traceback (most recent call last)" in text and "in broken" in text
    assert job.error is seen[0]


def test_console_progress_goes_to_the_current_stderr(clean_root, capsys):
    logs.log_to_console()
    logs.log_to_console()  # no second handler: one line per record
    logging.getLogger("model_training.train").info("epoch 3/10 loss 0.41")
    logging.getLogger("lusapp.cli").warning("clip R1 skipped")
    logging.getLogger("lusapp.cli").debug("hidden without verbose")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "epoch 3/10 loss 0.41\nwarning: clip R1 skipped\n"


def test_training_progress_is_logged_and_shown_by_the_cli_on_stderr(clean_root, capsys, monkeypatch):
    from model_training import cli, train

    seen = []
    monkeypatch.setitem(cli.SUBCOMMANDS, "probe-progress", "tests_progress_probe:main")
    monkeypatch.setitem(__import__("sys").modules, "tests_progress_probe",
                        type("M", (), {"main": staticmethod(lambda argv: seen.append(argv) or train.log("seg 1/2"))}))
    assert cli.main(["probe-progress", "x"]) == 0 and seen == [["x"]]
    captured = capsys.readouterr()
    assert captured.err == "seg 1/2\n" and captured.out == ""
    monkeypatch.setenv("RANK", "1")  # other ranks of a distributed run stay quiet
    train.log("seg 2/2")
    assert capsys.readouterr().err == ""


def test_export_cli_progress_goes_through_logging_to_stderr(clean_root, tmp_path, capsys):
    import numpy as np
    from media_files import write_video

    from lusapp.export.cli import export_main
    from lusapp.store import Store

    with Store.create(tmp_path / "st") as st:
        st.new_patient("P1", actor="t")
        st.add_media("P1", "R1", write_video(tmp_path / "c.avi", [np.full((24, 32), 50, np.uint8)] * 3), "t")
    assert export_main([str(tmp_path / "st"), "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / "out")
    lines = captured.err.splitlines()
    assert lines and all(ln.startswith("PROGRESS ") for ln in lines) and lines[-1].startswith("PROGRESS 100")
