"""Acquisition and monetisation charts: each returns its Axes with a title, labelled axes and the data drawn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clc_lib import monetisation as mon  # noqa: E402
from clc_lib.errors import DataError  # noqa: E402
from clc_lib.plots import value  # noqa: E402

MONTHS = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_labelled(ax: plt.Axes, *, currency_in: str | None = None) -> None:
    assert isinstance(ax, plt.Axes)
    assert ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    if currency_in == "y":
        assert "EUR" in ax.get_ylabel()
    elif currency_in == "x":
        assert "EUR" in ax.get_xlabel()


def test_new_customers_stacks_channels():
    data = pd.DataFrame({"period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                         "new_customers": [2, 1, 0, 3, 4, 0]})
    ax = value.plot_new_customers(data)
    assert_labelled(ax)
    heights = sorted(round(p.get_height()) for p in ax.patches)
    assert heights == [0, 0, 1, 2, 3, 4]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["web", "store"]  # largest first


def test_incomplete_last_period_is_hatched_and_named_in_the_legend():
    data = pd.DataFrame({"period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                         "new_customers": [2, 1, 0, 3, 4, 1], "is_complete": np.repeat([True, True, False], 2)})
    data.attrs["as_of"] = pd.Timestamp("2024-03-09")
    ax = value.plot_new_customers(data)
    hatched = [bar for bar in ax.patches if bar.get_hatch() == "//" and bar.get_height() > 0]
    assert len(hatched) == 2  # web and store of March
    assert all(bar.get_x() + bar.get_width() / 2 == pytest.approx(2) for bar in hatched)
    assert any("incomplete period (data to 09 Mar 2024)" == t.get_text() for t in ax.get_legend().get_texts())
    revenue = pd.DataFrame({"period_start": MONTHS, "net_revenue": [10.0, 12.0, 2.0],
                            "is_complete": [True, True, False]})
    ax = value.plot_revenue_over_time(revenue)
    solid, dotted, hollow = ax.get_lines()
    assert list(solid.get_ydata()) == [10.0, 12.0]
    assert dotted.get_linestyle() == ":" and list(dotted.get_ydata()) == [12.0, 2.0]
    assert list(hollow.get_ydata()) == [2.0] and hollow.get_markerfacecolor() == "white"
    assert ax.get_legend() is not None


def test_funnel_leaves_out_the_total_row():
    data = pd.DataFrame({"channel": ["search", "social", "all channels"], "aware": [10, 20, 30],
                         "engaged": [5, 8, 13], "converted": [2, 1, 3], "conversion_rate": [0.2, 0.05, 0.1]})
    ax = value.plot_funnel(data)
    assert_labelled(ax)
    assert len(ax.patches) == 6  # 2 channels x 3 stages
    assert "20.0%" in [t.get_text() for t in ax.texts]


def test_cac_bars_and_monthly_lines():
    totals = pd.DataFrame({"channel": ["web", "organic", "paid channels"], "cac": [75.0, np.nan, 44.0],
                           "new_customers": [2, 4, 5]})
    ax = value.plot_cac(totals, currency="EUR")
    assert_labelled(ax, currency_in="x")
    assert len(ax.patches) == 2  # organic has no CAC
    monthly = pd.DataFrame({"period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                            "cac": [50.0, 30.0, np.nan, 20.0, 40.0, 25.0], "new_customers": [1] * 6})
    ax = value.plot_cac(monthly, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert len(ax.lines) == 2
    with pytest.raises(DataError, match="No channel has a CAC"):
        value.plot_cac(totals.assign(cac=np.nan))


def test_repeat_rate_plots_complete_cohorts():
    data = pd.DataFrame({"cohort": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                         "repeat_rate": [0.3, 0.2, 0.25, 0.1, np.nan, np.nan]})
    ax = value.plot_repeat_rate(data, window_days=90)
    assert_labelled(ax)
    assert "90 days" in ax.get_title()
    assert all(len(line.get_xdata()) == 2 for line in ax.lines)


@pytest.mark.parametrize("metric", list(value.REVENUE_METRICS))
def test_revenue_over_time_metrics(metric):
    data = pd.DataFrame({"period_start": MONTHS, "net_revenue": [110.0, 52.0, 20.0],
                         "gross_revenue": [120.0, 55.0, 20.0], "returns": [10.0, 3.0, 0.0], "orders": [4, 2, 2],
                         "active_customers": [3, 2, 2], "aov": [30.0, 27.5, 10.0], "arpu": [36.7, 26.0, 10.0],
                         "return_rate": [0.083, 0.055, 0.0]})
    ax = value.plot_revenue_over_time(data, metric=metric, currency="EUR")
    assert_labelled(ax, currency_in="y" if value.REVENUE_METRICS[metric][1] == "currency" else None)
    assert list(ax.lines[0].get_ydata()) == data[metric].tolist()


def test_revenue_by_group():
    data = pd.DataFrame({"stage": ["active", "new"], "net_revenue": [250.0, 20.0], "revenue_share": [0.93, 0.07],
                         "customer_share": [0.4, 0.2]})
    ax = value.plot_revenue_by(data, by="stage", currency="EUR")
    assert_labelled(ax, currency_in="x")
    assert any("93% of revenue" in t.get_text() for t in ax.texts)


def test_lorenz_title_carries_the_gini():
    values = [0, 0, 0, 1]
    ax = value.plot_lorenz(values)
    assert_labelled(ax)
    assert f"Gini = {mon.gini(values):.2f}" in ax.get_title()
    assert "0.75" in ax.get_title()


def test_ltv_cac_with_payback_annotation():
    data = pd.DataFrame({"channel": ["web", "store"], "ltv": [150.0, 40.0], "cac": [75.0, np.nan],
                         "ltv_cac_ratio": [2.0, np.nan]})
    payback = pd.DataFrame({"channel": ["web"], "payback_months": [3.0]})
    ax = value.plot_ltv_cac(data, payback=payback, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert "2.0:1\npayback 3 mo" in [t.get_text() for t in ax.texts]


def test_payback_curve_draws_cac_lines():
    curve = pd.DataFrame({"channel": ["web"] * 3, "months_since_acquisition": [0, 1, 2],
                          "cumulative_revenue_per_customer": [20.0, 40.0, 55.0]})
    ax = value.plot_payback_curve(curve, cac=pd.Series({"web": 50.0}), margin_rate=0.5, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert list(ax.lines[0].get_ydata()) == [10.0, 20.0, 27.5]
    assert list(ax.lines[1].get_ydata()) == [50.0, 50.0]  # horizontal CAC line


def test_payback_curve_says_whether_it_shows_margin_or_revenue():
    curve = pd.DataFrame({"channel": ["web"] * 3, "months_since_acquisition": [0, 1, 2],
                          "cumulative_revenue_per_customer": [20.0, 40.0, 55.0],
                          "cumulative_margin_per_customer": [8.0, 16.0, 22.0]})
    curve.attrs["value_basis"] = "gross margin at 40% of net revenue"
    ax = value.plot_payback_curve(curve, cac=pd.Series({"web": 15.0}), currency="EUR")
    assert list(ax.lines[0].get_ydata()) == [8.0, 16.0, 22.0]
    assert "gross margin at 40% of net revenue" in ax.get_title()
    plt.close("all")
    ax = value.plot_payback_curve(curve.drop(columns="cumulative_margin_per_customer"), currency="EUR")
    assert "no gross margin applied" in ax.get_title()


def test_cross_sell_heatmap_counts_and_shares():
    counts = pd.DataFrame([[3, 1], [1, 2]], index=["music", "books"], columns=["music", "books"])
    ax = value.plot_cross_sell(counts)
    assert_labelled(ax)
    assert "both categories" in ax.get_title()
    shares = counts / np.diag(counts)[:, None]
    ax = value.plot_cross_sell(shares)
    assert "share of row-category buyers" in ax.get_title()


def test_categories_and_upsell_charts():
    breadth = pd.DataFrame({"categories": ["0", "1", "2+"], "customers": [1, 2, 2], "share": [0.2, 0.4, 0.4]})
    assert_labelled(value.plot_categories_per_customer(breadth))
    tenure = pd.DataFrame({"tenure_band": ["0-89 days", "90-179 days"], "orders": [8, 1], "aov": [24.4, 40.0],
                           "median_order_value": [20.0, 40.0]})
    ax = value.plot_aov_by_tenure(tenure, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert [round(p.get_height(), 1) for p in ax.patches] == [24.4, 40.0]
    numbers = pd.DataFrame({"order_number": ["1", "2+"], "orders": [5, 3], "aov": [26.0, 25.0]})
    assert_labelled(value.plot_aov_by_order_number(numbers, currency="EUR"), currency_in="y")


def test_plots_draw_on_a_given_axes_and_refuse_empty_data():
    _, ax = plt.subplots()
    data = pd.DataFrame({"period_start": MONTHS, "channel": ["web"] * 3, "new_customers": [1, 2, 3]})
    assert value.plot_new_customers(data, ax=ax) is ax
    with pytest.raises(DataError, match="no rows"):
        value.plot_new_customers(data.iloc[0:0])


def test_repeat_rate_without_complete_cohorts_says_so():
    data = pd.DataFrame({"cohort": MONTHS, "channel": ["web"] * 3, "repeat_rate": [np.nan] * 3})
    ax = value.plot_repeat_rate(data)
    assert_labelled(ax)
    assert "No cohort" in ax.texts[0].get_text()
