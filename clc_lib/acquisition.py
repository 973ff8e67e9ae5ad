"""Acquisition: new customers, the pre-purchase funnel, first-order value, CAC and the repeat rate.

What acquired customers are worth over time (revenue curves, LTV:CAC, payback, gross margin) is
:mod:`clc_lib.unit_economics`.

Every function that reads the transaction or event table builds Ibis expressions (DuckDB today,
Spark later) and returns small per-period, per-channel or per-customer results as pandas.

Conventions used throughout (see ``docs/acquisition.md``):

* A **purchase** is a transaction row with ``is_return == False``. Returns never make a customer
  "new" and never count as a repeat purchase; they do reduce net revenue.
* A customer is **acquired** on the timestamp of their first purchase; the **cohort** is the period
  (month ``"M"`` or ISO week starting Monday ``"W"``) that contains it.
* The **acquisition channel** of a customer is, in order of precedence:
  ``customers.acquisition_channel`` (when the customers table is given and the value is not null),
  the ``channel`` of the first order (when transactions have a ``channel`` column),
  else ``"unknown"``. When neither source exists at all, every customer gets ``"all"``.
* A **purchase day** is a calendar day with at least one purchase; several orders on one day are
  one purchase day (a same-day second order is not a repeat purchase). A repeat purchase day is
  one after the first purchase day that counts by the customer summary's rule
  (:func:`clc_lib.summary.net_purchase_days`): a purchase day whose returns bring its net value to
  zero or less is cancelled and is no repeat, so "came back" and the repeat rate agree with the
  repeat customers (``x > 0``) of :func:`clc_lib.summary.customer_summary`.
* Time since acquisition is measured in calendar days between purchase days; a **month** is
  30.4375 days (365.25 / 12, :data:`clc_lib.periods.DAYS_PER_MONTH`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from clc_lib.cohorts import mark_complete_periods
from clc_lib.errors import ConfigError, DataError, ModelFitError
from clc_lib.periods import Period, resolve_as_of
from clc_lib.summary import (
    fetch,
    net_purchase_days,
    purchase_rows,
    ratio_or_nan,
    require_columns,
    rows_up_to,
    to_datetime_ns,
)

__all__ = [
    "ENGAGED_EVENT_TYPES",
    "LEAD_EVENT_TYPES",
    "BLENDED_CAC_LABEL",
    "PAID_CAC_LABEL",
    "customer_acquisition",
    "acquisition_overview",
    "new_customers",
    "funnel",
    "first_order_value",
    "cac_by_channel",
    "repeat_rate",
]

#: Event types that make a person "engaged" (interest beyond a visit). Override with ``engaged_event_types=``.
ENGAGED_EVENT_TYPES: tuple[str, ...] = ("signup", "product_view", "add_to_cart")
#: Event types that make a person a lead (someone who left their details).
LEAD_EVENT_TYPES: tuple[str, ...] = ("signup",)
#: Row labels of the all-channel CAC rows returned by :func:`cac_by_channel`.
BLENDED_CAC_LABEL = "all channels (blended)"
PAID_CAC_LABEL = "paid channels"
#: Channel of a customer whose channel is known for neither the customer nor the first order.
UNKNOWN_CHANNEL = "unknown"
#: Channel of every customer when the data have no channel information at all.
NO_CHANNEL_INFO = "all"


# --------------------------------------------------------------------------------------------- checks

def _check_unique_ids(frame: pd.DataFrame, column: str, *, source: str) -> None:
    if frame[column].is_unique:  # the usual case, and cheaper than marking the duplicates
        return
    duplicated = frame[column].duplicated(keep=False)
    if duplicated.any():
        rows = np.flatnonzero(duplicated.to_numpy())[:5]
        raise DataError(
            f"The {source} table has customer ids that occur more than once.",
            source=source,
            column=column,
            n_rows=int(duplicated.sum()),
            examples=[(int(i) + 1, frame[column].iloc[i]) for i in rows],
            hint="Keep one row per customer (e.g. the earliest first_seen) before loading.",
        )


def acquired_customers(transactions: ibis.Table, customers: pd.DataFrame | None, *,
                       second_day: bool = False) -> tuple[ibis.Table, bool]:
    """Ibis table, one row per customer with a purchase: first purchase, first order, channel.

    The first order is the order holding the customer's earliest purchase line (ties: smallest
    ``order_id``); its value is the sum of its purchase lines and its channel the smallest
    ``channel`` value among them. With ``second_day`` the table also has ``second_purchase_day``,
    the customer's first *counted* purchase day after the first one (the customer summary's repeat
    rule, :func:`clc_lib.summary.net_purchase_days`: a purchase day cancelled by its returns does
    not count). Built from aggregates and equality joins (plus the one window that books returns
    against purchase days for ``second_day``) so that it scales on DuckDB and Spark.

    Parameters
    ----------
    transactions
        Ibis transactions table (data contract).
    customers
        Optional customers frame; its ``acquisition_channel`` takes precedence (module docstring).
    second_day
        Also compute ``second_purchase_day`` (date, null for customers who never came back).

    Returns
    -------
    tuple of (ibis.Table, bool)
        The expression, with columns ``customer_id``, ``first_purchase`` (timestamp),
        ``first_purchase_day`` (date), ``first_order_id``, ``first_order_value`` (run currency),
        ``first_order_channel``, ``channel``, ``channel_source`` (``customers``, ``first_order``,
        ``unknown`` or ``none``) and with ``second_day`` ``second_purchase_day``; and whether any
        channel information exists.
    """
    purchases = purchase_rows(transactions)
    has_order_channel = "channel" in purchases.columns
    firsts = purchases.group_by("customer_id").aggregate(first_ts=purchases.timestamp.min())
    at_first = purchases.join(firsts, [purchases.customer_id == firsts.customer_id,
                                       purchases.timestamp == firsts.first_ts])
    first_ids = at_first.group_by("customer_id").aggregate(first_purchase=at_first.first_ts.min(),
                                                           first_order_id=at_first.order_id.min())
    if second_day:
        days = net_purchase_days(transactions)
        later = days.join(firsts, days.customer_id == firsts.customer_id)
        later = later.filter(later.counted & (later.day > later.first_ts.date()))
        repeats = later.group_by("customer_id").aggregate(second_purchase_day=later.day.min())
        first_ids = first_ids.left_join(repeats, first_ids.customer_id == repeats.customer_id).select(
            first_ids, repeats.second_purchase_day)
    lines = purchases.join(first_ids, [purchases.customer_id == first_ids.customer_id,
                                       purchases.order_id == first_ids.first_order_id])
    acquired = lines.group_by("customer_id").aggregate(
        first_purchase=lines.first_purchase.min(),
        first_order_id=lines.first_order_id.min(),
        first_order_value=lines.amount.sum(),
        first_order_channel=(lines.channel.min() if has_order_channel else ibis.null().cast("string")),
        **({"second_purchase_day": lines.second_purchase_day.min()} if second_day else {}),
    )
    acquired = acquired.mutate(first_purchase_day=acquired.first_purchase.date())

    has_customer_channel = False
    if customers is not None:
        require_columns(customers, ["customer_id"], source="customers")
        has_customer_channel = "acquisition_channel" in customers.columns
    if has_customer_channel:
        _check_unique_ids(customers, "customer_id", source="customers")
        # Arrow, not pandas: Spark would pickle the pandas missing-value marker of a string column.
        lookup_table = ibis.memtable(pa.table({
            "lookup_customer_id": pa.array(customers["customer_id"].astype(str), type=pa.string()),
            "acquisition_channel": pa.array(customers["acquisition_channel"].astype("string"), type=pa.string()),
        }))
        acquired = acquired.left_join(lookup_table, acquired.customer_id == lookup_table.lookup_customer_id)
        acquired = acquired.drop("lookup_customer_id")
        customer_channel = acquired.acquisition_channel
    else:
        customer_channel = ibis.null().cast("string")

    if not has_customer_channel and not has_order_channel:
        channel = ibis.literal(NO_CHANNEL_INFO)
        channel_source = ibis.literal("none")
    else:
        channel = ibis.coalesce(customer_channel, acquired.first_order_channel, ibis.literal(UNKNOWN_CHANNEL))
        channel_source = ibis.cases(
            (customer_channel.notnull(), "customers"),
            (acquired.first_order_channel.notnull(), "first_order"),
            else_="unknown",
        )
    acquired = acquired.mutate(channel=channel, channel_source=channel_source)
    if has_customer_channel:
        acquired = acquired.drop("acquisition_channel")
    return acquired, has_customer_channel or has_order_channel


def customer_acquisition(transactions: ibis.Table, customers: pd.DataFrame | None = None, *,
                         period: str = "M") -> pd.DataFrame:
    """When, through which channel and with what first order each customer was acquired.

    Parameters
    ----------
    transactions
        Ibis table with ``customer_id``, ``order_id``, ``timestamp``, ``amount`` (run currency, net,
        negative for returns), ``is_return`` and optionally ``channel``.
    customers
        Optional pandas frame with ``customer_id`` and ``acquisition_channel``; customers listed
        here who never bought are not acquired and do not appear.
    period
        ``"M"`` (calendar month) or ``"W"`` (week starting Monday) for the ``cohort`` column.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (customers with at least one purchase; return-only customers are not
        acquired). Columns ``first_purchase`` (timestamp), ``first_purchase_day``,
        ``second_purchase_day`` (date of the first counted purchase day after the first one, NaT
        without one: the day the customer became a repeat customer in the sense of
        :func:`clc_lib.summary.customer_summary`'s ``x``, so a later purchase day whose returns
        cancel it is skipped),
        ``cohort`` (start of the period of the first purchase), ``first_order_id``,
        ``first_order_value`` (gross value of the first order's purchase lines, run currency),
        ``channel`` and ``channel_source`` (``customers``, ``first_order``, ``unknown`` or ``none``;
        see the module docstring for the precedence).
    """
    period = Period.parse(period)
    acquired, _ = acquired_customers(transactions, customers, second_day=True)
    acquired = acquired.mutate(cohort=acquired.first_purchase.truncate(period.truncate_unit))
    columns = ["customer_id", "first_purchase", "first_purchase_day", "second_purchase_day", "cohort",
               "first_order_id", "first_order_value", "channel", "channel_source"]
    frame = fetch(acquired.select(columns).order_by(["first_purchase", "customer_id"]))
    for column in ("first_purchase", "first_purchase_day", "second_purchase_day", "cohort"):
        frame[column] = to_datetime_ns(frame[column])
    if not _sorted_by(frame, "first_purchase", "customer_id"):  # e.g. a database collation for the ids
        frame = frame.sort_values(["first_purchase", "customer_id"])
    return frame.set_index("customer_id")


def _sorted_by(frame: pd.DataFrame, first: str, then: str) -> bool:
    """True when ``frame`` is ordered as ``sort_values([first, then])`` orders it (``then`` unique in ties).

    Engines sort faster than pandas, but their string order depends on the collation: this check
    (Python string order, as pandas uses) decides whether the engine's order can be kept.
    """
    keys = frame[first].to_numpy()
    if len(keys) < 2:
        return True
    if pd.isna(keys).any() or not (keys[1:] >= keys[:-1]).all():
        return False
    ties = np.flatnonzero(keys[1:] == keys[:-1])
    ids = frame[then].to_numpy()
    return all(isinstance(ids[i], str) and isinstance(ids[i + 1], str) and ids[i] < ids[i + 1] for i in ties)


def _complete_grid(frame: pd.DataFrame, period: Period, value_columns: Sequence[str]) -> pd.DataFrame:
    """Add zero rows for every (period, channel) pair missing between the first and last period."""
    if frame.empty:
        return frame
    periods = period.starts(frame["period_start"].min(), frame["period_start"].max())
    grid = pd.MultiIndex.from_product([periods, sorted(frame["channel"].unique())],
                                      names=["period_start", "channel"])
    completed = frame.set_index(["period_start", "channel"]).reindex(grid)
    completed[list(value_columns)] = completed[list(value_columns)].fillna(0).astype("int64")
    return completed.reset_index()


def new_customers(transactions: ibis.Table, customers: pd.DataFrame | None = None, *,
                  period: str = "M", as_of=None) -> pd.DataFrame:
    """Customers acquired (first purchase) per period and acquisition channel.

    Parameters
    ----------
    transactions
        Ibis transactions table (data contract); only purchases (``is_return == False``) count.
    customers
        Optional customers frame; its ``acquisition_channel`` takes precedence over the channel of
        the first order (module docstring).
    period
        ``"M"`` (calendar month, ``period_start`` = first day) or ``"W"`` (week, ``period_start`` = Monday).
    as_of
        Cut-off date of the data (``run.as_of``); ``None`` = the date of the last transaction.

    Returns
    -------
    pandas.DataFrame
        Columns ``period_start`` (datetime64), ``channel``, ``new_customers`` (count) and
        ``is_complete`` (False for a last period that runs past ``as_of``,
        :func:`clc_lib.cohorts.period_is_complete`). Every (period, channel) pair between the
        first and last acquisition period is present (zero when no customer was acquired).
    """
    period = Period.parse(period)
    as_of = resolve_as_of(as_of, transactions)
    acquired, _ = acquired_customers(transactions, customers)
    grouped = (acquired.mutate(period_start=acquired.first_purchase.truncate(period.truncate_unit))
               .group_by(["period_start", "channel"])
               .aggregate(new_customers=lambda t: t.customer_id.count()))
    frame = grouped.execute()
    frame["period_start"] = to_datetime_ns(frame["period_start"])
    frame = _complete_grid(frame, period, ["new_customers"])
    frame = frame.sort_values(["period_start", "channel"]).reset_index(drop=True)[
        ["period_start", "channel", "new_customers"]]
    return mark_complete_periods(frame, period, as_of)


def first_order_value(transactions: ibis.Table, customers: pd.DataFrame | None = None, *,
                      period: str = "M", by: Sequence[str] = ("cohort", "channel")) -> pd.DataFrame:
    """Value of customers' first order by acquisition cohort and/or channel.

    The first order is the order holding the customer's earliest purchase line (ties broken by
    ``order_id``); its value is the sum of that order's purchase lines (gross, run currency; later
    returns of it are not deducted).

    Parameters
    ----------
    by
        Any of ``"cohort"`` (period of the first purchase, ``period``) and ``"channel"``.

    Returns
    -------
    pandas.DataFrame
        Columns from ``by``, ``customers``, ``mean_first_order_value``,
        ``median_first_order_value``, ``total_first_order_value`` (run currency).
    """
    period = Period.parse(period)
    keys = list(by)
    if not keys or any(k not in ("cohort", "channel") for k in keys):
        raise ConfigError(f"by is {by!r}; use 'cohort' and/or 'channel'.")
    acquired, _ = acquired_customers(transactions, customers)
    grouped = (acquired.mutate(cohort=acquired.first_purchase.truncate(period.truncate_unit))
               .group_by(keys)
               .aggregate(customers=lambda t: t.customer_id.count(),
                          mean_first_order_value=lambda t: t.first_order_value.mean(),
                          median_first_order_value=lambda t: t.first_order_value.median(),
                          total_first_order_value=lambda t: t.first_order_value.sum()))
    frame = grouped.execute()
    if "cohort" in keys:
        frame["cohort"] = to_datetime_ns(frame["cohort"])
    return frame.sort_values(keys).reset_index(drop=True)


# ------------------------------------------------------------------------------------------- funnel

def funnel(events: ibis.Table, transactions: ibis.Table, *, by: str | None = "channel",
           engaged_event_types: Sequence[str] = ENGAGED_EVENT_TYPES,
           lead_event_types: Sequence[str] = LEAD_EVENT_TYPES,
           include_total: bool = True) -> pd.DataFrame:
    """The pre-purchase funnel aware -> engaged -> converted, and lead-to-customer conversion, per channel.

    A person (``events.person_id``) enters the funnel on their first event. Stages are nested: each
    person is counted in every stage up to the furthest one reached.

    * **aware**: had any event;
    * **engaged**: had an event of ``engaged_event_types``, or converted (a purchase implies engagement);
    * **converted**: made a first purchase on or after the calendar day of their first event. The
      person's customer id is ``events.customer_id`` when any of their events carries one, else
      ``person_id``;
    * **lead**: had an event of ``lead_event_types``; ``lead_conversion`` = converted leads / leads.

    People whose first purchase was *before* the day of their first event were already customers:
    they are not in the pre-purchase funnel and are counted in ``existing_customers`` instead.
    Purchasers without any event are not in the funnel (it is built from events).

    Parameters
    ----------
    events
        Ibis table with ``person_id``, ``customer_id`` (nullable), ``timestamp``, ``event_type`` and
        the ``by`` column.
    transactions
        Ibis transactions table; only purchases (``is_return == False``) convert.
    by
        Events column giving the group of a person, taken from their **first** event (first touch;
        ties broken by the column's value). ``None`` puts everyone in one group ``"all"``; missing
        values become ``"unknown"``.
    engaged_event_types, lead_event_types
        Event types (data, not code) that define the engaged and lead stages.
    include_total
        Append a row ``by = "all channels"`` with the totals (groups partition the people).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``aware``, ``engaged``, ``converted``, ``leads``, ``converted_leads``,
        ``existing_customers`` (counts of people), ``engaged_rate`` = engaged / aware,
        ``engaged_to_converted`` = converted / engaged, ``conversion_rate`` = converted / aware,
        ``lead_conversion`` = converted_leads / leads (NaN when the denominator is 0).
    """
    required = ["person_id", "customer_id", "timestamp", "event_type"] + ([by] if by else [])
    require_columns(events, required, source="events")
    engaged_types = list(engaged_event_types)
    lead_types = list(lead_event_types)
    if not engaged_types:
        raise ConfigError("engaged_event_types is empty; give the event types that count as engagement.")

    group_column = by or "_group"
    tagged = events.mutate(_group=ibis.literal("all")) if by is None else events
    first_rank = ibis.row_number().over(group_by=tagged.person_id,
                                        order_by=[tagged.timestamp, tagged[group_column]])
    first_events = (tagged.mutate(_rank=first_rank).filter(lambda t: t._rank == 0)
                    .select(person_id=lambda t: t.person_id,
                            first_event_day=lambda t: t.timestamp.date(),
                            group=lambda t: t[group_column].cast("string").fill_null(UNKNOWN_CHANNEL)))
    people = tagged.group_by("person_id").aggregate(
        known_customer_id=tagged.customer_id.max(),
        is_engaged=tagged.event_type.isin(engaged_types).any(),
        is_lead=(tagged.event_type.isin(lead_types).any() if lead_types else ibis.literal(False)),
    )
    people = people.join(first_events, "person_id")
    people = people.mutate(buyer_id=ibis.coalesce(people.known_customer_id, people.person_id))

    purchases = purchase_rows(transactions)
    buyers = purchases.group_by("customer_id").aggregate(first_purchase_day=purchases.timestamp.min().date())
    people = people.left_join(buyers, people.buyer_id == buyers.customer_id)
    existing = people.first_purchase_day.notnull() & (people.first_purchase_day < people.first_event_day)
    converted = people.first_purchase_day.notnull() & ~existing
    people = people.mutate(_existing=existing, _converted=converted)

    in_funnel = ~people._existing
    counts = people.group_by("group").aggregate(
        aware=people.person_id.count(where=in_funnel),
        engaged=people.person_id.count(where=in_funnel & (people.is_engaged | people._converted)),
        converted=people.person_id.count(where=people._converted),
        leads=people.person_id.count(where=in_funnel & people.is_lead),
        converted_leads=people.person_id.count(where=people.is_lead & people._converted),
        existing_customers=people.person_id.count(where=people._existing),
    ).execute()
    count_columns = ["aware", "engaged", "converted", "leads", "converted_leads", "existing_customers"]
    counts[count_columns] = counts[count_columns].fillna(0).astype("int64")
    counts = counts.sort_values("aware", ascending=False).reset_index(drop=True)
    if include_total:
        total = counts[count_columns].sum().to_frame().T
        total.insert(0, "group", "all channels")
        counts = pd.concat([counts, total], ignore_index=True)
    counts = counts.rename(columns={"group": by or "group"})
    counts["engaged_rate"] = ratio_or_nan(counts["engaged"], counts["aware"])
    counts["engaged_to_converted"] = ratio_or_nan(counts["converted"], counts["engaged"])
    counts["conversion_rate"] = ratio_or_nan(counts["converted"], counts["aware"])
    counts["lead_conversion"] = ratio_or_nan(counts["converted_leads"], counts["leads"])
    return counts


# ---------------------------------------------------------------------------------------------- CAC

def _check_month_starts(dates: pd.Series, *, source: str, column: str, hint: str, error=DataError) -> None:
    dates = pd.to_datetime(dates)
    bad = dates.notna() & (dates != dates.dt.to_period("M").dt.start_time)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:5]
        examples = [(int(i) + 1, str(dates.iloc[i].date())) for i in rows]
        if error is DataError:
            raise DataError(f"{source}.{column} must hold first days of months.", source=source, column=column,
                            n_rows=int(bad.sum()), examples=examples, hint=hint)
        raise error(f"{source}.{column} holds dates that are not first days of months "
                    f"(e.g. {examples[0][1]}). {hint}")


def cac_by_channel(spend: pd.DataFrame, new_customers: pd.DataFrame, *, by_period: bool = True,
                   require_matching_channels: bool = False,
                   unpaid_channels: Iterable[str] = ()) -> pd.DataFrame:
    """Customer acquisition cost: spend / new customers, per channel (and month), plus all-channel rows.

    Parameters
    ----------
    spend
        Frame with ``period_start`` (first day of the month), ``channel`` and ``spend`` (run
        currency, >= 0). The CAC numerator is whatever this table holds (media only, or fully
        loaded with agency fees and salaries): say which in the report.
    new_customers
        Output of :func:`new_customers` with ``period="M"`` (columns ``period_start``, ``channel``,
        ``new_customers``). Channel names must match ``spend.channel``.
    by_period
        True: one row per month and channel. False: totals over all covered months per channel.
    require_matching_channels
        Raise :class:`~clc_lib.errors.ModelFitError` when no spend channel is a channel of the new
        customers (e.g. spend by marketing channel, customers only by order channel), for a page
        section that has no per-channel CAC to show then (:func:`clc_lib.display.run_or_skip`).
    unpaid_channels
        Channels that are not bought (the config's ``acquisition: unpaid_channels``, e.g. organic,
        direct, referral) even when the spend table has rows for them. They get no CAC, and their
        spend and new customers are left out of the ``"paid channels"`` row.

    Returns
    -------
    pandas.DataFrame
        Columns (``period_start``,) ``channel``, ``paid`` (the channel has rows in ``spend`` and is
        not in ``unpaid_channels``),
        ``spend``, ``new_customers``, ``cac`` (run currency per new customer). CAC is NaN for
        unpaid (organic) channels and where a paid channel acquired nobody. Two extra rows per
        period: ``"all channels (blended)"`` = all spend / **all** new customers including organic
        and unattributed ones (the finance view, flatters paid acquisition) and ``"paid channels"``
        = spend on paid channels / new customers of paid channels.

    Notes
    -----
    Only months present in ``spend`` are covered; new customers of other months are outside the
    CAC window (spend for them is unknown, not zero). A paid channel without a spend row in a
    covered month has spend 0 in that month.
    """
    require_columns(spend, ["period_start", "channel", "spend"], source="spend")
    require_columns(new_customers, ["period_start", "channel", "new_customers"], source="new_customers",
                     hint="Pass the output of clc.new_customers(transactions, customers, period='M').")
    spend = spend.copy()
    spend["period_start"] = pd.to_datetime(spend["period_start"]).astype("datetime64[ns]")
    bad_spend = spend["spend"].isna() | (spend["spend"] < 0)
    if bad_spend.any():
        rows = np.flatnonzero(bad_spend.to_numpy())[:5]
        raise DataError("spend.spend has missing or negative values.", source="spend", column="spend",
                        n_rows=int(bad_spend.sum()),
                        examples=[(int(i) + 1, spend["spend"].iloc[i]) for i in rows],
                        hint="Spend is >= 0 in the run currency; fill months without spend with 0.")
    _check_month_starts(spend["period_start"], source="spend", column="period_start",
                        hint="Spend is monthly: period_start is the first day of the month.")
    _check_month_starts(new_customers["period_start"], source="new_customers", column="period_start",
                        hint="Spend is monthly: compute new customers with period='M'.", error=ConfigError)

    paid_channels = set(spend["channel"].dropna())
    acquired_channels = set(new_customers["channel"].dropna())
    if require_matching_channels and not paid_channels & acquired_channels:
        raise ModelFitError(
            f"none of the spend table's channels ({', '.join(sorted(map(str, paid_channels)))}) is an acquisition "
            f"channel of the customers ({', '.join(sorted(map(str, acquired_channels)))}); per-channel CAC, LTV:CAC "
            "and payback need the customers table's acquisition_channel, or order channels named as in the "
            "spend table.")
    covered = spend["period_start"].drop_duplicates()
    spend_by_cell = spend.groupby(["period_start", "channel"], as_index=False)["spend"].sum()
    acquired = new_customers[new_customers["period_start"].isin(covered)]
    acquired = acquired.groupby(["period_start", "channel"], as_index=False)["new_customers"].sum()
    cells = acquired.merge(spend_by_cell, on=["period_start", "channel"], how="outer")
    cells["new_customers"] = cells["new_customers"].fillna(0).astype("int64")
    cells["spend"] = cells["spend"].fillna(0.0)
    unpaid = {str(name) for name in unpaid_channels}
    cells["paid"] = cells["channel"].isin(paid_channels) & ~cells["channel"].astype(str).isin(unpaid)
    keys = ["period_start"] if by_period else []
    if not by_period:
        cells = cells.groupby(["channel", "paid"], as_index=False)[["spend", "new_customers"]].sum()

    def totals(group: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "channel": [BLENDED_CAC_LABEL, PAID_CAC_LABEL],
            "paid": [True, True],
            "spend": [group["spend"].sum(), group.loc[group["paid"], "spend"].sum()],
            "new_customers": [group["new_customers"].sum(), group.loc[group["paid"], "new_customers"].sum()],
        })

    if by_period:
        overall = pd.concat([totals(g).assign(period_start=p) for p, g in cells.groupby("period_start")],
                            ignore_index=True)
    else:
        overall = totals(cells)
    result = pd.concat([cells, overall], ignore_index=True)
    result["cac"] = ratio_or_nan(result["spend"], result["new_customers"]).where(result["paid"])
    result = result.sort_values(keys + ["channel"]).reset_index(drop=True)
    return result[keys + ["channel", "paid", "spend", "new_customers", "cac"]]


def acquisition_overview(transactions: ibis.Table, customers: pd.DataFrame | None = None, *, as_of,
                         window_days: int = 90) -> pd.Series:
    """The key acquisition figures, all on one base: the customers with a first purchase.

    Customers whose only rows are returns were never acquired and are in none of the figures, as
    in :func:`new_customers` and :func:`repeat_rate`. Rows after the ``as_of`` day are left out.

    Parameters
    ----------
    transactions
        Ibis transactions table (data contract).
    customers
        Optional customers frame (acquisition channel; module docstring).
    as_of
        Cut-off date of the data (``run.as_of``).
    window_days
        Repeat window of :func:`repeat_rate`, in days.

    Returns
    -------
    pandas.Series
        ``customers_acquired`` (count; equals the sum of :func:`new_customers`),
        ``first_purchase`` (timestamp of the earliest first purchase), ``came_back_share``
        (share of acquired customers with a counted repeat purchase day, 0-1: the repeat customers
        of :mod:`clc_lib.definitions`), ``customers_in_complete_cohorts`` (acquired customers in
        cohorts whose repeat window has elapsed, the base of the repeat rate) and ``repeat_rate``
        (their share with a counted repeat purchase day within ``window_days``, 0-1).
    """
    as_of = resolve_as_of(as_of)
    transactions = rows_up_to(transactions, as_of)
    acquired = customer_acquisition(transactions, customers)
    repeat = repeat_rate(transactions, customers, window_days=window_days, as_of=as_of, by=())
    n_acquired = len(acquired)
    return pd.Series({
        "customers_acquired": n_acquired,
        "first_purchase": acquired["first_purchase"].min() if n_acquired else pd.NaT,
        "came_back_share": acquired["second_purchase_day"].notna().mean() if n_acquired else np.nan,
        "customers_in_complete_cohorts": int(repeat["customers"].iloc[0]),
        "repeat_rate": float(repeat["repeat_rate"].iloc[0]),
    }, dtype=object)


# --------------------------------------------------------------------------------------- repeat rate

def repeat_rate(transactions: ibis.Table, customers: pd.DataFrame | None = None, *, window_days: int = 90,
                as_of, period: str = "M", by: Sequence[str] = ("cohort", "channel"),
                require_complete: bool = False) -> pd.DataFrame:
    """Share of acquired customers with a second purchase day within ``window_days`` of their first.

    A customer repeats when their first counted repeat purchase day falls within ``window_days``
    calendar days after the first purchase day: a second order on the same day does not count,
    returns are no purchases, and a later purchase day whose returns cancel it (net value zero
    or less, :func:`clc_lib.summary.net_purchase_days`) is no repeat, as for the repeat customers
    (``x > 0``) of :func:`clc_lib.summary.customer_summary`. Rows after the ``as_of`` day are left
    out. **Censoring:** a cohort counts only when the window of its last
    possible member has fully elapsed: ``last day of the cohort period + window_days <= as_of``
    (the whole ``as_of`` day is in the data). Younger cohorts are returned with
    ``window_complete = False`` and a NaN rate, and are left out of totals over cohorts.

    Parameters
    ----------
    transactions
        Ibis transactions table (data contract).
    customers
        Optional customers frame (acquisition channel; module docstring).
    window_days
        Window after the first purchase day, in days (30, 90, 365 are usual).
    as_of
        Cut-off date of the data (``run.as_of``).
    period
        Cohort period, ``"M"`` or ``"W"``.
    by
        Grouping: any of ``"cohort"`` and ``"channel"`` (empty = one overall row).
    require_complete
        Raise :class:`~clc_lib.errors.ModelFitError` when no cohort's window has elapsed (for a
        page section that has nothing to show then; :func:`clc_lib.display.run_or_skip`).

    Returns
    -------
    pandas.DataFrame
        Columns from ``by``, ``customers`` (acquired, in complete cohorts when ``cohort`` is not in
        ``by``), ``repeaters``, ``repeat_rate`` (share 0-1) and, with ``cohort`` in ``by``,
        ``window_complete``.

    Raises
    ------
    ModelFitError
        With ``require_complete``, when no cohort is complete; the message names the latest
        first-purchase date a complete cohort needs.
    """
    period = Period.parse(period)
    as_of = resolve_as_of(as_of)
    by = list(by)
    unknown = [b for b in by if b not in ("cohort", "channel")]
    if unknown:
        raise ConfigError(f"repeat_rate groups by 'cohort' and/or 'channel', not {unknown}.")
    if window_days <= 0:
        raise ConfigError(f"window_days is {window_days}; give a positive number of days.")
    acquired, _ = acquired_customers(rows_up_to(transactions, as_of), customers, second_day=True)
    gap_days = acquired.second_purchase_day.delta(acquired.first_purchase_day, unit="day")
    repeated = acquired.second_purchase_day.notnull() & (gap_days <= window_days)
    cells = (acquired.mutate(cohort=acquired.first_purchase.truncate(period.truncate_unit),
                             _repeated=repeated)
             .group_by(["cohort", "channel"])
             .aggregate(customers=lambda t: t.customer_id.count(), repeaters=lambda t: t.count(where=t._repeated))
             .execute())
    cells["cohort"] = to_datetime_ns(cells["cohort"])
    cells["repeaters"] = cells["repeaters"].fillna(0).astype("int64")
    period_end = cells["cohort"] + period.offset() - pd.Timedelta(days=1)
    cells["window_complete"] = period_end + pd.Timedelta(days=window_days) <= as_of
    if require_complete and not cells["window_complete"].any():
        raise ModelFitError(_no_complete_cohort(cells["cohort"], window_days=window_days, as_of=as_of,
                                                period=period))

    if "cohort" in by:
        result = cells.groupby(by, as_index=False).agg(customers=("customers", "sum"),
                                                       repeaters=("repeaters", "sum"),
                                                       window_complete=("window_complete", "all"))
        result["repeat_rate"] = ratio_or_nan(result["repeaters"], result["customers"]).where(result["window_complete"])
        columns = by + ["customers", "repeaters", "repeat_rate", "window_complete"]
    else:
        complete = cells[cells["window_complete"]]
        if by:
            result = complete.groupby(by, as_index=False)[["customers", "repeaters"]].sum()
        else:
            result = pd.DataFrame({"customers": [complete["customers"].sum()],
                                   "repeaters": [complete["repeaters"].sum()]})
        result["repeat_rate"] = ratio_or_nan(result["repeaters"], result["customers"])
        columns = by + ["customers", "repeaters", "repeat_rate"]
    return result.sort_values(by).reset_index(drop=True)[columns] if by else result[columns]


def _no_complete_cohort(cohorts: pd.Series, *, window_days: int, as_of: pd.Timestamp, period: Period) -> str:
    """Why no cohort has a complete repeat window, and which first purchases would give one."""
    unit = period.singular
    latest_end = as_of - pd.Timedelta(days=window_days)
    earliest = (f"the earliest cohort in the data starts on {cohorts.min():%Y-%m-%d}" if len(cohorts)
                else "no customer has a purchase")
    return (f"no {unit}ly cohort's {window_days}-day repeat window has elapsed by {as_of:%Y-%m-%d} ({earliest}); "
            f"it needs customers acquired in a {unit} that ended on or before {latest_end:%Y-%m-%d}, "
            f"{window_days} days before the cut-off date.")
