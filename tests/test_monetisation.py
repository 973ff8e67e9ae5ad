"""Monetisation analyses: hand-computed values on a tiny shop, concentration against closed forms."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clc_lib import monetisation as mon
from clc_lib.errors import ConfigError, DataError

# customer, order, timestamp, amount, is_return, category
ROWS = [
    ("00017", "A1", "2024-01-05 10:00", 10.0, False, "books"),
    ("00017", "A2", "2024-01-05 15:00", 20.0, False, "music"),
    ("00017", "A3", "2024-02-10 09:00", 30.0, False, "books"),
    ("2", "B1", "2024-01-20 12:00", 50.0, False, "music"),
    ("2", "B1R", "2024-01-25 12:00", -10.0, True, "music"),
    ("3", "C1", "2024-03-01 08:00", 5.0, False, None),
    ("4", "R1", "2024-02-01 08:00", -3.0, True, "books"),
    ("5", "D1", "2024-01-31 00:00", 40.0, False, "books"),
    ("5", "D2", "2024-05-15 00:00", 40.0, False, "games"),
    ("6", "E1", "2024-02-15 00:00", 25.0, False, "music"),
    ("6", "E2", "2024-03-01 00:00", 15.0, False, "music"),
]


def make_frame() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["customer_id", "order_id", "timestamp", "amount", "is_return", "category"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


@pytest.fixture
def transactions() -> ibis.Table:
    return ibis.memtable(make_frame())


# ---------------------------------------------------------------------------------- revenue over time

def test_revenue_over_time_monthly(transactions):
    table = mon.revenue_over_time(transactions).set_index("period_start")
    jan, feb, apr = (pd.Timestamp(d) for d in ("2024-01-01", "2024-02-01", "2024-04-01"))
    # January: purchases 10 + 20 + 50 + 40 = 120 in 4 orders by 3 customers; return 10
    assert table.loc[jan, ["gross_revenue", "returns", "net_revenue"]].tolist() == [120.0, 10.0, 110.0]
    assert table.loc[jan, ["orders", "active_customers"]].tolist() == [4, 3]
    assert table.loc[jan, "aov"] == pytest.approx(30.0)
    assert table.loc[jan, "arpu"] == pytest.approx(110 / 3)
    assert table.loc[jan, "return_rate"] == pytest.approx(10 / 120)
    # February: 30 + 25 in 2 orders by 2 customers; customer 4 returned 3 (not an active customer)
    assert table.loc[feb, ["gross_revenue", "returns", "net_revenue"]].tolist() == [55.0, 3.0, 52.0]
    assert table.loc[feb, "active_customers"] == 2
    assert table.loc[feb, "arpu"] == pytest.approx(26.0)
    # April has no rows: present with zeros and undefined ratios
    assert table.loc[apr, ["net_revenue", "orders"]].tolist() == [0.0, 0]
    assert np.isnan(table.loc[apr, "aov"]) and np.isnan(table.loc[apr, "arpu"])
    assert table["net_revenue"].sum() == pytest.approx(make_frame()["amount"].sum())


def test_revenue_over_time_marks_the_unfinished_last_period(transactions):
    by_default = mon.revenue_over_time(transactions)  # the data end on May 15
    assert by_default["is_complete"].tolist() == [True, True, True, True, False]
    at_month_end = mon.revenue_over_time(transactions, as_of="2024-05-31")
    assert at_month_end["is_complete"].all()
    pd.testing.assert_frame_equal(at_month_end.drop(columns="is_complete"), by_default.drop(columns="is_complete"))


def test_revenue_over_time_weekly(transactions):
    table = mon.revenue_over_time(transactions, period="W")
    assert (table["period_start"].dt.dayofweek == 0).all()
    assert table.loc[table["period_start"] == pd.Timestamp("2024-01-01"), "orders"].item() == 2  # A1, A2


# ------------------------------------------------------------------------------------- revenue by

@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "stage": ["active", "new", "active", None, "churned"],
        "orders": [4, 1, 2, 1, 0],
        "aov": [50.0, 20.0, 30.0, 10.0, np.nan],
        "net_revenue": [190.0, 20.0, 60.0, 10.0, -5.0],
        "tenure_days": [365.25, 10.0, 730.5, 100.0, np.nan],
    }).set_index("customer_id")


def test_revenue_over_time_counts_distinct_orders_and_customers():
    rows = [
        ("a", "X", "2024-01-02", 10.0, False),
        ("a", "X", "2024-01-03", 5.0, False),   # second line of order X
        ("b", "X", "2024-01-04", 7.0, False),   # the same order id for another customer: one order
        ("b", "Y", "2024-01-05", 8.0, False),
        ("c", "Z", "2024-01-06", -4.0, True),   # return only: neither an order nor an active customer
        ("a", "W", "2024-02-01", 1.0, False),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    table = mon.revenue_over_time(ibis.memtable(frame)).set_index("period_start")
    assert table.loc[pd.Timestamp("2024-01-01"), ["orders", "active_customers"]].tolist() == [2, 2]
    assert table.loc[pd.Timestamp("2024-02-01"), ["orders", "active_customers"]].tolist() == [1, 1]
    assert table.loc[pd.Timestamp("2024-01-01"), "aov"] == pytest.approx(30.0 / 2)


def test_revenue_by_stage(summary):
    table = mon.revenue_by(summary, "stage", order=["new", "active", "churned"])
    assert table["stage"].tolist()[:3] == ["new", "active", "churned"]
    active = table.set_index("stage").loc["active"]
    assert active[["customers", "orders"]].tolist() == [2, 6]
    assert active["net_revenue"] == 250.0
    assert active["revenue_share"] == pytest.approx(250 / 275)
    assert active["customer_share"] == pytest.approx(2 / 5)
    assert active["aov"] == pytest.approx((200 + 60) / 6)
    assert table["stage"].isna().sum() == 1  # the unlabelled customer is kept as its own group
    assert table["revenue_share"].sum() == pytest.approx(1.0)


def test_revenue_by_default_sorts_by_revenue(summary):
    assert mon.revenue_by(summary, "stage")["stage"].iloc[0] == "active"


# ------------------------------------------------------------------------------------- concentration

def test_gini_hand_values():
    assert mon.gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert mon.gini([0, 0, 0, 1]) == pytest.approx(0.75)  # population formula: (n - 1) / n
    # [1, 2, 3, 4]: sum |xi - xj| over ordered pairs = 20, / (2 x 16 x 2.5) = 0.25
    assert mon.gini([4, 1, 3, 2]) == pytest.approx(0.25)
    assert np.isnan(mon.gini([0, 0]))


def test_gini_matches_mean_absolute_difference():
    values = np.random.default_rng(1).gamma(0.7, 80.0, size=300)
    pairwise = np.abs(values[:, None] - values[None, :]).sum() / (2 * values.size**2 * values.mean())
    assert mon.gini(values) == pytest.approx(pairwise, rel=1e-12)


def test_gini_closed_forms():
    rng = np.random.default_rng(7)
    assert mon.gini(rng.exponential(size=400_000)) == pytest.approx(0.5, abs=0.005)
    assert mon.gini(rng.uniform(size=400_000)) == pytest.approx(1 / 3, abs=0.005)
    sigma = 1.2  # log-normal: G = 2 Phi(sigma / sqrt 2) - 1
    assert mon.gini(rng.lognormal(0.0, sigma, size=400_000)) == pytest.approx(
        2 * stats.norm.cdf(sigma / np.sqrt(2)) - 1, abs=0.01)


def test_lorenz_curve_endpoints_and_area():
    values = np.random.default_rng(3).pareto(2.5, size=1000)
    curve = mon.lorenz_curve(values, max_points=None)
    assert curve.iloc[0].tolist() == [0.0, 0.0]
    assert curve.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
    assert (np.diff(curve["value_share"]) >= 0).all()
    assert (curve["value_share"] <= curve["customer_share"] + 1e-12).all()
    area = np.trapezoid(curve["value_share"], curve["customer_share"])
    assert mon.gini(values) == pytest.approx(1 - 2 * area, rel=1e-9)
    small = mon.lorenz_curve(values, max_points=11)
    assert len(small) == 11 and small.iloc[-1]["value_share"] == pytest.approx(1.0)


def test_lorenz_of_hand_values():
    curve = mon.lorenz_curve([4, 1, 3, 2], max_points=None)
    assert curve["value_share"].tolist() == pytest.approx([0.0, 0.1, 0.3, 0.6, 1.0])


def test_top_share():
    assert mon.top_share([0, 0, 0, 1], 0.25) == pytest.approx(1.0)
    assert mon.top_share([0, 0, 0, 1], 0.2) == pytest.approx(0.8)  # 0.8 of the top customer
    assert mon.top_share([5] * 10, 0.2) == pytest.approx(0.2)
    assert mon.top_share([1, 2, 3, 4], 0.5) == pytest.approx(0.7)


def test_negative_values_raise_or_clip():
    with pytest.raises(DataError, match="negative") as error:
        mon.gini([3, -1, 2])
    assert error.value.n_rows == 1
    with pytest.warns(UserWarning, match="1 negative"):
        assert mon.gini([3, -1, 0, 1], negative="clip") == pytest.approx(mon.gini([3, 0, 0, 1]))
    with pytest.raises(DataError, match="missing"):
        mon.lorenz_curve([1.0, np.nan])
    with pytest.raises(DataError, match="0 rows"):
        mon.gini([])


# -------------------------------------------------------------------------------------- historic LTV

def test_historic_ltv_per_customer(summary):
    table = mon.historic_ltv(summary, min_tenure_days=30)
    # a: ticket 50, 4 orders in 1 year; b: 1 order in 10 days, floored to 30 days
    assert table.loc["a", "average_ticket"] == 50.0
    assert table.loc["a", "purchases_per_year"] == pytest.approx(4.0)
    assert table.loc["b", "purchases_per_year"] == pytest.approx(365.25 / 30)
    mean_tenure = (1.0 + 30 / 365.25 + 2.0 + 100 / 365.25) / 4  # customers with orders
    assert table.loc["a", "lifetime_years"] == pytest.approx(mean_tenure)
    assert table.loc["a", "historic_ltv"] == pytest.approx(50 * 4 * mean_tenure)
    assert table.loc["e", ["average_ticket", "historic_ltv"]].isna().all()  # returns only


def test_historic_ltv_by_group_observed_tenure_is_value_to_date(summary):
    table = mon.historic_ltv(summary, by="stage").set_index("stage")
    active = table.loc["active"]
    # with the observed-tenure lifetime, group LTV = average gross value per customer: (200 + 60) / 2
    assert active["historic_ltv"] == pytest.approx(130.0)
    assert active["average_ticket"] == pytest.approx(260 / 6)
    assert active["purchases_per_year"] == pytest.approx(6 / 3.0)  # 6 orders over 1 + 2 years
    churned = table.loc["churned"]
    assert churned["customers"] == 0 and churned["customers_without_orders"] == 1


def test_historic_ltv_with_churn_rate_and_margin(summary):
    table = mon.historic_ltv(summary, by="stage", annual_churn_rate=0.25, margin_rate=0.4).set_index("stage")
    # active: ticket 260 / 6, 2 purchases a year, 1 / 0.25 = 4 years, 40 % margin
    assert table.loc["active", "lifetime_years"] == 4.0
    assert table.loc["active", "historic_ltv"] == pytest.approx(260 / 6 * 2 * 4 * 0.4)
    net = mon.historic_ltv(summary, by="stage", lifetime_years=1.0, net_of_returns=True).set_index("stage")
    assert net.loc["active", "average_ticket"] == pytest.approx(250 / 6)
    with pytest.raises(ConfigError, match="either"):
        mon.historic_ltv(summary, annual_churn_rate=0.5, lifetime_years=2)


# ------------------------------------------------------------------------------ cross-sell and up-sell

def test_categories_per_customer(transactions):
    table = mon.categories_per_customer(transactions, max_categories=3).set_index("categories")
    # 00017 {books, music}, 2 {music}, 3 {} (no category), 5 {books, games}, 6 {music}; 4 only returned
    assert table["customers"].tolist() == [1, 2, 2, 0]
    assert table["share"].sum() == pytest.approx(1.0)
    assert mon.multi_category_share(transactions) == pytest.approx(2 / 5)
    assert mon.has_categories(transactions)


def test_category_co_occurrence(transactions):
    counts = mon.category_co_occurrence(transactions)
    assert counts.index.tolist() == ["music", "books", "games"]  # by number of buyers: 3, 2, 1
    assert counts.loc["books", "music"] == 1 and counts.loc["music", "books"] == 1  # 00017
    assert counts.loc["books", "games"] == 1  # 5
    assert counts.loc["music", "games"] == 0
    rows = mon.category_co_occurrence(transactions, normalize="row")
    assert rows.loc["books", "music"] == pytest.approx(0.5)
    assert rows.loc["music", "books"] == pytest.approx(1 / 3)
    assert np.diag(rows).tolist() == [1.0, 1.0, 1.0]


def test_cross_sell_without_category_explains():
    frame = make_frame().drop(columns="category")
    assert not mon.has_categories(ibis.memtable(frame))
    with pytest.raises(DataError, match="category"):
        mon.categories_per_customer(ibis.memtable(frame))


def test_aov_by_order_number(transactions):
    table = mon.aov_by_order_number(transactions, max_order_number=3).set_index("order_number")
    # 1st orders: 10, 50, 5, 40, 25; 2nd: 20, 40, 15; 3rd: 30
    assert table.loc["1", ["orders", "aov", "median_order_value"]].tolist() == [5, 26.0, 25.0]
    assert table.loc["2", "aov"] == pytest.approx(25.0)
    assert table.loc["3+", ["orders", "customers"]].tolist() == [1, 1]


def test_aov_by_order_number_pools_customers_once():
    rows = [("a", f"A{i}", f"2024-01-0{i}", 10.0 * i, False, None) for i in range(1, 6)]  # five orders
    rows += [("b", "B1", "2024-01-01", 1.0, False, None), ("b", "B2", "2024-01-01", 3.0, False, None)]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return", "category"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    table = mon.aov_by_order_number(ibis.memtable(frame), max_order_number=3).set_index("order_number")
    assert table["orders"].tolist() == [2, 2, 3]
    assert table["customers"].tolist() == [2, 2, 1]  # "3+": a's 3rd, 4th and 5th orders, one customer
    assert table.loc["2", "aov"] == pytest.approx((20.0 + 3.0) / 2)  # same time: B2 after B1 by id


def test_aov_by_tenure(transactions):
    table = mon.aov_by_tenure(transactions).set_index("tenure_band")
    # only D2 (day 105 of customer 5) is past day 89
    assert table.loc["0-89 days", ["orders", "customers"]].tolist() == [8, 5]
    assert table.loc["0-89 days", "aov"] == pytest.approx(195 / 8)
    assert table.loc["90-179 days", "aov"] == pytest.approx(40.0)
    assert table.loc["2+ years", "orders"] == 0
    with pytest.raises(ConfigError, match="gaps"):
        mon.aov_by_tenure(transactions, bands={"a": (0, 30), "b": (40, None)})


def test_concentration_summary():
    table = mon.concentration_summary([0, 0, 0, 1], shares=(0.25, 0.5))
    assert table["value_share"].tolist() == pytest.approx([1.0, 1.0])
    assert table["customers"].tolist() == [1, 2]
    assert table["gini"].iloc[0] == pytest.approx(0.75)


def test_historic_vs_predicted(summary):
    predicted = pd.Series({"a": 100.0, "b": 10.0, "c": 50.0}, name="clv")  # d, e without prediction
    table = mon.historic_vs_predicted(summary, predicted, by="stage").set_index("stage")
    assert table.loc["active", "net_revenue_per_customer"] == pytest.approx(125.0)
    assert table.loc["active", "predicted_clv_per_customer"] == pytest.approx(75.0)
    assert table.loc["active", "predicted_clv_total"] == pytest.approx(150.0)
    assert table.loc["churned", "customers_without_prediction"] == 1
    assert table["customers"].sum() == 5


def test_revenue_by_categorical_labels_with_order(summary):
    labelled = summary.assign(stage=pd.Categorical(summary["stage"], categories=["new", "active", "churned"]))
    table = mon.revenue_by(labelled, "stage", order=["churned", "active", "new"])
    assert table["stage"].tolist()[:3] == ["churned", "active", "new"]
    assert table["customers"].sum() == 5
