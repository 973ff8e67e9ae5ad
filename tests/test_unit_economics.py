"""Unit economics: revenue curves per acquired customer, LTV:CAC, payback and gross margin, on the
hand-built transactions of tests/test_acquisition.py."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from test_acquisition import AS_OF, make_frame

from clc_lib import unit_economics as ue
from clc_lib.errors import ConfigError, DataError, ModelFitError
from clc_lib.settings import margin_settings


@pytest.fixture
def transactions() -> ibis.Table:
    """The hand-built shop of tests/test_acquisition.py."""
    return ibis.memtable(make_frame())


def test_cumulative_revenue_curve_is_censored(transactions):
    curve = ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, max_months=6)
    web = curve[curve["channel"] == "web"].set_index("months_since_acquisition")
    # 00017 (5 Jan): 30 in month 0, +30 on day 36 (month 1); 178 days observed -> 5 complete months
    # 5 (31 Jan): 40 in month 0, +40 on day 105 (month 3); 152 days observed -> 4 complete months
    assert web["customers_observed"].tolist() == [2, 2, 2, 2, 1]
    assert web["cumulative_revenue_per_customer"].tolist() == pytest.approx([35.0, 50.0, 50.0, 70.0, 60.0])
    store = curve[curve["channel"] == "store"]
    assert store["cumulative_revenue_per_customer"].iloc[0] == pytest.approx(40.0)  # 50 - 10 returned


def test_revenue_curve_shorter_than_min_months_is_a_model_fit_error(transactions):
    # 00017, acquired 5 Jan, is the earliest: on 4 Feb 31 days are observed -> 1 complete month
    one_month = ue.cumulative_revenue_per_customer(transactions, as_of="2024-02-04", by=None)
    assert one_month["months_since_acquisition"].tolist() == [0]
    with pytest.raises(ModelFitError, match=r"first purchase on 2024-01-05, data to 2024-02-04\) have been "
                                            r"observed for 1 full month\(s\); the curve needs customers acquired "
                                            r"at least 2 months \(61 days\)"):
        ue.cumulative_revenue_per_customer(transactions, as_of="2024-02-04", by=None, min_months=2)
    # 61 days observed on 5 Mar: two complete months
    two = ue.cumulative_revenue_per_customer(transactions, as_of="2024-03-05", by=None, min_months=2)
    assert two["months_since_acquisition"].max() == 1
    with pytest.raises(ConfigError, match="min_months is 0"):
        ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, min_months=0)


def test_revenue_curve_without_channels_pools_everyone(transactions):
    curve = ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, by=None, max_months=1)
    # month 0 of all five customers: 30 + 40 + 5 + 40 + 40 = 155
    assert curve["customers_observed"].iloc[0] == 5
    assert curve["cumulative_revenue_per_customer"].iloc[0] == pytest.approx(155 / 5)


def test_payback_months_from_a_hand_curve():
    curve = pd.DataFrame({
        "channel": ["web"] * 4 + ["store"] * 2,
        "months_since_acquisition": [0, 1, 2, 3, 0, 1],
        "customers_observed": [10] * 6,
        "cumulative_revenue_per_customer": [20.0, 40.0, 55.0, 70.0, 15.0, 30.0],
    })
    cac = pd.Series({"web": 50.0, "store": 15.0, "organic": np.nan})
    table = ue.payback_period(curve, cac).set_index("channel")
    assert table.loc["web", "payback_months"] == 3  # 55 >= 50 at month index 2
    assert table.loc["store", "payback_months"] == 1  # covered within the first month
    half = ue.payback_period(curve, cac, margin_rate=0.5).set_index("channel")
    assert not half.loc["web", "reached"] and np.isnan(half.loc["web", "payback_months"])  # 35 < 50
    assert half.loc["web", "observed_months"] == 4
    assert half.loc["web", "margin_at_last_month"] == pytest.approx(35.0)
    assert half.loc["store", "payback_months"] == 2  # 0.5 x 30 = 15


def test_payback_on_real_curve_and_ltv_cac(transactions):
    curve = ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, max_months=6)
    table = ue.payback_period(curve, pd.Series({"web": 50.0})).set_index("channel")
    assert table.loc["web", "payback_months"] == 2  # 50 at month index 1
    ltv = ue.ltv_from_revenue_curve(curve, months=4)
    assert ltv["web"] == pytest.approx(70.0)
    assert ltv["store"] == pytest.approx(40.0)
    ratio = ue.ltv_cac(ltv, pd.DataFrame({"channel": ["web", "organic"], "cac": [35.0, np.nan]})).set_index("channel")
    assert ratio.loc["web", "ltv_cac_ratio"] == pytest.approx(2.0)
    assert np.isnan(ratio.loc["organic", "ltv_cac_ratio"])


def test_payback_with_mismatched_channels_explains(transactions):
    curve = ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, max_months=2)
    with pytest.raises(DataError, match="No channel"):
        ue.payback_period(curve, pd.Series({"Web": 10.0}))


def test_margin_rate_must_be_a_share():
    with pytest.raises(ConfigError, match="margin_rate"):
        ue.ltv_from_revenue_curve(pd.DataFrame(), margin_rate=30)


def test_ltv_horizon_in_weeks():
    curve = pd.DataFrame({"channel": ["web"] * 13, "months_since_acquisition": range(13),
                          "cumulative_revenue_per_customer": [float(m) for m in range(13)]})
    assert ue.ltv_from_revenue_curve(curve, horizon_weeks=52)["web"] == 11.0  # 52 weeks = 12 months
    assert ue.ltv_from_revenue_curve(curve, months=3, margin_rate=0.5)["web"] == 1.0


# ------------------------------------------------------------------------------------- gross margin


def test_margin_settings_are_checked():
    assert margin_settings(None) == {"rate": None, "by": None, "rates": {}}
    assert ue.margin_basis({}).startswith("net revenue (no gross margin configured")
    assert ue.margin_basis({"rate": 0.4}) == "gross margin at 40% of net revenue"
    assert ue.margin_basis({"by": "category", "rates": {"books": 0.3}, "rate": 0.4}) == \
        "gross margin by category (books 30%; other category values 40%) of net revenue"
    for bad, message in [({"rate": 30}, "margin.rate"), ({"rate": True}, "margin.rate"),
                         ({"by": "region", "rates": {"x": 0.5}}, "margin.by"),
                         ({"rates": {"web": 0.5}}, "without margin.by"), ({"by": "channel"}, "rates is empty"),
                         ({"by": "channel", "rates": {"web": 0}}, "margin.rates.web"), ({"rte": 0.4}, "rate")]:
        with pytest.raises(ConfigError, match=message):
            margin_settings(bad)


def test_the_run_config_carries_a_margin_section():
    from clc_lib.config import RunConfig

    config = RunConfig.from_dict({"transactions": {"data": make_frame()}, "margin": {"rate": 0.4}})
    assert config.margin["rate"] == 0.4
    with pytest.raises(ConfigError, match="margin.rate"):
        RunConfig.from_dict({"transactions": {"data": make_frame()}, "margin": {"rate": 40}})


def test_payback_on_margin_is_later_than_on_revenue(transactions):
    on_revenue = ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, max_months=6)
    on_margin = ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, max_months=6, margin={"rate": 0.5})
    web = on_margin[on_margin["channel"] == "web"]
    assert web["cumulative_revenue_per_customer"].tolist() == pytest.approx([35.0, 50.0, 50.0, 70.0, 60.0])
    assert web["cumulative_margin_per_customer"].tolist() == pytest.approx([17.5, 25.0, 25.0, 35.0, 30.0])
    assert on_margin.attrs["value_basis"] == "gross margin at 50% of net revenue"
    assert "cumulative_margin_per_customer" not in on_revenue.columns
    cac = pd.Series({"web": 30.0})
    revenue_payback = ue.payback_period(on_revenue, cac).set_index("channel")
    margin_payback = ue.payback_period(on_margin, cac).set_index("channel")
    assert revenue_payback.loc["web", "payback_months"] == 1  # the first order's revenue alone covers 30
    assert margin_payback.loc["web", "payback_months"] == 4  # 35 >= 30 at month index 3
    assert margin_payback.attrs["value_basis"] == "gross margin at 50% of net revenue"
    assert ue.ltv_from_revenue_curve(on_margin, months=4)["web"] == pytest.approx(35.0)
    with pytest.raises(ConfigError, match="already on gross margin"):
        ue.payback_period(on_margin, cac, margin_rate=0.5)


def test_margin_per_order_channel_with_a_default_rate(transactions):
    margin = {"by": "channel", "rates": {"web": 0.5, "store": 0.2}, "rate": 0.4}
    curve = ue.cumulative_revenue_per_customer(transactions, as_of=AS_OF, max_months=1, margin=margin)
    by_channel = curve.set_index("channel")["cumulative_margin_per_customer"]
    # month 0 of web customers: 00017 bought 10 (web) + 20 (store), 5 bought 40 (web)
    assert by_channel["web"] == pytest.approx((0.5 * 10 + 0.2 * 20 + 0.5 * 40) / 2)
    assert by_channel["unknown"] == pytest.approx(0.4 * 5.0)  # an order without a channel gets the default rate
    assert by_channel["store"] == pytest.approx(0.2 * (50 - 10))  # the return at the same rate


def test_lines_without_a_margin_rate_are_a_data_error(transactions):
    with pytest.raises(DataError, match="without a gross margin rate") as error:
        ue.apply_margin(transactions, {"by": "channel", "rates": {"web": 0.5}})
    assert error.value.column == "channel" and error.value.n_rows == 6  # store 3, email 2, no channel 1
    with pytest.raises(DataError, match="no category column"):
        ue.apply_margin(transactions, {"by": "category", "rates": {"books": 0.3}})


# ------------------------------------------------------------------- repeat purchases cancelled by returns

# customer, order, timestamp, amount, is_return, channel
