"""Acquisition cohorts, retention curves and churn rates, computed from the transaction table.

Every function here takes the contract's ``transactions`` Ibis table, pushes the heavy work (one pass
over millions of rows) to the backend, and brings back only per-period results as pandas.

Conventions shared by the module
--------------------------------
Activity
    A customer is *active* in a period when they made at least one purchase (a non-return row) in it.
    Returns and cancellations never count as activity; customers whose only rows are returns have no
    cohort and do not appear.
Periods
    ``"M"``: calendar months. ``"W"``: calendar weeks starting on Monday (ISO weeks); see
    :class:`clc_lib.periods.Period`.
As of
    ``as_of`` is the cut-off date; the whole ``as_of`` day is included. Rows after it are ignored.
    ``None`` uses the date of the last transaction (:func:`clc_lib.periods.resolve_as_of`).
Complete periods
    A period has *fully elapsed* when its last day is on or before the ``as_of`` day. Numbers for
    periods that have not fully elapsed would understate activity, so they are masked (NaN).
    :func:`period_is_complete` is the one test of this used by every per-period view of ``clc``
    (cohorts, churn, growth accounting, new customers, revenue over time); views that keep the
    last, unfinished period mark it with an ``is_complete`` column (:func:`mark_complete_periods`).
"""

from __future__ import annotations

from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import Period, resolve_as_of
from clc_lib.summary import PURCHASE_DAY_COLUMNS, purchase_rows, purchase_rows_by_day

__all__ = ["cohort_matrix", "retention_curve", "churn_rate_over_time", "period_is_complete", "mark_complete_periods",
           "COHORT_KINDS", "CHURN_DEFINITIONS"]

COHORT_KINDS = {
    "on": "share of the cohort that purchased in exactly that period since their first purchase",
    "on_or_after": "share of the cohort that purchased in that period or any later one",
}

CHURN_DEFINITIONS = {
    "period": "customers who purchased in the previous period but not in this one, "
              "as a share of the previous period's active customers",
    "inactivity": "customers whose days without a purchase reached inactivity_days during the period, "
                  "as a share of the customers who were active (fewer days than that) when it started",
}


# --------------------------------------------------------------------------------------------------
# Purchase days and activity spells (spell edges are also used by clc_lib.survival)
# --------------------------------------------------------------------------------------------------

def _purchase_days(transactions: ir.Table, as_of: pd.Timestamp) -> ir.Table:
    """One row per customer and calendar day with a purchase: columns ``customer_id``, ``day`` (timestamp)."""
    purchases = purchase_rows(transactions, as_of, needed=PURCHASE_DAY_COLUMNS)
    return purchases.select(customer_id=purchases.customer_id, day=purchases.timestamp.truncate("D")).distinct()


def spell_edges(transactions: ir.Table, as_of: pd.Timestamp, days: int) -> ir.Table:
    """Purchase rows flagged where an activity spell starts or ends (see :func:`_activity_spells`).

    Parameters
    ----------
    transactions
        The contract's transactions table (Ibis) with ``customer_id``, ``timestamp`` and ``is_return``.
    as_of
        Cut-off day (midnight); rows after that day are left out.
    days
        Longest gap in days between two purchase days of one spell.

    Returns
    -------
    ibis.Table
        The columns of :func:`clc_lib.summary.purchase_rows_by_day` plus ``starts_spell``: the first
        row of the first purchase day or of one more than ``days`` after the previous purchase day,
        and ``ends_spell``: the last row of the last purchase day or of one followed by a gap of
        more than ``days``. Each purchase day is flagged at most once for either.
    """
    rows = purchase_rows_by_day(transactions, as_of)
    day, previous, following = rows.day, rows.previous_day, rows.next_day
    return rows.mutate(
        starts_spell=previous.isnull() | (day.delta(previous, unit="day") > days),
        ends_spell=following.isnull() | (following.delta(day, unit="day") > days),
    )


