"""Customer summary and customer x period panel.

References: hand computation on tiny frames, and Hardie's published CDNOW calibration summary
(Fader, Hardie & Lee 2005; ../shared/data/cdnow/README.md).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import ibis
import numpy as np
import pandas as pd
import pytest

from clc_lib.errors import ConfigError, DataError
from clc_lib.summary import (
    check_transactions,
    customer_period_panel,
    customer_summary,
    model_inputs,
    net_purchase_days,
    purchase_rows,
)


def tx_frame(rows: list[tuple]) -> pd.DataFrame:
    """(customer_id, order_id, timestamp, amount, is_return) rows -> contract transactions."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["amount"] = frame["amount"].astype("float64")
    frame["quantity"] = 1.0
    return frame


HAND_ROWS = [
    # customer a: two orders on Jan 1 (one purchase day), one two-line order on Jan 8, a return on Jan 10
    ("a", "o1", "2024-01-01 09:00", 10.0, False),
    ("a", "o2", "2024-01-01 18:30", 20.0, False),
    ("a", "o3", "2024-01-08 12:00", 15.0, False),
    ("a", "o3", "2024-01-08 12:00", 15.0, False),
    ("a", "r1", "2024-01-10 08:00", -5.0, True),
    # customer b: only a return
    ("b", "r2", "2024-01-03 10:00", -8.0, True),
    # customer c: four purchase days (gaps 1, 2, 10 days) and one row after as_of
    ("c", "o4", "2024-01-01 10:00", 1.0, False),
    ("c", "o5", "2024-01-02 10:00", 2.0, False),
    ("c", "o6", "2024-01-04 10:00", 3.0, False),
    ("c", "o7", "2024-01-14 23:59", 4.0, False),
    ("c", "o8", "2024-01-20 10:00", 100.0, False),
]


@pytest.fixture()
def hand_summary() -> pd.DataFrame:
    return customer_summary(ibis.memtable(tx_frame(HAND_ROWS)), "2024-01-15", time_unit="W", median_gap=True)


def test_hand_built_customer_with_same_day_orders_and_a_return(hand_summary):
    a = hand_summary.loc["a"]
    assert a["first_purchase"] == pd.Timestamp("2024-01-01")
    assert a["last_purchase"] == pd.Timestamp("2024-01-08")
    assert a["orders"] == 3 and a["purchase_days"] == 2
    assert a["net_revenue"] == pytest.approx(55.0)
    assert a["return_amount"] == pytest.approx(5.0)
    assert a["aov"] == pytest.approx(60.0 / 3)
    assert (a["tenure_days"], a["recency_days"]) == (14.0, 7.0)
    assert a["mean_gap_days"] == 7.0 and a["median_gap_days"] == 7.0
    assert a["x"] == 1
    assert a["t_x"] == pytest.approx(1.0) and a["T"] == pytest.approx(2.0)
    # the Jan 8 purchase day, both lines summed, less the Jan 10 return booked against it
    assert a["zbar"] == pytest.approx(25.0)


def test_return_only_customer_has_no_purchase_fields(hand_summary):
    b = hand_summary.loc["b"]
    assert b["orders"] == 0 and b["purchase_days"] == 0 and b["x"] == 0
    assert b["net_revenue"] == pytest.approx(-8.0) and b["return_amount"] == pytest.approx(8.0)
    assert pd.isna(b["first_purchase"]) and np.isnan(b["aov"]) and np.isnan(b["T"])
    assert b["zbar"] == 0.0


def test_gaps_and_repeat_value_ignore_rows_after_as_of(hand_summary):
    c = hand_summary.loc["c"]
    assert c["purchase_days"] == 4 and c["x"] == 3
    assert c["mean_gap_days"] == pytest.approx(13 / 3)
    assert c["median_gap_days"] == pytest.approx(2.0)
    assert c["zbar"] == pytest.approx((2 + 3 + 4) / 3)
    assert c["t_x"] == pytest.approx(13 / 7) and c["T"] == pytest.approx(2.0)
    assert c["net_revenue"] == pytest.approx(10.0)  # the 100.0 on Jan 20 is after as_of
    assert c["recency_days"] == 1.0  # Jan 14 at 23:59 is one calendar day before Jan 15


