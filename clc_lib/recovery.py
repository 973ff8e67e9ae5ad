"""Recovery: lapsed and churned customers over time, reactivation, win-back targeting and uplift, surveys.

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
per-customer results come back as pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from clc_lib.cohorts import period_is_complete, period_starts_through
from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import Period, resolve_as_of
from clc_lib.summary import check_transactions, fetch, purchase_rows_by_day

__all__ = [
    "RECOVERY_DEFAULTS",
    "WINBACK_STAGES",
    "NPS_BANDS",
    "lapsed_counts_over_time",
    "ReactivationResult",
    "reactivation",
    "time_to_return",
    "winback_candidates",
    "campaign_uplift",
    "campaign_response",
    "has_control_groups",
    "holdout_size",
    "SurveySummary",
    "survey_summary",
    "SURVEY_STATUSES",
]

#: Default thresholds in days (the stage rules' fallbacks for at_risk and dormant);
#: ``survey_window_days``: a respondent churned when they made no purchase within this many days
#: after answering.
#: ``holdout_uplift``: the smallest uplift (difference of response rates) a holdout should detect.
RECOVERY_DEFAULTS = {"lapse_days": 90, "churn_days": 180, "window_days": 90, "survey_window_days": 365,
                     "holdout_uplift": 0.02}

#: Survey status of respondents whose follow-up after answering is shorter than the window.
TOO_RECENT = "too recent"
SURVEY_STATUSES = ("churned", "retained", "unknown", TOO_RECENT)

#: Lifecycle stages eligible for a win-back campaign.
WINBACK_STAGES: tuple[str, ...] = ("at_risk", "dormant", "churned")

#: NPS bands on the 0-10 scale: band -> (lowest score, highest score), both inclusive.
NPS_BANDS: dict[str, tuple[float, float]] = {"detractor": (0, 6), "passive": (7, 8), "promoter": (9, 10)}

CAMPAIGN_GROUPS = ("treatment", "control")


def _check_thresholds(lapse_days: int, churn_days: int | None = None) -> None:
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
    _check_thresholds(lapse_days, churn_days)
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
    _check_thresholds(lapse_days, max_recency_days)
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
    _check_thresholds(lapse_days)
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


# --------------------------------------------------------------------------------------------------
# Campaign uplift
# --------------------------------------------------------------------------------------------------

def has_control_groups(campaigns: pd.DataFrame | None) -> bool:
    """True when the campaigns table says who was held out (a ``group`` column with a control)."""
    return (campaigns is not None and "group" in campaigns.columns
            and bool((campaigns["group"].astype("string").str.lower() == "control").any()))


def _validated_campaigns(campaigns: pd.DataFrame, *, with_group: bool = True) -> pd.DataFrame:
    needed = ["customer_id", "campaign_id", "sent_at"] + (["group"] if with_group else [])
    missing = [c for c in needed if c not in campaigns.columns]
    if missing:
        hint = "Map them in the run config (campaigns: columns: ...)."
        if missing == ["group"]:
            hint = ("Without a control group there is no uplift to estimate; use clc.campaign_response for the "
                    "observational comparison, and hold out a control group in the next send.")
        raise DataError("The campaigns table lacks contract columns.", source="campaigns", column=", ".join(missing),
                        hint=hint)
    frame = campaigns.reset_index(drop=True)
    bad_group = ~frame["group"].isin(CAMPAIGN_GROUPS) if with_group else pd.Series(False, index=frame.index)
    if bad_group.any():
        raise DataError("Campaign groups must be 'treatment' or 'control'.", source="campaigns", column="group",
                        n_rows=int(bad_group.sum()),
                        examples=[(i + 1, frame.loc[i, "group"]) for i in np.flatnonzero(bad_group)[:5]],
                        hint="Recode the group column of the campaigns source.")
    sent = pd.to_datetime(frame["sent_at"], errors="coerce")
    null = frame[["customer_id", "campaign_id"]].isna().any(axis=1) | sent.isna()
    if null.any():
        raise DataError("Some campaign rows lack a customer, campaign or send time.", source="campaigns",
                        column="customer_id / campaign_id / sent_at", n_rows=int(null.sum()),
                        examples=[(i + 1, frame.loc[i, "customer_id"]) for i in np.flatnonzero(null)[:5]],
                        hint="Fix or remove them in the source.")
    duplicated = frame.duplicated(["campaign_id", "customer_id"], keep=False)
    if duplicated.any():
        raise DataError("Some customers appear more than once in one campaign.", source="campaigns",
                        column="campaign_id, customer_id", n_rows=int(duplicated.sum()),
                        examples=[(i + 1, f"{frame.loc[i, 'campaign_id']}/{frame.loc[i, 'customer_id']}")
                                  for i in np.flatnonzero(duplicated)[:5]],
                        hint="Keep one row per customer and campaign (the first send).")
    columns = {"campaign_id": frame["campaign_id"].astype(str), "customer_id": frame["customer_id"].astype(str),
               "sent_at": sent.astype("datetime64[us]")}
    if with_group:
        columns["group"] = frame["group"].astype(str)
    if "campaign_type" in frame.columns:
        columns["campaign_type"] = frame["campaign_type"].astype("string")
    return pd.DataFrame(columns)


def campaign_uplift(
    campaigns: pd.DataFrame,
    transactions: ir.Table,
    *,
    window_days: int = RECOVERY_DEFAULTS["window_days"],
    alpha: float = 0.05,
    as_of=None,
    assumed_uplift: float | None = None,
    ci_method: str = "newcomb",
) -> pd.DataFrame:
    """Incremental effect of each campaign: treatment vs randomised control, with uncertainty.

    For every customer in a campaign, the outcome window runs from ``sent_at`` (exclusive) to
    ``sent_at + window_days`` (inclusive). A customer **converts** with at least one purchase
    (non-return row) in the window; their **revenue** is the net amount of all their rows in the
    window (returns subtract; customers without rows have 0).

    Statistics per campaign (treatment minus control):

    * ``uplift`` (difference of conversion rates) with a ``1 - alpha`` interval from statsmodels
      ``confint_proportions_2indep`` (``ci_method``, Newcombe's hybrid score by default);
    * ``z`` and ``p_value`` of the two-sided pooled two-proportion z-test (``proportions_ztest``);
    * ``power``: probability of detecting ``assumed_uplift`` (or, when not given, the observed
      uplift -- "observed power", which only restates the p-value) at level ``alpha``, from
      ``power_proportions_2indep``; ``mde``: smallest uplift detectable with 80 % power at these
      group sizes and control rate (``NormalIndPower`` on Cohen's h);
    * ``revenue_uplift`` per customer with a Welch t interval (revenue is skewed and zero-inflated:
      the interval relies on the central limit theorem, so read it with care for small groups);
    * ``incremental_customers`` = uplift x treated customers and ``incremental_revenue`` =
      revenue_uplift x treated customers, with interval bounds scaled the same way.

    Parameters
    ----------
    campaigns
        Contract campaigns table (pandas): ``customer_id``, ``campaign_id``, ``sent_at``, ``group``
        ('treatment' or 'control'), optional ``campaign_type``.
    transactions
        The contract's transactions table (Ibis).
    window_days
        Outcome window in days.
    alpha
        1 - confidence level of the intervals, and the test level for power.
    as_of
        Cut-off date; when given, ``window_complete`` says whether every customer's window had
        ended by then. A campaign whose last window ends after ``as_of`` is ``running``: its
        rates, uplift and other outcome statistics are NaN until the window has ended (outcomes so
        far would understate the effect).
    assumed_uplift
        Uplift (difference of rates) to compute the power for; ``None`` = the observed uplift.
    ci_method
        Method of ``confint_proportions_2indep`` for the uplift interval (e.g. ``"newcomb"``,
        ``"wald"``, ``"agresti-caffo"``).

    Returns
    -------
    pandas.DataFrame
        One row per campaign: ``campaign_id``, ``campaign_type``, ``first_sent``, ``last_sent``,
        ``window_end``, ``window_complete``, ``status`` (``running`` or ``complete``); for each
        group ``n_*``, ``converted_*``, ``rate_*`` with a Wilson interval
        ``rate_*_lower``/``rate_*_upper`` and ``revenue_per_customer_*``; then ``uplift``,
        ``uplift_lower``, ``uplift_upper``, ``z``, ``p_value``, ``power``, ``mde``,
        ``revenue_uplift``, ``revenue_uplift_lower``, ``revenue_uplift_upper``,
        ``revenue_p_value``, ``incremental_customers`` (+ ``_lower``/``_upper``),
        ``incremental_revenue`` (+ ``_lower``/``_upper``). Comparative statistics are NaN for a
        campaign without both groups.
    """
    if int(window_days) <= 0:
        raise ConfigError(f"window_days is {window_days}; use a positive number of days.")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha is {alpha}; use a level between 0 and 1, e.g. 0.05.")
    check_transactions(transactions, needed=("customer_id", "timestamp", "amount", "is_return"))
    sends = _validated_campaigns(campaigns)
    groups = _group_outcomes(sends, transactions, int(window_days))
    rows = []
    for campaign_id, meta in sends.groupby("campaign_id", sort=True):
        row = {
            "campaign_id": campaign_id,
            "campaign_type": (meta["campaign_type"].mode().iloc[0]
                              if "campaign_type" in meta and meta["campaign_type"].notna().any() else None),
            "first_sent": meta["sent_at"].min(),
            "last_sent": meta["sent_at"].max(),
        }
        row.update(_window_state(row["last_sent"], int(window_days), as_of))
        outcome = groups[groups["campaign_id"] == campaign_id].set_index("group")
        statistics = _uplift_statistics(outcome, alpha=alpha, assumed_uplift=assumed_uplift, ci_method=ci_method)
        if row["status"] == "running":  # outcomes so far understate the effect: report none yet
            statistics = {k: (v if k.startswith("n_") else np.nan) for k, v in statistics.items()}
        row.update(statistics)
        rows.append(row)
    result = pd.DataFrame(rows)
    result.attrs.update(window_days=int(window_days), alpha=alpha, ci_method=ci_method)
    return result


def _window_state(last_sent: pd.Timestamp, window_days: int, as_of) -> dict:
    """``window_end``, ``window_complete`` and ``status`` (running until the last window has ended)."""
    window_end = last_sent + pd.Timedelta(days=window_days)
    if as_of is None:
        return {"window_end": window_end, "window_complete": None, "status": "complete"}
    complete = bool(window_end <= resolve_as_of(as_of) + pd.Timedelta(days=1))
    return {"window_end": window_end, "window_complete": complete, "status": "complete" if complete else "running"}


def _group_outcomes(sends: pd.DataFrame, transactions: ir.Table, window_days: int) -> pd.DataFrame:
    """Per campaign and group: customers, converters, revenue mean and sample variance (in the engine)."""
    targeted = ibis.memtable(sends[["campaign_id", "customer_id", "group", "sent_at"]])
    rows = transactions.select(
        tx_customer=transactions.customer_id, timestamp=transactions.timestamp, amount=transactions.amount,
        purchase=(~transactions.is_return.fill_null(False)).cast("int64"),
    )
    joined = targeted.left_join(
        rows,
        (targeted.customer_id == rows.tx_customer)
        & (rows.timestamp > targeted.sent_at)
        & (rows.timestamp <= targeted.sent_at + ibis.interval(days=window_days)),
    )
    per_customer = joined.group_by(["campaign_id", "group", "customer_id"]).aggregate(
        converted=joined.purchase.max().fill_null(0),
        revenue=joined.amount.sum().fill_null(0.0),
    )
    per_group = per_customer.group_by(["campaign_id", "group"]).aggregate(
        n=per_customer.customer_id.count(),
        converted=per_customer.converted.sum(),
        revenue_mean=per_customer.revenue.mean(),
        revenue_var=per_customer.revenue.var(how="sample"),
    )
    return per_group.execute()


def _uplift_statistics(outcome: pd.DataFrame, *, alpha: float, assumed_uplift: float | None,
                       ci_method: str) -> dict:
    stats_row: dict = {}
    for group in CAMPAIGN_GROUPS:
        n = int(outcome.loc[group, "n"]) if group in outcome.index else 0
        converted = int(outcome.loc[group, "converted"]) if group in outcome.index else 0
        rate = converted / n if n else np.nan
        lower, upper = proportion_confint(converted, n, alpha=alpha, method="wilson") if n else (np.nan, np.nan)
        stats_row.update({
            f"n_{group}": n, f"converted_{group}": converted, f"rate_{group}": rate,
            f"rate_{group}_lower": lower, f"rate_{group}_upper": upper,
            f"revenue_per_customer_{group}": float(outcome.loc[group, "revenue_mean"]) if n else np.nan,
        })
    comparative = ["uplift", "uplift_lower", "uplift_upper", "z", "p_value", "power", "mde", "revenue_uplift",
                   "revenue_uplift_lower", "revenue_uplift_upper", "revenue_p_value", "incremental_customers",
                   "incremental_customers_lower", "incremental_customers_upper", "incremental_revenue",
                   "incremental_revenue_lower", "incremental_revenue_upper"]
    stats_row.update(dict.fromkeys(comparative, np.nan))
    n_t, n_c = stats_row["n_treatment"], stats_row["n_control"]
    if n_t < 2 or n_c < 2:
        return stats_row
    x_t, x_c = stats_row["converted_treatment"], stats_row["converted_control"]
    p_t, p_c = stats_row["rate_treatment"], stats_row["rate_control"]
    uplift = p_t - p_c
    lower, upper = confint_proportions_2indep(x_t, n_t, x_c, n_c, method=ci_method, compare="diff", alpha=alpha)
    pooled = (x_t + x_c) / (n_t + n_c)
    if 0 < pooled < 1:
        z, p_value = proportions_ztest([x_t, x_c], [n_t, n_c], alternative="two-sided")
    else:
        z, p_value = np.nan, np.nan  # nobody (or everybody) converted: no variation to test
    effect = uplift if assumed_uplift is None else float(assumed_uplift)
    power = np.nan
    if 0 < p_c < 1 and 0 < p_c + effect < 1 and effect != 0:
        power = float(power_proportions_2indep(effect, p_c, n_t, ratio=n_c / n_t, alpha=alpha).power)
    mde = _minimum_detectable_uplift(p_c, n_t, n_c, alpha)
    revenue = _welch_difference(outcome, alpha)
    stats_row.update({
        "uplift": uplift, "uplift_lower": float(lower), "uplift_upper": float(upper),
        "z": float(z), "p_value": float(p_value), "power": power, "mde": mde,
        **revenue,
        "incremental_customers": uplift * n_t,
        "incremental_customers_lower": float(lower) * n_t,
        "incremental_customers_upper": float(upper) * n_t,
        "incremental_revenue": revenue["revenue_uplift"] * n_t,
        "incremental_revenue_lower": revenue["revenue_uplift_lower"] * n_t,
        "incremental_revenue_upper": revenue["revenue_uplift_upper"] * n_t,
    })
    return stats_row


def _minimum_detectable_uplift(p_control: float, n_t: int, n_c: int, alpha: float, power: float = 0.8) -> float:
    """Smallest increase over ``p_control`` detectable with ``power`` (two-sided test on Cohen's h)."""
    if not 0 <= p_control < 1:
        return np.nan
    h = NormalIndPower().solve_power(effect_size=None, nobs1=n_t, alpha=alpha, power=power, ratio=n_c / n_t)
    angle = np.arcsin(np.sqrt(p_control)) + h / 2
    if angle >= np.pi / 2:
        return np.nan
    return float(np.sin(angle) ** 2 - p_control)


def _welch_difference(outcome: pd.DataFrame, alpha: float) -> dict:
    mean_t, mean_c = outcome.loc["treatment", "revenue_mean"], outcome.loc["control", "revenue_mean"]
    var_t = outcome.loc["treatment", "revenue_var"]
    var_c = outcome.loc["control", "revenue_var"]
    n_t, n_c = outcome.loc["treatment", "n"], outcome.loc["control", "n"]
    difference = float(mean_t - mean_c)
    se2_t, se2_c = var_t / n_t, var_c / n_c
    se = np.sqrt(se2_t + se2_c)
    if not np.isfinite(se) or se == 0:
        return {"revenue_uplift": difference, "revenue_uplift_lower": np.nan, "revenue_uplift_upper": np.nan,
                "revenue_p_value": np.nan}
    df = (se2_t + se2_c) ** 2 / (se2_t**2 / (n_t - 1) + se2_c**2 / (n_c - 1))
    t_crit = stats.t.ppf(1 - alpha / 2, df)
    p_value = 2 * stats.t.sf(abs(difference) / se, df)
    return {"revenue_uplift": difference, "revenue_uplift_lower": difference - t_crit * se,
            "revenue_uplift_upper": difference + t_crit * se, "revenue_p_value": float(p_value)}


def holdout_size(baseline_rate: float, uplift: float = RECOVERY_DEFAULTS["holdout_uplift"], *,
                 alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per group (treatment and control, equal sizes) to detect ``uplift`` over ``baseline_rate``.

    Two-sided test at level ``alpha`` on Cohen's h (``NormalIndPower``), the calculation behind
    ``mde`` of :func:`campaign_uplift`. Returns 0 when the rates are not both inside (0, 1).
    """
    if not (0 < baseline_rate < 1 and 0 < baseline_rate + uplift < 1) or uplift == 0:
        return 0
    effect = proportion_effectsize(baseline_rate + uplift, baseline_rate)
    n = NormalIndPower().solve_power(effect_size=abs(effect), nobs1=None, alpha=alpha, power=power, ratio=1.0)
    return int(np.ceil(n))


def campaign_response(
    campaigns: pd.DataFrame,
    transactions: ir.Table,
    *,
    as_of=None,
    window_days: int = RECOVERY_DEFAULTS["window_days"],
    lapse_days: int = RECOVERY_DEFAULTS["lapse_days"],
    churn_days: int = RECOVERY_DEFAULTS["churn_days"],
    holdout_uplift: float = RECOVERY_DEFAULTS["holdout_uplift"],
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """Response of contacted customers beside comparable uncontacted ones, for campaigns without a control group.

    **Observational**: who was contacted was chosen, not randomised, so the difference between the
    two rates mixes the campaign's effect with how the contacted customers were selected. It is no
    uplift and gets no confidence interval; only a randomised holdout measures the effect, and
    ``holdout_per_group`` says how large it must be.

    Customers are compared within their recency band at the send (days since the last purchase
    day before it): ``active`` (<= ``lapse_days``), ``lapsed`` (<= ``churn_days``), ``churned``
    (longer), or ``no purchase`` (contacted before any purchase). A contacted customer is measured
    from their own ``sent_at``; the uncontacted customers of a campaign (everyone with a purchase
    before its first send who is not in it) from its first ``sent_at``. A customer **responds**
    with a purchase (non-return row) in (send, send + ``window_days``].

    Parameters
    ----------
    campaigns
        Contract campaigns table (pandas): ``customer_id``, ``campaign_id``, ``sent_at`` and optional
        ``campaign_type``; a ``group`` column is ignored.
    transactions
        The contract's transactions table (Ibis).
    as_of
        Cut-off date; a campaign whose window ends after it is ``running`` (rates NaN).
    window_days, lapse_days, churn_days
        Response window and recency bands, in days.
    holdout_uplift, alpha, power
        The holdout is sized to detect this uplift over the uncontacted rate, or over the contacted
        rate when no comparable customer was left uncontacted (:func:`holdout_size`).

    Returns
    -------
    pandas.DataFrame
        One row per campaign and recency band at the send: ``campaign_id``, ``campaign_type``,
        ``first_sent``, ``window_end``, ``status``, ``stage_at_send``, ``n_contacted``,
        ``responded_contacted``, ``rate_contacted``, ``n_uncontacted``, ``responded_uncontacted``,
        ``rate_uncontacted``, ``difference`` (contacted minus uncontacted, observational),
        ``holdout_baseline`` (the response rate the holdout is sized for) and
        ``holdout_per_group``. ``attrs['basis']`` is ``"observational"``.
    """
    if int(window_days) <= 0:
        raise ConfigError(f"window_days is {window_days}; use a positive number of days.")
    _check_thresholds(lapse_days, churn_days)
    check_transactions(transactions, needed=("customer_id", "timestamp", "is_return"))
    sends = _validated_campaigns(campaigns, with_group=False)
    as_of = resolve_as_of(as_of, transactions)
    first_send = sends.groupby("campaign_id")["sent_at"].min().rename("sent_at").reset_index()
    purchases = transactions.filter(~transactions.is_return.fill_null(False))
    purchases = purchases.select(buyer=purchases.customer_id, bought_at=purchases.timestamp)
    contacted = ibis.memtable(sends[["campaign_id", "customer_id", "sent_at"]]).mutate(contacted=ibis.literal(True))
    firsts = ibis.memtable(first_send)
    buyers = purchases.select(customer_id=purchases.buyer, bought_at=purchases.bought_at)
    earlier = buyers.join(firsts, buyers.bought_at <= firsts.sent_at)
    uncontacted = earlier.select("campaign_id", "customer_id", "sent_at").distinct().anti_join(
        contacted, ["campaign_id", "customer_id"]).mutate(contacted=ibis.literal(False))
    exposed = ibis.union(contacted, uncontacted)
    joined = exposed.left_join(purchases, exposed.customer_id == purchases.buyer)
    window_end = joined.sent_at + ibis.interval(days=int(window_days))
    per_customer = joined.group_by(["campaign_id", "customer_id", "sent_at", "contacted"]).aggregate(
        last_before=joined.bought_at.max(where=joined.bought_at <= joined.sent_at),
        responded=(joined.bought_at.notnull() & (joined.bought_at > joined.sent_at)
                   & (joined.bought_at <= window_end)).any(),
    ).execute()
    recency = (pd.to_datetime(per_customer["sent_at"]).dt.normalize()
               - pd.to_datetime(per_customer["last_before"]).dt.normalize()).dt.days
    per_customer["stage_at_send"] = np.select(
        [recency.isna(), recency <= int(lapse_days), recency <= int(churn_days)],
        ["no purchase", "active", "lapsed"], "churned")
    per_customer["responded"] = per_customer["responded"].fillna(False).astype(bool)
    counts = per_customer.groupby(["campaign_id", "stage_at_send", "contacted"])["responded"].agg(["size", "sum"])
    rows = []
    for campaign_id, meta in sends.groupby("campaign_id", sort=True):
        state = _window_state(meta["sent_at"].max(), int(window_days), as_of)
        campaign_type = (meta["campaign_type"].mode().iloc[0]
                         if "campaign_type" in meta and meta["campaign_type"].notna().any() else None)
        for band in ("active", "lapsed", "churned", "no purchase"):
            row = {"campaign_id": campaign_id, "campaign_type": campaign_type, "first_sent": meta["sent_at"].min(),
                   "window_end": state["window_end"], "status": state["status"], "stage_at_send": band}
            for contacted_flag, label in ((True, "contacted"), (False, "uncontacted")):
                key = (campaign_id, band, contacted_flag)
                n = int(counts.loc[key, "size"]) if key in counts.index else 0
                responded = int(counts.loc[key, "sum"]) if key in counts.index else 0
                running = state["status"] == "running"
                row.update({f"n_{label}": n, f"responded_{label}": np.nan if running else responded,
                            f"rate_{label}": responded / n if n and not running else np.nan})
            if row["n_contacted"] == 0:
                continue
            row["difference"] = row["rate_contacted"] - row["rate_uncontacted"]
            # Without comparable uncontacted customers, the contacted rate stands in for the control rate.
            baseline = row["rate_uncontacted"] if pd.notna(row["rate_uncontacted"]) else row["rate_contacted"]
            row["holdout_baseline"] = baseline
            row["holdout_per_group"] = (holdout_size(baseline, holdout_uplift, alpha=alpha, power=power)
                                        if pd.notna(baseline) else np.nan)
            rows.append(row)
    columns = ["campaign_id", "campaign_type", "first_sent", "window_end", "status", "stage_at_send", "n_contacted",
               "responded_contacted", "rate_contacted", "n_uncontacted", "responded_uncontacted", "rate_uncontacted",
               "difference", "holdout_baseline", "holdout_per_group"]
    result = pd.DataFrame(rows, columns=columns)
    result.attrs.update(basis="observational", window_days=int(window_days), lapse_days=int(lapse_days),
                        churn_days=int(churn_days), holdout_uplift=float(holdout_uplift), alpha=alpha, power=power,
                        as_of=as_of)
    return result


# --------------------------------------------------------------------------------------------------
# Surveys
# --------------------------------------------------------------------------------------------------

@dataclass
class SurveySummary:
    """NPS and scores of churned vs retained customers.

    Attributes
    ----------
    by_status : pandas.DataFrame
        Index ``status`` (churned, retained; ``unknown`` = respondent without a churn flag;
        ``too recent`` = answered less than the window before ``as_of``): columns
        ``respondents``, ``mean_score``, ``promoters``, ``passives``, ``detractors`` (shares) and
        ``nps`` (promoters - detractors, in points from -100 to 100).
    reasons : pandas.DataFrame
        ``status``, ``reason``, ``respondents``, ``share`` (of the status' respondents).
    test : pandas.DataFrame
        One row: the two-sided Mann-Whitney U test of the scores of churned vs retained
        respondents: ``test``, ``statistic``, ``p_value``, ``n_churned``, ``n_retained``,
        ``mean_difference`` (churned minus retained, score points).
    responses : pandas.DataFrame
        The responses used: ``customer_id``, ``responded_at``, ``score``, ``band``, ``status``
        (+ ``reason`` when present).
    n_responses, n_used : int
        Responses received and used (with ``latest_only`` earlier answers of the same customer
        are set aside).
    basis : str
        How respondents were labelled: ``"purchases after the response"`` or ``"churn flags"``.
    window_days : int or None
        With the purchases after the response: the follow-up window in days.
    """

    by_status: pd.DataFrame
    reasons: pd.DataFrame
    test: pd.DataFrame
    responses: pd.DataFrame
    n_responses: int
    n_used: int
    basis: str = "churn flags"
    window_days: int | None = None


def _churn_status(flags: pd.Series | pd.DataFrame, churned_stages: Sequence[str]) -> pd.Series:
    """Per customer: 'churned' or 'retained' from a boolean Series, a 'churned' column or a 'stage' column."""
    if isinstance(flags, pd.DataFrame):
        frame = flags.set_index("customer_id") if "customer_id" in flags.columns else flags
        if "churned" in frame.columns:
            churned = frame["churned"]
        elif "stage" in frame.columns:
            churned = frame["stage"].astype(str).isin(list(churned_stages))
        else:
            raise DataError("The churn flags need a 'churned' (bool) or 'stage' column.", source="churn flags",
                            hint="Pass clc.classify_stages(...) output or a boolean Series indexed by customer_id.")
    else:
        churned = flags
    if churned.isna().any():
        raise DataError("Some churn flags are missing.", source="churn flags", column="churned",
                        n_rows=int(churned.isna().sum()),
                        examples=[(cid, None) for cid in churned.index[churned.isna()][:5]],
                        hint="Give every customer True or False.")
    status = pd.Series(np.where(churned.astype(bool), "churned", "retained"), index=churned.index.astype(str))
    return status[~status.index.duplicated(keep="last")]


def _nps_band(scores: pd.Series) -> pd.Series:
    band = pd.Series(pd.NA, index=scores.index, dtype="object")
    for name, (low, high) in NPS_BANDS.items():
        # Fractional scores (e.g. averaged answers) fall in the band whose range contains their floor.
        band[(np.floor(scores) >= low) & (np.floor(scores) <= high)] = name
    return band


def survey_summary(
    surveys: pd.DataFrame,
    stages_or_churn_flags: pd.Series | pd.DataFrame | None = None,
    *,
    transactions: ir.Table | None = None,
    as_of=None,
    window_days: int = RECOVERY_DEFAULTS["survey_window_days"],
    churned_stages: Sequence[str] = ("churned",),
    latest_only: bool = True,
) -> SurveySummary:
    """NPS, mean score and reasons of churned vs retained customers, with a test of the difference.

    Respondents are labelled in one of two ways:

    * **by what they did after answering** (pass ``transactions``): ``churned`` when they made no
      purchase in the ``window_days`` after their response, ``retained`` when they did. Only
      responses followed up for the whole window (``responded_at + window_days`` on or before the
      end of the ``as_of`` day) are compared; later ones are ``too recent``. This is the question a
      survey can answer: do customers who are about to leave say so?
    * **by given flags** (``stages_or_churn_flags``), e.g. the lifecycle stage on ``as_of``. A
      stage on ``as_of`` mixes what happened before and long after the answer, so it describes the
      respondents' present, not what followed the response.

    Parameters
    ----------
    surveys
        Contract surveys table (pandas): ``customer_id``, ``responded_at``, ``score`` (0-10), and
        optional ``reason``.
    stages_or_churn_flags
        Per customer: a boolean Series (True = churned) indexed by ``customer_id``, a frame with a
        boolean ``churned`` column, or a frame with a ``stage`` column (e.g. from
        ``clc.classify_stages``), where ``churned_stages`` count as churned. Not used with
        ``transactions``.
    transactions
        The contract's transactions table (Ibis): label respondents by their purchases after the
        response (purchases are non-return rows).
    as_of
        Cut-off date of the follow-up (the whole day is included); ``None`` = the date of the last
        transaction.
    window_days
        Follow-up window after the response, in days.
    churned_stages
        Stages that count as churned when a ``stage`` column is given.
    latest_only
        Use each customer's latest response only (default), so that frequent respondents do not
        weigh more and the test's independence assumption holds; ``False`` uses every response.
        With ``transactions`` it is the latest response with a complete follow-up.

    Returns
    -------
    SurveySummary
        NPS bands: detractors 0-6, passives 7-8, promoters 9-10 (:data:`NPS_BANDS`);
        NPS = % promoters - % detractors.
    """
    needed = [c for c in ("customer_id", "responded_at", "score") if c not in surveys.columns]
    if needed:
        raise DataError("The surveys table lacks contract columns.", source="surveys", column=", ".join(needed),
                        hint="Map them in the run config (surveys: columns: ...).")
    responses = surveys.reset_index(drop=True).copy()
    responses["customer_id"] = responses["customer_id"].astype(str)
    score = pd.to_numeric(responses["score"], errors="coerce")
    bad = score.isna() | (score < 0) | (score > 10)
    if bad.any():
        raise DataError("Survey scores must be numbers from 0 to 10.", source="surveys", column="score",
                        n_rows=int(bad.sum()),
                        examples=[(i + 1, responses.loc[i, "score"]) for i in np.flatnonzero(bad)[:5]],
                        hint="Check the score column mapping; NPS answers are on a 0-10 scale.")
    responses["score"] = score.astype(float)
    responses["responded_at"] = pd.to_datetime(responses["responded_at"]).astype("datetime64[us]")
    n_responses = len(responses)
    if transactions is not None:
        if int(window_days) <= 0:
            raise ConfigError(f"window_days is {window_days}; use a positive number of days, e.g. 365.")
        check_transactions(transactions, needed=("customer_id", "timestamp", "is_return"))
        as_of = resolve_as_of(as_of, transactions)
        responses["status"] = _status_after_response(responses, transactions, as_of, int(window_days))
        basis, window = "purchases after the response", int(window_days)
    elif stages_or_churn_flags is not None:
        status = _churn_status(stages_or_churn_flags, churned_stages)
        responses["status"] = responses["customer_id"].map(status).fillna("unknown")
        basis, window = "churn flags", None
    else:
        raise ConfigError("survey_summary needs the transactions (to label respondents by their purchases "
                          "after the response) or churn flags.")
    if latest_only:
        # A too-recent answer does not hide an earlier one that was followed up long enough.
        followed_up = responses.assign(_recent=responses["status"] == TOO_RECENT)
        responses = (followed_up.sort_values(["customer_id", "_recent", "responded_at"], ascending=[True, False, True],
                                             kind="mergesort")
                     .drop_duplicates("customer_id", keep="last").drop(columns="_recent"))
    responses["band"] = _nps_band(responses["score"])
    keep = ["customer_id", "responded_at", "score", "band", "status"] + (["reason"] if "reason" in responses else [])
    responses = responses[keep].sort_values(["responded_at", "customer_id"], kind="mergesort").reset_index(drop=True)

    order = [s for s in SURVEY_STATUSES if (responses["status"] == s).any()]
    grouped = responses.groupby("status")
    band_shares = (pd.crosstab(responses["status"], responses["band"], normalize="index")
                   .reindex(index=order, columns=list(NPS_BANDS), fill_value=0.0))
    by_status = pd.DataFrame({
        "respondents": grouped.size().reindex(order),
        "mean_score": grouped["score"].mean().reindex(order),
        "promoters": band_shares["promoter"],
        "passives": band_shares["passive"],
        "detractors": band_shares["detractor"],
    })
    by_status["nps"] = 100 * (by_status["promoters"] - by_status["detractors"])
    by_status.index.name = "status"

    if "reason" in responses:
        reasons = (responses.assign(reason=responses["reason"].fillna("(no reason given)"))
                   .groupby(["status", "reason"]).size().rename("respondents").reset_index())
        reasons["share"] = reasons["respondents"] / reasons["status"].map(grouped.size())
        reasons = reasons.sort_values(["status", "respondents"], ascending=[True, False]).reset_index(drop=True)
    else:
        reasons = pd.DataFrame(columns=["status", "reason", "respondents", "share"])

    churned_scores = responses.loc[responses["status"] == "churned", "score"]
    retained_scores = responses.loc[responses["status"] == "retained", "score"]
    if len(churned_scores) and len(retained_scores):
        test = stats.mannwhitneyu(churned_scores, retained_scores, alternative="two-sided")
        statistic, p_value = float(test.statistic), float(test.pvalue)
    else:
        statistic, p_value = np.nan, np.nan
    test_row = pd.DataFrame([{
        "test": "Mann-Whitney U (two-sided)", "statistic": statistic, "p_value": p_value,
        "n_churned": len(churned_scores), "n_retained": len(retained_scores),
        "mean_difference": churned_scores.mean() - retained_scores.mean()
        if len(churned_scores) and len(retained_scores) else np.nan,
    }])
    return SurveySummary(by_status=by_status, reasons=reasons, test=test_row, responses=responses,
                         n_responses=n_responses, n_used=len(responses), basis=basis, window_days=window)


def _status_after_response(responses: pd.DataFrame, transactions: ir.Table, as_of: pd.Timestamp,
                           window_days: int) -> np.ndarray:
    """Per response: churned (no purchase in the window after it), retained, or too recent (in the engine)."""
    follow_up_end = as_of + pd.Timedelta(days=1)
    window = pd.Timedelta(days=window_days)
    answers = responses[["customer_id", "responded_at"]].reset_index(drop=True)
    answers["response"] = np.arange(len(answers), dtype="int64")
    asked = ibis.memtable(answers)
    purchases = transactions.filter(~transactions.is_return.fill_null(False))
    purchases = purchases.select(buyer=purchases.customer_id, bought_at=purchases.timestamp)
    joined = asked.join(
        purchases,
        (asked.customer_id == purchases.buyer) & (purchases.bought_at > asked.responded_at)
        & (purchases.bought_at <= asked.responded_at + ibis.interval(days=window_days)),
    )
    bought = set(joined.select("response").distinct().execute()["response"].astype("int64"))
    complete = (answers["responded_at"] + window < follow_up_end).to_numpy()
    returned = answers["response"].isin(bought).to_numpy()
    # A purchase within the window is known even when the window has not ended; only its absence is not.
    return np.where(returned & complete, "retained", np.where(complete, "churned", TOO_RECENT))
