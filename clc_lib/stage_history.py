"""Lifecycle stages over time: growth accounting, the stage of every person at every period end,
transitions and flows between stages, stage metrics and the back-test of the stage rules.

The stage of a person at a snapshot is the one :func:`clc_lib.stages.classify_stages` gives as of
that date: the same Ibis stage expression serves both (see ``docs/stages.md``). Day counts and
purchase days follow the conventions of :mod:`clc_lib.stages`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from clc_lib.cohorts import mark_complete_periods
from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import Period, resolve_as_of
from clc_lib.stages import (
    FIRST_SEEN,
    STAGES,
    StageRules,
    as_stage_categorical,
    classify_snapshot,
    event_people,
    ordered_purchase_days,
    resolve_rules,
    stage_expression,
    with_features,
)
from clc_lib.summary import check_transactions, fetch, is_purchase, rows_up_to
from clc_lib.settings import StageSettings

__all__ = [
    "growth_accounting",
    "stage_history",
    "stage_counts",
    "transition_matrix",
    "stage_flows",
    "stage_metrics",
    "stage_backtest",
]


# ---------------------------------------------------------------------------------------------
# Growth accounting


def growth_accounting(transactions: ir.Table, period: str = "M", *, as_of=None) -> pd.DataFrame:
    """Active customers per period split into new, returning and resurrected, plus dormant.

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table). A customer is *active* in a period with at least one
        purchase (returns do not count).
    period
        ``"M"`` (calendar months) or ``"W"`` (ISO weeks, Monday first).
    as_of
        Cut-off date of the data (``run.as_of``); ``None`` = the date of the last transaction. It
        decides whether the last period is complete.

    Returns
    -------
    pandas.DataFrame
        Index ``period_start`` (every period from the first to the last with a purchase), columns:
        ``new`` (first purchase ever in the period), ``returning`` (active this and the previous
        period), ``resurrected`` (active, not in the previous period, bought before), ``dormant``
        (active in the previous period but not in this one, reported as a *positive* count),
        ``active`` = new + returning + resurrected and ``quick_ratio`` = (new + resurrected) /
        dormant (NaN when nothing went dormant). The first period of the data counts everyone as
        new: a history that starts mid-life overstates new customers in its first periods.
        ``is_complete`` (:func:`clc_lib.cohorts.period_is_complete`) is False for a last period
        that runs past ``as_of``: its counts cover only part of the period, so its quick ratio
        is not comparable with the others.
    """
    check_transactions(transactions)
    as_of = resolve_as_of(as_of, transactions)
    period = Period.parse(period)
    unit = period.truncate_unit
    step = period.ibis_interval()
    purchases = transactions.filter(is_purchase(transactions))
    active = purchases.group_by(
        customer_id=purchases.customer_id, period_start=purchases.timestamp.date().truncate(unit)
    ).aggregate()
    ordered = ibis.window(group_by=active.customer_id, order_by=active.period_start)
    active = active.mutate(
        previous=active.period_start.lag().over(ordered),
        following=active.period_start.lead().over(ordered),
    )
    # The first active period of a customer is the one without a previous one (a null period, which
    # some engines sort first, is never new).
    status = ibis.cases(
        (active.previous.isnull() & active.period_start.notnull(), "new"),
        (active.previous + step == active.period_start, "returning"),
        else_="resurrected",
    )
    moves = active.select(period_start=active.period_start, status=status)
    lapsing = active.filter(active.following.isnull() | (active.period_start + step != active.following))
    lapses = lapsing.select(period_start=lapsing.period_start + step, status=ibis.literal("dormant"))
    # Both counts in one query, so that the active periods are ordered once.
    both = moves.union(lapses, distinct=False)
    frame = both.group_by("period_start", "status").aggregate(customers=both.count()).execute()
    is_dormant = frame["status"] == "dormant"
    counts_df = frame[~is_dormant]
    dormant_df = frame[is_dormant].rename(columns={"customers": "dormant"})
    columns = ["new", "returning", "resurrected"]
    if counts_df.empty:
        return pd.DataFrame(columns=[*columns, "dormant", "active", "quick_ratio", "is_complete"],
                            index=pd.DatetimeIndex([], name="period_start"))
    table = counts_df.pivot_table(index="period_start", columns="status", values="customers",
                                  aggfunc="sum", fill_value=0)
    table.index = pd.to_datetime(table.index)
    index = period.starts(table.index.min(), table.index.max()).rename("period_start")
    table = table.reindex(index=index, columns=columns, fill_value=0).astype("int64")
    dormant_series = dormant_df.assign(period_start=pd.to_datetime(dormant_df["period_start"]))
    table["dormant"] = (dormant_series.set_index("period_start")["dormant"]
                        .reindex(index, fill_value=0).astype("int64"))
    table["active"] = table[columns].sum(axis=1)
    gained = table["new"] + table["resurrected"]
    table["quick_ratio"] = gained / table["dormant"].where(table["dormant"] > 0)
    table.columns.name = None
    return mark_complete_periods(table, period, as_of)


# ---------------------------------------------------------------------------------------------
# Stage history


def _snapshot_dates(first: pd.Timestamp, end: pd.Timestamp, period: str) -> list[dt.date]:
    ends = pd.date_range(first, end, freq=Period.parse(period).end_frequency)
    dates = [d.date() for d in ends if d < end]
    dates.append(end.date())
    return dates


def _period_end(day: ir.DateValue, period: str) -> ir.DateValue:
    period = Period.parse(period)
    return day.truncate(period.truncate_unit) + period.ibis_interval() - ibis.interval(days=1)


def _data_bounds(transactions: ir.Table) -> tuple[pd.Timestamp, pd.Timestamp]:
    purchases = transactions.filter(is_purchase(transactions))
    bounds = purchases.aggregate(first=purchases.timestamp.min(), last=purchases.timestamp.max()).execute().iloc[0]
    if pd.isna(bounds["first"]):
        raise DataError("The transactions contain no purchase, so there is no stage history.",
                        source="transactions", column="is_return", n_rows=0)
    return pd.Timestamp(bounds["first"]).normalize(), pd.Timestamp(bounds["last"]).normalize()


def stage_history(transactions: ir.Table, *, period: str = "M",
                  rules: StageRules | StageSettings | Mapping[str, Any] | None = None,
                  start: str | dt.date | None = None, end: str | dt.date | None = None,
                  events: ir.Table | None = None) -> ir.Table:
    """The stage of every person at every period end, as an Ibis table (it stays in the engine).

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table).
    period
        ``"M"`` (snapshots at month ends) or ``"W"`` (at Sundays, ISO weeks).
    rules
        As in :func:`~clc_lib.stages.classify_stages`; thresholds left to the data are derived once from the data
        up to ``end`` so that every snapshot uses the same thresholds.
    start, end
        First and last snapshot dates; default: the first period end after the first purchase,
        and the last purchase date. Snapshots are the period ends in ``[start, end)`` plus ``end``
        itself, so the last snapshot agrees with ``classify_stages(transactions, end)``.
    events
        Optional events table: prospects (people who never bought by a snapshot) enter the
        history at their first event as ``aware``/``engaged``.

    Returns
    -------
    ibis.Table
        Columns ``customer_id``, ``period_end`` (date of the snapshot), ``stage`` (string),
        ``recency_days``, ``tenure_days``, ``purchase_days``, ``days_since_reactivation``,
        ``bought_in_period`` (a purchase day in the period ending at ``period_end``). A person
        enters at the first snapshot on or after their first purchase (or first event) and
        stays in every later snapshot. Call :func:`~clc_lib.stages.derive_stage_rules` with ``as_of=end`` to see
        the thresholds used.
    """
    check_transactions(transactions)
    Period.parse(period)
    first_day, last_day = _data_bounds(transactions)
    end_ts = resolve_as_of(end, what="end") if end is not None else last_day
    start_ts = resolve_as_of(start, what="start") if start is not None else first_day
    if start_ts > end_ts:
        raise ConfigError(f"start {start_ts.date()} is after end {end_ts.date()}; choose start <= end.")
    rules = resolve_rules(transactions, end_ts, rules)
    snapshots = _snapshot_dates(start_ts, end_ts, period)
    first_snapshot = ibis.literal(snapshots[0])
    end_literal = ibis.literal(end_ts.date())

    def bucket(day: ir.DateValue) -> ir.DateValue:
        return ibis.greatest(ibis.least(_period_end(day, period), end_literal), first_snapshot)

    # Per purchase day: its snapshot bucket and the running count of purchase days (one sort).
    days = ordered_purchase_days(rows_up_to(transactions, end_ts))
    days = days.mutate(bucket=bucket(days.day).cast("date"))
    reactivation = days.gap_days > rules.reactivation_gap_days
    per_bucket = days.group_by(customer_id=days.customer_id, bucket=days.bucket).aggregate(
        bucket_days=days.count(), purchase_days=days.day_number.max(), last_day=days.day.max(),
        first_day_in_bucket=days.day.min(), reactivation_day=days.day.max(where=reactivation),
    )
    people = None
    if events is not None:
        people = event_people(events, end_ts, rules)
        people = people.mutate(event_entry=bucket(people.first_event_day).cast("date"))
    cumulative = _state_by_spans(per_bucket, people, snapshots)
    featured = with_features(cumulative)
    staged = featured.mutate(stage=stage_expression(featured, rules))
    return staged.select(
        "customer_id",
        period_end=staged.snapshot,
        stage=staged.stage,
        recency_days=staged.recency_days,
        tenure_days=staged.tenure_days,
        purchase_days=staged.purchase_days,
        days_since_reactivation=staged.days_since_reactivation,
        bought_in_period=staged.n_days > 0,
    )


def _state_by_spans(per_bucket: ir.Table, people: ir.Table | None, snapshots: list[dt.date]) -> ir.Table:
    """The state of every person at every snapshot from their entry on (the customer x snapshot grid).

    A customer's state (purchase days so far, last purchase day, last reactivation day) changes only
    at the buckets with purchase days, and every bucket is a snapshot, so each bucket's state holds
    from its snapshot up to the next bucket's: one window over the buckets and an expansion of each
    bucket to its snapshots, instead of matching every grid row with its latest bucket (which sorts
    the grid). A reactivation day is on or before a snapshot exactly when its bucket is. Prospects
    (``people``) enter at their first event's snapshot; before the first purchase they have no
    purchase state.
    """
    index = ibis.memtable(pd.DataFrame({"snapshot": pd.to_datetime(snapshots),
                                        "idx": np.arange(len(snapshots), dtype="int64")}))
    index = index.select(snapshot=index.snapshot.date(), idx=index.idx)
    after_last = len(snapshots)

    states = per_bucket.inner_join(index, per_bucket.bucket == index.snapshot).select(
        per_bucket.customer_id, per_bucket.bucket_days, per_bucket.purchase_days, per_bucket.last_day,
        per_bucket.first_day_in_bucket, per_bucket.reactivation_day, from_idx=index.idx,
    )
    ordered = ibis.window(group_by=states.customer_id, order_by=states.from_idx)
    so_far = ibis.cumulative_window(group_by=states.customer_id, order_by=states.from_idx)
    states = states.mutate(
        to_idx=states.from_idx.lead(default=after_last).over(ordered),
        first_day=states.first_day_in_bucket.min().over(ordered),
        last_reactivation_day=states.reactivation_day.max().over(so_far),
    )
    if people is None:
        states = states.mutate(first_engaged_day=ibis.null("date"))
    else:
        engaged = people.select("customer_id", "first_engaged_day")
        states = states.left_join(engaged, states.customer_id == engaged.customer_id).select(
            states, engaged.first_engaged_day)
    spans = states.mutate(idx=ibis.range(states.from_idx, states.to_idx).unnest())
    grid = spans.inner_join(index, spans.idx == index.idx).select(
        spans.customer_id, index.snapshot, spans.first_day, spans.first_engaged_day,
        spans.purchase_days, spans.last_day,
        n_days=ibis.cases((spans.idx == spans.from_idx, spans.bucket_days), else_=0),
        last_reactivation_day=spans.last_reactivation_day,
    )
    if people is None:
        return grid

    # People in the events table: the snapshots from their first event's one up to their first
    # purchase bucket (or the end), without purchase state.
    buyers = states.group_by("customer_id").aggregate(first_idx=states.from_idx.min(),
                                                      first_day=states.first_day.min())
    people = people.inner_join(index, people.event_entry == index.snapshot).select(
        people.customer_id, people.first_engaged_day, event_idx=index.idx)
    joined = people.left_join(buyers, people.customer_id == buyers.customer_id)
    early = joined.select(
        people.customer_id, buyers.first_day, people.first_engaged_day,
        from_idx=ibis.least(people.event_idx, buyers.first_idx),
        to_idx=buyers.first_idx.fill_null(after_last),
    )
    early = early.mutate(idx=ibis.range(early.from_idx, early.to_idx).unnest())
    early = early.inner_join(index, early.idx == index.idx).select(
        early.customer_id, index.snapshot, early.first_day, early.first_engaged_day,
        purchase_days=ibis.null(grid.purchase_days.type()), last_day=ibis.null("date"),
        n_days=ibis.literal(0, grid.n_days.type()), last_reactivation_day=ibis.null("date"),
    )
    return grid.union(early, distinct=False)


def _with_previous(history: ir.Table) -> ir.Table:
    """``period_end``, ``stage`` and ``from_stage``, the customer's stage at the previous snapshot."""
    ordered = ibis.window(group_by=history.customer_id, order_by=history.period_end)
    return history.select("period_end", "stage", from_stage=history.stage.lag().over(ordered))


