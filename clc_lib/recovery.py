"""Recovery: lapsed and churned customers over time, reactivation, time to return, win-back targeting.

Conventions (the same as :mod:`clc_lib.stages`)
----------------------------------------------
* Activity is the *purchase day*: all purchases (non-return rows) of a customer on one calendar day.
  Returns never count as activity; in revenue figures they count with their negative amount.
* ``recency`` on day *D* is the number of days from the last purchase day on or before *D* to *D*.
  A customer is **lapsed** when recency > ``lapse_days`` and **churned** when recency > ``churn_days``
  (strictly greater, as in the stage rules).
* A **reactivation** is a purchase day more than ``lapse_days`` after the previous purchase day:
  the customer was lapsed when they came back.
* ``as_of`` is the cut-off date; the whole day is included. All durations are in days.

Transaction-level steps run in the engine through Ibis; only per-period, per-campaign or
per-customer results come back as pandas. Campaign uplift and holdout sizes are in
:mod:`clc_lib.campaigns`, NPS by what respondents did after answering in :mod:`clc_lib.surveys`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from clc_lib.cohorts import period_is_complete, period_starts_through
from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import Period, resolve_as_of
from clc_lib.summary import fetch, purchase_rows_by_day

__all__ = [
    "RECOVERY_DEFAULTS",
    "WINBACK_STAGES",
    "lapsed_counts_over_time",
    "ReactivationResult",
    "reactivation",
    "time_to_return",
    "winback_candidates",
]

#: Default thresholds in days (the stage rules' fallbacks for at_risk and dormant);
#: ``survey_window_days``: a respondent churned when they made no purchase within this many days
#: after answering.
#: ``holdout_uplift``: the smallest uplift (difference of response rates) a holdout should detect.
RECOVERY_DEFAULTS = {"lapse_days": 90, "churn_days": 180, "window_days": 90, "survey_window_days": 365,
                     "holdout_uplift": 0.02}

#: Lifecycle stages eligible for a win-back campaign.
WINBACK_STAGES: tuple[str, ...] = ("at_risk", "dormant", "churned")


def check_thresholds(lapse_days: int, churn_days: int | None = None) -> None:
    """Refuse a ``lapse_days`` that is not positive or a ``churn_days`` not above it (both in days)."""
    if int(lapse_days) <= 0:
        raise ConfigError(f"lapse_days is {lapse_days}; use a positive number of days (e.g. 90).")
    if churn_days is not None and int(churn_days) <= int(lapse_days):
        raise ConfigError(f"churn_days ({churn_days}) must be larger than lapse_days ({lapse_days}).")


def _with_next_day(transactions: ir.Table, as_of: pd.Timestamp) -> ir.Table:
    """One row per purchase day with the customer's next purchase day (``next_day``, null for the last)."""
    rows = purchase_rows_by_day(transactions, as_of)
    last_of_day = rows.filter(rows.next_day.isnull() | (rows.next_day > rows.day))
    return last_of_day.select("customer_id", "day", "next_day")


def _purchase_day_pairs(transactions: ir.Table, as_of: pd.Timestamp) -> ir.Table:
    """Purchase days counted by their date and the customer's next purchase date.

    Columns ``day``, ``next_day`` (null for a customer's last purchase day), ``purchase_days``
    (purchase days with these two dates) and ``first_days`` (customers whose first purchase day is
    ``day``; sum it over the rows of a ``day``). The period counts of this module depend on a
    purchase day only through the two dates, and a few hundred thousand pairs stand for millions of
    purchase days, so they are computed once (one window over the purchase rows) and cached in the
    engine for the queries that follow.
    """
    rows = purchase_rows_by_day(transactions, as_of)
    last_of_day = rows.next_day.isnull() | (rows.next_day > rows.day)
    next_day = ibis.ifelse(last_of_day, rows.next_day, ibis.null("timestamp"))
    return rows.group_by(day=rows.day, next_day=next_day).aggregate(
        purchase_days=rows.count(where=last_of_day), first_days=rows.count(where=rows.previous_day.isnull()))


def _snapshot_bucket(day: ir.TimestampValue, period: Period, as_of: pd.Timestamp) -> ir.TimestampValue:
    """The first snapshot on or after ``day``: its period's last day, or ``as_of`` when that is earlier."""
    period_end = day.truncate(period.truncate_unit) + period.ibis_interval() - ibis.interval(days=1)
    return ibis.least(period_end, ibis.timestamp(as_of))


