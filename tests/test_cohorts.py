"""Cohort matrix, retention curve and churn rates against hand-computed values."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clc_lib.cohorts import (
    _inactivity_churn,
    _inactivity_churn_by_spell,
    churn_rate_over_time,
    cohort_matrix,
    retention_curve,
)
from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import PERIODS

NaN = np.nan


def _transactions(rows: list[tuple[str, str, float, bool]]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    return ibis.memtable(frame)


@pytest.fixture(scope="module")
def small() -> ibis.Table:
    # Cohorts (months): Jan = {00017, 00002}, Feb = {00003}, Mar = {00005}; 00004 only returned.
    return _transactions([
        ("00017", "2024-01-03 10:00", 20.0, False),
        ("00017", "2024-01-20 11:00", 15.0, False),
        ("00017", "2024-03-05 09:00", 30.0, False),
        ("00002", "2024-01-31 23:00", 12.0, False),
        ("00002", "2024-02-10 12:00", -12.0, True),   # a return is not activity
        ("00003", "2024-02-01 08:00", 40.0, False),
        ("00003", "2024-02-29 08:00", 10.0, False),
        ("00003", "2024-03-10 08:00", 10.0, False),
        ("00004", "2024-01-15 08:00", -5.0, True),
        ("00005", "2024-03-19 18:00", 25.0, False),
        ("00005", "2024-04-02 18:00", 25.0, False),   # after as_of in the tests below
    ])


def _expected(rows: dict[str, list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    frame.index = pd.to_datetime(frame.index)
    frame.index.name = "cohort"
    frame.columns = pd.RangeIndex(0, frame.shape[1], name="periods_since_first")
    return frame


def test_on_matrix_matches_hand_computation(small):
    matrix = cohort_matrix(small, period="M", as_of="2024-03-31", kind="on")
    expected = _expected({
        "2024-01-01": [1.0, 0.0, 0.5],   # Feb: nobody bought (00002 only returned); Mar: 00017
        "2024-02-01": [1.0, 1.0, NaN],   # 00003 bought in Mar; April not elapsed
        "2024-03-01": [1.0, NaN, NaN],
    })
    pd.testing.assert_frame_equal(matrix, expected)
    assert matrix.attrs["cohort_size"] == {pd.Timestamp("2024-01-01"): 2, pd.Timestamp("2024-02-01"): 1,
                                           pd.Timestamp("2024-03-01"): 1}


def test_on_or_after_matrix_matches_hand_computation(small):
    matrix = cohort_matrix(small, period="M", as_of="2024-03-31", kind="on_or_after")
    expected = _expected({
        "2024-01-01": [1.0, 0.5, 0.5],   # 00017 bought in month 2, so counts for months 1 and 2
        "2024-02-01": [1.0, 1.0, NaN],
        "2024-03-01": [1.0, NaN, NaN],
    })
    pd.testing.assert_frame_equal(matrix, expected)


def test_cells_of_periods_not_fully_elapsed_are_masked(small):
    # as_of 20 March: March has not ended, so every cell falling in March is NaN (age 0 stays 100 %).
    matrix = cohort_matrix(small, period="M", as_of="2024-03-20", values="customers")
    expected = _expected({
        "2024-01-01": [2.0, 0.0, NaN],
        "2024-02-01": [1.0, NaN, NaN],
        "2024-03-01": [1.0, NaN, NaN],
    })
    pd.testing.assert_frame_equal(matrix, expected)


def test_retention_curve_is_cohort_size_weighted_over_cohorts_that_reached_the_age(small):
    curve = retention_curve(cohort_matrix(small, period="M", as_of="2024-03-31"))
    # age 1: (0 x 2 + 1 x 1) / 3 customers; age 2: only the January cohort (2 customers) reached it.
    np.testing.assert_allclose(curve["retention"], [1.0, 1 / 3, 0.5])
    assert curve["cohorts"].tolist() == [3, 2, 1]
    assert curve["customers"].tolist() == [4, 3, 2]


def test_retention_curve_from_counts_equals_curve_from_shares(small):
    counts = cohort_matrix(small, period="M", as_of="2024-03-31", values="customers")
    shares = cohort_matrix(small, period="M", as_of="2024-03-31", values="share")
    pd.testing.assert_frame_equal(retention_curve(counts), retention_curve(shares))


def test_retention_curve_needs_cohort_sizes_for_bare_share_matrix():
    bare = pd.DataFrame({0: [1.0, 1.0], 1: [0.5, NaN]})
    with pytest.raises(ConfigError, match="cohort_size"):
        retention_curve(bare)
    curve = retention_curve(bare, cohort_size=pd.Series([4, 6], index=bare.index))
    np.testing.assert_allclose(curve["retention"], [1.0, 0.5])


def test_weekly_cohorts_start_on_monday(small):
    matrix = cohort_matrix(small, period="W", as_of="2024-03-31", values="customers")
    # 2024-01-03 is a Wednesday: week of Monday 2024-01-01. 00002 (Wed 31 Jan) -> week of 29 Jan.
    assert matrix.index[0] == pd.Timestamp("2024-01-01")
    assert pd.Timestamp("2024-01-29") in matrix.index
    assert all(day.weekday() == 0 for day in matrix.index)
    # 00017: weeks of 1 Jan (age 0), 15 Jan (age 2) and 4 Mar (age 9)
    assert matrix.loc["2024-01-01", 2] == 1 and matrix.loc["2024-01-01", 9] == 1
    assert matrix.loc["2024-01-01", 1] == 0


def test_period_churn_matches_hand_computation(small):
    churn = churn_rate_over_time(small, period="M", as_of="2024-03-31")
    # Feb: Jan actives {00017, 00002} both absent in Feb; Mar: Feb active {00003} bought again.
    assert churn["period_start"].tolist() == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")]
    assert churn["customers_at_risk"].tolist() == [2, 1]
    assert churn["churned"].tolist() == [2, 0]
    np.testing.assert_allclose(churn["churn_rate"], [1.0, 0.0])


def test_period_churn_leaves_out_the_unfinished_period(small):
    churn = churn_rate_over_time(small, period="M", as_of="2024-03-20")
    assert churn["period_start"].tolist() == [pd.Timestamp("2024-02-01")]


def test_inactivity_churn_matches_hand_computation(small):
    churn = churn_rate_over_time(small, period="M", inactivity_days=30, as_of="2024-03-31")
    # Lapse day = last purchase day of a run + 31 days (recency > 30):
    #   00017: 20 Jan -> lapses 20 Feb (comes back 5 Mar, 44 days later: a new spell)
    #   00002: 31 Jan -> lapses 2 Mar;  00003: active through March;  00005: first purchase in March.
    # Feb: at risk {00017, 00002}, 00017 lapses -> 1/2.  Mar: at risk {00002, 00003}, 00002 lapses -> 1/2.
    assert churn["customers_at_risk"].tolist() == [2, 2]
    assert churn["churned"].tolist() == [1, 1]
    np.testing.assert_allclose(churn["churn_rate"], [0.5, 0.5])
    assert "inactivity_days = 30" in churn.attrs["definition"]


def test_as_of_defaults_to_last_transaction_day(small):
    default = cohort_matrix(small, period="M", values="customers")
    explicit = cohort_matrix(small, period="M", as_of="2024-04-02", values="customers")
    pd.testing.assert_frame_equal(default, explicit)


def test_bad_inputs_raise_explaining_errors(small):
    with pytest.raises(ConfigError, match="period"):
        cohort_matrix(small, period="Q")
    with pytest.raises(ConfigError, match="kind"):
        cohort_matrix(small, kind="bracket")
    with pytest.raises(DataError, match="is_return"):
        cohort_matrix(small.drop("is_return"))
    with pytest.raises(ConfigError, match="inactivity_days"):
        churn_rate_over_time(small, inactivity_days=0)


_rows = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 150), st.booleans()), min_size=1, max_size=25
)


@settings(max_examples=15, deadline=None)
@given(rows=_rows, seed=st.integers(0, 1000))
def test_cohort_matrix_invariants(rows, seed):
    start = pd.Timestamp("2024-01-01")
    frame = pd.DataFrame({
        "customer_id": [f"c{c}" for c, _, _ in rows],
        "timestamp": [start + pd.Timedelta(days=d, hours=12) for _, d, _ in rows],
        "amount": [(-1.0 if r else 1.0) for _, _, r in rows],
        "is_return": [r for _, _, r in rows],
    })
    if frame["is_return"].all():
        return
    as_of = "2024-05-31"
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    on = cohort_matrix(ibis.memtable(frame), as_of=as_of)
    pd.testing.assert_frame_equal(on, cohort_matrix(ibis.memtable(shuffled), as_of=as_of))
    after = cohort_matrix(ibis.memtable(frame), as_of=as_of, kind="on_or_after")
    values = on.to_numpy()
    observed = ~np.isnan(values)
    assert np.all((values[observed] >= 0) & (values[observed] <= 1))
    assert np.all(on[0] == 1.0)
    # unbounded retention is at least N-period retention and never increases with age
    assert np.all(after.to_numpy()[observed] >= values[observed] - 1e-12)
    assert np.all(np.diff(after.to_numpy(), axis=1)[~np.isnan(np.diff(after.to_numpy(), axis=1))] <= 1e-12)
    assert sum(on.attrs["cohort_size"].values()) == frame.loc[~frame["is_return"], "customer_id"].nunique()


@settings(max_examples=20, deadline=None)
@given(rows=_rows, days=st.sampled_from([30, 31, 45, 90]), period=st.sampled_from(list(PERIODS.values())))
def test_inactivity_churn_from_start_and_lapse_counts_equals_pairing_each_spell(rows, days, period):
    """With thresholds of a period or more, churn from spell starts and lapses counted per period equals
    churn from each spell's own start and lapse period."""
    start = pd.Timestamp("2024-01-01")
    frame = pd.DataFrame({
        "customer_id": [f"c{c}" for c, _, _ in rows],
        "timestamp": [start + pd.Timedelta(days=d, hours=12) for _, d, _ in rows],
        "amount": [(-1.0 if r else 1.0) for _, _, r in rows],
        "is_return": [r for _, _, r in rows],
    })
    table, as_of = ibis.memtable(frame), pd.Timestamp("2024-09-30")
    pd.testing.assert_frame_equal(_inactivity_churn(table, period, as_of, days),
                                  _inactivity_churn_by_spell(table, period, as_of, days))


