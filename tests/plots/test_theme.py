"""Shared chart helpers: tick labels, period labels, incomplete periods and input checks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from clc_lib.errors import DataError
from clc_lib.plots import theme


def test_currency_axis_shortens_large_amounts_and_names_the_currency():
    _, ax = plt.subplots()
    theme.format_currency_axis(ax, "EUR")
    formatter = ax.yaxis.get_major_formatter()
    assert [formatter(v, 0) for v in (2_500_000, 12_000, 250, 2.5, 0)] == [
        "2.5M EUR", "12k EUR", "250 EUR", "2.50 EUR", "0 EUR"]


def test_money_label_adds_the_currency_only_when_known():
    assert theme.money_label("Net revenue", "EUR") == "Net revenue (EUR)"
    assert theme.money_label("Net revenue", "") == "Net revenue"


def test_incomplete_periods_follow_is_complete():
    months = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    data = pd.DataFrame({"period_start": months.repeat(2), "is_complete": [True, True, True, True, False, False]})
    assert theme.incomplete_periods(data, pd.Index(months)).tolist() == [False, False, True]
    # a period the data does not have counts as complete; without the column every period does
    assert theme.incomplete_periods(data, pd.Index(months[:1].append(pd.to_datetime(["2024-04-01"])))).tolist() \
        == [False, False]
    assert theme.incomplete_periods(data.drop(columns="is_complete"), pd.Index(months)).tolist() == [False] * 3


def test_incomplete_period_label_gives_the_data_date_when_known():
    data = pd.DataFrame({"period_start": []})
    assert theme.incomplete_period_label(data) == "incomplete period"
    data.attrs["as_of"] = "2024-03-09"
    assert theme.incomplete_period_label(data) == "incomplete period (data to 09 Mar 2024)"


def test_palette_colors_gives_at_least_one_colour():
    assert len(theme.palette_colors(0)) == 1
    assert len(set(theme.palette_colors(3))) == 3


def test_input_checks_name_the_missing_column_and_empty_data():
    data = pd.DataFrame({"channel": ["web"]})
    with pytest.raises(DataError, match="no column 'cac'"):
        theme.require_columns_and_rows(data, ["channel", "cac"], "plot_cac")
    with pytest.raises(DataError, match="no rows"):
        theme.require_columns_and_rows(data.iloc[0:0], ["channel"], "plot_cac")
    theme.require_columns_and_rows(data, ["channel"], "plot_cac")
    with pytest.raises(DataError) as raised:
        theme.require_columns(data.iloc[0:0], ["channel", "period_start", "churn_rate"], "the churn rate chart")
    assert "period_start, churn_rate" in str(raised.value)
    theme.require_columns(data.iloc[0:0], ["channel"], "the churn rate chart")