def period_is_complete(period_starts, period: str, as_of) -> np.ndarray:
    """Whether each period has fully elapsed at ``as_of``.

    Parameters
    ----------
    period_starts
        Start dates of periods (first day of the month, or the Monday of the week).
    period
        ``"M"`` (calendar months) or ``"W"`` (weeks starting on Monday).
    as_of
        Cut-off date; the whole ``as_of`` day is in the data.

    Returns
    -------
    numpy.ndarray
        Booleans, True where the period's last day is on or before the ``as_of`` day. An export
        that ends on the 9th of a month has that month incomplete; one that ends on the last day
        of a month has it complete.
    """
    period = Period.parse(period)
    as_of = resolve_as_of(as_of)
    starts = pd.DatetimeIndex(pd.to_datetime(period_starts))
    ends_exclusive = starts + period.offset()
    return np.asarray(ends_exclusive <= as_of + pd.Timedelta(days=1))


def mark_complete_periods(frame: pd.DataFrame, period: str, as_of, *, column: str = "period_start") -> pd.DataFrame:
    """``frame`` with an ``is_complete`` column from :func:`period_is_complete` of its ``column``.

    ``column`` may also be the index name. ``frame.attrs["as_of"]`` records the cut-off date, so
    charts and tables can say up to which day the last period runs.
    """
    starts = frame.index if column == frame.index.name and column not in frame.columns else frame[column]
    marked = frame.assign(is_complete=period_is_complete(starts, period, as_of))
    marked.attrs["as_of"] = resolve_as_of(as_of)
    return marked


# --------------------------------------------------------------------------------------------------
# Cohort matrix and retention curve
# --------------------------------------------------------------------------------------------------

def cohort_matrix(
    transactions: ir.Table,
    *,
    period: str = "M",
    as_of=None,
    kind: Literal["on", "on_or_after"] = "on",
    values: Literal["share", "customers"] = "share",
) -> pd.DataFrame:
    """Retention of acquisition cohorts: cohort (first purchase period) x periods since first purchase.

    Parameters
    ----------
    transactions
        The contract's transactions table (Ibis) with ``customer_id``, ``timestamp`` and ``is_return``.
        Only purchases (non-return rows) count; several purchases in one period count once.
    period
        ``"M"`` (calendar months) or ``"W"`` (weeks starting on Monday).
    as_of
        Cut-off date (the whole day is included); ``None`` = the date of the last transaction.
    kind
        ``"on"``: the cell for age *k* counts customers who purchased in period *k* after their first
        purchase period. ``"on_or_after"``: it counts customers who purchased in period *k* or any later
        period (unbounded retention; never increases with *k*).
    values
        ``"share"`` (fraction of the cohort, 0-1) or ``"customers"`` (number of customers).

    Returns
    -------
    pandas.DataFrame
        Index ``cohort`` (start date of the first purchase period), columns ``periods_since_first``
        ``0, 1, 2, ...``. Period 0 is the acquisition period, 100 % of the cohort by definition.
        **Masking rule**: the cell (cohort *c*, age *k* >= 1) is NaN unless the calendar period
        *c + k* has fully elapsed by the ``as_of`` day (its last day is on or before ``as_of``).
        A complete cell where nobody came back is 0, not NaN. For ``"on_or_after"`` a complete
        cell can still rise later, when customers return in periods after ``as_of``.
        ``attrs`` holds ``cohort_size`` (dict cohort -> customers), ``period``, ``kind``, ``values``
        and ``as_of``.

    Examples
    --------
    >>> matrix = cohort_matrix(run.transactions, period="M", as_of=run.as_of)  # doctest: +SKIP
    >>> retention_curve(matrix)  # doctest: +SKIP
    """
    period = Period.parse(period)
    if kind not in COHORT_KINDS:
        raise ConfigError(f"kind is {kind!r}; use one of {', '.join(COHORT_KINDS)}.")
    if values not in ("share", "customers"):
        raise ConfigError(f"values is {values!r}; use 'share' or 'customers'.")
    as_of = resolve_as_of(as_of, transactions)
    purchases = purchase_rows(transactions, as_of, needed=PURCHASE_DAY_COLUMNS)
    purchase_period = purchases.timestamp.truncate(period.truncate_unit)
    if kind == "on":
        active = purchases.select(customer_id=purchases.customer_id, period_start=purchase_period).distinct()
        per_customer = active.group_by("customer_id").aggregate(cohort=active.period_start.min())
        joined = active.join(per_customer, "customer_id")
        counts = (
            joined.group_by([joined.cohort, joined.period_start])
            .aggregate(customers=joined.customer_id.count())
            .execute()
        )
    else:
        per_customer = purchases.group_by("customer_id").aggregate(
            cohort=purchase_period.min(), last_period=purchase_period.max()
        )
        counts = (
            per_customer.group_by([per_customer.cohort, per_customer.last_period])
            .aggregate(customers=per_customer.customer_id.count())
            .rename(period_start="last_period")
            .execute()
        )
    return _matrix_from_counts(counts, period=period, as_of=as_of, kind=kind, values=values)


