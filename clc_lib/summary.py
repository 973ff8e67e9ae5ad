"""Per-customer summary as of a date and the customer x period panel, computed in the engine.

Both functions take the ``transactions`` Ibis table of the data contract (``customer_id``,
``order_id``, ``timestamp``, ``amount``, ``is_return``, ...). The heavy work (grouping millions of
rows) runs on the engine behind the table (DuckDB now, Spark later); only one row per customer
(or per customer and period) comes back.

Conventions used throughout ``clc``:

* A *purchase* is a row with ``is_return`` false (a null ``is_return`` counts as a purchase; the
  loader never produces one). Returns and cancellations are rows with ``is_return`` true and a
  negative ``amount``.
* All purchases of one customer on the same calendar day form one *purchase day*, the unit the
  probabilistic models count (Fader, Hardie & Lee 2005 on CDNOW). Its value is the sum of the
  day's purchase amounts.
* A return is booked against the customer's latest purchase day on or before the return's date
  (return lines carry their own order id, e.g. a ``C`` invoice, so the purchase day is the link).
  A purchase day's *net value* is its value plus the (negative) returns booked against it. A
  purchase day with returns and a net value of zero or less is *cancelled*: the models do not
  count it as a repeat purchase and its value does not enter ``zbar``.
* ``as_of`` is a date; the whole ``as_of`` day is included and day counts are measured from
  midnight of ``as_of`` to the purchase *date* (so a purchase on ``as_of`` has recency 0 days).
  :func:`clc_lib.periods.resolve_as_of` reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from clc_lib.errors import DataError
from clc_lib.periods import Period, TimeUnit, resolve_as_of

__all__ = ["customer_summary", "model_inputs", "customer_period_panel", "net_purchase_days"]

#: The contract columns of the transactions table.
REQUIRED_TRANSACTION_COLUMNS = ("customer_id", "order_id", "timestamp", "amount", "is_return")
#: The columns needed to find each customer's purchase days.
PURCHASE_DAY_COLUMNS = ("customer_id", "timestamp", "is_return")


def require_columns(table, columns: Sequence[str], *, source: str, hint: str | None = None) -> None:
    """Raise :class:`DataError` naming the columns of ``columns`` that ``table`` lacks.

    Parameters
    ----------
    table
        An Ibis table or a pandas DataFrame.
    columns
        Column names the caller needs.
    source
        Name of the table in the message (``"transactions"``, ``"spend"``, ...).
    hint
        What to do about it; by default the message lists the columns the table has.
    """
    present = tuple(table.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataError(
            f"The {source} table has no column {missing[0]!r} (missing: {', '.join(missing)}).",
            source=source,
            column=missing[0],
            hint=hint or f"Map the column in the run config; the {source} table has: {', '.join(sorted(present))}.",
        )


def check_transactions(transactions: ir.Table, *, needed: Sequence[str] = REQUIRED_TRANSACTION_COLUMNS,
                       what: str = "transactions", hint: str | None = None) -> None:
    """Raise :class:`DataError` when ``transactions`` is not an Ibis table with the ``needed`` columns.

    The one check of the transactions table used by every analysis; ``hint`` replaces the
    default advice (map the columns in the run config) when a column is optional in the contract.
    """
    if not isinstance(transactions, ir.Table):
        raise DataError(
            f"The {what} must be an Ibis table, got {type(transactions).__name__}.",
            source=what,
            hint="Use run.transactions from clc.load_run(...) or wrap a DataFrame with ibis.memtable(df).",
        )
    require_columns(transactions, needed, source=what, hint=hint or (
        "Map them in the run config (transactions: columns: ...) or load the data with clc.load_run."))


def fetch(expr: ir.Table) -> pd.DataFrame:
    """Run an Ibis table expression and return pandas through Arrow.

    Much faster than Ibis' own pandas conversion on million-row results; dates come back as
    ``datetime64[ns]`` columns, strings as Python strings.
    """
    return expr.to_pyarrow().to_pandas(date_as_object=False, coerce_temporal_nanoseconds=True)


def to_datetime_ns(series: pd.Series) -> pd.Series:
    """``series`` as ``datetime64[ns]`` (engines return dates and timestamps in various units)."""
    return pd.to_datetime(series).astype("datetime64[ns]")


def ratio_or_nan(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator`` as floats, NaN where the denominator is 0 (a rate with no base)."""
    numerator = numerator.astype("float64")
    denominator = denominator.astype("float64")
    return numerator.div(denominator.where(denominator != 0))


