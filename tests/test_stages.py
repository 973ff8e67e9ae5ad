"""Lifecycle stages: hand-built histories with known stages, growth accounting, history and metrics."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from clc_lib.errors import ConfigError
from clc_lib.stage_history import (
    growth_accounting,
    stage_backtest,
    stage_counts,
    stage_flows,
    stage_history,
    stage_metrics,
    transition_matrix,
)
from clc_lib.stages import STAGES, classify_stages, derive_stage_rules, mark_advocates

# Fixed thresholds so that the expected stages can be worked out by hand.
RULES = {
    "new_window_days": 30, "at_risk_days": 60, "dormant_days": 120, "churn_days": 240,
    "loyal_min_purchase_days": 4, "reactivation_gap_days": 120, "reactivated_window_days": 30,
}
AS_OF = "2024-12-31"

# customer, purchase dates (one order per date unless repeated), expected stage on 2024-12-31, why
EXPECTED = [
    ("n1", ["2024-12-15"], "new", "first purchase 16 days ago <= 30"),
    ("s1", ["2024-12-30", "2024-12-30", "2024-12-31"], "new", "same-day orders; tenure 1 day"),
    ("a1", ["2024-10-01", "2024-12-01"], "active", "recency 30, 2 purchase days"),
    ("b1", ["2024-11-01"], "active", "recency exactly 60 is not > 60; tenure 60 > 30"),
    ("l1", ["2024-06-01", "2024-07-01", "2024-08-01", "2024-09-01", "2024-12-20"], "loyal", "5 days, recency 11"),
    ("l2", ["2024-07-01", "2024-08-01", "2024-09-01", "2024-10-31"], "at_risk", "4 days but recency 61 > 60"),
    ("k1", ["2024-09-15", "2024-09-20"], "at_risk", "recency 102"),
    ("d1", ["2024-07-01"], "dormant", "recency 183"),
    ("c1", ["2024-01-02"], "churned", "recency 364 > 240"),
    ("r1", ["2024-01-05", "2024-12-10"], "reactivated", "gap 340 > 120, back 21 days ago"),
    ("r2", ["2024-01-05", "2024-11-01"], "active", "reactivated 60 days ago > 30: active again"),
]


def build_transactions() -> pd.DataFrame:
    rows = []
    for customer, dates, _, _ in EXPECTED:
        for number, date in enumerate(dates):
            rows.append((customer, f"{customer}-{number}", f"{date} 12:00", 10.0 + number, False))
    rows += [
        ("n1", "n1-late", "2025-01-05 10:00", 99.0, False),  # after as_of: ignored
        ("x1", "x1-ret", "2024-06-01 10:00", -20.0, True),  # only a return: no stage
        ("d1", "d1-ret", "2024-12-20 10:00", -5.0, True),  # a return does not make d1 active
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["quantity"] = 1.0
    return frame


def build_events() -> pd.DataFrame:
    rows = [
        ("p_aware", None, "2024-12-01 10:00", "visit", "search"),
        ("p_aware", None, "2024-12-02 10:00", "email_open", "email"),
        ("p_eng", None, "2024-11-01 10:00", "visit", "social"),
        ("p_eng", None, "2024-11-02 10:00", "add_to_cart", "social"),
        ("p_late", None, "2025-02-01 10:00", "add_to_cart", "social"),  # after as_of
        ("n1", "n1", "2024-12-01 10:00", "signup", "search"),  # a customer: keeps the purchase stage
    ]
    frame = pd.DataFrame(rows, columns=["person_id", "customer_id", "timestamp", "event_type", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


@pytest.fixture(scope="module")
def transactions():
    return ibis.memtable(build_transactions())


@pytest.fixture(scope="module")
def stages(transactions):
    return classify_stages(transactions, AS_OF, rules=RULES, events=ibis.memtable(build_events()))


def test_hand_built_customers_get_the_stage_worked_out_by_hand(stages):
    for customer, _, expected, why in EXPECTED:
        assert stages.loc[customer, "stage"] == expected, f"{customer}: {why}"


def test_prospects_from_events(stages):
    assert stages.loc["p_aware", "stage"] == "aware"
    assert stages.loc["p_eng", "stage"] == "engaged"
    assert "p_late" not in stages.index
    assert stages.loc["p_eng", "purchase_days"] == 0 and np.isnan(stages.loc["p_eng", "recency_days"])


def test_every_person_gets_exactly_one_stage(stages):
    expected_people = {c for c, *_ in EXPECTED} | {"p_aware", "p_eng"}
    assert set(stages.index) == expected_people  # x1 (returns only) has no purchase and no stage
    assert stages.index.is_unique
    assert stages["stage"].notna().all()
    assert list(stages["stage"].cat.categories) == list(STAGES) and stages["stage"].cat.ordered


def test_features_that_decided_the_stage(stages):
    assert stages.loc["l2", "recency_days"] == 61 and stages.loc["l2", "purchase_days"] == 4
    assert stages.loc["r1", "days_since_reactivation"] == 21
    assert np.isnan(stages.loc["a1", "days_since_reactivation"])
    assert stages.loc["s1", "purchase_days"] == 2
    assert stages.loc["d1", "last_purchase"] == pd.Timestamp("2024-07-01")
    assert stages.attrs["rules"].thresholds["at_risk_days"] == 60


def test_stages_do_not_depend_on_row_order_or_union_of_parts(stages):
    frame = build_transactions().sample(frac=1.0, random_state=3)
    parts = [ibis.memtable(frame.iloc[i::3].reset_index(drop=True)) for i in range(3)]
    unioned = parts[0].union(parts[1], distinct=False).union(parts[2], distinct=False)
    again = classify_stages(unioned, AS_OF, rules=RULES, events=ibis.memtable(build_events()))
    pd.testing.assert_frame_equal(again, stages)


def test_derived_rules_are_gap_quantiles():
    # 40 customers with 3 purchase days each; gaps are 10 and 10 + i days -> 80 gaps
    rows, gaps = [], []
    for i in range(40):
        start = pd.Timestamp("2024-01-01")
        second, third = start + pd.Timedelta(days=10), start + pd.Timedelta(days=20 + i)
        gaps += [10, 10 + i]
        for n, day in enumerate((start, second, third)):
            rows.append((f"c{i:02d}", f"{i}-{n}", day, 5.0, False))
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    rules = derive_stage_rules(ibis.memtable(frame), "2024-06-30")
    # Reference: numpy's linear-interpolation quantile (the same definition as DuckDB quantile_cont)
    expected = [round(np.quantile(gaps, q)) for q in (0.80, 0.90, 0.95)]
    got = [rules.thresholds[k] for k in ("at_risk_days", "dormant_days", "churn_days")]
    assert got[0] == expected[0]
    assert got == sorted(set(got))  # strictly increasing even when quantiles tie
    assert rules.thresholds["new_window_days"] == rules.thresholds["at_risk_days"]
    assert rules.thresholds["reactivation_gap_days"] == rules.thresholds["dormant_days"]
    assert rules.thresholds["loyal_min_purchase_days"] == 3
    assert "quantile" in rules.sources["at_risk_days"]


def test_few_gaps_fall_back_and_config_overrides_win(transactions):
    rules = derive_stage_rules(transactions, AS_OF, rules={"churn_days": 400})
    assert rules.thresholds["at_risk_days"] == 90  # fallback: fewer than 30 gaps in the hand data
    assert rules.thresholds["churn_days"] == 400 and rules.sources["churn_days"] == "run config"
    with pytest.raises(ConfigError, match="Unknown option"):
        derive_stage_rules(transactions, AS_OF, rules={"churn_dayz": 400})
    with pytest.raises(ConfigError, match="at_risk_days < dormant_days"):
        classify_stages(transactions, AS_OF, rules={**RULES, "dormant_days": 30})


def test_precedence_table_is_data_and_validated(transactions):
    precedence = [{"stage": "churned", "when": "recency_days > 100"}, {"stage": "active", "when": "always"}]
    simple = classify_stages(transactions, AS_OF, rules={**RULES, "precedence": precedence})
    assert set(simple["stage"].astype(str)) == {"churned", "active"}
    assert simple.loc["k1", "stage"] == "churned" and simple.loc["n1", "stage"] == "active"
    with pytest.raises(ConfigError, match="always"):
        classify_stages(transactions, AS_OF, rules={**RULES, "precedence": precedence[:1]})
    with pytest.raises(ConfigError, match="unknown feature"):
        classify_stages(transactions, AS_OF,
                        rules={**RULES, "precedence": [{"stage": "active", "when": "spend > 3"}, precedence[1]]})
    with pytest.raises(ConfigError, match="customer stages"):
        classify_stages(transactions, AS_OF, rules={**RULES, "precedence": [{"stage": "vip", "when": "always"}]})


def test_mark_advocates_uses_latest_answer(stages):
    surveys = pd.DataFrame({
        "customer_id": ["l1", "l1", "a1", "c1"],
        "responded_at": pd.to_datetime(["2024-03-01", "2024-11-01", "2024-05-01", "2025-03-01"]),
        "score": [3.0, 10.0, 8.0, 10.0],
    })
    marked = mark_advocates(stages, surveys)
    assert marked.loc["l1", "is_advocate"]
    assert not marked.loc["a1", "is_advocate"]  # 8 is passive on the NPS scale
    assert not marked.loc["c1", "is_advocate"]  # answered after as_of


# -- growth accounting -------------------------------------------------------------------------

def test_growth_accounting_hand_case():
    rows = [
        ("A", "2024-01-10"), ("A", "2024-02-10"), ("A", "2024-04-10"),
        ("B", "2024-02-03"), ("B", "2024-03-03"),
        ("C", "2024-01-20"), ("C", "2024-01-25"), ("C", "2024-03-20"),
        ("D", "2024-03-05"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["order_id"] = [str(i) for i in range(len(frame))]
    frame["amount"], frame["is_return"] = 10.0, False
    frame.loc[len(frame)] = ["D", pd.Timestamp("2024-04-02"), "ret", -10.0, True]  # a return is not activity
    table = growth_accounting(ibis.memtable(frame), "M")
    expected = pd.DataFrame(
        {"new": [2, 1, 1, 0], "returning": [0, 1, 1, 0], "resurrected": [0, 0, 1, 1], "dormant": [0, 1, 1, 3]},
        index=pd.date_range("2024-01-01", periods=4, freq="MS", name="period_start"),
    )
    pd.testing.assert_frame_equal(table[expected.columns], expected)
    assert list(table["active"]) == [2, 2, 3, 1]
    np.testing.assert_allclose(table["quick_ratio"], [np.nan, 1.0, 2.0, 1 / 3])


def test_growth_accounting_marks_a_last_period_that_runs_past_as_of():
    frame = pd.DataFrame({
        "customer_id": ["A", "B", "A", "B", "A"], "order_id": ["1", "2", "3", "4", "5"],
        "timestamp": pd.to_datetime(["2024-01-05", "2024-01-06", "2024-02-05", "2024-02-06", "2024-03-09"]),
        "amount": 1.0, "is_return": False,
    })
    table = ibis.memtable(frame)
    # the export ends on March 9: March is unfinished and B has only had nine days to come back
    ends_on_the_ninth = growth_accounting(table, "M")
    assert list(ends_on_the_ninth["is_complete"]) == [True, True, False]
    assert ends_on_the_ninth.attrs["as_of"] == pd.Timestamp("2024-03-09")
    at_month_end = growth_accounting(table, "M", as_of="2024-03-31")
    assert list(at_month_end["is_complete"]) == [True, True, True]
    weekly = growth_accounting(table, "W", as_of="2024-03-10")  # a Sunday: its week is complete
    assert weekly["is_complete"].iloc[-1] and weekly["is_complete"].all()


def test_growth_accounting_fills_empty_periods_and_weeks():
    frame = pd.DataFrame({
        "customer_id": ["A", "A"], "order_id": ["1", "2"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-17"]), "amount": 1.0, "is_return": False,
    })
    weekly = growth_accounting(ibis.memtable(frame), "W")
    assert list(weekly.index) == list(pd.date_range("2024-01-01", periods=3, freq="W-MON"))
    assert list(weekly["dormant"]) == [0, 1, 0] and list(weekly["resurrected"]) == [0, 0, 1]


# -- stage history -----------------------------------------------------------------------------

HISTORY_EXPECTED = {
    # month end -> stage of h (purchases 2024-01-10, 2024-05-20) and g (2024-03-05)
    "2024-01-31": ("new", None),
    "2024-02-29": ("active", None),
    "2024-03-31": ("at_risk", "new"),
    "2024-04-30": ("at_risk", "active"),
    "2024-05-31": ("reactivated", "at_risk"),
    "2024-06-30": ("active", "at_risk"),
}


@pytest.fixture(scope="module")
def history_transactions():
    frame = pd.DataFrame({
        "customer_id": ["h", "h", "g"], "order_id": ["1", "2", "3"],
        "timestamp": pd.to_datetime(["2024-01-10", "2024-05-20", "2024-03-05"]),
        "amount": [10.0, 20.0, 30.0], "is_return": False,
    })
    return ibis.memtable(frame)


@pytest.fixture(scope="module")
def history(history_transactions):
    return stage_history(history_transactions, period="M", rules=RULES, end="2024-06-30")


def test_stage_history_matches_hand_worked_months(history):
    frame = history.execute()
    frame["period_end"] = pd.to_datetime(frame["period_end"])
    for month_end, (h_stage, g_stage) in HISTORY_EXPECTED.items():
        at = frame[frame["period_end"] == pd.Timestamp(month_end)].set_index("customer_id")["stage"]
        assert at["h"] == h_stage, month_end
        if g_stage is None:
            assert "g" not in at.index  # g enters at its first purchase period
        else:
            assert at["g"] == g_stage, month_end


def test_stage_history_agrees_with_classify_at_every_snapshot(history, history_transactions):
    frame = history.execute()
    for month_end in HISTORY_EXPECTED:
        snapshot = frame[pd.to_datetime(frame["period_end"]) == pd.Timestamp(month_end)].set_index("customer_id")
        direct = classify_stages(history_transactions, month_end, rules=RULES)
        assert dict(snapshot["stage"]) == dict(direct["stage"].astype(str))


def test_history_last_snapshot_is_end_and_partial_period():
    frame = pd.DataFrame({"customer_id": ["a"], "order_id": ["1"], "timestamp": pd.to_datetime(["2024-01-10"]),
                          "amount": [1.0], "is_return": False})
    history = stage_history(ibis.memtable(frame), rules=RULES, end="2024-03-15").execute()
    # An Ibis table has no row order: compare the snapshots in date order.
    assert sorted(pd.to_datetime(history["period_end"])) == list(pd.to_datetime(["2024-01-31", "2024-02-29",
                                                                                 "2024-03-15"]))


def test_stage_counts_and_flows_add_up(history):
    counts = stage_counts(history)
    assert set(counts["stage"].astype(str)) == set(STAGES)
    at_march = counts[counts["period_end"] == pd.Timestamp("2024-03-31")].set_index("stage")["customers"]
    assert at_march["at_risk"] == 1 and at_march["new"] == 1 and at_march.sum() == 2
    flows = stage_flows(history)
    march = flows[flows["period_end"] == pd.Timestamp("2024-03-31")]
    assert set(map(tuple, march[["from_stage", "to_stage", "customers"]].to_numpy())) == {
        ("(first seen)", "new", 1), ("active", "at_risk", 1)}
    by_stage = flows.groupby(["period_end", "to_stage"])["customers"].sum()
    merged = counts[counts["customers"] > 0].set_index(["period_end", "stage"])["customers"]
    assert dict(by_stage) == {(p, str(s)): n for (p, s), n in merged.items()}


def test_transition_matrix_counts_shares_and_dates(history):
    counts = transition_matrix(history, normalize=False)
    assert counts.loc["new", "active"] == 2 and counts.loc["active", "at_risk"] == 2
    assert counts.loc["at_risk", "at_risk"] == 2 and counts.loc["at_risk", "reactivated"] == 1
    assert counts.loc["reactivated", "active"] == 1 and counts.to_numpy().sum() == 8
    shares = transition_matrix(history)
    row_sums = shares.sum(axis=1, min_count=1).dropna()
    np.testing.assert_allclose(row_sums, 1.0)
    assert shares.loc["at_risk", "reactivated"] == pytest.approx(1 / 3)
    between = transition_matrix(history, "2024-03-31", "2024-06-30", normalize=False)
    assert between.loc["at_risk", "active"] == 1 and between.loc["new", "at_risk"] == 1
    assert between.to_numpy().sum() == 2
    with pytest.raises(ConfigError):
        transition_matrix(history, "2024-03-31")


def test_history_with_prospects_from_events(history_transactions):
    events = pd.DataFrame({
        "person_id": ["h", "v1", "v1"], "customer_id": ["h", None, None],
        "timestamp": pd.to_datetime(["2023-12-20", "2024-02-10", "2024-04-02"]),
        "event_type": ["visit", "visit", "add_to_cart"], "channel": "web",
    })
    frame = stage_history(history_transactions, rules=RULES, start="2024-01-01", end="2024-06-30",
                          events=ibis.memtable(events)).execute()
    v1 = frame[frame["customer_id"] == "v1"].sort_values("period_end")["stage"].tolist()
    assert v1 == ["aware", "aware", "engaged", "engaged", "engaged"]  # Feb..Jun
    h = frame[frame["customer_id"] == "h"].sort_values("period_end")["stage"].tolist()
    assert h[0] == "new"  # h bought in January; the December visit is before the first snapshot


def test_stage_metrics_on_hand_history(history_transactions, history):
    stages = classify_stages(history_transactions, "2024-06-30", rules=RULES)
    metrics = stage_metrics(history_transactions, stages, history=history, revenue_window_days=365)
    assert metrics.loc["active", "customers"] == 1 and metrics.loc["at_risk", "customers"] == 1
    assert metrics["customer_share"].sum() == pytest.approx(1.0)
    assert metrics.loc["active", "revenue"] == pytest.approx(30.0)  # h: 10 + 20
    assert metrics.loc["at_risk", "revenue_share"] == pytest.approx(0.5)
    assert metrics.loc["active", "aov"] == pytest.approx(15.0)
    # at_risk snapshot pairs: h Mar->Apr (no purchase), h Apr->May (purchase), g May->Jun (no purchase)
    assert metrics.loc["at_risk", "next_period_purchase_rate"] == pytest.approx(1 / 3)
    assert metrics.loc["at_risk", "next_stage_conversion"] == pytest.approx(0.0)  # to active/loyal
    assert metrics.loc["new", "next_stage_conversion"] == pytest.approx(1.0)  # new -> active twice
    # completed stays: new 1 (h), 1 (g); active 1 (h, Feb), 1 (g, Apr); at_risk 2 (h, Mar-Apr)
    assert metrics.loc["at_risk", "median_periods_in_stage"] == 2
    assert metrics.loc["new", "median_periods_in_stage"] == 1


def test_backtest_needs_data_after_as_of(history_transactions):
    with pytest.raises(ConfigError, match="earlier as_of"):
        stage_backtest(history_transactions, "2024-05-01", window_days=90, rules=RULES)
    result = stage_backtest(history_transactions, "2024-02-20", window_days=90, rules=RULES)
    assert result.loc["active", "customers"] == 1 and result.loc["active", "buyers"] == 1  # h buys 2024-05-20
    assert result.loc["active", "buy_rate"] == 1.0


def read_cdnow_master(cdnow_dir) -> pd.DataFrame:
    raw = pd.read_csv(cdnow_dir / "CDNOW_master.txt", sep=r"\s+", dtype=str)
    return pd.DataFrame({
        "customer_id": raw["customer_id"],
        "order_id": np.arange(len(raw)).astype(str),
        "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "amount": raw["dollar_value"].astype(float),
        "quantity": raw["number_of_cds"].astype(float),
        "is_return": False,
    })


def test_backtest_orders_stages_on_cdnow(cdnow_dir):
    """Real data (Fader & Hardie's CDNOW cohort): the later the stage, the fewer buy afterwards."""
    table = ibis.memtable(read_cdnow_master(cdnow_dir))
    result = stage_backtest(table, "1997-12-31", window_days=90)
    rate = result["buy_rate"]
    assert result["customers"].sum() == 23570
    assert rate["churned"] < rate["dormant"] < rate["at_risk"] < rate["loyal"]
    assert rate["at_risk"] < rate["reactivated"]
    if "active" in rate.index:
        assert rate["at_risk"] < rate["active"]


def test_stage_shares_leave_prospects_out(stages):
    from clc_lib.stages import stage_shares

    shares = stage_shares(stages)
    assert shares.sum() == pytest.approx(1.0) and shares["aware"] == 0
    assert shares["new"] == pytest.approx(2 / 11)  # n1 and s1 among 11 customers
    assert stage_shares(stages, customers_only=False)["engaged"] == pytest.approx(1 / 13)


def test_backtest_defaults_to_window_before_data_end(history_transactions):
    result = stage_backtest(history_transactions, window_days=40, rules=RULES, data_end="2024-06-30")
    assert result.attrs["as_of"] == pd.Timestamp("2024-05-21")  # 40 days before the data end
    assert result.loc["reactivated", "customers"] == 1 and result.loc["reactivated", "buyers"] == 0


def test_history_buyer_enters_at_first_event_before_first_purchase(history_transactions):
    # g visits in January and buys on 2024-03-05: engaged (an add_to_cart) until the month of the purchase.
    events = pd.DataFrame({
        "person_id": ["g", "g"], "customer_id": ["g", "g"],
        "timestamp": pd.to_datetime(["2024-01-15", "2024-01-20"]),
        "event_type": ["visit", "add_to_cart"], "channel": "web",
    })
    frame = stage_history(history_transactions, rules=RULES, end="2024-06-30", events=ibis.memtable(events)).execute()
    g = frame[frame["customer_id"] == "g"].sort_values("period_end")
    assert g["stage"].tolist() == ["engaged", "engaged", "new", "active", "at_risk", "at_risk"]  # Jan..Jun
    assert g["purchase_days"].tolist() == [0, 0, 1, 1, 1, 1]
    assert g["bought_in_period"].tolist() == [False, False, True, False, False, False]
    h = frame[frame["customer_id"] == "h"].sort_values("period_end")["stage"].tolist()
    assert h == [stage for stage, _ in HISTORY_EXPECTED.values()]  # no events: unchanged


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.75, 0.8, 0.95, 1.0])
def test_quantile_of_counts_equals_numpy_on_the_expanded_values(q):
    from clc_lib.stages import _quantile_of_counts

    rng = np.random.default_rng(3)
    values = rng.geometric(0.02, 2_001)  # whole days, many ties
    counts = pd.Series(values).value_counts().sort_index()
    assert _quantile_of_counts(counts, q) == pytest.approx(np.quantile(values, q), abs=1e-9)
    assert _quantile_of_counts(pd.Series([4], index=[7]), q) == 7.0  # one value, four copies
    assert np.isnan(_quantile_of_counts(pd.Series([], dtype="int64"), q))