def _matrix_from_counts(counts: pd.DataFrame, *, period: Period, as_of: pd.Timestamp, kind: str,
                        values: str) -> pd.DataFrame:
    as_of_period = period.start_of(as_of)
    if counts.empty:
        empty = pd.DataFrame(index=pd.DatetimeIndex([], name="cohort"), columns=pd.Index([0], name="periods_since_first"),
                             dtype=float)
        empty.attrs.update(cohort_size={}, period=period.code, kind=kind, values=values, as_of=as_of)
        return empty
    counts = counts.assign(
        cohort=pd.to_datetime(counts["cohort"]), period_start=pd.to_datetime(counts["period_start"])
    )
    counts["age"] = period.periods_between(counts["cohort"], counts["period_start"])
    cohorts = period.starts(counts["cohort"].min(), counts["cohort"].max())
    cohorts = cohorts[cohorts.isin(counts["cohort"].unique())]
    max_age = int(period.periods_between(pd.Series([cohorts.min()]), pd.Series([as_of_period])).iloc[0])
    ages = pd.RangeIndex(0, max_age + 1, name="periods_since_first")
    wide = (
        counts.pivot_table(index="cohort", columns="age", values="customers", aggfunc="sum", fill_value=0)
        .reindex(index=cohorts, columns=ages, fill_value=0)
        .astype(float)
    )
    if kind == "on_or_after":
        # counts are by last active age: customers active at age >= k = reverse cumulative sum over ages
        wide = wide.loc[:, ::-1].cumsum(axis=1).loc[:, ::-1]
    cohort_size = wide[0].copy()
    complete = np.column_stack([period_is_complete(cohorts + period.offset(int(k)), period, as_of)
                                for k in ages])
    complete[:, 0] = True  # period 0 is the acquisition period: 100 % by definition
    matrix = wide.where(complete)
    if values == "share":
        matrix = matrix.div(cohort_size, axis=0)
    matrix.index = pd.DatetimeIndex(matrix.index.to_numpy(), name="cohort")  # cohorts need not be contiguous
    matrix.columns.name = "periods_since_first"
    matrix.attrs.update(
        cohort_size={pd.Timestamp(k): int(v) for k, v in cohort_size.items()},
        period=period.code, kind=kind, values=values, as_of=as_of,
    )
    return matrix


def retention_curve(matrix: pd.DataFrame, cohort_size: pd.Series | dict | None = None) -> pd.DataFrame:
    """Average retention by age over cohorts, weighted by cohort size.

    For each age *k* only the cohorts whose cell is complete (not NaN) count: the result is
    ``sum(retained customers) / sum(cohort sizes)`` over those cohorts, so young cohorts do not pull
    the later ages down.

    Parameters
    ----------
    matrix
        Output of :func:`cohort_matrix` (shares or customer counts).
    cohort_size
        Customers per cohort (index = the matrix's cohorts). Default: ``matrix.attrs["cohort_size"]``,
        or column 0 when the matrix holds customer counts.

    Returns
    -------
    pandas.DataFrame
        Columns ``periods_since_first`` (int), ``retention`` (share 0-1), ``cohorts`` (cohorts that
        reached that age) and ``customers`` (their combined size, the denominator).
    """
    sizes = _cohort_sizes(matrix, cohort_size)
    shares = matrix if matrix.attrs.get("values", "share") == "share" else matrix.div(sizes, axis=0)
    reached = shares.notna()
    retained = shares.mul(sizes, axis=0).where(reached).sum(axis=0)
    base = reached.mul(sizes, axis=0).sum(axis=0)
    curve = pd.DataFrame({
        "periods_since_first": np.asarray(matrix.columns, dtype=int),
        "retention": (retained / base.where(base > 0)).to_numpy(),
        "cohorts": reached.sum(axis=0).to_numpy(dtype=int),
        "customers": base.to_numpy(dtype=int),
    })
    curve.attrs.update({k: v for k, v in matrix.attrs.items() if k in ("period", "kind", "as_of")})
    return curve


