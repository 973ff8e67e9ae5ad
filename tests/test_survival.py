"""Survival helpers against hand computation, statsmodels called directly and scipy."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from clc_lib.errors import DataError
from clc_lib.churn_drivers import cox_drivers
from clc_lib.survival import (
    compare_survival,
    customer_attributes,
    customer_lifetimes,
    format_p_value,
    kaplan_meier,
    logrank_test,
    median_survival,
    restricted_mean_survival_time,
    time_to_second_purchase,
    with_customer_attributes,
)

# Five customers: events at days 1, 2 and 3; censored at days 2 and 5.
DURATIONS = [1.0, 2.0, 2.0, 3.0, 5.0]
EVENTS = [1, 1, 0, 1, 0]


def _transactions(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    return ibis.memtable(frame)


def test_kaplan_meier_matches_hand_computation_and_greenwood_loglog_interval():
    curve = kaplan_meier(DURATIONS, EVENTS)
    # S(1) = 4/5, S(2) = 4/5 * 3/4, S(3) = 0.6 * 1/2; flat to the last censoring time 5.
    np.testing.assert_allclose(curve["time"], [0, 1, 2, 3, 5])
    np.testing.assert_allclose(curve["survival"], [1.0, 0.8, 0.6, 0.3, 0.3])
    assert curve["at_risk"].tolist() == [5, 5, 4, 2, 1]
    assert curve["events"].tolist() == [0, 1, 1, 1, 0]
    # Greenwood: var S(t) = S^2 * sum d / (n (n - d)); interval on log(-log S).
    greenwood = np.cumsum([1 / (5 * 4), 1 / (4 * 3), 1 / (2 * 1)])
    survival = np.array([0.8, 0.6, 0.3])
    se_loglog = np.sqrt(greenwood) / np.abs(np.log(survival))
    z = stats.norm.ppf(0.975)
    theta = np.log(-np.log(survival))
    np.testing.assert_allclose(curve["lower"].iloc[1:4], np.exp(-np.exp(theta + z * se_loglog)), rtol=1e-10)
    np.testing.assert_allclose(curve["upper"].iloc[1:4], np.exp(-np.exp(theta - z * se_loglog)), rtol=1e-10)
    assert (curve["lower"] <= curve["survival"]).all() and (curve["survival"] <= curve["upper"]).all()


def test_kaplan_meier_matches_statsmodels_per_group():
    rng = np.random.default_rng(7)
    durations = rng.integers(1, 60, 200).astype(float)
    events = rng.random(200) < 0.6
    groups = np.where(rng.random(200) < 0.4, "web", "store")
    curve = kaplan_meier(durations, events, groups)
    for group in ("store", "web"):
        mask = groups == group
        reference = SurvfuncRight(durations[mask], events[mask].astype(int))
        mine = curve[(curve["group"] == group) & (curve["events"] > 0)]
        np.testing.assert_allclose(mine["time"], reference.surv_times)
        np.testing.assert_allclose(mine["survival"], reference.surv_prob)
        np.testing.assert_array_equal(mine["at_risk"], reference.n_risk)


def test_median_survival_equals_statsmodels_quantile():
    table = median_survival(DURATIONS, EVENTS)
    reference = SurvfuncRight(np.array(DURATIONS), np.array(EVENTS))
    assert table.loc[0, "median_days"] == 3.0 == reference.quantile(0.5)
    lower, upper = reference.quantile_ci(0.5, method="cloglog")
    assert table.loc[0, "lower"] == lower and table.loc[0, "upper"] == upper


def test_median_is_nan_when_curve_stays_above_half():
    table = median_survival([3.0, 4.0, 5.0, 6.0], [1, 0, 0, 0])
    assert np.isnan(table.loc[0, "median_days"])


def test_restricted_mean_survival_time_matches_hand_computation():
    table = restricted_mean_survival_time(DURATIONS, EVENTS, tau=4)
    # area: 1 x 1 + 0.8 x 1 + 0.6 x 1 + 0.3 x 1 = 2.7 days
    assert table.loc[0, "rmst_days"] == pytest.approx(2.7)
    # areas after each event time to tau: 1.7, 0.9, 0.3
    variance = 1.7**2 / (5 * 4) + 0.9**2 / (4 * 3) + 0.3**2 / (2 * 1)
    assert table.loc[0, "se"] == pytest.approx(np.sqrt(variance))


def test_logrank_p_value_equals_scipy_and_statsmodels():
    rng = np.random.default_rng(11)
    a_time, b_time = rng.exponential(20, 80).round(), rng.exponential(30, 70).round()
    a_event, b_event = rng.random(80) < 0.8, rng.random(70) < 0.8
    durations = np.r_[a_time, b_time]
    events = np.r_[a_event, b_event]
    groups = np.r_[["a"] * 80, ["b"] * 70]
    result = logrank_test(durations, events, groups)
    scipy_result = stats.logrank(
        stats.CensoredData.right_censored(a_time, ~a_event),
        stats.CensoredData.right_censored(b_time, ~b_event),
    )
    assert result["p_value"] == pytest.approx(scipy_result.pvalue, rel=1e-8)
    assert result["statistic"] == pytest.approx(scipy_result.statistic**2, rel=1e-8)
    chi2, p_value = survdiff(durations, events.astype(int), groups)
    assert result["p_value"] == pytest.approx(p_value) and result["statistic"] == pytest.approx(chi2)
    assert result["df"] == 1


def test_invalid_durations_and_events_raise_data_error():
    with pytest.raises(DataError, match="Durations"):
        kaplan_meier([1.0, -2.0], [1, 0])
    with pytest.raises(DataError, match="Event flags"):
        kaplan_meier([1.0, 2.0], [1, 2])
    with pytest.raises(DataError, match="values"):
        kaplan_meier([1.0, 2.0], [1])


@pytest.fixture(scope="module")
def lifetimes_transactions():
    return _transactions([
        ("A", "2024-01-01 10:00", 10.0, False),
        ("A", "2024-01-20 10:00", 10.0, False),
        ("A", "2024-06-01 10:00", 10.0, False),   # back after 133 days: a second spell
        ("B", "2024-03-01 10:00", 10.0, False),
        ("C", "2024-05-01 10:00", 10.0, False),
        ("D", "2024-04-01 10:00", 10.0, False),   # recency 90 at as_of: not churned (needs > 90)
        ("E", "2024-03-31 10:00", 10.0, False),   # recency 91: churns on the as_of day itself
        ("F", "2024-02-01 10:00", -10.0, True),   # returns only: no lifetime
    ])


def test_customer_lifetimes_from_transactions_use_first_churn(lifetimes_transactions):
    lifetimes = customer_lifetimes(lifetimes_transactions, "2024-06-30", churn_days=90)
    assert lifetimes.index.tolist() == ["A", "B", "C", "D", "E"]
    # churn day = last purchase day of the first spell + 91 days
    expected = {"A": (110.0, True), "B": (91.0, True), "C": (60.0, False), "D": (90.0, False),
                "E": (91.0, True)}
    for customer, (days, churned) in expected.items():
        assert lifetimes.loc[customer, "duration_days"] == days
        assert lifetimes.loc[customer, "churned"] == churned
    assert lifetimes.loc["A", "churn_day"] == pd.Timestamp("2024-04-20")
    assert pd.isna(lifetimes.loc["C", "churn_day"])


def test_customer_lifetimes_from_summary_use_churned_at_as_of():
    summary = pd.DataFrame({
        "first_purchase": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01"]),
        "last_purchase": pd.to_datetime(["2024-06-01", "2024-03-01", None]),
        "orders": [3, 1, 0],
    }, index=pd.Index(["A", "B", "F"], name="customer_id"))
    summary.loc["F", "first_purchase"] = pd.NaT
    lifetimes = customer_lifetimes(summary, "2024-06-30", churn_days=90)
    assert lifetimes.index.tolist() == ["A", "B"]
    assert lifetimes.loc["A", "duration_days"] == 181.0 and not lifetimes.loc["A", "churned"]
    assert lifetimes.loc["B", "duration_days"] == 91.0 and lifetimes.loc["B", "churned"]


def test_the_survival_event_is_churn_as_the_definitions_and_stages_define_it(lifetimes_transactions):
    from clc_lib.summary import customer_summary

    summary = customer_summary(lifetimes_transactions, "2024-06-30")
    at_as_of = customer_lifetimes(summary[summary["orders"] > 0], "2024-06-30", churn_days=90)
    # churned at as_of: more than 90 days without a purchase (B 121 days, E 91); A came back, D has exactly 90
    assert at_as_of.index[at_as_of["churned"]].tolist() == ["B", "E"]
    customers = summary[summary["orders"] > 0]
    assert at_as_of["churned"].tolist() == (customers["recency_days"] > 90).tolist()
    # the default event of the comparison is this column
    assert compare_survival(at_as_of).summary["events"].sum() == 2


def test_time_to_second_purchase_counts_purchase_days_and_censors():
    transactions = _transactions([
        ("X", "2024-01-01 10:00", 10.0, False),
        ("X", "2024-01-01 18:00", 10.0, False),   # same day: the same purchase day
        ("X", "2024-01-11 09:00", 10.0, False),
        ("X", "2024-01-15 09:00", 10.0, False),
        ("Y", "2024-01-05 09:00", 10.0, False),
        ("Y", "2024-01-06 09:00", -10.0, True),   # a return is not a purchase
        ("Z", "2024-01-02 09:00", -5.0, True),
        ("Z", "2024-01-03 09:00", 5.0, False),
    ])
    result = time_to_second_purchase(transactions, "2024-01-31")
    assert result.loc["X", "duration_days"] == 10.0 and result.loc["X", "second_purchase_made"]
    assert result.loc["X", "second_purchase"] == pd.Timestamp("2024-01-11")
    assert result.loc["Y", "duration_days"] == 26.0 and not result.loc["Y", "second_purchase_made"]
    assert result.loc["Z", "first_purchase"] == pd.Timestamp("2024-01-03")
    assert result.loc["Z", "duration_days"] == 28.0


def test_a_second_purchase_day_cancelled_by_its_returns_is_no_second_purchase():
    from clc_lib.summary import customer_summary

    transactions = _transactions([
        ("V", "2024-01-01 10:00", 20.0, False),
        ("V", "2024-01-08 10:00", 30.0, False),   # second purchase day ...
        ("V", "2024-01-09 10:00", -30.0, True),   # ... fully returned: cancelled
        ("V", "2024-01-20 10:00", 15.0, False),   # the second purchase, 19 days after the first
        ("W", "2024-01-02 10:00", 20.0, False),
        ("W", "2024-01-05 10:00", 40.0, False),   # only later day, fully returned: no second purchase
        ("W", "2024-01-06 10:00", -40.0, True),
    ])
    result = time_to_second_purchase(transactions, "2024-01-31")
    assert result.loc["V", "second_purchase"] == pd.Timestamp("2024-01-20")
    assert result.loc["V", "duration_days"] == 19.0
    assert not result.loc["W", "second_purchase_made"] and result.loc["W", "duration_days"] == 29.0
    summary = customer_summary(transactions, "2024-01-31")
    assert result["second_purchase_made"].tolist() == (summary["x"] > 0).tolist()  # the summary's repeat customers


def test_compare_survival_bundles_curves_medians_rmst_and_logrank():
    frame = pd.DataFrame({"duration_days": DURATIONS + [4.0, 6.0], "churned": EVENTS + [1, 1],
                          "channel": ["a"] * 5 + ["b"] * 2})
    comparison = compare_survival(frame, by="channel", tau_days=4)
    a_row = comparison.summary.set_index("group").loc["a"]
    assert a_row["median_days"] == 3.0 and a_row["rmst_days"] == pytest.approx(2.7)
    expected_p = logrank_test(frame["duration_days"], frame["churned"], frame["channel"])["p_value"]
    assert comparison.logrank_p == pytest.approx(expected_p)
    single = compare_survival(frame, by="not_a_column")
    assert single.logrank_p is None and single.curves["group"].nunique() == 1


def test_with_customer_attributes_keeps_every_customer():
    lifetimes = pd.DataFrame({"duration_days": [1.0, 2.0, 3.0]}, index=pd.Index(["1", "2", "3"], name="customer_id"))
    customers = pd.DataFrame({"customer_id": ["1", "2"], "acquisition_channel": ["web", None]})
    joined = with_customer_attributes(lifetimes, customers)
    assert joined["acquisition_channel"].tolist() == ["web", "unknown", "unknown"]
    assert with_customer_attributes(lifetimes, None) is lifetimes
    with pytest.raises(DataError, match="several rows"):
        with_customer_attributes(lifetimes, pd.concat([customers, customers]))


def test_logrank_p_value_is_the_chi_square_tail_even_far_below_double_precision():
    # Two groups that churn at very different times: survdiff's 1 - cdf underflows to 0.0.
    durations = np.r_[np.full(300, 10.0), np.full(300, 400.0)]
    events = np.ones(600, dtype=bool)
    groups = np.r_[["fast"] * 300, ["slow"] * 300]
    result = logrank_test(durations, events, groups)
    assert survdiff(durations, events.astype(int), groups)[1] == 0.0
    assert result["p_value"] == pytest.approx(stats.chi2.sf(result["statistic"], 1), rel=1e-12)
    assert 0.0 < result["p_value"] < 1e-16
    assert format_p_value(result["p_value"]) == "< 1e-16"


def test_format_p_value_switches_to_scientific_notation_below_a_thousandth():
    assert format_p_value(0.0312) == "0.0312"
    assert format_p_value(2.5e-5) == "2.5e-05"
    assert format_p_value(3e-77) == "< 1e-16"
    assert format_p_value(None) == "n/a" and format_p_value(float("nan")) == "n/a"


def _panel_customers(n=200):
    """A household panel: attributes but no acquisition channel, ids as text."""
    ids = [f"{i:04d}" for i in range(n)]
    return pd.DataFrame({
        "customer_id": ids,
        "first_seen": pd.Timestamp("2024-01-01"),
        "age_band": (["25-34"] * 90 + ["35-44"] * 80 + ["75+"] * 10 + [None] * 20)[:n],
        "household_size": [str(1 + i % 4) for i in range(n)],  # text from a CSV, all numbers
        "income": [str(20_000 + 500 * i) if i % 10 else None for i in range(n)],  # 10 % missing
        "email": [f"c{i}@example.com" for i in range(n)],
        "region": ["north"] * 150 + [None] * 50,
        "panel": ["P1"] * n,
        "sparse": [None] * 150 + ["x"] * 50,
    }), ids


def test_customer_attributes_encode_categorical_and_numeric_and_leave_out_unusable():
    customers, ids = _panel_customers()
    frame = pd.DataFrame({"churned": [i % 2 == 0 for i in range(len(ids))]}, index=pd.Index(ids, name="customer_id"))
    prepared = customer_attributes(frame, customers, event_col="churned")
    assert prepared.categorical == ["age_band", "income", "region"]
    assert prepared.numeric == ["household_size"]
    # age_band: 10 customers of 75+ are below 30 and pooled; the 20 without a value are 'unknown' (also rare).
    assert prepared.frame["age_band"].value_counts().to_dict() == {"25-34": 90, "35-44": 80, "other": 30}
    # household size 1-4 stays numeric (per 1: its standard deviation is about 1.1); bands are its values.
    assert prepared.scales == {"household_size": 1.0}
    assert prepared.frame["household_size"].tolist()[:5] == [1.0, 2.0, 3.0, 4.0, 1.0]
    assert prepared.groups["household_size"] == "household_size band"
    assert sorted(prepared.frame["household_size band"].unique()) == ["1", "2", "3", "4"]
    # income has missing values: four quantile bands plus 'unknown' (20 customers, pooled into 'other').
    incomes = np.array([20_000 + 500 * i for i in range(200) if i % 10])
    edges = [f"{edge:g}" for edge in np.quantile(incomes, [0, 0.25, 0.5, 0.75, 1])]  # 20500, 45250, ...
    assert sorted(prepared.frame["income"].unique()) == [
        *(f"Q{k + 1} {edges[k]}-{edges[k + 1]}" for k in range(4)), "other"]
    # region: 'north' and 'unknown' (50 customers) are both kept.
    assert prepared.frame["region"].value_counts().to_dict() == {"north": 150, "unknown": 50}
    notes = "\n".join(prepared.notes)
    assert "email: left out, 200 distinct values" in notes
    assert "panel: left out, one level" in notes
    assert "sparse: left out, known for 25% of the customers" in notes
    assert "first_seen" not in notes and prepared.frame.index.equals(frame.index)


def test_customer_attributes_feed_the_cox_model_and_survival_by_group():
    customers, ids = _panel_customers()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"duration_days": rng.exponential(100, len(ids)).round() + 1,
                          "churned": rng.random(len(ids)) < 0.7}, index=pd.Index(ids, name="customer_id"))
    prepared = customer_attributes(frame, customers, event_col="churned")
    drivers = cox_drivers(prepared.frame, "duration_days", "churned", prepared.covariates)
    assert set(drivers["covariate"]) == set(prepared.covariates)
    assert np.isfinite(drivers["hazard_ratio"]).all()
    for column in prepared.groups.values():
        assert compare_survival(prepared.frame, by=column).logrank_p is not None


def test_customer_attributes_without_any_usable_attribute_or_table():
    frame = pd.DataFrame({"churned": [True, False]}, index=pd.Index(["1", "2"], name="customer_id"))
    none = customer_attributes(frame, None)
    assert none.covariates == [] and none.groups == {} and "No customers table" in none.notes[0]
    only_ids = customer_attributes(frame, pd.DataFrame({"customer_id": ["1", "2"],
                                                        "first_seen": pd.to_datetime(["2024-01-01"] * 2)}))
    assert only_ids.covariates == [] and only_ids.notes == []
    with pytest.raises(Exception, match="Unknown attribute rule"):
        customer_attributes(frame, None, rules={"max_level": 3})