def is_purchase(transactions: ir.Table) -> ir.BooleanValue:
    """Boolean expression: the row is a purchase (not a return or cancellation)."""
    return ~transactions.is_return.fill_null(False)


def rows_up_to(transactions: ir.Table, as_of: pd.Timestamp) -> ir.Table:
    """Rows on or before the ``as_of`` day (timestamps before the following midnight)."""
    end = (as_of + pd.Timedelta(days=1)).to_pydatetime()
    return transactions.filter(transactions.timestamp < end)


def purchase_rows(transactions: ir.Table, as_of: pd.Timestamp | None = None, *,
                  needed: Sequence[str] = REQUIRED_TRANSACTION_COLUMNS) -> ir.Table:
    """The purchase rows (not returns) of ``transactions``, up to the end of the ``as_of`` day when given.

    Checks first that ``transactions`` has the ``needed`` columns (:func:`check_transactions`).
    """
    check_transactions(transactions, needed=needed)
    rows = transactions if as_of is None else rows_up_to(transactions, as_of)
    return rows.filter(is_purchase(rows))


def purchase_rows_by_day(transactions: ir.Table, as_of: pd.Timestamp, *,
                         needed: Sequence[str] = PURCHASE_DAY_COLUMNS) -> ir.Table:
    """Purchase rows up to the ``as_of`` day in each customer's day order, with the days before and after.

    Returns
    -------
    ibis.Table
        ``customer_id``, ``day`` (the row's date as a timestamp at midnight), ``previous_day`` and
        ``next_day`` (null for the customer's first and last row). A customer's rows of one day
        are adjacent, so on the *first* row of a purchase day ``previous_day`` is the previous
        purchase day and on the *last* row ``next_day`` is the next one; elsewhere they equal
        ``day``.

    Notes
    -----
    One window over the rows does it: the distinct (customer, day) pairs would first need a
    grouping with almost as many groups as rows (most purchase days have a single row), which
    costs as much as the window.
    """
    purchases = purchase_rows(transactions, as_of, needed=needed)
    rows = purchases.select(customer_id=purchases.customer_id, day=purchases.timestamp.truncate("D"))
    window = ibis.window(group_by="customer_id", order_by="day")
    return rows.mutate(previous_day=rows.day.lag().over(window), next_day=rows.day.lead().over(window))


def purchase_days_table(transactions: ir.Table) -> ir.Table:
    """One row per customer and purchase day: ``customer_id``, ``day`` (date), ``day_value``.

    Adds ``prev_day`` (the customer's previous purchase day, null for the first) and
    ``gap_days`` (whole days since ``prev_day``).
    """
    return _with_gaps(daily_purchase_values(transactions))


def daily_purchase_values(transactions: ir.Table) -> ir.Table:
    """One row per customer and purchase day: ``customer_id``, ``day`` (date), ``day_value`` (the
    day's purchases; returns left out). Shared by every step that counts purchase days."""
    purchases = transactions.filter(is_purchase(transactions))
    return purchases.group_by(
        customer_id=purchases.customer_id, day=purchases.timestamp.date()
    ).aggregate(day_value=purchases.amount.sum())


def net_purchase_days(transactions: ir.Table) -> ir.Table:
    """One row per customer and purchase day with its value before and after returns.

    Parameters
    ----------
    transactions
        Contract transactions (``customer_id``, ``timestamp``, ``amount``, ``is_return``).

    Returns
    -------
    ibis.Table
        ``customer_id``, ``day`` (date), ``day_value`` (the day's purchases, as
        :func:`daily_purchase_values`), ``returned`` (returns booked against the day, zero or
        negative), ``net_value`` (``day_value + returned``) and ``counted`` (boolean: False for a
        *cancelled* day, one with returns and a net value of zero or less, which the models do not
        count as a purchase day). A return is booked against the customer's latest purchase day
        on or before the return's date; returns before a customer's first purchase belong to no
        purchase day and are left out here (they still lower ``net_revenue`` in
        :func:`customer_summary`).
    """
    purchase = is_purchase(transactions)
    per_date = transactions.group_by(
        customer_id=transactions.customer_id, day=transactions.timestamp.date()
    ).aggregate(
        bought=purchase.any(),
        day_value=transactions.amount.sum(where=purchase),
        returned=transactions.amount.sum(where=~purchase),
    )
    up_to_this_date = ibis.window(group_by=per_date.customer_id, order_by=per_date.day, preceding=None, following=0)
    anchored = per_date.mutate(
        anchor=ibis.ifelse(per_date.bought, per_date.day, ibis.null(per_date.day.type())).max().over(up_to_this_date))
    anchored = anchored.filter(anchored.anchor.notnull())
    days = anchored.group_by(customer_id=anchored.customer_id, day=anchored.anchor).aggregate(
        day_value=anchored.day_value.sum().fill_null(0.0),
        returned=anchored.returned.sum().fill_null(0.0),
    )
    days = days.mutate(net_value=days.day_value + days.returned)
    return days.mutate(counted=(days.returned >= 0) | (days.net_value > 0))