CANCELLATION_ROWS = [
    # customer d: a first order; a large order cancelled 12 minutes later on a C invoice (net -6.10);
    # a third order partly returned three days later
    ("d", "o10", "2024-02-01 10:00", 20.0, False),
    ("d", "o11", "2024-02-05 10:00", 168469.60, False),
    ("d", "C11", "2024-02-05 10:12", -168475.70, True),
    ("d", "o12", "2024-02-09 10:00", 40.0, False),
    ("d", "C12", "2024-02-12 10:00", -10.0, True),
    # customer e: the only order is cancelled the next day
    ("e", "o13", "2024-02-02 10:00", 500.0, False),
    ("e", "C13", "2024-02-03 09:00", -500.0, True),
    # customer f: a free purchase day without returns still counts (zero-value lines, as in CDNOW)
    ("f", "o14", "2024-02-01 10:00", 5.0, False),
    ("f", "o15", "2024-02-08 10:00", 0.0, False),
]


def test_cancelled_purchase_day_is_not_a_repeat_and_zbar_is_net_of_returns():
    summary = customer_summary(ibis.memtable(tx_frame(CANCELLATION_ROWS)), "2024-02-15", time_unit="D")
    d = summary.loc["d"]
    assert d["purchase_days"] == 3 and d["orders"] == 3
    assert d["x"] == 1  # Feb 5 is cancelled; Feb 9 is the only counted repeat day
    assert d["t_x"] == 8.0 and d["T"] == 14.0
    assert d["zbar"] == pytest.approx(30.0)  # 40 less the 10 returned on Feb 12
    assert d["net_revenue"] == pytest.approx(20.0 + 168469.60 - 168475.70 + 40.0 - 10.0)
    e = summary.loc["e"]
    assert (e["purchase_days"], e["x"], e["t_x"], e["T"], e["zbar"]) == (1, 0, 0.0, 13.0, 0.0)
    assert e["net_revenue"] == pytest.approx(0.0)
    f = summary.loc["f"]
    assert (f["x"], f["zbar"], f["t_x"]) == (1, 0.0, 7.0)


def test_net_purchase_days_mark_the_cancelled_days_by_hand():
    days = net_purchase_days(ibis.memtable(tx_frame(CANCELLATION_ROWS))).execute()
    days = days.set_index(["customer_id", pd.to_datetime(days["day"]).dt.strftime("%m-%d")]).sort_index()
    assert days["counted"].to_dict() == {
        ("d", "02-01"): True,
        ("d", "02-05"): False,  # returns bring the day's value to -6.10
        ("d", "02-09"): True,  # 40 less 10 returned on Feb 12: net 30
        ("e", "02-02"): False,  # returned in full the next day: net 0
        ("f", "02-01"): True,
        ("f", "02-08"): True,  # a zero-value day without returns still counts
    }
    assert days.loc[("d", "02-09"), "net_value"] == pytest.approx(30.0)


def test_purchase_rows_cut_at_the_end_of_the_as_of_day_and_check_the_columns():
    table = ibis.memtable(tx_frame(CANCELLATION_ROWS))
    rows = purchase_rows(table, pd.Timestamp("2024-02-05")).execute()
    assert sorted(rows["order_id"]) == ["o10", "o11", "o13", "o14"]
    assert sorted(purchase_rows(table).execute()["order_id"]) == ["o10", "o11", "o12", "o13", "o14", "o15"]
    with pytest.raises(DataError, match=r"no column 'category' \(missing: category\)") as error:
        check_transactions(table, needed=("customer_id", "category"), hint="Map 'category' in the run config.")
    assert error.value.column == "category" and "Map 'category'" in str(error.value)


def test_model_inputs_leave_out_cancelled_purchase_days_too():
    table = ibis.memtable(tx_frame(CANCELLATION_ROWS))
    inputs = model_inputs(table, "2024-02-15", time_unit="D")
    summary = customer_summary(table, "2024-02-15", time_unit="D")
    pd.testing.assert_frame_equal(inputs, summary.loc[:, ["x", "t_x", "T", "zbar"]])


def test_time_unit_days_and_months():
    table = ibis.memtable(tx_frame(HAND_ROWS))
    days = customer_summary(table, "2024-01-15", time_unit="D")
    months = customer_summary(table, "2024-01-15", time_unit="M")
    assert days.loc["c", "T"] == 14.0 and days.loc["c", "t_x"] == 13.0
    assert months.loc["c", "T"] == pytest.approx(14 / 30.4375)
    with pytest.raises(ConfigError, match="time_unit"):
        customer_summary(table, "2024-01-15", time_unit="Q")


def test_index_keeps_leading_zeros_and_is_sorted():
    rows = [("00017", "1", "2024-01-02", 5.0, False), ("0002", "2", "2024-01-01", 5.0, False)]
    summary = customer_summary(ibis.memtable(tx_frame(rows)), "2024-01-31")
    assert list(summary.index) == ["00017", "0002"]
    assert summary.index.name == "customer_id"