def stage_counts(history: ir.Table) -> pd.DataFrame:
    """Customers per stage at every snapshot (long form: ``period_end``, ``stage``, ``customers``).

    Stages absent at a snapshot appear with 0 so that stacked charts line up.
    """
    counts = history.group_by("period_end", "stage").aggregate(customers=history.count()).execute()
    counts["period_end"] = pd.to_datetime(counts["period_end"])
    full = pd.MultiIndex.from_product([sorted(counts["period_end"].unique()), list(STAGES)],
                                      names=["period_end", "stage"])
    counts = counts.set_index(["period_end", "stage"])["customers"].reindex(full, fill_value=0).reset_index()
    counts["stage"] = as_stage_categorical(counts["stage"])
    counts["customers"] = counts["customers"].astype("int64")
    return counts


def _nearest_snapshot(history: ir.Table, date: str | dt.date) -> dt.date:
    target = resolve_as_of(date, what="date").date()
    found = history.filter(history.period_end <= target).period_end.max().execute()
    if found is None or pd.isna(found):
        raise ConfigError(f"No snapshot of the stage history on or before {target}; choose a later date.")
    return pd.Timestamp(found).date()


def transition_matrix(history: ir.Table, from_date: str | dt.date | None = None,
                      to_date: str | dt.date | None = None, *, normalize: bool = True) -> pd.DataFrame:
    """Stage-to-stage transitions, pooled over consecutive snapshots or between two dates.

    Parameters
    ----------
    history
        Output of :func:`stage_history`.
    from_date, to_date
        Compare the snapshot on or before ``from_date`` with the one on or before ``to_date``.
        Both ``None`` (default): pool every pair of consecutive snapshots.
    normalize
        Row shares (each row sums to 1 where it has customers) instead of counts.

    Returns
    -------
    pandas.DataFrame
        Index ``from_stage``, columns ``to_stage``, both over :data:`STAGES`. Customers who enter
        the history after the first of the two snapshots are not counted (they had no stage then).
    """
    if (from_date is None) != (to_date is None):
        raise ConfigError("Give both from_date and to_date, or neither (to pool consecutive periods).")
    if from_date is None:
        pairs = _with_previous(history)
        pairs = pairs.filter(pairs.from_stage.notnull())
        counts = pairs.group_by(from_stage=pairs.from_stage, to_stage=pairs.stage).aggregate(n=pairs.count())
    else:
        start, stop = _nearest_snapshot(history, from_date), _nearest_snapshot(history, to_date)
        before = history.filter(history.period_end == start).select("customer_id", from_stage=history.stage)
        after = history.filter(history.period_end == stop).select("customer_id", to_stage=history.stage)
        joined = before.inner_join(after, "customer_id")
        counts = joined.group_by("from_stage", "to_stage").aggregate(n=joined.count())
    frame = counts.execute()
    matrix = (frame.pivot_table(index="from_stage", columns="to_stage", values="n", aggfunc="sum", fill_value=0)
              .reindex(index=list(STAGES), columns=list(STAGES), fill_value=0).astype("int64"))
    matrix.index.name, matrix.columns.name = "from_stage", "to_stage"
    if normalize:
        totals = matrix.sum(axis=1)
        matrix = matrix.div(totals.where(totals > 0), axis=0)
    return matrix