def test_cdnow_cohorts_match_an_independent_pandas_computation(cdnow_dir):
    """CDNOW master file (Fader & Hardie 2001): the Q1-1997 cohort of 23,570 customers."""
    raw = pd.read_csv(cdnow_dir / "CDNOW_master.txt", sep=r"\s+", dtype={"customer_id": str})
    frame = pd.DataFrame({"customer_id": raw["customer_id"],
                          "timestamp": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
                          "amount": raw["dollar_value"], "is_return": False})
    matrix = cohort_matrix(ibis.memtable(frame), period="M", as_of="1998-06-30", values="customers")
    assert list(matrix.index) == list(pd.to_datetime(["1997-01-01", "1997-02-01", "1997-03-01"]))
    assert sum(matrix.attrs["cohort_size"].values()) == 23_570
    months = frame["timestamp"].dt.year * 12 + frame["timestamp"].dt.month
    age = months - months.groupby(frame["customer_id"]).transform("min")
    cohort = frame["timestamp"].dt.to_period("M").dt.start_time.groupby(frame["customer_id"]).transform("min")
    reference = (frame.assign(age=age, cohort=cohort).groupby(["cohort", "age"])["customer_id"].nunique()
                 .unstack(fill_value=0))
    # every cell of the 18-month window is complete for the January cohort; later cohorts lose one cell each
    assert matrix.loc["1997-01-01"].notna().sum() == 18 and matrix.loc["1997-03-01"].notna().sum() == 16
    observed = matrix.stack()
    np.testing.assert_array_equal(observed.to_numpy(), reference.stack().loc[observed.index].to_numpy())


def test_period_is_complete_is_false_only_for_a_period_that_runs_past_as_of():
    from clc_lib.cohorts import mark_complete_periods, period_is_complete

    months = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    assert list(period_is_complete(months, "M", "2024-03-09")) == [True, True, False]
    assert list(period_is_complete(months, "M", "2024-03-31")) == [True, True, True]
    weeks = pd.to_datetime(["2024-03-04", "2024-03-11"])  # Mondays
    assert list(period_is_complete(weeks, "W", "2024-03-16")) == [True, False]
    assert list(period_is_complete(weeks, "W", "2024-03-17")) == [True, True]
    with pytest.raises(ConfigError, match="period"):
        period_is_complete(months, "Q", "2024-03-31")
    marked = mark_complete_periods(pd.DataFrame({"period_start": months, "n": [1, 2, 3]}), "M", "2024-03-09")
    assert list(marked["is_complete"]) == [True, True, False] and marked.attrs["as_of"] == pd.Timestamp("2024-03-09")
    by_index = mark_complete_periods(pd.DataFrame({"n": [1, 2, 3]}, index=months.rename("period_start")), "M",
                                     "2024-03-09")
    assert list(by_index["is_complete"]) == [True, True, False]
