"""Per-customer value: expected purchases, spend and discounted CLV in explicit time units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clc_lib.clv import BetaGeoModel, CustomerValueModel, per_step_discount_rate, predict_customer_value
from clc_lib.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def value_model(cdnow_summary):
    return CustomerValueModel("bgnbd", time_unit="W").fit(cdnow_summary)


def test_undiscounted_clv_is_spend_times_expected_purchases(value_model, cdnow_summary):
    scores = value_model.predict(cdnow_summary, horizon=52)
    assert list(scores.columns) == ["p_alive", "expected_purchases", "expected_spend", "clv"]
    assert scores.index.equals(cdnow_summary.index)
    np.testing.assert_allclose(scores["clv"], scores["expected_spend"] * scores["expected_purchases"], rtol=1e-10)
    assert scores.loc[1, "p_alive"] == pytest.approx(0.7266, abs=5e-5)


def test_discounting_matches_a_hand_computed_period_sum(value_model, cdnow_summary):
    customer = cdnow_summary.loc[[1]]
    weekly = 0.01
    scores = value_model.predict(customer, horizon=4, discount_rate=weekly)
    model = value_model.purchase_model_
    cumulative = [0.0] + [model.expected_purchases(k, customer).iloc[0] for k in (1, 2, 3, 4)]
    by_hand = sum((cumulative[k] - cumulative[k - 1]) / 1.01**k for k in range(1, 5))
    assert scores.loc[1, "clv"] == pytest.approx(scores.loc[1, "expected_spend"] * by_hand, rel=1e-12)


def test_annual_rate_is_converted_explicitly():
    assert per_step_discount_rate(time_unit="W", annual_discount_rate=0.10) == pytest.approx(1.10 ** (7 / 365.25) - 1)
    assert per_step_discount_rate(time_unit="M", annual_discount_rate=0.10) == pytest.approx(1.10 ** (1 / 12) - 1)
    assert per_step_discount_rate(time_unit="D", discount_rate=0.001, step=7) == pytest.approx(1.001**7 - 1)
    with pytest.raises(ConfigError, match="not both"):
        per_step_discount_rate(time_unit="W", discount_rate=0.01, annual_discount_rate=0.1)


def test_predict_customer_value_shortcut_and_margin(cdnow_summary, value_model):
    scores = predict_customer_value(cdnow_summary, horizon=26, annual_discount_rate=0.1, margin=0.3)
    direct = value_model.predict(cdnow_summary, horizon=26, annual_discount_rate=0.1)
    np.testing.assert_allclose(scores["clv"], 0.3 * direct["clv"], rtol=1e-8)
    assert scores.attrs["time_unit"] == "W" and scores.attrs["horizon"] == 26


def test_one_time_buyers_get_the_population_mean_spend(value_model, cdnow_summary):
    scores = value_model.predict(cdnow_summary, horizon=52)
    p, q, gamma = value_model.spend_model_.params_
    np.testing.assert_allclose(scores.loc[cdnow_summary.x == 0, "expected_spend"], p * gamma / (q - 1), rtol=1e-12)


def test_customers_without_purchases_get_nan_not_dropped(cdnow_summary):
    summary = cdnow_summary.head(300).copy()
    summary.loc[summary.index[0], ["x", "t_x", "T", "zbar"]] = [0, np.nan, np.nan, 0.0]
    with pytest.warns(UserWarning, match="no purchase day"):
        model = CustomerValueModel().fit(summary)
    scores = model.predict(summary, horizon=10)
    assert len(scores) == 300 and scores.iloc[0].isna().all() and scores.iloc[1:].notna().all().all()


def test_model_choice_and_bad_options(cdnow_summary):
    pareto = CustomerValueModel("pareto_nbd").fit(cdnow_summary)
    assert type(pareto.purchase_model_).__name__ == "ParetoNBDModel"
    with pytest.raises(ConfigError, match="Unknown purchase model"):
        CustomerValueModel("bg")
    with pytest.raises(DataError, match="zbar"):
        CustomerValueModel().fit(cdnow_summary.drop(columns="zbar"))


def test_discounted_expected_purchases_without_discount_is_the_expectation(cdnow_summary):
    model = BetaGeoModel().fit(cdnow_summary)
    head = cdnow_summary.head(20)
    np.testing.assert_allclose(model.discounted_expected_purchases(13, head, step=1.0),
                               model.expected_purchases(13, head), rtol=1e-10)
    frame = pd.DataFrame({"x": [2], "t_x": [30.43], "T": [38.86]})
    assert model.discounted_expected_purchases(13, frame, discount_rate=0.05).iloc[0] < \
        model.expected_purchases(13, frame).iloc[0]


def test_repeat_buyers_with_zero_spend_get_the_population_mean_and_keep_their_purchase_forecast(cdnow_summary):
    summary = cdnow_summary.copy()
    zero_spender = summary.index[summary.x > 0][0]
    summary.loc[zero_spender, "zbar"] = 0.0  # e.g. repeat purchases of zero value, as in CDNOW master
    with pytest.warns(UserWarning, match="mean repeat value of zero or less"):
        model = CustomerValueModel().fit(summary)
    assert model.n_without_spend_ == 1
    # the spend fit equals a fit without that customer's (absent) spend information
    reference = CustomerValueModel().fit(cdnow_summary.drop(index=zero_spender))
    p, q, gamma = model.spend_model_.params_
    scores = model.predict(summary, horizon=52)
    assert scores.loc[zero_spender, "expected_spend"] == pytest.approx(p * gamma / (q - 1), rel=1e-12)
    purchases = model.purchase_model_.expected_purchases(52, summary.loc[[zero_spender]])
    assert scores.loc[zero_spender, "expected_purchases"] == pytest.approx(purchases.iloc[0], rel=1e-12)
    np.testing.assert_allclose(model.spend_model_.params_, reference.spend_model_.params_, rtol=1e-4)


def test_customer_whose_purchases_net_to_zero_or_less_gets_no_spend_and_no_winback_rank(value_model, cdnow_summary):
    from clc_lib.recovery import winback_candidates

    summary = cdnow_summary.assign(net_revenue=cdnow_summary["zbar"] * (cdnow_summary["x"] + 1) + 1.0)
    top = value_model.predict(summary, horizon=52)["clv"].idxmax()
    summary.loc[top, "net_revenue"] = -6.10  # the large orders were cancelled
    scores = value_model.predict(summary, horizon=52)
    assert scores.loc[top, "expected_spend"] == 0.0 and scores.loc[top, "clv"] == 0.0
    assert scores.loc[top, "expected_purchases"] > 0  # the purchase forecast is unchanged
    others = scores.drop(index=top)
    pd.testing.assert_frame_equal(others, value_model.predict(cdnow_summary, horizon=52).drop(index=top))
    ranked = winback_candidates(scores, n=None, p_alive_col=None)
    assert ranked.loc[top, "rank"] > ranked.loc[ranked["clv"] > 0, "rank"].max()