def stage_flows(history: ir.Table) -> pd.DataFrame:
    """Customers moving between stages from one snapshot to the next (input of flow charts).

    Returns
    -------
    pandas.DataFrame
        Columns ``period_end`` (the later snapshot), ``from_stage`` (stage at the previous
        snapshot, or ``"(first seen)"`` for people entering the history), ``to_stage`` and
        ``customers``. Summed over ``from_stage`` it gives :func:`stage_counts`.
    """
    pairs = _with_previous(history)
    flows = pairs.group_by(
        period_end=pairs.period_end, from_stage=pairs.from_stage.fill_null(FIRST_SEEN), to_stage=pairs.stage
    ).aggregate(customers=pairs.count()).execute()
    flows["period_end"] = pd.to_datetime(flows["period_end"])
    flows["customers"] = flows["customers"].astype("int64")
    order = {s: i for i, s in enumerate((FIRST_SEEN, *STAGES))}
    flows = flows.sort_values(
        ["period_end", "from_stage", "to_stage"],
        key=lambda col: col.map(order) if col.name != "period_end" else col,
    ).reset_index(drop=True)
    return flows


# ---------------------------------------------------------------------------------------------
# Stage metrics and back-test


def _window_revenue(transactions: ir.Table, as_of: pd.Timestamp, window_start: pd.Timestamp, *,
                    orders: bool = True) -> pd.DataFrame:
    """Per customer with rows in ``(window_start, as_of]`` days, sorted: net ``revenue`` and ``purchases``
    (purchase rows); with ``orders`` also ``gross`` (purchase value) and ``orders`` (distinct
    purchase order ids; this distinct count is most of the query's cost)."""
    rows = rows_up_to(transactions, as_of)
    rows = rows.filter(rows.timestamp >= (window_start + pd.Timedelta(days=1)).to_pydatetime())
    purchase = is_purchase(rows)
    measures = {"revenue": rows.amount.sum(), "purchases": rows.count(where=purchase)}
    if orders:
        measures.update(gross=rows.amount.sum(where=purchase), orders=rows.order_id.nunique(where=purchase))
    # Sorted like the stages frame, so that pandas joins the two without hashing a million ids.
    frame = fetch(rows.group_by("customer_id").aggregate(**measures).order_by("customer_id"))
    return frame.set_index("customer_id")