# --------------------------------------------------------------------------------------------------
# Lapsed and churned customers over time
# --------------------------------------------------------------------------------------------------

def lapsed_counts_over_time(
    transactions: ir.Table,
    *,
    period: str = "M",
    as_of=None,
    lapse_days: int = RECOVERY_DEFAULTS["lapse_days"],
    churn_days: int = RECOVERY_DEFAULTS["churn_days"],
) -> pd.DataFrame:
    """Customers by recency band at every period end: active, lapsed, churned.

    At each snapshot day *D* (the last day of every period, and ``as_of`` itself for the current
    period), every customer with a purchase on or before *D* is in exactly one band of recency
    (days since the last purchase day): ``active`` (<= ``lapse_days``), ``lapsed`` (> ``lapse_days``
    and <= ``churn_days``) or ``churned`` (> ``churn_days``). Unlike the lifecycle stages, no other
    rule takes precedence (a new customer is simply active).

    Parameters
    ----------
    transactions
        The contract's transactions table (Ibis).
    period
        ``"M"`` (snapshots at month ends) or ``"W"`` (at Sundays; weeks start on Monday).
    as_of
        Cut-off date (the whole day is included); ``None`` = the date of the last transaction.
    lapse_days, churn_days
        Recency thresholds in days (e.g. the ``dormant_days`` and ``churn_days`` of the stage rules).

    Returns
    -------
    pandas.DataFrame
        ``period_end`` (snapshot date), ``customers`` (with a purchase on or before it), ``active``,
        ``lapsed``, ``churned`` (counts), ``lapsed_share`` and ``churned_share`` (of ``customers``).
    """
    period = Period.parse(period)
    check_thresholds(lapse_days, churn_days)
    as_of = resolve_as_of(as_of, transactions)
    with _purchase_day_pairs(transactions, as_of).cache() as pairs:
        never = pairs.day + ibis.interval(days=36500)  # "no next purchase" as a far-away day
        next_day = pairs.next_day.fill_null(never)
        lapse_start = pairs.day + ibis.interval(days=int(lapse_days) + 1)
        churn_start = pairs.day + ibis.interval(days=int(churn_days) + 1)
        band_edges = {
            # band -> (first day in the band, first day after it) for the spell after each purchase day
            "lapsed": (lapse_start, ibis.least(next_day, churn_start)),
            "churned": (churn_start, next_day),
        }
        first_days = pairs.filter(pairs.first_days > 0)
        pieces = [first_days.select(band=ibis.literal("customers"), day=first_days.day, change=first_days.first_days)]
        for band, (start, end) in band_edges.items():
            spans = pairs.mutate(start=start, end=end)
            spans = spans.filter(spans.start < spans.end)
            pieces.append(spans.select(band=ibis.literal(band), day=spans.start, change=spans.purchase_days))
            pieces.append(spans.select(band=ibis.literal(band), day=spans.end, change=-spans.purchase_days))
        changes = ibis.union(*pieces)
        changes = changes.filter(changes.day <= ibis.timestamp(as_of))
        changes = changes.mutate(snapshot=_snapshot_bucket(changes.day, period, as_of))
        counts = changes.group_by(["snapshot", "band"]).aggregate(change=changes.change.sum()).execute()
    snapshots = _snapshots(counts["snapshot"], period, as_of)
    table = (
        counts.assign(snapshot=pd.to_datetime(counts["snapshot"]))
        .pivot_table(index="snapshot", columns="band", values="change", aggfunc="sum", fill_value=0)
        .reindex(index=snapshots, columns=["customers", "lapsed", "churned"], fill_value=0)
        .cumsum()
        .astype("int64")
    )
    result = pd.DataFrame({
        "period_end": snapshots,
        "customers": table["customers"].to_numpy(),
        "active": (table["customers"] - table["lapsed"] - table["churned"]).to_numpy(),
        "lapsed": table["lapsed"].to_numpy(),
        "churned": table["churned"].to_numpy(),
    })
    base = result["customers"].where(result["customers"] > 0)
    result["lapsed_share"] = result["lapsed"] / base
    result["churned_share"] = result["churned"] / base
    result.attrs.update(lapse_days=int(lapse_days), churn_days=int(churn_days), period=period.code, as_of=as_of)
    return result