def _per_customer_days(days: ir.Table) -> ir.Table:
    """Per customer: first and last purchase day, purchase days, gross value, and the model inputs.

    ``days`` is :func:`net_purchase_days`. The first day's values come from an arg-min instead of
    a window over the days. ``repeat_days`` and ``repeat_value`` are the counted days (column
    ``counted``: not cancelled) after the first purchase day and the sum of their net values.
    """
    counted = days.counted
    counted_int = ibis.ifelse(counted, 1, 0)  # not a cast: PostgreSQL casts no boolean to bigint
    counted_net = ibis.ifelse(counted, days.net_value, 0.0)
    aggregated = days.group_by("customer_id").aggregate(
        first_day=days.day.min(),
        last_day=days.day.max(),
        purchase_days=days.count(),
        gross_value=days.day_value.sum(),
        first_day_value=days.day_value.argmin(days.day),
        counted_days=counted_int.sum(),
        counted_value=counted_net.sum(),
        first_day_counted=counted_int.argmin(days.day),
        first_day_counted_value=counted_net.argmin(days.day),
        last_counted_day=days.day.max(where=counted),
    )
    return aggregated.select(
        "customer_id", "first_day", "last_day", "purchase_days", "gross_value", "first_day_value",
        repeat_days=aggregated.counted_days - aggregated.first_day_counted,
        repeat_value=aggregated.counted_value - aggregated.first_day_counted_value,
        last_counted_day=aggregated.last_counted_day,
    )


def _per_customer_orders(rows: ir.Table) -> ir.Table:
    """Orders (distinct purchase order ids), net revenue and returned value per customer.

    Grouping by (customer, order) first and then by customer gives the exact distinct count with
    two plain hash aggregates, which engines run faster than a ``COUNT(DISTINCT ...)`` per group.
    """
    purchase = is_purchase(rows)
    per_order = rows.group_by(["customer_id", "order_id"]).aggregate(
        bought=purchase.any(),
        net=rows.amount.sum(),
        returned=rows.amount.sum(where=~purchase),
    )
    counted = per_order.bought & per_order.order_id.notnull()
    return per_order.group_by("customer_id").aggregate(
        orders=per_order.count(where=counted),
        net_revenue=per_order.net.sum(),
        returned=per_order.returned.sum(),
    )


def _with_gaps(days: ir.Table) -> ir.Table:
    by_customer = ibis.window(group_by=days.customer_id, order_by=days.day)
    days = days.mutate(prev_day=days.day.lag().over(by_customer))
    return days.mutate(gap_days=days.day.delta(days.prev_day, unit="day"))


