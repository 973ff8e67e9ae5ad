"""Acquisition analyses on a tiny hand-built shop; every expected value is worked out by hand in the comments."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from clc_lib import acquisition as acq
from clc_lib.errors import ConfigError, DataError, ModelFitError

# customer, order, timestamp, amount, is_return, channel
ROWS = [
    ("00017", "A1", "2024-01-05 10:00", 10.0, False, "web"),    # first order of 00017: web
    ("00017", "A2", "2024-01-05 15:00", 20.0, False, "store"),  # same day: not a repeat purchase day
    ("00017", "A3", "2024-02-10 09:00", 30.0, False, "web"),    # second purchase day, 36 days later
    ("2", "B1", "2024-01-20 12:00", 50.0, False, "store"),
    ("2", "B1R", "2024-01-25 12:00", -10.0, True, "store"),    # return: not a purchase
    ("3", "C1", "2024-03-01 08:00", 5.0, False, None),         # no channel on the first order
    ("4", "R1", "2024-02-01 08:00", -3.0, True, "web"),        # return only: never acquired
    ("5", "D1", "2024-01-31 00:00", 40.0, False, "web"),
    ("5", "D2", "2024-05-15 00:00", 40.0, False, "web"),       # second purchase day 105 days later
    ("6", "E1", "2024-02-15 00:00", 25.0, False, "email"),
    ("6", "E2", "2024-03-01 00:00", 15.0, False, "email"),     # 15 days later
]
AS_OF = "2024-06-30"


def make_frame(with_channel: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["customer_id", "order_id", "timestamp", "amount", "is_return", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame if with_channel else frame.drop(columns="channel")


@pytest.fixture
def transactions() -> ibis.Table:
    return ibis.memtable(make_frame())


# ------------------------------------------------------------------------------------ channel rules

def test_acquisition_uses_first_order_channel_and_keeps_text_ids(transactions):
    table = acq.customer_acquisition(transactions)
    assert sorted(table.index) == ["00017", "2", "3", "5", "6"]  # "4" only returned: not acquired
    assert table.loc["00017", "channel"] == "web"  # the 10:00 order, not the 15:00 store order
    assert table.loc["00017", "channel_source"] == "first_order"
    assert table.loc["3", "channel"] == "unknown"
    assert table.loc["3", "channel_source"] == "unknown"
    assert table.loc["00017", "first_order_value"] == 10.0
    assert table.loc["00017", "second_purchase_day"] == pd.Timestamp("2024-02-10")
    assert pd.isna(table.loc["2", "second_purchase_day"])
    assert table.loc["5", "cohort"] == pd.Timestamp("2024-01-01")


def test_customers_acquisition_channel_takes_precedence(transactions):
    customers = pd.DataFrame({"customer_id": ["00017", "3", "9"],
                              "acquisition_channel": ["affiliate", None, "social"]})
    table = acq.customer_acquisition(transactions, customers)
    assert table.loc["00017", ["channel", "channel_source"]].tolist() == ["affiliate", "customers"]
    assert table.loc["2", ["channel", "channel_source"]].tolist() == ["store", "first_order"]
    # null in customers and no order channel -> unknown; customer 9 never bought -> absent
    assert table.loc["3", ["channel", "channel_source"]].tolist() == ["unknown", "unknown"]
    assert "9" not in table.index


def test_without_any_channel_information_everyone_is_all():
    table = acq.customer_acquisition(ibis.memtable(make_frame(with_channel=False)))
    assert set(table["channel"]) == {"all"}
    assert set(table["channel_source"]) == {"none"}


def test_customers_without_channel_column_fall_back_to_orders(transactions):
    customers = pd.DataFrame({"customer_id": ["00017"], "country": ["NL"]})
    assert acq.customer_acquisition(transactions, customers).loc["00017", "channel"] == "web"


def test_first_order_ties_multi_line_orders_and_row_order():
    rows = [
        ("b", "O2", "2024-01-05 10:00", 7.0, False, "app"),
        ("b", "O1", "2024-01-05 10:00", 5.0, False, "web"),    # same time as O2: the smaller id is first
        ("b", "O1", "2024-01-08 12:00", 6.0, False, "store"),  # later line of the first order
        ("b", "O1R", "2024-01-09 12:00", -5.0, True, "web"),   # return: not part of the value
        ("a", "P1", "2024-01-05 10:00", 9.0, False, "web"),    # same first time as b: ordered by id
        ("c", "Q1", "2024-01-04 08:00", 3.0, False, "web"),
        ("c", "Q2", "2024-01-04 20:00", 4.0, False, "web"),    # same day: no second purchase day
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount", "is_return", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    table = acq.customer_acquisition(ibis.memtable(frame))
    assert table.index.tolist() == ["c", "a", "b"]  # by first purchase, then customer id
    assert table.loc["b", ["first_order_id", "first_order_value", "channel"]].tolist() == ["O1", 11.0, "store"]
    assert table.loc["b", "second_purchase_day"] == pd.Timestamp("2024-01-08")  # the first order's later line
    assert pd.isna(table.loc["c", "second_purchase_day"])
    assert table.loc["c", "first_order_value"] == 3.0


def test_engine_row_order_is_kept_only_when_it_is_python_order():
    times = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02"])
    assert acq._sorted_by(pd.DataFrame({"t": times, "id": ["z", "a", "b"]}), "t", "id")
    assert not acq._sorted_by(pd.DataFrame({"t": times, "id": ["a", "b", "B"]}), "t", "id")  # "B" < "b"
    assert not acq._sorted_by(pd.DataFrame({"t": times[::-1], "id": ["a", "b", "c"]}), "t", "id")


def test_duplicate_customer_ids_are_refused(transactions):
    customers = pd.DataFrame({"customer_id": ["2", "2"], "acquisition_channel": ["a", "b"]})
    with pytest.raises(DataError, match="more than once") as error:
        acq.new_customers(transactions, customers)
    assert error.value.n_rows == 2


def test_missing_contract_column_names_it():
    frame = make_frame().drop(columns="is_return")
    with pytest.raises(DataError) as error:
        acq.new_customers(ibis.memtable(frame))
    assert error.value.column == "is_return"


# ---------------------------------------------------------------------------------------- new customers

def test_new_customers_per_month_and_channel(transactions):
    table = acq.new_customers(transactions).set_index(["period_start", "channel"])["new_customers"]
    jan, feb, mar = (pd.Timestamp(d) for d in ("2024-01-01", "2024-02-01", "2024-03-01"))
    assert table[(jan, "web")] == 2  # 00017 and 5
    assert table[(jan, "store")] == 1
    assert table[(feb, "email")] == 1
    assert table[(mar, "unknown")] == 1
    assert table[(feb, "web")] == 0  # zero-filled grid
    assert table.sum() == 5
    assert len(table) == 3 * 4  # 3 months x 4 channels


def test_new_customers_marks_the_unfinished_last_period():
    frame = make_frame()
    ends_march_first = ibis.memtable(frame[frame["timestamp"] <= "2024-03-01 08:00"])
    table = acq.new_customers(ends_march_first)
    assert table.groupby("period_start")["is_complete"].first().tolist() == [True, True, False]
    complete = acq.new_customers(ends_march_first, as_of="2024-03-31")
    assert complete["is_complete"].all()
    assert complete["new_customers"].tolist() == table["new_customers"].tolist()


def test_acquisition_key_figures_leave_out_customers_who_only_returned(transactions):
    overview = acq.acquisition_overview(transactions, as_of=AS_OF, window_days=90)
    new = acq.new_customers(transactions)
    assert overview["customers_acquired"] == 5  # "4" only returned goods
    assert overview["customers_acquired"] == new["new_customers"].sum()
    assert overview["first_purchase"] == pd.Timestamp("2024-01-05 10:00")
    assert overview["came_back_share"] == pytest.approx(3 / 5)  # 00017, 5 and 6 bought again
    # cohorts Jan-Mar have a 90-day window that has elapsed by June 30: the same five customers
    assert overview["customers_in_complete_cohorts"] == 5
    assert overview["repeat_rate"] == pytest.approx(2 / 5)  # 00017 (36 days) and 6 (15 days); 5 took 105


def test_new_customers_per_week_start_on_monday(transactions):
    table = acq.new_customers(transactions, period="W")
    assert (table["period_start"].dt.dayofweek == 0).all()
    week = table[table["period_start"] == pd.Timestamp("2024-01-29")]  # Monday of the week of 31 Jan
    assert week.set_index("channel").loc["web", "new_customers"] == 1


def test_bad_period_is_a_config_error(transactions):
    with pytest.raises(ConfigError, match="'M'"):
        acq.new_customers(transactions, period="Q")


def test_first_order_value_by_cohort_and_channel(transactions):
    table = acq.first_order_value(transactions).set_index(["cohort", "channel"])
    jan_web = table.loc[(pd.Timestamp("2024-01-01"), "web")]
    assert jan_web["customers"] == 2
    assert jan_web["mean_first_order_value"] == pytest.approx(25.0)  # (10 + 40) / 2
    assert jan_web["median_first_order_value"] == pytest.approx(25.0)
    assert jan_web["total_first_order_value"] == pytest.approx(50.0)
    assert table.loc[(pd.Timestamp("2024-02-01"), "email"), "mean_first_order_value"] == pytest.approx(25.0)


# ------------------------------------------------------------------------------------------- funnel

@pytest.fixture
def events() -> ibis.Table:
    rows = [
        # person, customer, timestamp, event type, channel
        ("00017", "00017", "2024-01-01 09:00", "visit", "search"),
        ("00017", "00017", "2024-01-02 09:00", "product_view", "search"),  # engaged, buys 5 Jan
        ("v2", None, "2024-01-03 09:00", "visit", "search"),
        ("v2", "6", "2024-01-04 09:00", "signup", "search"),               # lead; is customer 6, buys 15 Feb
        ("v3", None, "2024-01-03 09:00", "visit", "social"),               # aware only
        ("v4", None, "2024-01-03 09:00", "visit", "social"),               # first touch social
        ("v4", None, "2024-01-05 09:00", "add_to_cart", "search"),         # engaged, never buys
        ("v5", None, "2024-01-06 09:00", "signup", "social"),              # lead, never buys
        ("2", "2", "2024-03-01 09:00", "visit", "search"),                 # bought 20 Jan: existing customer
        ("5", "5", "2024-01-31 18:00", "visit", "social"),                 # bought 00:00 the same day: converted
        ("v7", None, "2024-02-01 09:00", "email_open", None),              # no channel -> unknown
    ]
    frame = pd.DataFrame(rows, columns=["person_id", "customer_id", "timestamp", "event_type", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return ibis.memtable(frame)


def test_funnel_counts_by_first_touch_channel(events, transactions):
    table = acq.funnel(events, transactions).set_index("channel")
    counts = ["aware", "engaged", "converted", "leads", "converted_leads", "existing_customers"]
    assert table.loc["search", counts].tolist() == [2, 2, 2, 1, 1, 1]
    assert table.loc["social", counts].tolist() == [4, 3, 1, 1, 0, 0]  # v3, v4, v5, 5
    assert table.loc["unknown", counts].tolist() == [1, 0, 0, 0, 0, 0]
    assert table.loc["all channels", counts].tolist() == [7, 5, 3, 2, 1, 1]
    assert table.loc["social", "conversion_rate"] == pytest.approx(1 / 4)
    assert table.loc["social", "engaged_rate"] == pytest.approx(3 / 4)
    assert table.loc["social", "engaged_to_converted"] == pytest.approx(1 / 3)
    assert table.loc["all channels", "lead_conversion"] == pytest.approx(1 / 2)
    assert np.isnan(table.loc["unknown", "lead_conversion"])  # no leads: undefined, not 0


def test_funnel_engaged_event_types_are_a_parameter(events, transactions):
    table = acq.funnel(events, transactions, engaged_event_types=("add_to_cart",)).set_index("channel")
    assert table.loc["social", "engaged"] == 2  # v4 (add to cart) and 5 (converted)
    assert table.loc["search", "engaged"] == 2  # both converted, which implies engagement


def test_funnel_without_grouping(events, transactions):
    table = acq.funnel(events, transactions, by=None, include_total=False)
    assert table[["aware", "converted"]].iloc[0].tolist() == [7, 3]
    assert len(table) == 1


# ---------------------------------------------------------------------------------------------- CAC

@pytest.fixture
def acquired() -> pd.DataFrame:
    rows = [("2024-01-01", "web", 2), ("2024-01-01", "store", 1), ("2024-01-01", "organic", 3),
            ("2024-02-01", "web", 0), ("2024-02-01", "store", 2), ("2024-02-01", "organic", 1),
            ("2024-03-01", "web", 4)]  # March has no spend data: outside the CAC window
    frame = pd.DataFrame(rows, columns=["period_start", "channel", "new_customers"])
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


@pytest.fixture
def spend() -> pd.DataFrame:
    rows = [("2024-01-01", "web", 100.0), ("2024-01-01", "store", 30.0),
            ("2024-02-01", "web", 50.0), ("2024-02-01", "store", 40.0)]
    frame = pd.DataFrame(rows, columns=["period_start", "channel", "spend"])
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


def test_cac_per_month(spend, acquired):
    table = acq.cac_by_channel(spend, acquired).set_index(["period_start", "channel"])
    jan, feb = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
    assert table.loc[(jan, "web"), "cac"] == pytest.approx(50.0)      # 100 / 2
    assert table.loc[(jan, "store"), "cac"] == pytest.approx(30.0)    # 30 / 1
    assert np.isnan(table.loc[(jan, "organic"), "cac"])               # organic: no spend, no CAC
    assert not table.loc[(jan, "organic"), "paid"]
    assert table.loc[(jan, acq.BLENDED_CAC_LABEL), "cac"] == pytest.approx(130 / 6)
    assert table.loc[(jan, acq.PAID_CAC_LABEL), "cac"] == pytest.approx(130 / 3)
    assert np.isnan(table.loc[(feb, "web"), "cac"])                   # 50 spent, nobody acquired
    assert table.loc[(feb, "web"), "spend"] == 50.0
    assert table.loc[(feb, acq.PAID_CAC_LABEL), "cac"] == pytest.approx(90 / 2)
    assert pd.Timestamp("2024-03-01") not in table.index.get_level_values("period_start")


def test_cac_totals(spend, acquired):
    table = acq.cac_by_channel(spend, acquired, by_period=False).set_index("channel")
    assert table.loc["web", "cac"] == pytest.approx(150 / 2)  # March's 4 web customers are outside
    assert table.loc["store", "cac"] == pytest.approx(70 / 3)
    assert table.loc[acq.BLENDED_CAC_LABEL, "cac"] == pytest.approx(220 / 9)  # organic included
    assert table.loc[acq.PAID_CAC_LABEL, "cac"] == pytest.approx(220 / 5)
    assert table.loc[acq.BLENDED_CAC_LABEL, "new_customers"] == 9


def test_cac_refuses_negative_spend_and_weekly_counts(spend, acquired):
    bad = spend.assign(spend=[100.0, -1.0, 50.0, 40.0])
    with pytest.raises(DataError, match="negative") as error:
        acq.cac_by_channel(bad, acquired)
    assert error.value.n_rows == 1
    weekly = acquired.assign(period_start=acquired["period_start"] + pd.Timedelta(days=1))
    with pytest.raises(ConfigError, match="period='M'"):
        acq.cac_by_channel(spend, weekly)


# ---------------------------------------------------------------------------------------- repeat rate

def test_repeat_rate_with_censoring(transactions):
    # as_of 28 Jun: March cohort window ends 31 Mar + 90 d = 29 Jun > as_of -> incomplete
    table = acq.repeat_rate(transactions, window_days=90, as_of="2024-06-28", by=("cohort",)).set_index("cohort")
    jan, feb, mar = (pd.Timestamp(d) for d in ("2024-01-01", "2024-02-01", "2024-03-01"))
    assert table.loc[jan, ["customers", "repeaters"]].tolist() == [3, 1]  # 00017 (36 d); 5 at 105 d is late
    assert table.loc[jan, "repeat_rate"] == pytest.approx(1 / 3)
    assert table.loc[feb, "repeat_rate"] == pytest.approx(1.0)          # 6 (15 d)
    assert not table.loc[mar, "window_complete"]
    assert np.isnan(table.loc[mar, "repeat_rate"])
    # the next day the March window has elapsed
    later = acq.repeat_rate(transactions, window_days=90, as_of="2024-06-29", by=("cohort",)).set_index("cohort")
    assert later.loc[mar, "window_complete"] and later.loc[mar, "repeat_rate"] == 0.0


def test_repeat_rate_overall_counts_complete_cohorts_only(transactions):
    table = acq.repeat_rate(transactions, window_days=90, as_of="2024-06-28", by=())
    assert table[["customers", "repeaters"]].iloc[0].tolist() == [4, 2]  # Jan + Feb cohorts


def test_repeat_rate_window_edges_and_same_day_orders(transactions):
    by_cohort = {"as_of": AS_OF, "by": ("cohort",)}
    jan = pd.Timestamp("2024-01-01")
    exactly = acq.repeat_rate(transactions, window_days=105, **by_cohort).set_index("cohort")
    assert exactly.loc[jan, "repeaters"] == 2  # a gap of exactly window_days counts
    short = acq.repeat_rate(transactions, window_days=30, **by_cohort).set_index("cohort")
    assert short.loc[jan, "repeaters"] == 0  # 00017's second order on the first day does not count


def test_repeat_rate_required_complete_names_the_first_purchases_that_would_give_a_cohort(transactions):
    # as_of 30 Apr: the January cohort's window ends 31 Jan + 90 d = 30 Apr -> complete
    assert len(acq.repeat_rate(transactions, window_days=90, as_of="2024-04-30", require_complete=True)) > 0
    # a day earlier no cohort is complete; a complete cohort needs a month ending by 90 days before
    with pytest.raises(ModelFitError) as raised:
        acq.repeat_rate(transactions, window_days=90, as_of="2024-04-29", require_complete=True)
    assert str(raised.value) == (
        "no monthly cohort's 90-day repeat window has elapsed by 2024-04-29 (the earliest cohort in the data "
        "starts on 2024-01-01); it needs customers acquired in a month that ended on or before 2024-01-30, "
        "90 days before the cut-off date.")
    # without the requirement the table is returned with NaN rates, as before
    table = acq.repeat_rate(transactions, window_days=90, as_of="2024-04-29", by=("cohort",))
    assert not table["window_complete"].any() and table["repeat_rate"].isna().all()


def test_repeat_rate_by_channel(transactions):
    table = acq.repeat_rate(transactions, window_days=90, as_of=AS_OF).set_index(["cohort", "channel"])
    assert table.loc[(pd.Timestamp("2024-01-01"), "web"), "repeat_rate"] == pytest.approx(1 / 2)
    assert table.loc[(pd.Timestamp("2024-01-01"), "store"), "repeat_rate"] == 0.0


# ------------------------------------------------------------------------------- revenue curve, payback

def test_cac_without_a_shared_channel_is_a_model_fit_error_when_required():
    spend = pd.DataFrame({"period_start": ["2024-01-01", "2024-01-01"], "channel": ["social", "affiliate"],
                          "spend": [100.0, 50.0]})
    new = pd.DataFrame({"period_start": pd.to_datetime(["2024-01-01", "2024-01-01"]), "channel": ["web", "app"],
                        "new_customers": [3, 2]})
    # without the requirement only the blended row has a CAC: 150 / 5
    table = acq.cac_by_channel(spend, new, by_period=False).set_index("channel")
    assert table["cac"].dropna().to_dict() == {acq.BLENDED_CAC_LABEL: 30.0}
    with pytest.raises(ModelFitError, match=r"none of the spend table's channels \(affiliate, social\) is an "
                                            r"acquisition channel of the customers \(app, web\)"):
        acq.cac_by_channel(spend, new, by_period=False, require_matching_channels=True)
    # one shared channel is enough: web's CAC is 100 / 3
    web_spend = spend.assign(channel=["web", "affiliate"])
    table = acq.cac_by_channel(web_spend, new, by_period=False, require_matching_channels=True).set_index("channel")
    assert table.loc["web", "cac"] == pytest.approx(100 / 3)


def test_first_order_value_by_channel_only(transactions):
    table = acq.first_order_value(transactions, by=("channel",)).set_index("channel")
    assert table.loc["web", ["customers", "total_first_order_value"]].tolist() == [2, 50.0]
    assert "cohort" not in table.columns


RETURNED_ROWS = [
    ("7", "F1", "2024-01-10 10:00", 20.0, False, "web"),
    ("7", "F2", "2024-01-20 10:00", 30.0, False, "web"),    # second purchase day ...
    ("7", "F2R", "2024-01-22 10:00", -30.0, True, "web"),   # ... fully returned: cancelled, no repeat
    ("7", "F3", "2024-06-01 10:00", 10.0, False, "web"),    # the repeat purchase day, 143 days after the first
    ("8", "G1", "2024-01-12 10:00", 20.0, False, "web"),
    ("8", "G2", "2024-02-01 10:00", 30.0, False, "web"),    # second purchase day, 20 days later ...
    ("8", "G2R", "2024-02-03 10:00", -10.0, True, "web"),   # ... partly returned (net 20): still a repeat
    ("9", "H1", "2024-01-15 10:00", 20.0, False, "store"),
    ("9", "H2", "2024-01-25 10:00", 40.0, False, "store"),  # second and last purchase day ...
    ("9", "H2R", "2024-01-26 10:00", -40.0, True, "store"),  # ... fully returned: never came back
    ("10", "K1", "2024-01-18 10:00", 15.0, False, "web"),
    ("10", "K1R", "2024-01-18 18:00", -15.0, True, "web"),  # the first purchase day is cancelled ...
    ("10", "K2", "2024-02-05 10:00", 25.0, False, "web"),   # ... the second still counts as a repeat (18 days)
]


@pytest.fixture
def returned_transactions() -> ibis.Table:
    frame = pd.DataFrame(RETURNED_ROWS, columns=["customer_id", "order_id", "timestamp", "amount", "is_return",
                                                 "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return ibis.memtable(frame)


def test_a_second_purchase_day_cancelled_by_its_returns_is_no_repeat(returned_transactions):
    table = acq.customer_acquisition(returned_transactions)
    assert table.loc["7", "second_purchase_day"] == pd.Timestamp("2024-06-01")  # 20 Jan was cancelled
    assert table.loc["8", "second_purchase_day"] == pd.Timestamp("2024-02-01")
    assert pd.isna(table.loc["9", "second_purchase_day"])
    assert table.loc["10", "second_purchase_day"] == pd.Timestamp("2024-02-05")

    rate = acq.repeat_rate(returned_transactions, window_days=90, as_of=AS_OF, by=())
    # all four in the January cohort (window elapsed on 30 Apr); 8 (20 days) and 10 (18 days) repeat
    # within 90 days, 7 only after 143 days, 9 never
    assert rate[["customers", "repeaters"]].iloc[0].tolist() == [4, 2]
    assert rate["repeat_rate"].iloc[0] == pytest.approx(2 / 4)


def test_came_back_share_is_the_share_of_repeat_customers_of_the_summary(returned_transactions):
    from clc_lib.summary import customer_summary

    overview = acq.acquisition_overview(returned_transactions, as_of=AS_OF, window_days=90)
    assert overview["came_back_share"] == pytest.approx(3 / 4)  # 7, 8 and 10; 9's only repeat was returned
    assert overview["customers_in_complete_cohorts"] == 4
    assert overview["repeat_rate"] == pytest.approx(2 / 4)
    summary = customer_summary(returned_transactions, AS_OF)
    repeat_customers = summary[summary["purchase_days"] > 0]["x"] > 0
    assert repeat_customers.to_dict() == {"10": True, "7": True, "8": True, "9": False}
    assert overview["came_back_share"] == pytest.approx(repeat_customers.mean())


def test_acquisition_figures_leave_out_rows_after_as_of(returned_transactions):
    overview = acq.acquisition_overview(returned_transactions, as_of="2024-03-31", window_days=30)
    # 7's repeat on 1 Jun is after the cut-off: as of 31 Mar only 8 and 10 have come back
    assert overview["came_back_share"] == pytest.approx(2 / 4)