def stage_metrics(transactions: ir.Table, stages: pd.DataFrame, *, history: ir.Table | None = None,
                  as_of: str | pd.Timestamp | None = None, revenue_window_days: int = 365,
                  period: str = "M",
                  rules: StageRules | StageSettings | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Size, value and movement of each stage.

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table).
    stages
        Output of :func:`~clc_lib.stages.classify_stages` (index ``customer_id``, column ``stage``).
    history
        Output of :func:`stage_history` for the movement columns; by default it is computed with
        ``period`` and the rules of ``stages`` up to ``as_of``.
    as_of
        Date of ``stages``; default ``stages.attrs["as_of"]``.
    revenue_window_days
        Revenue and AOV use the ``revenue_window_days`` days ending on ``as_of`` (inclusive).
    period
        Snapshot period of the computed history (``"M"`` or ``"W"``).

    Returns
    -------
    pandas.DataFrame
        Index ``stage`` (all of :data:`STAGES`); columns ``customers``, ``customer_share``,
        ``revenue`` (net, run currency, in the window), ``revenue_share``, ``aov`` (gross
        purchase value / orders in the window), ``next_period_purchase_rate`` (share of
        customer-snapshots in the stage with a purchase in the following period, pooled over the
        history), ``next_stage_conversion`` (share moving at the next snapshot to the stage's
        ``next_stage`` in the rules), ``median_periods_in_stage`` (median length, in periods, of
        completed stays in the stage; stays still running at the last snapshot are censored and
        left out) and ``snapshots`` (customer-snapshots the movement columns rest on).
    """
    check_transactions(transactions)
    if "stage" not in stages.columns:
        raise DataError("stages has no 'stage' column; pass the output of clc.classify_stages.",
                        source="stages", column="stage")
    as_of_ts = resolve_as_of(as_of if as_of is not None else stages.attrs.get("as_of"))
    resolved = stages.attrs.get("rules") if rules is None else rules
    resolved = resolve_rules(transactions, as_of_ts, resolved)

    window = _window_revenue(transactions, as_of_ts, as_of_ts - pd.Timedelta(days=revenue_window_days))
    frame = stages[["stage"]].join(window, how="left")
    grouped = frame.groupby("stage", observed=False)
    out = pd.DataFrame({
        "customers": grouped.size(),
        "revenue": grouped["revenue"].sum(min_count=0),
        "gross": grouped["gross"].sum(min_count=0),
        "orders": grouped["orders"].sum(min_count=0),
    }).reindex(list(STAGES)).fillna(0)
    out["customers"] = out["customers"].astype("int64")
    out["customer_share"] = out["customers"] / max(int(out["customers"].sum()), 1)
    total_revenue = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total_revenue if total_revenue != 0 else np.nan
    out["aov"] = out["gross"] / out["orders"].where(out["orders"] > 0)

    if history is None:
        history = stage_history(transactions, period=period, rules=resolved, end=as_of_ts)
    movement = _movement_metrics(history, resolved)
    out = out.join(movement)
    out.index = pd.CategoricalIndex(out.index, categories=list(STAGES), ordered=True, name="stage")
    return out[["customers", "customer_share", "revenue", "revenue_share", "aov",
                "next_period_purchase_rate", "next_stage_conversion", "median_periods_in_stage", "snapshots"]]


def _movement_metrics(history: ir.Table, rules: StageRules) -> pd.DataFrame:
    # One sort of the history by customer and snapshot gives the next snapshot's stage and purchase
    # and each row's position; both aggregates below read it, so it is one query.
    ordered = ibis.window(group_by=history.customer_id, order_by=history.period_end)
    steps = history.select(
        "customer_id", "stage",
        position=ibis.row_number().over(ordered),
        next_stage=history.stage.lead().over(ordered),
        next_bought=history.bought_in_period.lead().over(ordered),
    )
    pairs = steps.filter(steps.next_stage.notnull())
    target_cases = [(pairs.stage == stage, pairs.next_stage.isin(list(targets)))
                    for stage, targets in rules.next_stage.items()]
    converted = ibis.cases(*target_cases, else_=False) if target_cases else ibis.literal(False)
    # Booleans pass through an integer: PostgreSQL casts no boolean to a float.
    per_stage = pairs.group_by("stage").aggregate(
        snapshots=pairs.count(),
        next_period_purchase_rate=pairs.next_bought.cast("int32").cast("float64").mean(),
        next_stage_conversion=converted.cast("int32").cast("float64").mean(),
    )

    # Stays in one stage (runs of consecutive snapshots with the same stage): a stay ends where the
    # next snapshot has another stage or there is none, and starts right after the previous end, so
    # its length is the distance between consecutive ends. A stay ending at the customer's last
    # snapshot is still running (censored) and left out of the median.
    ends = steps.filter(steps.next_stage.isnull() | (steps.next_stage != steps.stage))
    by_end = ibis.window(group_by=ends.customer_id, order_by=ends.position)
    ends = ends.mutate(length=ends.position - ends.position.lag(default=-1).over(by_end))
    completed = ends.filter(ends.next_stage.notnull())
    spells = completed.group_by("stage").aggregate(median_periods_in_stage=completed.length.median())

    joined = per_stage.outer_join(spells, per_stage.stage == spells.stage)
    frame = joined.select(
        stage=ibis.coalesce(joined.stage, joined.stage_right),
        snapshots=joined.snapshots,
        next_period_purchase_rate=joined.next_period_purchase_rate,
        next_stage_conversion=joined.next_stage_conversion,
        median_periods_in_stage=joined.median_periods_in_stage,
    ).execute().set_index("stage")
    return frame.reindex(list(STAGES))


def stage_backtest(transactions: ir.Table, as_of: str | dt.date | pd.Timestamp | None = None, *,
                   window_days: int = 90, rules: StageRules | StageSettings | Mapping[str, Any] | None = None,
                   events: ir.Table | None = None,
                   data_end: str | dt.date | pd.Timestamp | None = None) -> pd.DataFrame:
    """Classify at a past date with data up to it only, then measure who bought afterwards.

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table) reaching at least ``window_days`` beyond ``as_of``.
    as_of
        Past snapshot date (whole day included in the classification data); default
        ``data_end - window_days``.
    window_days
        Length of the outcome window ``(as_of, as_of + window_days]`` in days.
    data_end
        Last day covered by the data (e.g. ``run.as_of``); default the last purchase date. The
        outcome window must end on or before it.
    rules, events
        As in :func:`~clc_lib.stages.classify_stages` (thresholds derived from the data up to ``as_of`` only).

    Returns
    -------
    pandas.DataFrame
        Index ``stage`` (stages with customers), columns ``customers``, ``buyers`` (a purchase in
        the window), ``buy_rate`` = buyers / customers and ``revenue_per_customer`` (net revenue
        in the window / customers, run currency). On healthy rules the buy rate falls from
        active and loyal through at_risk and dormant to churned.
    """
    check_transactions(transactions)
    last_day = resolve_as_of(data_end, what="data_end") if data_end is not None else _data_bounds(transactions)[1]
    as_of_ts = resolve_as_of(as_of) if as_of is not None else last_day - pd.Timedelta(days=window_days)
    window_end = as_of_ts + pd.Timedelta(days=window_days)
    if last_day < window_end:
        raise ConfigError(
            f"The back-test window {as_of_ts.date()} + {window_days} days ends on {window_end.date()}, "
            f"after the end of the data ({last_day.date()}); choose an earlier as_of or a shorter window."
        )
    known = rows_up_to(transactions, as_of_ts)
    if rules is None or isinstance(rules, Mapping | StageSettings):
        # Thresholds and stages both come from the ordered purchase days up to as_of: order them once.
        with ordered_purchase_days(known).cache() as days:
            stages = classify_snapshot(known, as_of_ts, rules, events, days)
    else:
        stages = classify_snapshot(known, as_of_ts, rules, events)
    outcome = _window_revenue(transactions, window_end, as_of_ts, orders=False)
    frame = stages[["stage"]].join(outcome, how="left")
    frame["bought"] = frame["purchases"].fillna(0) > 0
    grouped = frame.groupby("stage", observed=True)
    result = pd.DataFrame({
        "customers": grouped.size(),
        "buyers": grouped["bought"].sum().astype("int64"),
        "revenue": grouped["revenue"].sum(),
    })
    result["buy_rate"] = result["buyers"] / result["customers"]
    result["revenue_per_customer"] = result["revenue"] / result["customers"]
    result.attrs.update(as_of=as_of_ts, window_days=window_days, rules=stages.attrs["rules"])
    return result[["customers", "buyers", "buy_rate", "revenue_per_customer"]]