def _cohort_sizes(matrix: pd.DataFrame, cohort_size) -> pd.Series:
    if cohort_size is None:
        if matrix.attrs.get("cohort_size"):
            cohort_size = matrix.attrs["cohort_size"]
        elif matrix.attrs.get("values") == "customers" and 0 in matrix.columns:
            cohort_size = matrix[0]
        else:
            raise ConfigError(
                "retention_curve needs the size of each cohort: pass cohort_size=, or a matrix made by "
                "clc.cohort_matrix (it records the sizes), or one with values='customers'."
            )
    sizes = pd.Series(cohort_size, dtype=float).reindex(matrix.index)
    if sizes.isna().any():
        missing = [str(c) for c in sizes.index[sizes.isna()][:5]]
        raise DataError("Some cohorts of the matrix have no size.", source="cohort_size",
                        n_rows=int(sizes.isna().sum()), examples=list(enumerate(missing, 1)),
                        hint="Pass a cohort_size with one entry per row of the matrix.")
    return sizes


# --------------------------------------------------------------------------------------------------
# Churn rate per period
# --------------------------------------------------------------------------------------------------

def churn_rate_over_time(
    transactions: ir.Table,
    period: str = "M",
    inactivity_days: int | None = None,
    *,
    as_of=None,
) -> pd.DataFrame:
    """Churn rate for each fully elapsed period, under one of two operational definitions.

    Customers cannot tell us they have left, so churn is defined from purchases (not returns):

    * ``inactivity_days=None`` -- **period churn**: of the customers who purchased in period *t-1*,
      the share who made no purchase in period *t*. Sensitive to the purchase cycle: with a
      monthly period, customers who buy every two months "churn" every other month.
    * ``inactivity_days=d`` -- **inactivity churn**: a customer lapses on the first day on which more
      than ``d`` days have passed since their last purchase day (recency > ``d``, the convention of
      the lifecycle stages), i.e. on last purchase day + ``d`` + 1. The rate for period *t* is the
      number who lapse during *t* divided by the customers who were active (recency <= ``d``) at
      the start of *t*. Customers who make their first purchase and lapse within the same period
      (only possible when ``d`` is shorter than the period) are in neither count.

    Parameters
    ----------
    transactions
        The contract's transactions table (Ibis).
    period
        ``"M"`` (calendar months) or ``"W"`` (weeks starting on Monday).
    inactivity_days
        Lapse threshold in days, or ``None`` for period churn.
    as_of
        Cut-off date (the whole day is included); ``None`` = the date of the last transaction.

    Returns
    -------
    pandas.DataFrame
        One row per fully elapsed period (the first period, which has no predecessor, is left out):
        ``period_start``, ``customers_at_risk`` (the denominator), ``churned``, ``churn_rate`` (0-1,
        NaN when nobody was at risk). ``attrs["definition"]`` states the definition used.
    """
    period = Period.parse(period)
    as_of = resolve_as_of(as_of, transactions)
    if inactivity_days is None:
        result = _period_churn(transactions, period, as_of)
        definition = CHURN_DEFINITIONS["period"]
    else:
        if int(inactivity_days) <= 0:
            raise ConfigError(f"inactivity_days is {inactivity_days}; use a positive number of days (e.g. 90).")
        result = _inactivity_churn(transactions, period, as_of, int(inactivity_days))
        definition = f"{CHURN_DEFINITIONS['inactivity']} (inactivity_days = {int(inactivity_days)})"
    result["churn_rate"] = result["churned"] / result["customers_at_risk"].where(result["customers_at_risk"] > 0)
    result.attrs.update(definition=definition, period=period.code, as_of=as_of, inactivity_days=inactivity_days)
    return result.reset_index(drop=True)