def test_missing_column_is_a_data_error():
    frame = tx_frame(HAND_ROWS).drop(columns="is_return")
    with pytest.raises(DataError, match="is_return"):
        customer_summary(ibis.memtable(frame), "2024-01-15")
    with pytest.raises(DataError, match="Ibis table"):
        customer_summary(tx_frame(HAND_ROWS), "2024-01-15")


def test_result_does_not_depend_on_row_order_or_union_of_parts(hand_summary):
    frame = tx_frame(HAND_ROWS).sample(frac=1.0, random_state=7)
    parts = [ibis.memtable(frame.iloc[i::3].reset_index(drop=True)) for i in range(3)]
    unioned = parts[0].union(parts[1], distinct=False).union(parts[2], distinct=False)
    pd.testing.assert_frame_equal(customer_summary(unioned, "2024-01-15", median_gap=True), hand_summary)


def test_median_gap_is_optional_and_leaves_the_other_columns_unchanged(hand_summary):
    default = customer_summary(ibis.memtable(tx_frame(HAND_ROWS)), "2024-01-15", time_unit="W")
    assert "median_gap_days" not in default.columns
    pd.testing.assert_frame_equal(default, hand_summary.drop(columns="median_gap_days"))


def _half_up(value: float) -> float:
    return float(Decimal(repr(round(float(value), 6))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def read_cdnow_sample(cdnow_dir) -> pd.DataFrame:
    raw = pd.read_csv(cdnow_dir / "CDNOW_sample.txt", sep=r"\s+", header=None, dtype=str,
                      names=["master_id", "sample_id", "date", "number_of_cds", "dollar_value"])
    return raw


def test_reproduces_hardie_cdnow_calibration_summary_exactly(cdnow_dir):
    raw = read_cdnow_sample(cdnow_dir)
    transactions = pd.DataFrame({
        "customer_id": raw["master_id"],
        "order_id": np.arange(len(raw)).astype(str),
        "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "amount": raw["dollar_value"].astype(float),
        "quantity": raw["number_of_cds"].astype(float),
        "is_return": False,
    })
    summary = customer_summary(ibis.memtable(transactions), "1997-09-30", time_unit="W")
    reference = pd.read_csv(cdnow_dir / "cdnow_customers_summary_with_transactions.csv")
    sample_id = raw.drop_duplicates("master_id").set_index("master_id")["sample_id"].astype(int)
    ours = summary.assign(ID=sample_id.reindex(summary.index).to_numpy()).set_index("ID")
    assert len(ours) == len(reference) == 2357
    reference = reference.set_index("ID")
    ours = ours.loc[reference.index]
    assert (ours["x"] == reference["x"]).all()
    assert ours["x"].sum() == 2457  # repeat purchase days in calibration (README)
    for column in ("t_x", "T", "zbar"):
        rounded = ours[column].map(_half_up)
        mismatched = reference.index[rounded.to_numpy() != reference[column].to_numpy()]
        assert len(mismatched) == 0, f"{column} differs for IDs {list(mismatched[:5])}"


def test_customer_period_panel_by_month_and_week():
    table = ibis.memtable(tx_frame(HAND_ROWS))
    monthly = customer_period_panel(table, "M").execute().sort_values(["customer_id", "period_start"])
    a = monthly[monthly["customer_id"] == "a"].iloc[0]
    assert a["period_start"] == pd.Timestamp("2024-01-01")
    assert a["orders"] == 3 and a["revenue"] == pytest.approx(55.0)
    b = monthly[monthly["customer_id"] == "b"].iloc[0]
    assert b["orders"] == 0 and b["revenue"] == pytest.approx(-8.0)
    weekly = customer_period_panel(table, "W").execute()
    c_weeks = weekly[weekly["customer_id"] == "c"].set_index("period_start").sort_index()
    # 2024-01-01 is a Monday: weeks start Jan 1, Jan 8 and Jan 15
    assert list(c_weeks.index) == list(pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15"]))
    assert list(c_weeks["orders"]) == [3, 1, 1]
    with pytest.raises(ConfigError):
        customer_period_panel(table, "Q")


def test_model_inputs_are_the_summary_columns_of_buyers(hand_summary):
    inputs = model_inputs(ibis.memtable(tx_frame(HAND_ROWS)), "2024-01-15", time_unit="W")
    buyers = hand_summary[hand_summary["purchase_days"] > 0]
    pd.testing.assert_frame_equal(inputs, buyers.loc[:, ["x", "t_x", "T", "zbar"]])
    assert "b" not in inputs.index  # only returns: no purchase day
