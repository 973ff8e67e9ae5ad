"""Data-quality rules: options, counts per rule (hand-computed), actions and the report."""

from __future__ import annotations

import pandas as pd
import pytest

from clc_lib.errors import ConfigError, DataError
from clc_lib.engines import connect
from clc_lib.loading import load_table
from clc_lib.quality import QUALITY_RULES, DataQualityReport
from clc_lib.settings import QUALITY_ACTIONS, QUALITY_DEFAULTS, quality_settings


@pytest.fixture(scope="module")
def con():
    return connect(None)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "quantity"])


def _load(con, frame: pd.DataFrame, *, quality=None, as_of=None, columns=None):
    spec = {"data": frame, "columns": columns or {}}
    table, report = load_table(spec, con, as_of=as_of, quality=quality, return_report=True)
    return table.to_pandas().sort_values(["customer_id", "timestamp", "amount"]).reset_index(drop=True), report


# A small ledger with one case of every rule. Amounts chosen so every total is exact in binary.
LEDGER = _frame([
    ("001", "A1", "2024-01-01", 10.0, 1.0),  # ordinary purchase
    ("001", "A1", "2024-01-01", 10.0, 1.0),  # exact duplicate of the line above
    ("002", "A2", "2024-01-02", 0.0, 1.0),  # zero-value purchase
    ("002", "A3", "2024-01-03", -4.0, -1.0),  # return (negative amount and quantity)
    ("003", "C4", "2024-01-04", 8.0, 2.0),  # cancellation by order prefix, positive in the source
    (None, "A5", "2024-01-05", 16.0, 1.0),  # no customer id
    ("  ", "A6", "2024-01-05", 32.0, 1.0),  # blank customer id counts as missing
    ("004", "A7", "2024-02-01", 64.0, 1.0),  # after an as_of of 2024-01-31
])


def test_defaults_are_data_and_every_rule_option_exists():
    options = quality_settings(None)
    assert options == {**QUALITY_DEFAULTS, "max_line_amount": 1e7}
    for rule in QUALITY_RULES:
        if rule.option is not None:
            assert options[rule.option] in rule.actions
            assert QUALITY_ACTIONS[rule.option] == rule.actions, rule.option
    assert [r.name for r in QUALITY_RULES] == ["unparseable_values", "missing_values", "missing_customer_id",
                                               "after_as_of", "above_max_amount", "zero_amount", "returns"]


def test_unknown_option_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"Unknown option 'duplicate_row'.*Did you mean 'duplicate_rows'"):
        quality_settings({"duplicate_row": "keep"})