def _period_churn(transactions: ir.Table, period: Period, as_of: pd.Timestamp) -> pd.DataFrame:
    purchases = purchase_rows(transactions, as_of, needed=PURCHASE_DAY_COLUMNS)
    rows = purchases.select(customer_id=purchases.customer_id,
                            period_start=purchases.timestamp.truncate(period.truncate_unit))
    rows = rows.mutate(
        next_period=rows.period_start.lead().over(ibis.window(group_by="customer_id", order_by="period_start"))
    )
    # A customer's rows of one period are adjacent; the last of them (one per customer and active
    # period) has the next active period, so no distinct over (customer, period) is needed first.
    active = rows.filter(rows.next_period.isnull() | (rows.next_period > rows.period_start))
    back_next = active.next_period == active.period_start + period.ibis_interval()
    per_period = (
        active.group_by("period_start")
        .aggregate(active=active.customer_id.count(), retained_next=active.count(where=back_next))
        .execute()
    )
    periods = period_starts_through(per_period["period_start"], period, as_of)
    per_period = per_period.set_index(pd.to_datetime(per_period["period_start"]))[["active", "retained_next"]]
    per_period = per_period.reindex(periods, fill_value=0)
    at_risk = per_period["active"].shift(1)
    churned = at_risk - per_period["retained_next"].shift(1)
    result = pd.DataFrame({"period_start": periods, "customers_at_risk": at_risk.to_numpy(),
                           "churned": churned.to_numpy()})
    keep = period_is_complete(periods, period, as_of) & result["customers_at_risk"].notna().to_numpy()
    return result[keep].astype({"customers_at_risk": int, "churned": int})


def _inactivity_churn(transactions: ir.Table, period: Period, as_of: pd.Timestamp, days: int) -> pd.DataFrame:
    if days + 1 < period.longest_days:
        return _inactivity_churn_by_spell(transactions, period, as_of, days)
    # A spell lapses at least days + 1 days after it starts, so here always in a later period. The
    # spells at risk in period t are then those started before t less those lapsed before t, and the
    # churned ones those lapsing in t: spell starts and lapses counted per period are enough, without
    # pairing each start with its lapse (a second window over the purchase days).
    edges = spell_edges(transactions, as_of, days)
    edges = edges.filter(edges.starts_spell | edges.ends_spell)
    no_period = ibis.null("timestamp")
    counts = (
        edges.group_by(
            start_period=ibis.ifelse(edges.starts_spell, edges.day.truncate(period.truncate_unit), no_period),
            lapse_period=ibis.ifelse(edges.ends_spell,
                                     (edges.day + ibis.interval(days=days + 1)).truncate(period.truncate_unit),
                                     no_period),
        )
        .aggregate(spells=edges.customer_id.count())
        .execute()
    )
    starts = _spells_per_period(counts, "start_period")
    lapses = _spells_per_period(counts, "lapse_period")
    if starts.empty:
        return pd.DataFrame({"period_start": pd.DatetimeIndex([]), "customers_at_risk": [], "churned": []})
    periods = period_starts_through(starts.index.to_series(), period, as_of)
    grid = periods.to_numpy()[None, :]
    start, started = starts.index.to_numpy()[:, None], starts.to_numpy()[:, None]
    lapse, lapsed = lapses.index.to_numpy()[:, None], lapses.to_numpy()[:, None]
    at_risk = ((start < grid) * started).sum(axis=0) - ((lapse < grid) * lapsed).sum(axis=0)
    churned = ((lapse == grid) * lapsed).sum(axis=0)
    result = pd.DataFrame({"period_start": periods, "customers_at_risk": at_risk, "churned": churned})
    keep = period_is_complete(periods, period, as_of) & (periods > periods.min())
    return result[keep]


