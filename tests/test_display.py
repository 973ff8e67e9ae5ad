"""Presentation helpers: number formats (hand-checked strings), HTML escaping, key-figure recording."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from clc_lib import display, formatting, handoff, tables
from clc_lib.display import (
    format_count,
    format_currency,
    format_date,
    format_days,
    format_percent,
    format_value,
    key_figures_html,
    missing_html,
)
from clc_lib.errors import DataError
from clc_lib.handoff import KEY_FIGURES_MIME, RUN_DATA_MIME
from clc_lib.tables import table_html


@pytest.mark.parametrize(("value", "currency", "expected"), [
    (1234.5, "EUR", "1,234.50 EUR"),
    (9999.994, "EUR", "9,999.99 EUR"),
    (12345.6, "EUR", "12,346 EUR"),
    (-98765.4, "USD", "-98,765 USD"),
    (1_234_567.0, "", "1,234,567"),
    (0.0, "GBP", "0.00 GBP"),
    (-0.001, "EUR", "0.00 EUR"),
    (float("nan"), "EUR", "\u2013"),
    (None, "EUR", "\u2013"),
])
def test_format_currency(value, currency, expected):
    assert format_currency(value, currency) == expected


@pytest.mark.parametrize(("share", "expected"), [
    (0.1234, "12.3%"), (1.0, "100.0%"), (0.0, "0.0%"), (-0.05, "-5.0%"), (np.float64(0.5), "50.0%"),
    (math.nan, "\u2013"),
])
def test_format_percent(share, expected):
    assert format_percent(share) == expected


@pytest.mark.parametrize(("n", "expected"), [
    (0, "0"), (999, "999"), (1000, "1,000"), (1234567, "1,234,567"), (np.int64(42), "42"), (2.6, "3"),
    (None, "\u2013"),
])
def test_format_count(n, expected):
    assert format_count(n) == expected


def test_format_days_and_dates():
    assert format_days(12.4) == "12 days"
    assert format_days(3.75) == "3.8 days"
    assert format_days(1) == "1.0 day"
    assert format_days(1234) == "1,234 days"
    assert format_date(pd.Timestamp("2024-06-30")) == "2024-06-30"
    assert format_date(pd.Timestamp("2024-06-30 14:05:09")) == "2024-06-30 14:05"
    assert format_date(pd.NaT) == "\u2013"
    with pytest.raises(ValueError, match="Unknown figure kind 'money'"):
        format_value(1, "money")


def test_key_figures_are_escaped_and_formatted_by_kind():
    markup = key_figures_html([
        ("<script>alert(1)</script>", 1234567, "count"),
        ("Net revenue", 12345.6, "currency"),
        ("Repeat rate", 0.25, "percent"),
        ("Since", pd.Timestamp("2023-01-01"), "date"),
    ], currency="EUR")
    assert "<script>alert" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    for text in ("1,234,567", "12,346 EUR", "25.0%", "2023-01-01"):
        assert f'<div class="clc-card-value">{text}</div>' in markup


def test_key_figure_kinds_are_inferred_from_a_mapping():
    markup = key_figures_html({"Customers": 1500, "Average": 2.5, "As of": pd.Timestamp("2024-01-31"),
                               "Revenue": (2500.0, "currency")}, currency="USD")
    for text in ("1,500", "2.50", "2024-01-31", "2,500.00 USD"):
        assert f'<div class="clc-card-value">{text}</div>' in markup


def captured_outputs(monkeypatch) -> list[dict]:
    """Collect what the display helpers show, as MIME bundles, instead of showing it."""
    outputs: list[dict] = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw=False: outputs.append(bundle))
    monkeypatch.setattr(display, "display_html", lambda markup: outputs.append({"text/html": markup}))
    return outputs


def test_show_key_figures_puts_json_for_the_report_index_beside_the_cards(monkeypatch):
    outputs = captured_outputs(monkeypatch)
    display.show_key_figures({"Customers": np.int64(1500), "Revenue": (np.float64(2500.0), "currency"),
                              "Median gap": pd.Timedelta(days=3, hours=12), "Unknown": (np.nan, "number")},
                             currency="EUR")
    assert len(outputs) == 1 and set(outputs[0]) == {"text/html", KEY_FIGURES_MIME}
    assert '<div class="clc-card-value">2,500.00 EUR</div>' in outputs[0]["text/html"]
    recorded = outputs[0][KEY_FIGURES_MIME]["key_figures"]
    json.dumps(recorded, allow_nan=False)  # plain JSON: no numpy scalars, no NaN
    by_label = {entry["label"]: entry for entry in recorded}
    assert list(by_label) == ["Customers", "Revenue", "Median gap", "Unknown"]
    assert by_label["Customers"] == {"label": "Customers", "value": 1500, "kind": "count",
                                     "formatted": "1,500", "currency": "EUR"}
    assert by_label["Revenue"]["value"] == 2500.0 and by_label["Revenue"]["formatted"] == "2,500.00 EUR"
    assert by_label["Median gap"]["value"] == 3.5 and by_label["Median gap"]["kind"] == "days"
    assert by_label["Unknown"]["value"] is None and by_label["Unknown"]["formatted"] == "\u2013"


def test_a_difference_in_points_shows_large_with_its_interval_on_a_line_below(monkeypatch):
    from clc_lib.keyfigures import KeyFigure

    outputs = captured_outputs(monkeypatch)
    uplift = KeyFigure("winback_uplift", "Win-back uplift", 0.0441, "points",
                       detail="95% interval +3.2 to +5.6 points · campaign <WB1>")
    previous = {"as_of": "2024-11-30", "values": {"Win-back uplift": 0.039}}
    display.show_key_figures([uplift], previous=previous)
    markup = outputs[0]["text/html"]
    assert '<div class="clc-card-value">+4.4 points</div>' in markup
    assert '<div class="clc-card-detail">95% interval +3.2 to +5.6 points · campaign &lt;WB1&gt;</div>' in markup
    assert '<div class="clc-card-change">+0.5 points since 2024-11-30</div>' in markup  # 4.41 - 3.90
    record = outputs[0][KEY_FIGURES_MIME]["key_figures"][0]
    assert record["formatted"] == "+4.4 points" and record["detail"].startswith("95% interval")
    assert display.format_points(-0.012) == "-1.2 points"


def test_show_key_figures_writes_no_file(tmp_path, monkeypatch):
    captured_outputs(monkeypatch)
    monkeypatch.chdir(tmp_path)
    display.show_key_figures({"Customers": 3})
    assert list(tmp_path.iterdir()) == []


def test_table_escapes_cells_and_formats_columns():
    frame = pd.DataFrame({
        "customer_id": ["<script>x</script>", "00017"],
        "revenue": [1234.5, 20000.0],
        "share": [0.125, 0.5],
        "orders": [1200, 3],
        "last_purchase": pd.to_datetime(["2024-01-02", "2024-02-03"]),
        "note": ["a & b", None],
    }).set_index("customer_id")
    markup = table_html(frame, currency="EUR", money=["revenue"], percent=["share"], counts=["orders"],
                        caption="Top <customers>", pseudonymise=False)  # an internal run: real ids
    assert "<script>x" not in markup
    assert "<th scope=\"row\">&lt;script&gt;x&lt;/script&gt;</th>" in markup
    assert "<th scope=\"row\">00017</th>" in markup  # ids stay text with their leading zeros
    for cell in ("1,234.50 EUR", "20,000 EUR", "12.5%", "50.0%", "1,200", "2024-01-02", "a &amp; b"):
        assert cell in markup
    assert "<caption>Top &lt;customers&gt;</caption>" in markup
    assert "<th scope=\"col\">Customer</th>" in markup


def test_table_shows_first_rows_and_says_so():
    markup = table_html(pd.DataFrame({"n": range(120)}), max_rows=50)
    assert markup.count("<tr>") == 51  # header + 50 rows
    assert "Showing the first 50 of 120 rows." in markup
    assert '<th scope="col"></th>' not in markup  # a default index is not shown


def test_table_names_unknown_columns():
    with pytest.raises(DataError, match="money= names columns") as info:
        table_html(pd.DataFrame({"revenue": [1.0]}), money=["revnue"])
    assert "revnue" in str(info.value) and "revenue" in str(info.value)


def test_missing_line_is_escaped():
    markup = missing_html("events", "the <b>funnel</b>")
    assert "Not shown: the &lt;b&gt;funnel&lt;/b&gt;." in markup and "<b>" not in markup


@pytest.mark.parametrize(("table", "switch_on"), [
    ("transactions.category", "Add a category column to the transactions table to see it."),
    ("events", "Add an events table (web or app events with a channel) to the run config to see it."),
    ("spend", "Add a spend table (marketing spend per channel and month) to the run config to see it."),
    ("loyalty", "Add the loyalty table to the run config to see it."),
])
def test_missing_line_is_one_line_saying_what_data_switches_the_section_on(table, switch_on):
    markup = missing_html(table, "cross-sell\n  breadth")
    assert markup == f'<div class="clc-missing clc-skipped">Not shown: cross-sell breadth. {switch_on}</div>'


def test_missing_line_takes_the_sections_own_wording_of_what_to_add():
    markup = missing_html("customers", "survival by attribute", needs="add a country column to the customers table")
    assert markup.endswith("Not shown: survival by attribute. Add a country column to the customers table.</div>")


def test_skipped_line_gives_the_reason_as_a_sentence():
    assert display.skipped_html("the holdout.", "the history is\n20 days long") == (
        '<div class="clc-missing clc-skipped">Not shown: the holdout. The history is 20 days long.</div>')


@pytest.mark.parametrize(("p_value", "words"), [
    (0.0004, "a clear difference, p < 0.001"),
    (0.001, "a clear difference, p = 0.001"),
    (0.0099, "a clear difference, p = 0.010"),
    (0.01, "some evidence of a difference, p = 0.010"),
    (0.0499, "some evidence of a difference, p = 0.050"),
    (0.05, "no clear difference, p = 0.050"),
    (0.73, "no clear difference, p = 0.730"),
    (None, "not tested"),
    (float("nan"), "not tested"),
])
def test_plain_p_value_puts_words_first(p_value, words):
    assert tables.plain_p_value(p_value) == words


def test_plain_interval_in_points_and_numbers():
    assert tables.plain_interval(0.044, 0.032, 0.056) == "4.4 points, 95% interval 3.2 to 5.6"
    assert tables.plain_interval(-0.012, -0.03, 0.006) == "-1.2 points, 95% interval -3.0 to 0.6"
    assert tables.plain_interval(0.044, None, 0.056) == "4.4 points"
    assert tables.plain_interval(1.5, 1.234, 1.8, kind="number") == "1.50, 95% interval 1.23 to 1.80"
    assert tables.plain_interval(None, 0.1, 0.2) == formatting.MISSING_TEXT
    with pytest.raises(ValueError, match="kind"):
        tables.plain_interval(1, 0, 2, kind="percent")


class _Quality:
    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"table": ["transactions", "transactions"], "step": ["rows in", "rows out"],
                             "action": ["", ""], "rows": [10500, 10400], "amount": [1234.5, np.nan],
                             "description": ["<tx>.csv", ""]})


class _Run:
    quality = _Quality()
    currency = "EUR"
    as_of = pd.Timestamp("2024-06-30")
    transactions = None  # no data period: the recording skips it


def test_show_quality_renders_the_quality_table_with_its_json(monkeypatch):
    outputs = captured_outputs(monkeypatch)
    display.show_quality(_Run())
    markup = outputs[0]["text/html"]
    assert "10,500" in markup and "1,234.50 EUR" in markup and "&lt;tx&gt;.csv" in markup
    data = outputs[0][RUN_DATA_MIME]
    assert data["currency"] == "EUR" and "as_of" not in data  # the runner resolves as_of itself
    assert data["quality"][1] == {"table": "transactions", "step": "rows out", "action": "", "rows": 10400,
                                  "amount": None, "description": ""}


def test_show_quality_names_the_engine_that_ran(monkeypatch):
    import ibis

    outputs = captured_outputs(monkeypatch)
    run = _Run()
    run.con = ibis.duckdb.connect()
    display.show_quality(run)
    import duckdb

    expected = f"DuckDB {duckdb.__version__} (embedded)"
    assert f"Computed on {expected}." in outputs[-1]["text/html"]
    assert outputs[-1][RUN_DATA_MIME]["engine"] == expected


def test_show_quality_without_a_report_says_so(monkeypatch):
    outputs = captured_outputs(monkeypatch)
    display.show_quality(object())
    assert "No data-quality report" in outputs[0]["text/html"] and outputs[0][RUN_DATA_MIME]["quality"] == []


SALT = "test-salt-0123456789abcdef"


def test_table_shows_pseudonyms_and_leaves_personal_data_out(monkeypatch):
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    monkeypatch.setattr(handoff, "_settings", handoff._NotebookSettings())
    frame = pd.DataFrame({
        "customer_id": ["00017", "<script>x</script>"],
        "email": ["jane@example.com", "joe@example.org"],
        "first_name": ["Jane", "Joe"],
        "comment": ["call +49 170 1234567", "write to joe@example.org"],
        "clv": [10.0, 20.0],
    }).set_index("customer_id")
    markup = table_html(frame, money=["clv"], currency="EUR")
    # HMAC-SHA256 reference values from: printf '%s' ID | openssl dgst -sha256 -hmac SALT
    assert "<th scope=\"row\">C-cdd1db6bdea3</th>" in markup and "<th scope=\"row\">C-50bfcfcec7b2</th>" in markup
    assert "00017" not in markup and "script" not in markup
    for personal in ("jane@example.com", "joe@example.org", "Jane", "Joe", "1234567", "first name", "email"):
        assert personal not in markup
    assert "call [phone number removed]" in markup and "write to [e-mail removed]" in markup
    assert "10.00 EUR" in markup
    # The opt-out of internal runs shows the ids, still without the personal-data columns.
    handoff.apply_notebook_parameters(pseudonymise_ids=False)
    internal = table_html(frame, money=["clv"], currency="EUR")
    assert "<th scope=\"row\">00017</th>" in internal and "jane@example.com" not in internal


def test_table_pseudonymises_only_the_rows_shown(monkeypatch):
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    frame = pd.DataFrame({"customer_id": [f"id{i}" for i in range(200)], "n": range(200)})
    calls: list[str] = []
    original = tables.protect_frame

    def counting(df, **kwargs):
        calls.append(len(df))
        return original(df, **kwargs)

    monkeypatch.setattr(tables, "protect_frame", counting)
    markup = table_html(frame, max_rows=5)
    assert calls == [5] and "Showing the first 5 of 200 rows." in markup
    assert markup.count("<td>C-") == 5


def _capture_display(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(display, "display_html", shown.append)
    return shown


def test_run_or_skip_turns_a_model_fit_error_into_one_skip_line(monkeypatch, capsys):
    from clc_lib.errors import ModelFitError

    shown = _capture_display(monkeypatch)

    def fit() -> None:
        raise ModelFitError("Gamma-Gamma: the estimate of p diverged\n  to infinity.")

    assert display.run_or_skip("the <predicted> value", fit) is None
    assert shown == ['<div class="clc-missing clc-skipped">Not shown: the &lt;predicted&gt; value. Gamma-Gamma: '
                     'the estimate of p diverged to infinity.</div>']
    assert capsys.readouterr().out == ""


def test_run_or_skip_lets_other_errors_through(monkeypatch):
    _capture_display(monkeypatch)
    with pytest.raises(DataError, match="bad"):
        display.run_or_skip("the section", lambda: (_ for _ in ()).throw(DataError("bad")))


def test_run_or_skip_shows_warnings_and_result_notes_once_and_writes_them_to_stderr(monkeypatch, capsys):
    import warnings

    shown = _capture_display(monkeypatch)

    def fit() -> pd.DataFrame:
        warnings.warn("the spend model is its constant-spend limit")
        result = pd.DataFrame({"clv": [1.0]})
        result.attrs["notes"] = ["the spend model is its constant-spend limit", "an earlier note"]
        return result

    result = display.run_or_skip("the predicted value", fit)
    assert list(result["clv"]) == [1.0]
    assert shown == ['<div class="clc-missing">Note: the spend model is its constant-spend limit</div>'
                     '<div class="clc-missing">Note: an earlier note</div>']
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["model note: the spend model is its constant-spend limit",
                                         "model note: an earlier note"]


def test_show_note_escapes_its_text(monkeypatch):
    shown = _capture_display(monkeypatch)
    display.show_note("Holdout: the last <7> days")
    assert shown == ['<div class="clc-missing">Holdout: the last &lt;7&gt; days</div>']


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (52, "W", "52 weeks"), (1, "W", "1 week"), (12, "M", "12 months"), (1, "m", "1 month"), (30.5, "D", "30.5 days"),
])
def test_format_duration_follows_the_time_unit(value, unit, expected):
    assert display.format_duration(value, unit) == expected


def test_format_duration_refuses_an_unknown_unit():
    from clc_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown time unit 'Y'"):
        display.format_duration(1, "Y")


def test_table_heads_columns_for_people_and_drops_all_zero_columns():
    frame = pd.DataFrame({
        "stage": ["active", "dormant"],
        "rmst_days": [347.0, 120.0],  # whole numbers in a float column
        "aov": [50.0, 100.0],
        "net_revenue": [1234.5, 99.0],
        "payback_months": [1.0, 2.5],  # not all whole: keeps its decimals
        "returns": [0.0, 0.0],  # zero in every row
        "first_seen_days": [3, 4],
    }).set_index("stage")
    markup = table_html(frame, currency="EUR", money=["aov", "net_revenue"])
    headers = re.findall(r'<th scope="col">([^<]*)</th>', markup)
    assert headers == ["Stage", "Restricted mean time (days)", "Average order value", "Net revenue",
                       "Payback (months)", "First seen days"]
    assert '<th scope="row">Active</th>' in markup  # the stage's label, not its code
    assert '<td class="num">347</td>' in markup and "347.00" not in markup
    assert '<td class="num">1.00</td>' in markup and '<td class="num">2.50</td>' in markup
    assert "50.00 EUR" in markup and "1,234.50 EUR" in markup  # money keeps its cents
    assert "Returns" not in re.sub(r"Not shown.*", "", markup)
    assert "Not shown, zero in every row: Returns." in markup
    assert markup.count('<div class="clc-table-scroll"><table') == 1


def test_column_labels_come_from_the_label_table_then_the_terms():
    assert tables.column_label("rmst_days") == "Restricted mean time (days)"
    assert tables.column_label("gross_revenue") == "Gross revenue"  # a term of the definitions layer
    assert tables.column_label("top_share") == "Top share"  # its term's label needs a run value
    assert tables.column_label("new_window_days") == "New-customer window (days)"


def test_an_empty_table_keeps_its_columns():
    markup = table_html(pd.DataFrame({"orders": pd.Series([], dtype="float64")}))
    assert '<th scope="col">Orders</th>' in markup and "Not shown" not in markup


def test_stage_codes_in_tables_read_as_the_stages_labels():
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "stage": ["at_risk", "churned", None],
                          "segment": ["at_risk", "Lost", "Lost"], "customers": [1, 2, 3]})
    markup = table_html(frame, pseudonymise=False)
    assert "<td>At risk</td>" in markup and "<td>Churned</td>" in markup
    assert "<td>at_risk</td>" in markup  # a segment column is not a stage: left as it is
    by_stage = frame.groupby(["stage", "segment"])[["customers"]].sum()
    markup = table_html(by_stage)
    assert re.findall(r'<th scope="row">([^<]*)</th>', markup) == ["At risk", "at_risk", "Churned", "Lost"]
