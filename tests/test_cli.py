"""The ``clc`` command line: exit codes, one-screen errors, argument handling."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from clc_lib import cli, report
from clc_lib.errors import DataError

SCREEN_LINES = 24


def test_missing_config_is_a_one_screen_error_with_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "run.yaml"
    code = cli.main(["report", "--config", str(missing)])
    captured = capsys.readouterr()
    assert code == 2
    assert str(missing) in captured.err and "does not exist" in captured.err
    assert "Traceback" not in captured.err
    assert len(captured.err.splitlines()) <= SCREEN_LINES


def test_debug_shows_the_traceback(tmp_path):
    from clc_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        cli.main(["--debug", "report", "--config", str(tmp_path / "missing.yaml")])


def test_console_script_exits_2_on_missing_config(tmp_path):
    script = Path(sys.executable).with_name("clc")
    if not script.is_file():
        pytest.fail(f"the console script {script} is not installed; run pip install -e . in the venv")
    completed = subprocess.run([str(script), "check", "--config", str(tmp_path / "missing.yaml")],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2
    assert "does not exist" in completed.stderr and "Traceback" not in completed.stderr


def test_data_error_message_is_printed_in_full(monkeypatch, capsys):
    def failing_load(*_args, **_kwargs):
        raise DataError("Amounts do not parse as numbers.", source="tx.csv", column="amount", n_rows=3,
                        examples=[(2, "12,5x")], hint="Set csv.decimal in the run config.")

    import clc_lib.run

    monkeypatch.setattr(clc_lib.run, "load_run", failing_load)
    assert cli.main(["check", "--config", "run.yaml"]) == 2
    err = capsys.readouterr().err
    for part in ("clc check: error", "Amounts do not parse", "tx.csv", "amount", "row 2: '12,5x'", "csv.decimal"):
        assert part in err


def test_report_with_a_failing_notebook_exits_1(tmp_path, monkeypatch, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_ok", "02_broken"):
        notebook = new_notebook()
        notebook.cells = [new_code_cell("x = 1")]
        nbformat.write(notebook, notebooks / f"{name}.ipynb")
    config = tmp_path / "run.yaml"
    config.write_text("name: cli\ntransactions: {path: tx.csv}\n", encoding="utf-8")

    def stand_in(task):
        shutil.copy(task.source, task.executed)
        return (False, "ValueError: broken") if "broken" in task.source.name else (True, None)

    monkeypatch.setattr(report, "execute_notebook", stand_in)
    monkeypatch.setattr(report, "_check_input",
                        lambda config, as_of, cache, stage_rules=None: ("input check replaced by the test", False,
                                                                        "2024-01-31", None))
    monkeypatch.setenv("CLC_ID_SALT", "test-salt-0123456789abcdef")
    monkeypatch.setattr(report, "default_notebooks_dir", lambda: notebooks)
    code = cli.main(["report", "--config", str(config), "--out", str(tmp_path / "out"), "--jobs", "1"])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 notebook(s) failed: 02_broken" in captured.err
    assert "index.html" in captured.out and "start   01_ok" in captured.out
    assert not (tmp_path / "out" / "latest").exists()


def test_score_refuses_an_unknown_file_type(capsys):
    assert cli.main(["score", "--config", "run.yaml", "--out", "scores.xlsx"]) == 2
    assert ".parquet or .csv" in capsys.readouterr().err


def test_arguments_parse(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["report", "--config", "r.yaml", "--only", "01", "02", "--only", "05",
                              "--as-of", "2024-06-30", "--jobs", "2", "--out", str(tmp_path)])
    assert args.only == ["01", "02", "05"] and args.jobs == 2 and args.as_of == dt.date(2024, 6, 30)
    assert args.out == tmp_path
    args = parser.parse_args(["demo-data", "--seed", "7"])
    assert args.seed == 7 and args.out is None
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["report"])  # --config is required
    assert exit_info.value.code == 2


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo-data", "check", "score", "report"):
        assert command in out


def test_error_messages_have_credentials_masked(tmp_path, monkeypatch, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("transactions: {connection: 'postgres://bi:${SHOP_DB_PASSWORD}@db/shop', table: tx}\n",
                      encoding="utf-8")
    monkeypatch.setenv("SHOP_DB_PASSWORD", "hunter2-long-secret")

    def failing_load(*_args, **_kwargs):
        raise DataError("Could not connect to postgres://bi:hunter2-long-secret@db/shop (token hunter2-long-secret)",
                        source="table 'tx'")

    import clc_lib.run

    monkeypatch.setattr(clc_lib.run, "load_run", failing_load)
    assert cli.main(["check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "postgres://bi:***@db/shop (token ***)" in err