def _snapshots(days: pd.Series, period: Period, as_of: pd.Timestamp) -> pd.DatetimeIndex:
    first = pd.to_datetime(days).min()
    if pd.isna(first):
        return pd.DatetimeIndex([], name="period_end")
    ends = pd.date_range(first, as_of, freq=period.end_frequency)
    ends = ends[ends < as_of]
    return ends.append(pd.DatetimeIndex([as_of])).rename("period_end")


# --------------------------------------------------------------------------------------------------
# Reactivation
# --------------------------------------------------------------------------------------------------

@dataclass
class ReactivationResult:
    """Reactivation of lapsed customers.

    Attributes
    ----------
    rates : pandas.DataFrame
        One row per fully elapsed period: ``period_start``, ``lapsed_at_start`` (customers lapsed
        at the end of the previous period), ``reactivated`` (of those, customers with a purchase in
        the period) and ``reactivation_rate`` (0-1).
    gap_distribution : pandas.DataFrame
        Reactivations up to ``as_of`` by the gap between the previous purchase day and the
        returning one: ``gap_from_days`` (inclusive), ``gap_to_days`` (exclusive), ``reactivations``,
        ``share``, ``cumulative_share``. Only returns are counted; for the share of lapsed customers
        who come back within *k* days, use :func:`time_to_return` (it handles censoring).
    lapse_days : int
    total_reactivations : int
    """

    rates: pd.DataFrame
    gap_distribution: pd.DataFrame
    lapse_days: int
    total_reactivations: int


