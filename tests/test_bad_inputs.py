"""The corpus of malformed exports (tests/data/bad/MANIFEST.yaml): each loads by a documented rule or is refused.

Every case comes from the manifest; this file holds no per-case logic. A refusal must be a
``DataError``/``ConfigError`` whose message names the file, the column, the number of rows and an
example, and ``clc check`` must exit 2 with a one-screen message and no traceback. A load must give
the manifest's rows, customers and net amount, and the data-quality report must add up (amount in =
amount out + amount of every removed row).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from clc_lib import errors
from clc_lib.cli import main as clc_main
from clc_lib.run import load_run

CORPUS = Path(__file__).resolve().parent / "data" / "bad"
MANIFEST = yaml.safe_load((CORPUS / "MANIFEST.yaml").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = MANIFEST["cases"]
REFUSED = [case for case in CASES if case["outcome"] == "refused"]
LOADS = [case for case in CASES if case["outcome"] == "loads"]
SCREEN_LINES = 25


def _config_path(case: dict[str, Any], tmp_path: Path) -> Path:
    """The run config of a case: the corpus config itself, or one written around the corpus data file."""
    if "config" in case:
        return CORPUS / case["config"]
    table: dict[str, Any] = {"path": str(CORPUS / case["file"]),
                             "columns": case.get("columns", MANIFEST["defaults"]["columns"])}
    if "csv" in case:
        table["csv"] = case["csv"]
    config: dict[str, Any] = {"name": f"bad_{case['id']}", "transactions": table}
    for key in ("as_of", "quality"):
        if key in case:
            config[key] = case[key]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _file_name(case: dict[str, Any]) -> str | None:
    if "file_name" in case:
        return case["file_name"]
    return Path(case["file"]).name if "file" in case else None


def test_the_manifest_covers_the_corpus():
    named = {case.get("file") or case.get("config") for case in CASES}
    on_disk = {p.name for p in CORPUS.iterdir() if p.is_file() and p.suffix not in (".py",)} - {"MANIFEST.yaml"}
    assert on_disk <= named | {"base.csv"}, f"files without a case: {sorted(on_disk - named)}"
    assert len(CASES) >= 30 and len({case["id"] for case in CASES}) == len(CASES)
    for case in CASES:
        assert case["outcome"] in ("loads", "refused") and case.get("problem"), case["id"]
        assert (CORPUS / (case.get("file") or case["config"])).exists(), case["id"]


@pytest.mark.slow  # the whole corpus, one load each
@pytest.mark.parametrize("case", REFUSED, ids=[case["id"] for case in REFUSED])
def test_refused_inputs_name_file_column_rows_and_example(case, tmp_path, capsys):
    config = _config_path(case, tmp_path)
    expected = getattr(errors, case["error"])
    with pytest.raises(errors.ClcError) as info:
        load_run(config)
    assert type(info.value) is expected, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    file_name = _file_name(case)
    if file_name is not None:
        assert file_name in message
    if case.get("column") is not None:
        assert f"column:  {case['column']}" in message or f"'{case['column']}'" in message
    if case.get("rows") is not None:
        assert f"rows:    {case['rows']:,}" in message
    if case.get("example") is not None:
        assert case["example"] in message
    for fragment in case.get("message", []):
        assert fragment in message
    for secret in case.get("absent", []):
        assert secret not in message

    capsys.readouterr()
    assert clc_main(["check", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err and err.startswith("clc check: error")
    assert len(err.splitlines()) <= SCREEN_LINES
    for secret in case.get("absent", []):
        assert secret not in err


def _matches(frame: pd.DataFrame, expected: dict[str, Any]) -> pd.Series:
    hit = pd.Series(True, index=frame.index)
    for column, value in expected.items():
        if column == "timestamp":
            hit &= frame[column] == pd.Timestamp(value)
        elif isinstance(value, float):
            hit &= (frame[column] - value).abs() < 1e-9
        else:
            hit &= frame[column] == value
    return hit


@pytest.mark.slow  # the whole corpus, one load each
@pytest.mark.parametrize("case", LOADS, ids=[case["id"] for case in LOADS])
def test_loaded_inputs_give_the_documented_figures(case, tmp_path):
    config = _config_path(case, tmp_path)
    run = load_run(config)
    frame = run.transactions.to_pandas()
    quality = run.quality["transactions"]
    assert len(frame) == quality.rows_out == case["rows"]
    assert frame["customer_id"].nunique() == quality.customers == case["customers"]
    assert frame["amount"].sum() == pytest.approx(case["amount"], abs=1e-9)
    assert quality.amount_out == pytest.approx(case["amount"], abs=1e-9)
    assert frame["customer_id"].map(type).eq(str).all()
    for expected in case.get("includes", []):
        assert _matches(frame, expected).sum() == 1, f"no single row {expected} in\n{frame}"
    removed = {r.rule: r.rows for r in quality.rules if r.removed}
    assert removed == case.get("removed", {})
    # Loaded total + excluded total == raw total (net amounts, run currency).
    excluded = sum(r.amount for r in quality.rules if r.removed and r.amount is not None)
    assert math.isclose(quality.amount_in, quality.amount_out + excluded, abs_tol=1e-9)
    assert quality.rows_in == quality.rows_out + sum(removed.values())
    notes = " | ".join(quality.notes)
    for note in case.get("notes", []):
        assert note in notes


def test_clc_check_of_a_loading_case_prints_the_summary_and_exits_0(tmp_path, capsys):
    case = next(case for case in LOADS if case["id"] == "blank_and_nan_ids")
    assert clc_main(["check", "--config", str(_config_path(case, tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "missing_customer_id" in out and "rows out" in out and "Traceback" not in out


def test_raw_corpus_files_are_not_modified(tmp_path):
    before = {p: p.stat().st_mtime_ns for p in CORPUS.rglob("*") if p.is_file()}
    for case in [c for c in LOADS if c["id"] in ("latin1_bytes", "german_excel_cp1252", "gzip_csv")]:
        load_run(_config_path(case, tmp_path))
    assert {p: p.stat().st_mtime_ns for p in CORPUS.rglob("*") if p.is_file()} == before


@pytest.mark.slow  # the whole corpus, one load each
@pytest.mark.parametrize("case_id", ["header_only", "config_unknown_top_level_key", "order_id_shared_by_two_customers"])
def test_clc_report_refuses_bad_input_with_exit_2_and_publishes_nothing(case_id, tmp_path, capsys):
    case = next(case for case in CASES if case["id"] == case_id)
    out = tmp_path / "reports"
    assert clc_main(["report", "--config", str(_config_path(case, tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) <= SCREEN_LINES
    published = [p for p in out.rglob("*") if p.is_dir() or p.suffix in (".html", ".ipynb")] if out.exists() else []
    assert published == []
