"""Reporting periods, model time units and the cut-off date (clc_lib.periods), on hand-built dates."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import DAYS_PER_MONTH, DAYS_PER_YEAR, PERIODS, TIME_UNIT_DAYS, Period, TimeUnit, resolve_as_of


def test_parse_accepts_codes_in_any_case_and_periods_and_refuses_the_rest():
    month, week = PERIODS["M"], PERIODS["W"]
    assert Period.parse("M") is month and Period.parse("m") is month and Period.parse(" w ") is week
    assert Period.parse(week) is week
    for bad in ("Q", "", "month", None, 1):
        with pytest.raises(ConfigError, match=r"period is .*use 'M' \(calendar months\) or 'W'"):
            Period.parse(bad)
    with pytest.raises(ConfigError, match="'period' in the run config is 'D'"):
        Period.parse("D", what="'period' in the run config")


def test_period_words_frequencies_and_lengths():
    month, week = PERIODS["M"], PERIODS["W"]
    assert (month.singular, month.plural, week.singular, week.plural) == ("month", "months", "week", "weeks")
    assert (month.truncate_unit, week.truncate_unit) == ("M", "W")
    assert (month.longest_days, week.longest_days) == (31, 7)
    assert str(month) == "M" and f"{week}" == "W"
    # The frequencies name the first and the last days of the periods.
    assert list(pd.date_range("2024-01-10", "2024-03-31", freq=month.start_frequency).day) == [1, 1]
    assert list(pd.date_range("2024-01-10", "2024-03-31", freq=month.end_frequency).strftime("%m-%d")) == [
        "01-31", "02-29", "03-31"]
    assert {d.day_name() for d in pd.date_range("2024-01-01", "2024-02-29", freq=week.start_frequency)} == {"Monday"}
    assert {d.day_name() for d in pd.date_range("2024-01-01", "2024-02-29", freq=week.end_frequency)} == {"Sunday"}


def test_start_of_and_end_of_previous_by_hand():
    month, week = PERIODS["M"], PERIODS["W"]
    assert month.start_of("2024-03-15 17:30") == pd.Timestamp("2024-03-01")
    assert month.start_of("2024-03-01") == pd.Timestamp("2024-03-01")
    # 2024-03-13 is a Wednesday, 2024-03-11 a Monday, 2024-03-17 a Sunday.
    assert week.start_of("2024-03-13 08:00") == pd.Timestamp("2024-03-11")
    assert week.start_of("2024-03-11") == pd.Timestamp("2024-03-11")
    assert week.start_of("2024-03-17") == pd.Timestamp("2024-03-11")
    assert month.end_of_previous("2024-03-15") == pd.Timestamp("2024-02-29")  # a leap year
    assert month.end_of_previous("2024-03-31") == pd.Timestamp("2024-02-29")
    assert month.end_of_previous("2023-01-01") == pd.Timestamp("2022-12-31")
    assert week.end_of_previous("2024-03-13") == pd.Timestamp("2024-03-10")
    assert week.end_of_previous("2024-03-17") == pd.Timestamp("2024-03-10")
    assert week.end_of_previous("2024-03-18") == pd.Timestamp("2024-03-17")


def test_end_of_previous_matches_pandas_anchored_offsets_for_a_year_of_days():
    days = pd.date_range("2023-12-20", "2025-01-10", freq="D")
    for day in days:
        assert PERIODS["M"].end_of_previous(day) == day - pd.offsets.MonthEnd(1), day
        assert PERIODS["W"].end_of_previous(day) == day - pd.offsets.Week(weekday=6), day


def test_offsets_starts_and_periods_between():
    month, week = PERIODS["M"], PERIODS["W"]
    assert pd.Timestamp("2024-01-01") + month.offset(2) == pd.Timestamp("2024-03-01")
    assert pd.Timestamp("2024-01-29") + week.offset() == pd.Timestamp("2024-02-05")
    assert list(month.starts("2023-11-20", "2024-02-03").strftime("%Y-%m-%d")) == [
        "2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01"]
    assert list(week.starts("2024-01-03", "2024-01-15").strftime("%Y-%m-%d")) == [
        "2024-01-01", "2024-01-08", "2024-01-15"]
    start = pd.Series(pd.to_datetime(["2023-11-01", "2024-01-01"]))
    end = pd.Series(pd.to_datetime(["2024-02-01", "2024-01-01"]))
    assert list(month.periods_between(start, end)) == [3, 0]
    weeks_start = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-01"]))
    weeks_end = pd.Series(pd.to_datetime(["2024-01-29", "2024-01-01"]))
    assert list(week.periods_between(weeks_start, weeks_end)) == [4, 0]


def test_ibis_interval_steps_one_period_in_the_engine():
    table = ibis.memtable({"day": pd.to_datetime(["2024-01-31", "2024-02-26"])})
    result = table.select(
        month=table.day.truncate(PERIODS["M"].truncate_unit) + PERIODS["M"].ibis_interval(),
        week=table.day.truncate(PERIODS["W"].truncate_unit) + PERIODS["W"].ibis_interval(2),
    ).execute()
    assert list(pd.to_datetime(result["month"]).dt.strftime("%Y-%m-%d")) == ["2024-02-01", "2024-03-01"]
    # 2024-01-31 is in the week of Monday 2024-01-29; 2024-02-26 is a Monday.
    assert list(pd.to_datetime(result["week"]).dt.strftime("%Y-%m-%d")) == ["2024-02-12", "2024-03-11"]


def test_time_units_days_words_and_parse():
    assert DAYS_PER_YEAR == 365.25 and DAYS_PER_MONTH == 30.4375
    assert dict(TIME_UNIT_DAYS) == {"D": 1.0, "W": 7.0, "M": 30.4375}
    assert TimeUnit.parse("w").days == 7.0 and TimeUnit.parse(TimeUnit.parse("M")).plural == "months"
    assert TimeUnit.parse("W").words(52) == "52 weeks"
    assert TimeUnit.parse("M").words(1) == "1 month"
    assert TimeUnit.parse("D").words(0.5) == "0.5 days"
    with pytest.raises(ConfigError, match=r"Unknown time unit 'Y' for time_unit; use D \(1 day\), W \(7 days\)"):
        TimeUnit.parse("Y")
    with pytest.raises(ConfigError, match="for clv.time_unit"):
        TimeUnit.parse(None, what="clv.time_unit")


def test_resolve_as_of_gives_midnight_of_the_day():
    expected = pd.Timestamp("2024-03-09")
    for value in ("2024-03-09", "2024-03-09 23:59:59", dt.date(2024, 3, 9), dt.datetime(2024, 3, 9, 12),
                  pd.Timestamp("2024-03-09 06:00"), expected):
        stamp = resolve_as_of(value)
        assert stamp == expected and stamp.tzinfo is None, value
    # An aware timestamp is read in UTC: 01:00 in Berlin on the 10th is 00:00 UTC on the 10th,
    # 00:30 in Berlin is still the 9th in UTC.
    assert resolve_as_of(pd.Timestamp("2024-03-10 01:00", tz="Europe/Berlin")) == pd.Timestamp("2024-03-10")
    assert resolve_as_of(pd.Timestamp("2024-03-10 00:30", tz="Europe/Berlin")) == expected


def test_resolve_as_of_none_uses_the_last_transaction_day():
    transactions = ibis.memtable({"timestamp": pd.to_datetime(["2024-01-05 10:00", "2024-02-20 18:45"])})
    assert resolve_as_of(None, transactions) == pd.Timestamp("2024-02-20")
    assert resolve_as_of("2024-01-31", transactions) == pd.Timestamp("2024-01-31")  # a given date wins
    empty = ibis.memtable(pd.DataFrame({"timestamp": pd.Series([], dtype="datetime64[ns]")}))
    with pytest.raises(DataError, match="empty"):
        resolve_as_of(None, empty)


def test_resolve_as_of_refuses_what_is_not_a_date():
    with pytest.raises(ConfigError, match="as_of is required"):
        resolve_as_of(None)
    with pytest.raises(ConfigError, match="as_of 'last week' is not a date"):
        resolve_as_of("last week")
    with pytest.raises(ConfigError, match="calibration_end is missing"):
        resolve_as_of(pd.NaT, what="calibration_end")