def _spells_per_period(counts: pd.DataFrame, column: str) -> pd.Series:
    """Spells per period of ``column`` (rows where it is null do not count)."""
    known = counts[counts[column].notna()]
    return known.groupby(pd.to_datetime(known[column]))["spells"].sum().astype("int64")


def _inactivity_churn_by_spell(transactions: ir.Table, period: Period, as_of: pd.Timestamp,
                               days: int) -> pd.DataFrame:
    """Inactivity churn from each spell's start and lapse period (needed when both can fall in one period)."""
    spells = _activity_spells(transactions, as_of, days)
    counts = (
        spells.group_by(
            start_period=spells.spell_start.truncate(period.truncate_unit),
            lapse_period=spells.lapse_day.truncate(period.truncate_unit),
        )
        .aggregate(spells=spells.customer_id.count())
        .execute()
    )
    if counts.empty:
        return pd.DataFrame({"period_start": pd.DatetimeIndex([]), "customers_at_risk": [], "churned": []})
    counts["start_period"] = pd.to_datetime(counts["start_period"])
    counts["lapse_period"] = pd.to_datetime(counts["lapse_period"])
    periods = period_starts_through(counts["start_period"], period, as_of)
    start = counts["start_period"].to_numpy()[:, None]
    lapse = counts["lapse_period"].to_numpy()[:, None]
    n = counts["spells"].to_numpy()[:, None]
    grid = periods.to_numpy()[None, :]
    at_risk = ((start < grid) & (lapse >= grid)) * n
    churned = ((start < grid) & (lapse == grid)) * n
    result = pd.DataFrame({"period_start": periods, "customers_at_risk": at_risk.sum(axis=0),
                           "churned": churned.sum(axis=0)})
    keep = period_is_complete(periods, period, as_of) & (periods > periods.min())
    return result[keep]


def _activity_spells(transactions: ir.Table, as_of: pd.Timestamp, days: int) -> ir.Table:
    """Runs of purchase days with gaps of at most ``days``; one row per customer and spell.

    Columns ``customer_id``, ``spell`` (1 for the first), ``spell_start`` (first purchase day),
    ``last_day`` (last purchase day) and ``lapse_day`` = ``last_day + days + 1``: the first day with
    recency > ``days``, on which the customer counts as lapsed unless they bought again by then. A
    purchase more than ``days`` after the previous one starts a new spell (a reactivation).
    """
    purchase_days = _purchase_days(transactions, as_of)
    window = ibis.window(group_by="customer_id", order_by="day")
    previous = purchase_days.day.lag().over(window)
    starts_spell = previous.isnull() | (purchase_days.day.delta(previous, unit="day") > days)
    flagged = purchase_days.mutate(starts_spell=ibis.ifelse(starts_spell, 1, 0))  # PostgreSQL: no boolean::bigint
    flagged = flagged.mutate(
        spell=flagged.starts_spell.sum().over(ibis.cumulative_window(group_by="customer_id", order_by="day"))
    )
    spells = flagged.group_by(["customer_id", "spell"]).aggregate(
        spell_start=flagged.day.min(), last_day=flagged.day.max()
    )
    return spells.mutate(lapse_day=spells.last_day + ibis.interval(days=days + 1))


def period_starts_through(period_starts: pd.Series, period: str | Period, as_of) -> pd.DatetimeIndex:
    """Every period from the earliest of ``period_starts`` to the one holding ``as_of``.

    Parameters
    ----------
    period_starts
        Dates (typically period start dates found in the data); missing values are ignored.
    period
        ``"M"`` (calendar months) or ``"W"`` (weeks starting on Monday).
    as_of
        Cut-off date.

    Returns
    -------
    pandas.DatetimeIndex
        Period start dates named ``period_start``, contiguous (periods without data included);
        empty when ``period_starts`` has no date.
    """
    period = Period.parse(period)
    first = pd.to_datetime(period_starts).min()
    if pd.isna(first):
        return pd.DatetimeIndex([], name="period_start")
    return period.starts(first, resolve_as_of(as_of)).rename("period_start")