@pytest.mark.parametrize(("key", "value", "pattern"), [
    ("returns", "ignore", r"quality.returns is 'ignore'; use one of keep, drop"),
    ("missing_customer_id", "keep", r"use one of drop, error"),
    ("max_line_amount", -5, r"max_line_amount is -5; use a positive number"),
    ("cancellation_prefixes", [""], r"cancellation_prefixes must be a list of non-empty strings"),
])
def test_bad_option_values_are_refused(key, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        quality_settings({key: value})


def test_default_rules_on_the_ledger(con):
    table, report = _load(con, LEDGER, as_of="2024-01-31")
    counts = {r.rule: (r.rows, r.action) for r in report.rules}
    assert counts == {
        "unparseable_values": (0, "error"), "missing_values": (0, "error"),
        "missing_customer_id": (2, "drop"), "after_as_of": (1, "exclude"), "above_max_amount": (0, "error"),
        "zero_amount": (1, "keep"), "returns": (2, "keep"), "duplicate_rows": (1, "drop"),
    }
    assert report.rows_in == 8 and report.rows_out == 8 - 2 - 1 - 1
    # Cancellation C4 becomes -8; before: 10+10+0-4-8+16+32+64 = 120; after: 10+0-4-8 = -2.
    assert report.amount_in == 120.0
    assert report.amount_out == -2.0
    assert report.rule("returns").amount == -12.0
    assert report.customers == 3
    assert table["customer_id"].tolist() == ["001", "002", "002", "003"]
    assert table["is_return"].tolist() == [False, False, True, True]
    assert table.loc[table.order_id == "C4", ["amount", "quantity"]].values.tolist() == [[-8.0, -2.0]]


def test_removed_rows_are_counted_once_in_rule_order(con):
    # No customer id AND after as_of AND zero amount: counted by the first rule that removes it only.
    frame = _frame([("001", "A1", "2024-01-01", 5.0, 1.0), (None, "A2", "2024-03-01", 0.0, 1.0)])
    _, report = _load(con, frame, as_of="2024-01-31", quality={"zero_amount": "drop"})
    assert report.rule("missing_customer_id").rows == 1
    assert report.rule("after_as_of").rows == 0
    assert report.rule("zero_amount").rows == 0
    assert report.rows_in - sum(r.removed for r in report.rules) == report.rows_out == 1


def test_drop_options(con):
    table, report = _load(con, LEDGER, as_of="2024-01-31",
                          quality={"returns": "drop", "zero_amount": "drop", "duplicate_rows": "keep"})
    assert report.rule("returns").rows == 2 and report.rule("returns").action == "drop"
    assert report.rule("zero_amount").rows == 1
    assert report.rule("duplicate_rows").rows == 1 and report.rule("duplicate_rows").action == "keep"
    assert table["amount"].tolist() == [10.0, 10.0]
    assert report.amount_out == 20.0


def test_cancellation_prefixes_are_configurable(con):
    frame = _frame([("001", "C1", "2024-01-01", 5.0, 1.0), ("001", "X2", "2024-01-02", 7.0, 1.0)])
    table, report = _load(con, frame, quality={"cancellation_prefixes": ["X"]})
    assert table["is_return"].tolist() == [False, True]
    assert table["amount"].tolist() == [5.0, -7.0]


def test_missing_customer_id_error(con):
    with pytest.raises(DataError) as info:
        _load(con, LEDGER, quality={"missing_customer_id": "error"})
    error = info.value
    assert error.n_rows == 2 and error.column == "customer_id"
    assert [row for row, _ in error.examples] == [6, 7]  # 1-based positions in the frame
    assert "rows have no customer id" in str(error)


def test_duplicate_error_shows_the_repeated_line(con):
    with pytest.raises(DataError, match="1 lines repeat an earlier line exactly") as info:
        _load(con, LEDGER, quality={"duplicate_rows": "error"})
    assert info.value.examples[0][0] == 2
    assert info.value.examples[0][1].startswith("001 2024-01-01")


def test_identical_lines_without_order_id_are_kept_by_default(con):
    frame = LEDGER.drop(columns="order_id").iloc[:2]
    table, report = _load(con, frame)
    assert len(table) == 2 and report.rule("duplicate_rows").rows == 1
    assert report.rule("duplicate_rows").action == "keep"
    _, dropped = _load(con, frame, quality={"duplicates_without_order_id": "drop"})
    assert dropped.rows_out == 1


def test_absurd_amount_is_an_error_by_default_and_droppable(con):
    frame = _frame([("001", "A1", "2024-01-01", 5.0, 1.0), ("002", "A2", "2024-01-02", 2e7, 1.0),
                    ("003", "A3", "2024-01-03", -3e7, -1.0)])
    with pytest.raises(DataError, match=r"2 lines have an amount above 10,000,000") as info:
        _load(con, frame)
    assert info.value.examples == [(2, "20000000.0"), (3, "-30000000.0")]
    _, report = _load(con, frame, quality={"above_max_amount": "drop", "max_line_amount": 1e8})
    assert report.rule("above_max_amount").rows == 0
    _, report = _load(con, frame, quality={"above_max_amount": "drop"})
    assert report.rule("above_max_amount").rows == 2 and report.rows_out == 1


def test_unparseable_values_can_be_dropped_and_are_counted(con):
    frame = _frame([("001", "A1", "2024-01-01", "5", 1.0), ("002", "A2", "yesterday", "6", 1.0),
                    ("003", "A3", "2024-01-03", "n/a", 1.0), ("004", "A4", "", "7", 1.0)])
    with pytest.raises(DataError, match="1 values of 'timestamp' are not valid dates"):
        _load(con, frame)
    table, report = _load(con, frame, quality={"unparseable_values": "drop", "missing_values": "drop"})
    assert report.rule("unparseable_values").rows == 2
    assert report.rule("missing_values").rows == 1
    assert table["customer_id"].tolist() == ["001"]


def test_report_frames_and_text(con):
    _, table_quality = _load(con, LEDGER, as_of="2024-01-31")
    report = DataQualityReport(as_of=pd.Timestamp("2024-01-31"), currency="EUR")
    report.add(table_quality)
    frame = report.to_frame()
    assert frame["step"].tolist()[0] == "rows in" and frame["step"].tolist()[-1] == "rows out"
    assert frame.set_index("step").loc["missing_customer_id", "rows"] == 2
    summary = report.summary_frame()
    assert summary.loc["transactions", ["rows_in", "rows_removed", "rows_out", "customers"]].tolist() == [8, 4, 4, 3]
    text = report.render_text()
    assert "Data quality (as of 2024-01-31)" in text
    assert "missing_customer_id" in text and "rows out" in text and "EUR" in text
    assert "3 customers; 2024-01-01 to 2024-01-04" in text


def test_the_quality_page_documents_every_rule_and_option():
    from clc_lib.paths import project_root

    page = (project_root() / "docs" / "data-quality.md").read_text(encoding="utf-8")
    for rule in QUALITY_RULES:
        assert f"`{rule.name}`" in page, rule.name
    for option in QUALITY_DEFAULTS:
        assert f"{option}:" in page, option
    assert "`duplicate_rows`" in page
