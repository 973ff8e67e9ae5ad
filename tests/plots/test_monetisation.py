"""Monetisation charts: each returns its Axes with a title, labelled axes and the data drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clc_lib import monetisation as mon
from clc_lib.plots import monetisation

from .axes_checks import assert_labelled

MONTHS = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])


def test_incomplete_last_period_is_drawn_dotted_and_hollow():
    revenue = pd.DataFrame({"period_start": MONTHS, "net_revenue": [10.0, 12.0, 2.0],
                            "is_complete": [True, True, False]})
    ax = monetisation.plot_revenue_over_time(revenue)
    solid, dotted, hollow = ax.get_lines()
    assert list(solid.get_ydata()) == [10.0, 12.0]
    assert dotted.get_linestyle() == ":" and list(dotted.get_ydata()) == [12.0, 2.0]
    assert list(hollow.get_ydata()) == [2.0] and hollow.get_markerfacecolor() == "white"
    assert ax.get_legend() is not None


@pytest.mark.parametrize("metric", list(monetisation.REVENUE_METRICS))
def test_revenue_over_time_metrics(metric):
    data = pd.DataFrame({"period_start": MONTHS, "net_revenue": [110.0, 52.0, 20.0],
                         "gross_revenue": [120.0, 55.0, 20.0], "returns": [10.0, 3.0, 0.0], "orders": [4, 2, 2],
                         "active_customers": [3, 2, 2], "aov": [30.0, 27.5, 10.0], "arpu": [36.7, 26.0, 10.0],
                         "return_rate": [0.083, 0.055, 0.0]})
    ax = monetisation.plot_revenue_over_time(data, metric=metric, currency="EUR")
    assert_labelled(ax, currency_in="y" if monetisation.REVENUE_METRICS[metric][1] == "currency" else None)
    assert list(ax.lines[0].get_ydata()) == data[metric].tolist()


def test_revenue_by_group():
    data = pd.DataFrame({"stage": ["active", "new"], "net_revenue": [250.0, 20.0], "revenue_share": [0.93, 0.07],
                         "customer_share": [0.4, 0.2]})
    ax = monetisation.plot_revenue_by(data, by="stage", currency="EUR")
    assert_labelled(ax, currency_in="x")
    assert any("93% of revenue" in t.get_text() for t in ax.texts)


def test_lorenz_title_carries_the_gini():
    values = [0, 0, 0, 1]
    ax = monetisation.plot_lorenz(values)
    assert_labelled(ax)
    assert f"Gini = {mon.gini(values):.2f}" in ax.get_title()
    assert "0.75" in ax.get_title()


def test_cross_sell_heatmap_counts_and_shares():
    counts = pd.DataFrame([[3, 1], [1, 2]], index=["music", "books"], columns=["music", "books"])
    ax = monetisation.plot_cross_sell(counts)
    assert_labelled(ax)
    assert "both categories" in ax.get_title()
    shares = counts / np.diag(counts)[:, None]
    ax = monetisation.plot_cross_sell(shares)
    assert "share of row-category buyers" in ax.get_title()


def test_categories_and_upsell_charts():
    breadth = pd.DataFrame({"categories": ["0", "1", "2+"], "customers": [1, 2, 2], "share": [0.2, 0.4, 0.4]})
    assert_labelled(monetisation.plot_categories_per_customer(breadth))
    tenure = pd.DataFrame({"tenure_band": ["0-89 days", "90-179 days"], "orders": [8, 1], "aov": [24.4, 40.0],
                           "median_order_value": [20.0, 40.0]})
    ax = monetisation.plot_aov_by_tenure(tenure, currency="EUR")
    assert_labelled(ax, currency_in="y")
    assert [round(p.get_height(), 1) for p in ax.patches] == [24.4, 40.0]
    numbers = pd.DataFrame({"order_number": ["1", "2+"], "orders": [5, 3], "aov": [26.0, 25.0]})
    assert_labelled(monetisation.plot_aov_by_order_number(numbers, currency="EUR"), currency_in="y")