def reactivation(
    transactions: ir.Table,
    as_of=None,
    *,
    lapse_days: int = RECOVERY_DEFAULTS["lapse_days"],
    max_recency_days: int | None = None,
    period: str = "M",
    bin_days: int = 30,
) -> ReactivationResult:
    """Share of lapsed customers who buy again, per period, and how long they had been away.

    Customer *i* is in the base of period *t* when lapsed at the end of the day before *t* starts
    (recency > ``lapse_days``, and <= ``max_recency_days`` when given, e.g. to leave long-churned
    customers out), and counts as reactivated when they make a purchase during *t*. Customers who
    lapse during *t* are in the base from *t + 1* on. Only fully elapsed periods with at least one
    lapsed customer at their start are reported.

    Parameters
    ----------
    transactions
        The contract's transactions table (Ibis).
    as_of
        Cut-off date (the whole day is included); ``None`` = the date of the last transaction.
    lapse_days
        Recency threshold (days) beyond which a customer is lapsed.
    max_recency_days
        Optional upper recency limit (days) of the base.
    period
        ``"M"`` or ``"W"`` (weeks start on Monday).
    bin_days
        Width (days) of the bins of :attr:`ReactivationResult.gap_distribution`.

    Returns
    -------
    ReactivationResult
    """
    period = Period.parse(period)
    check_thresholds(lapse_days, max_recency_days)
    if int(bin_days) <= 0:
        raise ConfigError(f"bin_days is {bin_days}; use a positive number of days.")
    lapse_days = int(lapse_days)
    as_of = resolve_as_of(as_of, transactions)
    with _purchase_day_pairs(transactions, as_of).cache() as pairs:
        never = pairs.day + ibis.interval(days=36500)
        next_day = pairs.next_day.fill_null(never)
        base_end = next_day if max_recency_days is None else ibis.least(
            next_day, pairs.day + ibis.interval(days=int(max_recency_days) + 1))
        spans = pairs.mutate(start=pairs.day + ibis.interval(days=lapse_days + 1), end=base_end)
        spans = spans.filter(spans.start < spans.end)
        # The base of period t: spans with start <= (first day of t) - 1 < end, i.e.
        # period(start) < t <= period(end).
        edges = ibis.union(
            spans.select(bucket=spans.start.truncate(period.truncate_unit), change=spans.purchase_days),
            spans.select(bucket=spans.end.truncate(period.truncate_unit), change=-spans.purchase_days),
        )
        edges = edges.filter(edges.bucket <= ibis.timestamp(as_of))
        base_changes = edges.group_by("bucket").aggregate(change=edges.change.sum()).execute()

        returns = pairs.filter(pairs.next_day.notnull())
        return_period = returns.next_day.truncate(period.truncate_unit)
        recency_before_period = return_period.delta(returns.day, unit="day") - 1
        in_base = recency_before_period > lapse_days
        if max_recency_days is not None:
            in_base = in_base & (recency_before_period <= int(max_recency_days))
        returned = returns.filter(in_base)
        returned_counts = returned.group_by(bucket=returned.next_day.truncate(period.truncate_unit)).aggregate(
            reactivated=returned.purchase_days.sum()).execute()

        gaps = returns.mutate(gap=returns.next_day.delta(returns.day, unit="day"))
        gaps = gaps.filter(gaps.gap > lapse_days)
        gap_counts = gaps.group_by(gap_bin=(gaps.gap // int(bin_days)) * int(bin_days)).aggregate(
            reactivations=gaps.purchase_days.sum()).execute()

    rates = _reactivation_rates(base_changes, returned_counts, period, as_of)
    distribution = (
        gap_counts.sort_values("gap_bin")
        .rename(columns={"gap_bin": "gap_from_days"})
        .astype({"gap_from_days": "int64", "reactivations": "int64"})
        .reset_index(drop=True)
    )
    distribution.insert(1, "gap_to_days", distribution["gap_from_days"] + int(bin_days))
    total = int(distribution["reactivations"].sum())
    distribution["share"] = distribution["reactivations"] / total if total else np.nan
    distribution["cumulative_share"] = distribution["share"].cumsum()
    rates.attrs.update(lapse_days=lapse_days, max_recency_days=max_recency_days, period=period.code, as_of=as_of)
    return ReactivationResult(rates=rates, gap_distribution=distribution, lapse_days=lapse_days,
                              total_reactivations=total)


def _reactivation_rates(base_changes: pd.DataFrame, returned: pd.DataFrame, period: Period,
                        as_of: pd.Timestamp) -> pd.DataFrame:
    columns = ["period_start", "lapsed_at_start", "reactivated", "reactivation_rate"]
    if base_changes.empty:
        return pd.DataFrame(columns=columns)
    changes = base_changes.assign(bucket=pd.to_datetime(base_changes["bucket"])).groupby("bucket")["change"].sum()
    periods = period_starts_through(changes.index.to_series(), period, as_of)
    # spans starting in period p join the base from p + 1; spans ending in p leave it from p + 1 on
    lapsed = changes.reindex(periods, fill_value=0).cumsum().shift(1, fill_value=0)
    back = (returned.assign(bucket=pd.to_datetime(returned["bucket"])).set_index("bucket")["reactivated"]
            .reindex(periods, fill_value=0)) if not returned.empty else pd.Series(0, index=periods)
    rates = pd.DataFrame({"period_start": periods, "lapsed_at_start": lapsed.to_numpy(dtype="int64"),
                          "reactivated": back.to_numpy(dtype="int64")})
    rates["reactivation_rate"] = rates["reactivated"] / rates["lapsed_at_start"].where(rates["lapsed_at_start"] > 0)
    keep = period_is_complete(periods, period, as_of) & (rates["lapsed_at_start"] > 0).to_numpy()
    return rates[keep].reset_index(drop=True)


def time_to_return(transactions: ir.Table, as_of=None, *,
                   lapse_days: int = RECOVERY_DEFAULTS["lapse_days"]) -> pd.DataFrame:
    """Days from lapsing to the next purchase, per lapse, censored at ``as_of`` for those still away.

    Each time a customer lapses (the first day with recency > ``lapse_days``, i.e. last purchase day
    + ``lapse_days`` + 1) starts one episode. It ends with the returning purchase day (event) or is
    censored at ``as_of``. A customer can have several episodes. Feed the result to
    :func:`clc_lib.survival.kaplan_meier` with ``returned`` as the event: ``1 - survival`` is the
    share of lapsed customers who have come back within that many days.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``lapse_day``, ``return_day`` (NaT when censored), ``duration_days`` (float)
        and ``returned`` (bool).
    """
    check_thresholds(lapse_days)
    as_of = resolve_as_of(as_of, transactions)
    days = _with_next_day(transactions, as_of)
    lapse_day = days.day + ibis.interval(days=int(lapse_days) + 1)
    episodes = days.mutate(lapse_day=lapse_day)
    episodes = episodes.filter(
        (episodes.lapse_day <= ibis.timestamp(as_of))
        & (episodes.next_day.isnull() | (episodes.next_day >= episodes.lapse_day))
    )
    order = ["customer_id", "lapse_day"]
    frame = fetch(episodes.select("customer_id", "lapse_day", return_day=episodes.next_day).order_by(order))
    frame = frame.astype({"lapse_day": "datetime64[us]"})
    if not _in_order(frame["customer_id"], frame["lapse_day"]):  # a collation that is not code-point order
        frame = frame.sort_values(order).reset_index(drop=True)
    returned = frame["return_day"].notna()
    end = frame["return_day"].where(returned, as_of)
    frame["duration_days"] = (end - frame["lapse_day"]).dt.days.astype(float)
    frame["returned"] = returned.to_numpy()
    frame.attrs.update(lapse_days=int(lapse_days), as_of=as_of)
    return frame


def _in_order(customers: pd.Series, days: pd.Series) -> bool:
    """True when the rows are sorted by customer and then by day."""
    if not customers.is_monotonic_increasing:
        return False
    ids, values = customers.to_numpy(), days.to_numpy()
    return not np.any((ids[1:] == ids[:-1]) & (values[1:] < values[:-1]))


# --------------------------------------------------------------------------------------------------
# Win-back targeting
# --------------------------------------------------------------------------------------------------

def winback_candidates(
    scores: pd.DataFrame,
    n: int | None = 100,
    *,
    p_alive_col: str | None = "p_alive",
    clv_col: str = "clv",
    stage_col: str = "stage",
    stages: Iterable[str] = WINBACK_STAGES,
) -> pd.DataFrame:
    """Lapsed and at-risk customers ranked by expected recoverable value = P(alive) x CLV.

    Parameters
    ----------
    scores
        One row per customer (index or column ``customer_id``) with ``p_alive`` (probability 0-1
        that the customer is still active) and ``clv`` (value in the run currency **if the customer
        is still active**). When the CLV already includes the probability of being alive (as the
        expected value of a BG/NBD model does), pass ``p_alive_col=None`` to rank by CLV alone
        rather than counting P(alive) twice.
    n
        Number of customers to return (``None`` = all eligible).
    stage_col, stages
        When ``scores`` has a ``stage_col`` column, only customers in ``stages`` are eligible
        (default: at_risk, dormant, churned). Without it every row is eligible.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``; the input columns plus ``expected_value`` (run currency), ``rank``
        (1 = best) and ``cumulative_share`` (share of the eligible customers' total expected value
        captured by targeting down to that rank), sorted by ``rank``.
    """
    frame = scores.set_index("customer_id") if "customer_id" in scores.columns else scores.copy()
    needed = [clv_col] + ([p_alive_col] if p_alive_col else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError("The scores lack the columns needed to rank win-back candidates.", source="scores",
                        column=", ".join(missing),
                        hint="Pass a per-customer frame with p_alive and clv columns (e.g. from clc.clv), "
                             "or name them with p_alive_col= and clv_col=.")
    if stage_col in frame.columns:
        frame = frame[frame[stage_col].astype(str).isin(list(stages))]
    for column in needed:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna()
        if column == p_alive_col:
            bad |= (values < 0) | (values > 1)
        if bad.any():
            raise DataError(f"Some customers have a missing or invalid {column}.", source="scores", column=column,
                            n_rows=int(bad.sum()),
                            examples=[(cid, frame.loc[cid, column]) for cid in frame.index[bad][:5]],
                            hint="p_alive must be a probability in [0, 1] and clv a number; score every customer "
                                 "or filter the frame explicitly before ranking.")
    probability = frame[p_alive_col].astype(float) if p_alive_col else 1.0
    ranked = frame.assign(expected_value=probability * frame[clv_col].astype(float))
    ranked = ranked.sort_values("expected_value", ascending=False, kind="mergesort")
    total = ranked["expected_value"].clip(lower=0).sum()
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    ranked["cumulative_share"] = ranked["expected_value"].clip(lower=0).cumsum() / total if total > 0 else np.nan
    ranked.index.name = "customer_id"
    return ranked if n is None else ranked.head(int(n))
