"""Acquisition charts: each returns its Axes with a title, labelled axes and the data drawn."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from clc_lib.errors import DataError
from clc_lib.plots import acquisition

from .axes_checks import assert_labelled

MONTHS = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])


def test_new_customers_stacks_channels():
    data = pd.DataFrame({"period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                         "new_customers": [2, 1, 0, 3, 4, 0]})
    ax = acquisition.plot_new_customers(data)
    assert_labelled(ax)
    heights = sorted(round(p.get_height()) for p in ax.patches)
    assert heights == [0, 0, 1, 2, 3, 4]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["web", "store"]  # largest first


def test_incomplete_last_period_is_hatched_and_named_in_the_legend():
    data = pd.DataFrame({"period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                         "new_customers": [2, 1, 0, 3, 4, 1], "is_complete": np.repeat([True, True, False], 2)})
    data.attrs["as_of"] = pd.Timestamp("2024-03-09")
    ax = acquisition.plot_new_customers(data)
    hatched = [bar for bar in ax.patches if bar.get_hatch() == "//" and bar.get_height() > 0]
    assert len(hatched) == 2  # web and store of March
    assert all(bar.get_x() + bar.get_width() / 2 == pytest.approx(2) for bar in hatched)
    assert any("incomplete period (data to 09 Mar 2024)" == t.get_text() for t in ax.get_legend().get_texts())


def test_funnel_leaves_out_the_total_row():
    data = pd.DataFrame({"channel": ["search", "social", "all channels"], "aware": [10, 20, 30],
                         "engaged": [5, 8, 13], "converted": [2, 1, 3], "conversion_rate": [0.2, 0.05, 0.1]})
    ax = acquisition.plot_funnel(data)
    assert_labelled(ax)
    assert len(ax.patches) == 6  # 2 channels x 3 stages
    assert "20.0%" in [t.get_text() for t in ax.texts]


def test_cac_bars_and_monthly_lines():
    totals = pd.DataFrame({"channel": ["web", "organic", "paid channels"], "cac": [75.0, np.nan, 44.0],
                           "new_customers": [2, 4, 5]})
    ax = acquisition.plot_cac(totals, currency="EUR")
    assert_labelled(ax, currency_in="x")
    assert len(ax.patches) == 2  # organic has no CAC
    monthly = pd.DataFrame({"period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                            "cac": [50.0, 30.0, np.nan, 20.0, 40.0, 25.0], "new_customers": [1] * 6})
    ax = acquisition.plot_cac(monthly, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert len(ax.lines) == 2
    with pytest.raises(DataError, match="No channel has a CAC"):
        acquisition.plot_cac(totals.assign(cac=np.nan))


def test_repeat_rate_plots_complete_cohorts():
    data = pd.DataFrame({"cohort": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                         "repeat_rate": [0.3, 0.2, 0.25, 0.1, np.nan, np.nan]})
    ax = acquisition.plot_repeat_rate(data, window_days=90)
    assert_labelled(ax)
    assert "90 days" in ax.get_title()
    assert all(len(line.get_xdata()) == 2 for line in ax.lines)


def test_repeat_rate_without_complete_cohorts_says_so():
    data = pd.DataFrame({"cohort": MONTHS, "channel": ["web"] * 3, "repeat_rate": [np.nan] * 3})
    ax = acquisition.plot_repeat_rate(data)
    assert_labelled(ax)
    assert "No cohort" in ax.texts[0].get_text()


def test_ltv_cac_with_payback_annotation():
    data = pd.DataFrame({"channel": ["web", "store"], "ltv": [150.0, 40.0], "cac": [75.0, np.nan],
                         "ltv_cac_ratio": [2.0, np.nan]})
    payback = pd.DataFrame({"channel": ["web"], "payback_months": [3.0]})
    ax = acquisition.plot_ltv_cac(data, payback=payback, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert "2.0:1\npayback 3 mo" in [t.get_text() for t in ax.texts]


def test_payback_curve_draws_cac_lines():
    curve = pd.DataFrame({"channel": ["web"] * 3, "months_since_acquisition": [0, 1, 2],
                          "cumulative_revenue_per_customer": [20.0, 40.0, 55.0]})
    ax = acquisition.plot_payback_curve(curve, cac=pd.Series({"web": 50.0}), margin_rate=0.5, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert list(ax.lines[0].get_ydata()) == [10.0, 20.0, 27.5]
    assert list(ax.lines[1].get_ydata()) == [50.0, 50.0]  # horizontal CAC line


def test_payback_curve_says_whether_it_shows_margin_or_revenue():
    curve = pd.DataFrame({"channel": ["web"] * 3, "months_since_acquisition": [0, 1, 2],
                          "cumulative_revenue_per_customer": [20.0, 40.0, 55.0],
                          "cumulative_margin_per_customer": [8.0, 16.0, 22.0]})
    curve.attrs["value_basis"] = "gross margin at 40% of net revenue"
    ax = acquisition.plot_payback_curve(curve, cac=pd.Series({"web": 15.0}), currency="EUR")
    assert list(ax.lines[0].get_ydata()) == [8.0, 16.0, 22.0]
    assert "gross margin at 40% of net revenue" in ax.get_title()
    plt.close("all")
    ax = acquisition.plot_payback_curve(curve.drop(columns="cumulative_margin_per_customer"), currency="EUR")
    assert "no gross margin applied" in ax.get_title()


def test_plots_draw_on_a_given_axes_and_refuse_empty_data():
    _, ax = plt.subplots()
    data = pd.DataFrame({"period_start": MONTHS, "channel": ["web"] * 3, "new_customers": [1, 2, 3]})
    assert acquisition.plot_new_customers(data, ax=ax) is ax
    with pytest.raises(DataError, match="no rows"):
        acquisition.plot_new_customers(data.iloc[0:0])