def customer_summary(transactions: ir.Table, as_of: str | dt.date | pd.Timestamp, *,
                     time_unit: str = "W", median_gap: bool = False) -> pd.DataFrame:
    """One row per customer: purchase history up to and including the ``as_of`` day.

    Parameters
    ----------
    transactions
        Ibis table with the contract columns ``customer_id`` (string), ``order_id`` (string),
        ``timestamp`` (timestamp), ``amount`` (float64, run currency, negative for returns) and
        ``is_return`` (boolean). Rows after the ``as_of`` day are ignored.
    as_of
        Cut-off date (``YYYY-MM-DD`` or a timestamp; the time of day is ignored). The whole day is
        included.
    time_unit
        Unit of the model columns ``t_x`` and ``T``: ``"W"`` (7 days, default), ``"D"`` (1 day)
        or ``"M"`` (30.4375 days).
    median_gap
        Also return ``median_gap_days``. It needs every customer's purchase days in order (a
        window over the purchase days), which costs about a fifth of the summary's time on large
        tables, so it is off by default.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (sorted), one row per customer with any row up to ``as_of``:

        ``first_purchase``, ``last_purchase``
            Dates (datetime64, midnight) of the first and last purchase day; NaT without purchases.
        ``orders``
            Distinct ``order_id`` of purchase rows (0 for customers with only returns).
        ``purchase_days``
            Distinct calendar days with a purchase.
        ``net_revenue``
            Sum of ``amount`` over all rows, purchases plus (negative) returns, run currency.
        ``return_amount``
            Value of returns and cancellations as a positive number, run currency.
        ``aov``
            Gross purchase value / ``orders`` (NaN when ``orders`` is 0), run currency.
        ``tenure_days``, ``recency_days``
            Days from the first / last purchase date to ``as_of``.
        ``mean_gap_days``
            Mean days between consecutive purchase days, (last - first purchase date) /
            (``purchase_days`` - 1); NaN with one purchase day.
        ``median_gap_days`` (only with ``median_gap=True``)
            Median days between consecutive purchase days; NaN with one purchase day.
        ``x``
            Repeat purchase days: purchase days after the first one, cancelled ones not counted.
        ``t_x``, ``T``
            (last counted repeat day - first purchase date; 0 when ``x`` is 0) and (``as_of`` -
            first purchase date) in ``time_unit``.
        ``zbar``
            Mean net value of the counted repeat purchase days (same-day purchases summed, returns
            booked against their purchase day, the first purchase day excluded); 0 when ``x`` is 0.
            Run currency.

    Notes
    -----
    Same-day purchases count once in ``purchase_days``/``x`` but every distinct order counts in
    ``orders``. ``purchase_days``, ``first_purchase`` and ``last_purchase`` count every purchase
    day; the model columns ``x``, ``t_x`` and ``zbar`` leave out cancelled purchase days (returns
    booked against the day bring its net value to zero or less, see the module notes). With the
    CDNOW sample and ``as_of="1997-09-30"`` in weeks this reproduces Hardie's
    ``cdnow_customers_summary_with_transactions.csv`` to the published two decimals.
    """
    check_transactions(transactions)
    as_of = resolve_as_of(as_of)
    unit_days = TimeUnit.parse(time_unit).days
    rows = rows_up_to(transactions, as_of)

    per_row = _per_customer_orders(rows)
    days = net_purchase_days(rows)
    per_day = _per_customer_days(days)
    joined = per_row.left_join(per_day, per_row.customer_id == per_day.customer_id).select(
        per_row.customer_id, per_row.orders, per_row.net_revenue, per_row.returned,
        per_day.first_day, per_day.last_day, per_day.purchase_days, per_day.gross_value,
        per_day.first_day_value, per_day.repeat_days, per_day.repeat_value, per_day.last_counted_day,
    )
    if median_gap:
        gaps = _with_gaps(daily_purchase_values(rows))
        medians = gaps.group_by("customer_id").aggregate(median_gap=gaps.gap_days.median())
        joined = joined.left_join(medians, joined.customer_id == medians.customer_id).select(
            joined, medians.median_gap)
    raw = joined.order_by("customer_id").to_pyarrow()
    return _finish_summary(raw, as_of, unit_days, median_gap)


def model_inputs(transactions: ir.Table, as_of: str | dt.date | pd.Timestamp, *,
                 time_unit: str = "W") -> pd.DataFrame:
    """The inputs of the probabilistic CLV models only: ``x``, ``t_x``, ``T`` and ``zbar`` per buyer.

    The same values as the columns of :func:`customer_summary` (same-day purchases form one
    purchase day, the first purchase day is not a repeat, cancelled purchase days are not counted
    and ``zbar`` is net of returns), for customers with
    at least one purchase up to ``as_of``. It skips the order count and the revenue totals, which
    need a second pass over the rows (5.8 s against 9.8 s for 10M rows of 1M customers,
    benchmarks/RESULTS.md). Index ``customer_id`` (sorted); ``t_x`` and ``T`` in ``time_unit`` (W = 7 days,
    D = 1 day, M = 30.4375 days); ``zbar`` in the run currency (0 when ``x`` is 0).
    """
    check_transactions(transactions, needed=("customer_id", "timestamp", "amount", "is_return"))
    as_of = resolve_as_of(as_of)
    unit_days = TimeUnit.parse(time_unit).days
    days = net_purchase_days(rows_up_to(transactions, as_of))
    per_day = _per_customer_days(days)
    raw = per_day.order_by("customer_id").to_pyarrow()
    missing = pa.array(np.zeros(raw.num_rows))  # orders and revenue are not computed here; dropped below
    raw = raw.append_column("orders", missing).append_column("net_revenue", missing).append_column("returned", missing)
    return _finish_summary(raw, as_of, unit_days, False).loc[:, ["x", "t_x", "T", "zbar"]]


