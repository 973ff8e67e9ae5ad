"""Calibration/holdout split from a transaction table, on hand-built rows and on the CDNOW sample."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from clc_lib.clv import ShortHistoryError, calibration_holdout_split, holdout_period
from clc_lib.errors import ConfigError, ModelFitError

from . import reference_values as ref


def _table(rows: list[tuple]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return ibis.memtable(frame)


@pytest.fixture
def small_table() -> ibis.Table:
    return _table([
        ("001", "o1", "2024-01-01 09:00", 10.0, False),
        ("001", "o2", "2024-01-01 17:00", 5.0, False),   # same day as o1: one purchase day
        ("001", "o3", "2024-01-15 10:00", 20.0, False),
        ("001", "o4", "2024-02-05 10:00", 7.0, False),   # holdout
        ("001", "o5", "2024-02-05 12:00", 3.0, False),   # same holdout day
        ("001", "r1", "2024-02-06 12:00", -3.0, True),   # a return is not a purchase day
        ("002", "o6", "2024-01-20 10:00", 8.0, False),
        ("003", "o7", "2024-02-02 10:00", 9.0, False),   # first seen in the holdout: excluded
        ("004", "o8", "2024-01-31 23:59", 4.0, False),   # on the calibration end day
        ("004", "o9", "2024-03-01 00:00", 4.0, False),   # after the holdout
    ])


def test_split_counts_purchase_days_in_both_periods(small_table):
    split = calibration_holdout_split(small_table, "2024-01-31", "2024-02-29", time_unit="W")
    assert list(split.index) == ["001", "002", "004"]
    assert split.loc["001", "x"] == 1 and split.loc["001", "x_holdout"] == 1
    assert split.loc["001", "holdout_value"] == pytest.approx(7.0)  # 10 bought, 3 returned
    assert split.loc["001", "t_x"] == pytest.approx(14 / 7) and split.loc["001", "T"] == pytest.approx(30 / 7)
    assert split.loc["002", "x_holdout"] == 0 and split.loc["004", "x_holdout"] == 0
    assert split.loc["004", "T"] == 0.0
    np.testing.assert_allclose(split["duration_holdout"], 29 / 7)
    assert split.attrs["n_first_seen_in_holdout"] == 1


def test_holdout_leaves_out_cancelled_days_as_calibration_does():
    table = _table([
        ("001", "o1", "2024-01-01 09:00", 10.0, False),
        ("001", "o2", "2024-01-10 09:00", 6.0, False),
        ("001", "r2", "2024-01-10 09:30", -6.0, True),    # calibration day cancelled: not in x
        ("001", "o3", "2024-02-05 10:00", 8.0, False),
        ("001", "r3", "2024-02-05 10:05", -8.0, True),    # holdout day cancelled: not in x_holdout
        ("001", "o4", "2024-02-12 10:00", 5.0, False),
        ("001", "r4", "2024-02-13 10:00", -2.0, True),    # partly returned: still a purchase day
        ("002", "o5", "2024-01-05 10:00", 4.0, False),
        ("002", "o6", "2024-02-20 10:00", 9.0, False),
        ("002", "r6", "2024-02-21 10:00", -9.0, True),    # cancelled on the next day
    ])
    split = calibration_holdout_split(table, "2024-01-31", "2024-02-29", time_unit="D")
    assert split.loc["001", "x"] == 0
    assert split.loc["001", "x_holdout"] == 1
    assert split.loc["001", "holdout_value"] == pytest.approx(3.0)
    assert split.loc["002", "x_holdout"] == 0
    assert split.loc["002", "holdout_value"] == pytest.approx(0.0)


def test_split_refuses_a_holdout_that_ends_before_calibration(small_table):
    with pytest.raises(ConfigError, match="must be after"):
        calibration_holdout_split(small_table, "2024-01-31", "2024-01-01")


def test_cdnow_split_reproduces_hardies_summary_and_holdout_counts(cdnow_transactions, cdnow_summary):
    split = calibration_holdout_split(cdnow_transactions, ref.CDNOW_CALIBRATION_END, ref.CDNOW_HOLDOUT_END)
    assert len(split) == 2357 and split.attrs["n_first_seen_in_holdout"] == 0
    reference = cdnow_summary.copy()
    reference.index = reference.index.astype(str)
    joined = split.join(reference, rsuffix="_ref", how="inner")
    assert len(joined) == 2357
    assert (joined["x"] == joined["x_ref"]).all()
    np.testing.assert_allclose(joined["t_x"].round(2), joined["t_x_ref"], atol=1e-9)
    np.testing.assert_allclose(joined["T"].round(2), joined["T_ref"], atol=1e-9)
    np.testing.assert_allclose(joined["zbar"], joined["zbar_ref"], atol=0.0051)
    assert split["x"].sum() == ref.CDNOW_REPEATS_CALIBRATION
    assert split["x_holdout"].sum() == ref.CDNOW_REPEATS_HOLDOUT
    assert split.loc[split["x"] == 0, "x_holdout"].sum() == ref.CDNOW_ZERO_CLASS_HOLDOUT
    assert (split["duration_holdout"] == 39.0).all()


def test_holdout_period_keeps_the_requested_length_when_the_history_allows_it():
    period = holdout_period("2023-01-01", "2024-12-31", requested_days=182, time_unit="W")
    assert period.days == 182 and not period.shortened
    assert period.calibration_end == pd.Timestamp("2024-07-02")
    assert period.length == pytest.approx(26.0)
    assert "the last 182 days (26 weeks)" in period.describe() and "Shortened" not in period.describe()


def test_holdout_period_is_at_most_a_third_of_a_short_history():
    # 3.5 months of data: a 26-week holdout would leave nothing to calibrate on.
    period = holdout_period("2024-09-15", "2024-12-31", requested_days=182, time_unit="W")
    assert period.history_days == 107 and period.days == 35 and period.shortened
    assert period.calibration_end == pd.Timestamp("2024-11-26")
    assert "Shortened from the requested 182 days to at most 33% of the 107-day history" in period.describe()


def test_holdout_period_refuses_a_history_shorter_than_three_time_units():
    with pytest.raises(ShortHistoryError, match="the history is 20 days long") as error:
        holdout_period("2024-12-11", "2024-12-31", requested_days=182, time_unit="W")
    assert isinstance(error.value, ModelFitError)
    assert "needs 21 days or more" in str(error.value)
    assert holdout_period("2024-12-10", "2024-12-31", requested_days=182, time_unit="W").days == 7


def test_holdout_period_refuses_a_holdout_shorter_than_a_day():
    with pytest.raises(ConfigError, match="at least one day"):
        holdout_period("2024-01-01", "2024-12-31", requested_days=0)
