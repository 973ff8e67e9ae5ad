"""Recovery analyses against hand computation and statsmodels / scipy called directly."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from clc_lib.errors import ConfigError, DataError
from clc_lib.campaigns import campaign_response, campaign_uplift, has_control_groups, holdout_size
from clc_lib.recovery import (
    RECOVERY_DEFAULTS,
    _in_order,
    lapsed_counts_over_time,
    reactivation,
    time_to_return,
    winback_candidates,
)
from clc_lib.surveys import survey_summary


def _transactions(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    return ibis.memtable(frame)


@pytest.fixture(scope="module")
def history():
    return _transactions([
        ("a", "2024-01-05 10:00", 10.0, False),
        ("a", "2024-05-10 10:00", 5.0, False),
        ("a", "2024-05-12 10:00", -5.0, True),
        ("b", "2024-01-20 10:00", 8.0, False),
        ("b", "2024-03-03 10:00", 8.0, False),
        ("c", "2024-02-01 10:00", 3.0, False),
        ("c", "2024-07-15 10:00", 3.0, False),
        ("d", "2024-03-15 10:00", -2.0, True),   # returns only: never a customer here
        ("e", "2024-03-30 10:00", 1.0, False),
    ])


def test_lapsed_counts_match_hand_computed_recency_bands(history):
    counts = lapsed_counts_over_time(history, period="M", as_of="2024-08-10", lapse_days=60, churn_days=120)
    # recency (days) at each snapshot, by customer a, b, c, e:
    #   31 Mar: 86, 28, 59, 1    -> lapsed: a
    #   30 Apr: 116, 58, 89, 31  -> lapsed: a, c
    #   31 May: 21, 89, 120, 62  -> lapsed: b, c (120 is not > 120), e
    #   30 Jun: 51, 119, 150, 92 -> lapsed: b, e; churned: c
    #   31 Jul: 82, 150, 16, 123 -> lapsed: a; churned: b, e
    #   10 Aug (as_of): 92, 160, 26, 133
    expected = pd.DataFrame({
        "period_end": pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31",
                                      "2024-06-30", "2024-07-31", "2024-08-10"]),
        "customers": [2, 3, 4, 4, 4, 4, 4, 4],
        "active": [2, 3, 3, 2, 1, 1, 1, 1],
        "lapsed": [0, 0, 1, 2, 3, 2, 1, 1],
        "churned": [0, 0, 0, 0, 0, 1, 2, 2],
    })
    pd.testing.assert_frame_equal(counts[expected.columns], expected, check_dtype=False, check_names=False)
    np.testing.assert_allclose(counts["churned_share"], expected["churned"] / expected["customers"])


def test_reactivation_rates_match_hand_computation(history):
    result = reactivation(history, "2024-08-10", lapse_days=60, period="M")
    rates = result.rates
    # lapsed (> 60 days) at the end of the previous month, and who of them bought in the month:
    #   Apr: {a} none; May: {a, c} a came back; Jun: {b, c, e} none; Jul: {b, c, e} c came back.
    assert rates["period_start"].dt.strftime("%Y-%m").tolist() == ["2024-04", "2024-05", "2024-06", "2024-07"]
    assert rates["lapsed_at_start"].tolist() == [1, 2, 3, 3]
    assert rates["reactivated"].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(rates["reactivation_rate"], [0, 0.5, 0, 1 / 3])
    # gaps of the two reactivations: a 126 days, c 165 days (30-day bins)
    assert result.total_reactivations == 2
    assert result.gap_distribution["gap_from_days"].tolist() == [120, 150]
    np.testing.assert_allclose(result.gap_distribution["cumulative_share"], [0.5, 1.0])


def test_reactivation_uses_the_public_complete_period_test():
    import clc_lib.cohorts as cohorts
    import clc_lib.recovery as recovery

    assert recovery.period_is_complete is cohorts.period_is_complete
    assert not hasattr(recovery, "_is_complete")


def test_reactivation_base_can_exclude_long_churned(history):
    rates = reactivation(history, "2024-08-10", lapse_days=60, max_recency_days=120).rates
    # July base: b (recency 119 on 30 Jun) and e (92); c (150) is beyond 120 days.
    july = rates[rates["period_start"] == "2024-07-01"].iloc[0]
    assert july["lapsed_at_start"] == 2 and july["reactivated"] == 0


def test_time_to_return_episodes_and_censoring(history):
    episodes = time_to_return(history, "2024-08-10", lapse_days=60).set_index(["customer_id", "lapse_day"])
    # lapse day = purchase day + 61
    assert episodes.loc[("a", pd.Timestamp("2024-03-06")), "duration_days"] == 65  # back on 10 May
    assert episodes.loc[("a", pd.Timestamp("2024-07-10")), "duration_days"] == 31  # censored at as_of
    assert not episodes.loc[("a", pd.Timestamp("2024-07-10")), "returned"]
    assert episodes.loc[("c", pd.Timestamp("2024-04-02")), "duration_days"] == 104
    assert len(episodes) == 5  # a twice, b, c, e


def test_episode_order_check_behind_the_engine_sort():
    days = pd.Series(pd.to_datetime(["2024-01-05", "2024-03-01", "2024-01-01"]))
    assert _in_order(pd.Series(["a", "a", "b"]), days)
    assert not _in_order(pd.Series(["a", "b", "a"]), days)  # customers out of order
    assert not _in_order(pd.Series(["a", "b", "b"]), days)  # days out of order within "b"


def test_winback_candidates_rank_by_p_alive_times_clv_within_eligible_stages():
    scores = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "p_alive": [0.5, 0.9, 0.1, 0.7],
        "clv": [100.0, 50.0, 1000.0, 10.0],
        "stage": ["at_risk", "dormant", "churned", "active"],
    })
    ranked = winback_candidates(scores, n=None)
    assert ranked.index.tolist() == ["c", "a", "b"]  # 100, 50, 45; "d" is active
    np.testing.assert_allclose(ranked["expected_value"], [100.0, 50.0, 45.0])
    np.testing.assert_allclose(ranked["cumulative_share"], [100 / 195, 150 / 195, 1.0])
    by_clv = winback_candidates(scores, n=2, p_alive_col=None)
    assert by_clv.index.tolist() == ["c", "a"]


def test_winback_candidates_refuse_missing_scores():
    scores = pd.DataFrame({"customer_id": ["a", "b"], "p_alive": [0.5, np.nan], "clv": [1.0, 2.0]})
    with pytest.raises(DataError, match="p_alive"):
        winback_candidates(scores)
    with pytest.raises(DataError, match="clv"):
        winback_candidates(scores.drop(columns="clv"))


def test_campaign_window_conversion_and_revenue_by_hand():
    sent = "2024-03-01 10:00"
    campaigns = pd.DataFrame({
        "customer_id": ["T1", "T2", "T3", "C1", "C2"],
        "campaign_id": "spring",
        "sent_at": pd.Timestamp(sent),
        "group": ["treatment"] * 3 + ["control"] * 2,
    })
    transactions = _transactions([
        ("T1", sent, 99.0, False),                 # at send time: outside the window
        ("T1", "2024-03-31 10:00", 50.0, False),   # exactly 30 days later: inside
        ("T2", "2024-03-06 10:00", -20.0, True),   # a return: revenue but no conversion
        ("T3", "2024-03-31 10:01", 70.0, False),   # just after the window
        ("C1", "2024-03-02 10:00", 30.0, False),
        ("C1", "2024-03-03 10:00", -10.0, True),
    ])
    row = campaign_uplift(campaigns, transactions, window_days=30, as_of="2024-03-31").iloc[0]
    assert (row["n_treatment"], row["converted_treatment"]) == (3, 1)
    assert (row["n_control"], row["converted_control"]) == (2, 1)
    assert row["revenue_per_customer_treatment"] == pytest.approx((50 - 20 + 0) / 3)
    assert row["revenue_per_customer_control"] == pytest.approx((30 - 10 + 0) / 2)
    assert row["window_complete"] and row["status"] == "complete"  # the window ends 31 March 10:00
    running = campaign_uplift(campaigns, transactions, window_days=30, as_of="2024-03-30").iloc[0]
    assert running["status"] == "running" and not running["window_complete"]
    assert running["window_end"] == pd.Timestamp("2024-03-31 10:00")
    # Group sizes are known; outcomes are not reported before the window has ended.
    assert (running["n_treatment"], running["n_control"]) == (3, 2)
    for column in ("converted_treatment", "rate_treatment", "rate_control_lower", "uplift", "p_value",
                   "revenue_per_customer_control", "incremental_revenue"):
        assert np.isnan(running[column]), column


@pytest.fixture(scope="module")
def experiment():
    """400 treated (120 buy) and 200 controls (40 buy), with known per-customer revenue."""
    rng = np.random.default_rng(3)
    ids_t = [f"t{i:03d}" for i in range(400)]
    ids_c = [f"c{i:03d}" for i in range(200)]
    campaigns = pd.DataFrame({
        "customer_id": ids_t + ids_c, "campaign_id": "wb1", "sent_at": pd.Timestamp("2024-01-10"),
        "group": ["treatment"] * 400 + ["control"] * 200, "campaign_type": "win_back",
    })
    revenue = {cid: 0.0 for cid in ids_t + ids_c}
    buyers = ids_t[:120] + ids_c[:40]
    amounts = rng.gamma(2.0, 25.0, len(buyers)).round(2)
    rows = []
    for cid, amount in zip(buyers, amounts, strict=True):
        rows.append((cid, "2024-02-01 12:00", float(amount), False))
        revenue[cid] = float(amount)
    return campaigns, _transactions(rows), revenue


def test_campaign_statistics_match_statsmodels_and_hand_z(experiment):
    campaigns, transactions, _ = experiment
    row = campaign_uplift(campaigns, transactions, window_days=90).iloc[0]
    assert row["rate_treatment"] == 0.3 and row["rate_control"] == 0.2
    assert row["uplift"] == pytest.approx(0.1)
    lower, upper = confint_proportions_2indep(120, 400, 40, 200, method="newcomb", compare="diff")
    assert (row["uplift_lower"], row["uplift_upper"]) == pytest.approx((lower, upper))
    z, p_value = proportions_ztest([120, 40], [400, 200])
    pooled = 160 / 600
    z_by_hand = 0.1 / np.sqrt(pooled * (1 - pooled) * (1 / 400 + 1 / 200))
    assert row["z"] == pytest.approx(z) == pytest.approx(z_by_hand)
    assert row["p_value"] == pytest.approx(p_value) == pytest.approx(2 * stats.norm.sf(z_by_hand))
    assert row["incremental_customers"] == pytest.approx(40.0)


def test_campaign_power_and_minimum_detectable_uplift(experiment):
    campaigns, transactions, _ = experiment
    observed = campaign_uplift(campaigns, transactions).iloc[0]
    expected = power_proportions_2indep(0.1, 0.2, 400, ratio=0.5, alpha=0.05).power
    assert observed["power"] == pytest.approx(expected)
    assumed = campaign_uplift(campaigns, transactions, assumed_uplift=0.05).iloc[0]
    assert assumed["power"] == pytest.approx(power_proportions_2indep(0.05, 0.2, 400, ratio=0.5).power)
    # at the minimum detectable uplift the arcsine-test power is 80 %
    effect = proportion_effectsize(0.2 + observed["mde"], 0.2)
    assert NormalIndPower().power(effect, nobs1=400, alpha=0.05, ratio=0.5) == pytest.approx(0.8, abs=1e-4)


def test_campaign_revenue_difference_matches_welch_t_test(experiment):
    campaigns, transactions, revenue = experiment
    row = campaign_uplift(campaigns, transactions, alpha=0.1).iloc[0]
    treated = np.array([revenue[c] for c in campaigns.loc[campaigns["group"] == "treatment", "customer_id"]])
    controls = np.array([revenue[c] for c in campaigns.loc[campaigns["group"] == "control", "customer_id"]])
    welch = stats.ttest_ind(treated, controls, equal_var=False)
    interval = welch.confidence_interval(confidence_level=0.9)
    assert row["revenue_uplift"] == pytest.approx(treated.mean() - controls.mean())
    assert row["revenue_p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert (row["revenue_uplift_lower"], row["revenue_uplift_upper"]) == pytest.approx(
        (interval.low, interval.high), rel=1e-6)
    assert row["incremental_revenue"] == pytest.approx(400 * (treated.mean() - controls.mean()))


def test_campaign_input_errors(experiment):
    campaigns, transactions, _ = experiment
    bad_group = campaigns.assign(group=campaigns["group"].replace({"control": "holdout"}))
    with pytest.raises(DataError, match="treatment"):
        campaign_uplift(bad_group, transactions)
    with pytest.raises(DataError, match="more than once"):
        campaign_uplift(pd.concat([campaigns, campaigns.head(1)]), transactions)


def test_campaign_without_control_has_rates_but_no_comparison(experiment):
    campaigns, transactions, _ = experiment
    row = campaign_uplift(campaigns[campaigns["group"] == "treatment"], transactions).iloc[0]
    assert row["rate_treatment"] == 0.3 and row["n_control"] == 0
    assert np.isnan(row["uplift"]) and np.isnan(row["p_value"])


@pytest.fixture()
def responses():
    return pd.DataFrame({
        "customer_id": ["1", "2", "3", "4", "5", "6", "6", "7"],
        "responded_at": pd.to_datetime(["2024-01-01"] * 6 + ["2024-02-01", "2024-01-01"]),
        "score": [10, 9, 3, 7, 0, 5, 10, 8],
        "reason": ["price", "price", "service", None, "service", "range", "range", "price"],
    })


def test_survey_nps_by_churn_status_by_hand(responses):
    churned = pd.Series([True, False, True, False, False, True], index=list("123456"))
    summary = survey_summary(responses, churned)
    # latest answers: churned 1, 3, 6 -> 10, 3, 10; retained 2, 4, 5 -> 9, 7, 0; 7 has no flag.
    table = summary.by_status
    assert table.index.tolist() == ["churned", "retained", "unknown"]
    assert table.loc["churned", "nps"] == pytest.approx(100 * (2 / 3 - 1 / 3))
    assert table.loc["retained", "nps"] == pytest.approx(0.0)
    assert table.loc["retained", "passives"] == pytest.approx(1 / 3)
    assert table.loc["churned", "mean_score"] == pytest.approx(23 / 3)
    assert (summary.n_responses, summary.n_used) == (8, 7)
    reference = stats.mannwhitneyu([10, 3, 10], [9, 7, 0], alternative="two-sided")
    assert summary.test["p_value"].iloc[0] == pytest.approx(reference.pvalue)
    assert summary.test["mean_difference"].iloc[0] == pytest.approx(23 / 3 - 16 / 3)
    price = summary.reasons[(summary.reasons["status"] == "retained") & (summary.reasons["reason"] == "price")]
    assert price["respondents"].iloc[0] == 1 and price["share"].iloc[0] == pytest.approx(1 / 3)


def test_survey_accepts_stage_frame_and_all_responses(responses):
    stages = pd.DataFrame({"customer_id": list("1234567"),
                           "stage": ["churned", "active", "dormant", "loyal", "new", "churned", "active"]})
    summary = survey_summary(responses, stages, churned_stages=("dormant", "churned"), latest_only=False)
    # every response counts: churned 1, 3, 6, 6 -> 10, 3, 5, 10
    assert summary.by_status.loc["churned", "respondents"] == 4
    assert summary.by_status.loc["churned", "nps"] == pytest.approx(100 * (2 / 4 - 2 / 4))


def test_survey_scores_outside_scale_are_refused(responses):
    with pytest.raises(DataError, match="0 to 10"):
        survey_summary(responses.assign(score=[11, 9, 3, 7, 0, 5, 10, 8]), pd.Series(dtype=bool))


def test_campaigns_without_a_group_are_refused_by_uplift_and_pointed_to_the_observational_view(experiment):
    campaigns, transactions, _ = experiment
    assert has_control_groups(campaigns) and not has_control_groups(campaigns.drop(columns="group"))
    assert not has_control_groups(campaigns[campaigns["group"] == "treatment"]) and not has_control_groups(None)
    with pytest.raises(DataError, match="lacks contract columns") as error:
        campaign_uplift(campaigns.drop(columns="group"), transactions)
    assert "campaign_response" in str(error.value)


def test_campaign_response_compares_contacted_with_uncontacted_in_the_same_band_by_hand():
    sent = pd.Timestamp("2024-06-01 09:00")
    transactions = _transactions([
        # lapsed at the send (last purchase 100 days before, lapse 90 / churn 180): L1, L2 contacted, L3, L4 not
        ("L1", "2024-02-22 12:00", 10.0, False), ("L1", "2024-06-10 12:00", 10.0, False),  # responds
        ("L2", "2024-02-22 12:00", 10.0, False),
        ("L3", "2024-02-22 12:00", 10.0, False), ("L3", "2024-06-20 12:00", 10.0, False),  # responds
        ("L4", "2024-02-22 12:00", 10.0, False), ("L4", "2024-06-05 12:00", -5.0, True),   # a return only
        ("L5", "2024-02-22 12:00", 10.0, False), ("L5", "2024-09-01 12:00", 10.0, False),  # after the window
        # active at the send: A1 contacted (responds), A2 not contacted
        ("A1", "2024-05-20 12:00", 10.0, False), ("A1", "2024-06-02 12:00", 10.0, False),
        ("A2", "2024-05-25 12:00", 10.0, False),
        ("N1", "2024-06-15 12:00", 10.0, False),  # first purchase after the send, contacted as a prospect
        ("Z9", "2024-07-01 12:00", 10.0, False),  # a customer only after the send: not comparable
    ])
    campaigns = pd.DataFrame({"customer_id": ["L1", "L2", "A1", "N1"], "campaign_id": "reach",
                              "sent_at": sent, "campaign_type": "win_back"})
    result = campaign_response(campaigns, transactions, as_of="2024-12-31", window_days=60, lapse_days=90,
                               churn_days=180).set_index("stage_at_send")
    assert result.attrs["basis"] == "observational"
    assert result.index.tolist() == ["active", "lapsed", "no purchase"]
    lapsed = result.loc["lapsed"]
    assert (lapsed["n_contacted"], lapsed["responded_contacted"], lapsed["rate_contacted"]) == (2, 1, 0.5)
    assert (lapsed["n_uncontacted"], lapsed["responded_uncontacted"]) == (3, 1)  # L3, L4, L5; L3 responded
    assert lapsed["difference"] == pytest.approx(0.5 - 1 / 3)
    assert lapsed["holdout_baseline"] == pytest.approx(1 / 3)
    assert lapsed["holdout_per_group"] == holdout_size(1 / 3, RECOVERY_DEFAULTS["holdout_uplift"])
    active = result.loc["active"]
    assert (active["n_contacted"], active["rate_contacted"], active["n_uncontacted"], active["rate_uncontacted"]) \
        == (1, 1.0, 1, 0.0)
    prospect = result.loc["no purchase"]
    assert (prospect["n_contacted"], prospect["rate_contacted"], prospect["n_uncontacted"]) == (1, 1.0, 0)
    assert np.isnan(prospect["rate_uncontacted"]) and np.isnan(prospect["difference"])
    assert prospect["holdout_per_group"] == 0  # a contacted rate of 1 leaves no room to detect an uplift
    running = campaign_response(campaigns, transactions, as_of="2024-06-30", window_days=60)
    assert set(running["status"]) == {"running"} and running["rate_contacted"].isna().all()
    assert running["n_contacted"].sum() == 4


def test_holdout_size_is_the_sample_size_of_the_two_proportion_power_calculation():
    n = holdout_size(0.08, 0.04)
    effect = proportion_effectsize(0.12, 0.08)
    expected = NormalIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8, ratio=1.0)
    assert n == int(np.ceil(expected))
    # the power at that size reaches 0.8, one customer fewer does not
    assert NormalIndPower().power(effect, n, 0.05) >= 0.8 > NormalIndPower().power(effect, n - 1, 0.05)
    assert holdout_size(0.0, 0.02) == 0 and holdout_size(0.99, 0.02) == 0


def test_survey_labels_respondents_by_purchases_after_the_response_by_hand():
    transactions = _transactions([
        ("1", "2023-01-10 10:00", 10.0, False), ("1", "2023-06-01 10:00", 10.0, False),  # back within 365 days
        ("2", "2023-01-10 10:00", 10.0, False), ("2", "2024-03-01 10:00", 10.0, False),  # back after 416 days
        ("3", "2023-01-10 10:00", 10.0, False), ("3", "2023-02-01 10:00", -10.0, True),  # a return is no purchase
        ("4", "2024-06-01 10:00", 10.0, False), ("4", "2024-06-20 10:00", 10.0, False),  # too recent but bought
        ("5", "2024-06-01 10:00", 10.0, False),
        ("6", "2023-01-10 10:00", 10.0, False), ("6", "2023-01-11 09:00", 10.0, False),  # before the answer
    ])
    surveys = pd.DataFrame({
        "customer_id": ["1", "2", "3", "4", "5", "6", "7"],
        "responded_at": pd.to_datetime(["2023-01-12 00:00"] * 3 + ["2024-06-05 00:00", "2024-06-05 00:00"]
                                       + ["2023-01-11 10:00", "2023-12-31 00:00"]),
        "score": [10, 3, 5, 9, 8, 6, 7],
    })
    summary = survey_summary(surveys, transactions=transactions, as_of="2024-12-31", window_days=365)
    status = summary.responses.set_index("customer_id")["status"]
    # 7 answered 2023-12-31 00:00: its window ends 2024-12-30 00:00, inside the as_of day; no purchase at all.
    assert status.to_dict() == {"1": "retained", "2": "churned", "3": "churned", "4": "too recent",
                                "5": "too recent", "6": "churned", "7": "churned"}
    assert summary.basis == "purchases after the response" and summary.window_days == 365
    assert summary.by_status.index.tolist() == ["churned", "retained", "too recent"]
    assert summary.by_status.loc["churned", "mean_score"] == pytest.approx((3 + 5 + 6 + 7) / 4)
    test = summary.test.iloc[0]
    assert (test["n_churned"], test["n_retained"]) == (4, 1)
    assert test["mean_difference"] == pytest.approx(21 / 4 - 10)
    # the window edge: 365 days after 2024-01-01 is 2024-12-31, complete only with the whole as_of day
    edge = surveys.assign(responded_at=pd.Timestamp("2024-01-01 10:00")).head(1)
    assert survey_summary(edge, transactions=transactions, as_of="2024-12-31").responses["status"][0] == "churned"
    assert survey_summary(edge, transactions=transactions, as_of="2024-12-30").responses["status"][0] == "too recent"
    with pytest.raises(ConfigError, match="transactions"):
        survey_summary(surveys)


def test_survey_latest_answer_with_a_complete_follow_up_is_the_one_used():
    transactions = _transactions([("1", "2023-01-10 10:00", 10.0, False)])
    surveys = pd.DataFrame({"customer_id": ["1", "1"], "responded_at": pd.to_datetime(["2023-01-12", "2024-11-01"]),
                            "score": [2, 10]})
    summary = survey_summary(surveys, transactions=transactions, as_of="2024-12-31")
    assert summary.responses["score"].tolist() == [2.0] and summary.responses["status"].tolist() == ["churned"]
    assert (summary.n_responses, summary.n_used) == (2, 1)


@pytest.mark.slow
def test_survey_comparison_agrees_with_the_demo_truth():
    """On the demo, 'churned' must be the generator's 'churns later' (no purchase in 365 days after answering)."""
    import json

    from clc_lib.demo import generate_demo, write_demo_data
    from clc_lib.run import load_run
    from clc_lib.paths import project_root

    config = project_root() / "data" / "raw" / "demo" / "run.yaml"
    if not config.is_file():
        write_demo_data(config.parent)
    truth = json.loads((config.parent / "truth.json").read_text())["survey"]
    run = load_run(config)
    summary = survey_summary(run.surveys, transactions=run.transactions, as_of=run.as_of,
                             window_days=365)
    churns_later = generate_demo().customer_truth.set_index("customer_id")["survey_churns_later"]
    followed_up = summary.responses[summary.responses["status"] != "too recent"]
    assert len(followed_up) > 1500  # answered at least a year before as_of (the demo's default as_of)
    expected = followed_up["customer_id"].map(churns_later).astype(bool)
    assert ((followed_up["status"] == "churned") == expected).all()
    assert summary.n_responses == truth["n_responses"]
    # The score gap of churned minus retained respondents is close to the generating means (6.8 vs 9.0
    # before clipping to 0-10 and rounding), not the -0.41 of a stage-on-as_of label.
    gap = summary.test["mean_difference"].iloc[0]
    assert -2.4 < gap < -1.6
    assert summary.by_status.loc["churned", "nps"] < -10 < 40 < summary.by_status.loc["retained", "nps"]