def _finish_summary(raw: pa.Table, as_of: pd.Timestamp, unit_days: float, median_gap: bool) -> pd.DataFrame:
    """Derive the per-customer columns from the engine's aggregates (Arrow in, vectorised numpy).

    ``raw`` is sorted by ``customer_id``. The columns go straight from Arrow to numpy and into
    one DataFrame without a pandas round trip or a block copy: at a million customers that is
    most of the Python-side time.
    """
    def floats(name: str) -> np.ndarray:
        return raw.column(name).to_numpy(zero_copy_only=False).astype("float64", copy=False)

    def days(name: str) -> np.ndarray:
        return raw.column(name).cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)

    def counts(name: str) -> np.ndarray:
        return np.nan_to_num(floats(name)).astype("int64")

    index = pd.Index(raw.column("customer_id").to_numpy(zero_copy_only=False), name="customer_id")
    if not index.is_monotonic_increasing:  # a database collation that is not code-point order
        order = index.argsort(kind="stable")
        raw, index = raw.take(order), index[order]
    first, last = days("first_day"), days("last_day")
    as_of_ns = np.datetime64(as_of.to_datetime64(), "ns")
    one_day = np.timedelta64(1, "D")
    purchase_days = counts("purchase_days")
    repeats = counts("repeat_days")
    orders = counts("orders")
    tenure = (as_of_ns - first) / one_day
    recency = (as_of_ns - last) / one_day
    span = (last - first) / one_day
    # The models' span ends at the last counted repeat day; 0 without one (a cancelled first day included).
    model_span = np.where(repeats > 0, (days("last_counted_day") - first) / one_day, np.where(np.isnat(first), np.nan, 0.0))
    gross = floats("gross_value")
    repeat_value = np.nan_to_num(floats("repeat_value"))
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = {
            "first_purchase": first,
            "last_purchase": last,
            "orders": orders,
            "purchase_days": purchase_days,
            "net_revenue": np.nan_to_num(floats("net_revenue")),
            "return_amount": -np.nan_to_num(floats("returned")) + 0.0,
            "aov": np.where(orders > 0, gross / orders, np.nan),
            "tenure_days": tenure,
            "recency_days": recency,
            "mean_gap_days": np.where(purchase_days > 1, span / np.maximum(purchase_days - 1, 1), np.nan),
            "x": repeats,
            "t_x": model_span / unit_days,
            "T": tenure / unit_days,
            "zbar": np.where(repeats > 0, repeat_value / np.maximum(repeats, 1), 0.0),
        }
    if median_gap:
        ordered = list(columns.items())
        at = list(columns).index("mean_gap_days") + 1
        columns = dict(ordered[:at] + [("median_gap_days", floats("median_gap"))] + ordered[at:])
    return pd.DataFrame(columns, index=index, copy=False)


def customer_period_panel(transactions: ir.Table, period: str = "M") -> ir.Table:
    """Customer x period activity, as an Ibis table (stays in the engine).

    Parameters
    ----------
    transactions
        Contract transactions (``customer_id``, ``order_id``, ``timestamp``, ``amount``,
        ``is_return``).
    period
        ``"M"`` (calendar month) or ``"W"`` (ISO week starting Monday).

    Returns
    -------
    ibis.Table
        One row per customer and period with any row: ``customer_id``, ``period_start``
        (timestamp at midnight of the period's first day), ``orders`` (distinct purchase order
        ids, 0 in a period with only returns) and ``revenue`` (net: purchases plus negative
        returns, run currency). Periods without rows are absent.
    """
    check_transactions(transactions)
    unit = Period.parse(period).truncate_unit
    purchase = is_purchase(transactions)
    panel = transactions.group_by(
        customer_id=transactions.customer_id,
        period_start=transactions.timestamp.truncate(unit),
    ).aggregate(
        orders=transactions.order_id.nunique(where=purchase),
        revenue=transactions.amount.sum(),
    )
    return panel.mutate(orders=panel.orders.fill_null(0))
