"""The key figures of each report, computed from the run's shared results.

One function per report returns its executive-summary figures as :class:`KeyFigure` values, in
display order; the notebooks show them with :func:`clc_lib.display.show_key_figures`, which also
records them for the report index (the index compares figures by report and label from run to
run, so labels come from :mod:`clc_lib.definitions` and stay stable).

Every figure is computed by the existing analyses (``run.summary()``, ``run.stages()``,
:func:`clc_lib.acquisition.acquisition_overview`, :func:`clc_lib.recovery.reactivation`, ...), on
the populations of :mod:`clc_lib.definitions`: shares of customers divide by the customers (people
with a purchase up to ``as_of``), never by prospects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clc_lib.definitions import Term, members, run_terms, share_of_customers
from clc_lib.i18n import gettext as _

__all__ = [
    "KeyFigure",
    "segmentation_figures",
    "acquisition_figures",
    "monetisation_figures",
    "retention_figures",
    "recovery_figures",
]


@dataclass(frozen=True)
class KeyFigure:
    """One executive-summary figure.

    Attributes
    ----------
    key
        Key of its term in :data:`clc_lib.definitions.TERMS`.
    label
        The term's English label with the report parameters filled in: the figure's name in the
        run records, by which the index compares runs (in any language).
    value
        The raw value: a number, share (0-1), timestamp or None/NaN when it cannot be computed.
    kind
        Display kind of :data:`clc_lib.display.FIGURE_KINDS` (``currency``, ``percent``, ``count``,
        ``days``, ``date``, ``number``, ``text``).
    definition
        The term's one-line description with this run's thresholds filled in, in the report's
        language.
    count
        For a share of customers, the number of customers it counts (None otherwise), so that a
        reader never has to work a count out of a share.
    thresholds
        ``(threshold, days)`` pairs of the stage rules the figure depends on (``at_risk_days``, ...).
    detail
        A short line shown under the value (e.g. the 95% interval of a difference), or "", in the
        report's language.
    display_label
        The label as the cards, headlines and glossary show it, in the report's language
        ("" = ``label``).
    """

    key: str
    label: str
    value: Any
    kind: str
    definition: str = ""
    count: int | None = None
    thresholds: tuple[tuple[str, float], ...] = ()
    detail: str = ""
    display_label: str = ""


class _Figures:
    """Collects figures whose labels and definitions come from the run's resolved terms."""

    def __init__(self, run: Any, keys: list[str], **parameters: Any) -> None:
        self.terms: dict[str, Term] = run_terms(run, keys, **parameters)
        self.items: list[KeyFigure] = []

    def add(self, key: str, value: Any, kind: str, count: int | None = None, detail: str = "") -> None:
        resolved = self.terms[key]
        if kind == "currency" and isinstance(value, float) and math.isfinite(value):
            # Money to the cent: sums and model fits vary in their last bits between runs (parallel
            # sums), and the index would show such noise as a change.
            value = round(value, 2)
        self.items.append(KeyFigure(key, resolved.label, value, kind, resolved.shown_description, count,
                                    resolved.threshold_values, detail, resolved.shown_label))

    def add_share(self, run: Any, key: str) -> None:
        """A population as its share of customers, with its number of customers."""
        self.add(key, share_of_customers(run, key), "percent", count=len(members(run, key)))


def _at_risk_value(run: Any) -> float | None:
    """Predicted customer value (the run's CLV horizon) of the at-risk customers; None when the model cannot fit."""
    from clc_lib.clv import predict_run_value
    from clc_lib.errors import ModelFitError

    try:
        scores = predict_run_value(run)
    except (ModelFitError, ValueError):
        return None
    at_risk = members(run, "at_risk_customer")
    return float(scores["clv"].reindex(at_risk).fillna(0.0).sum())


def _winback_uplift(run: Any) -> tuple[float, str] | None:
    """Uplift of the latest finished campaign with a control group, and its interval and campaign.

    Returns ``(uplift, detail)``: the uplift as a difference of shares (0.044 = 4.4 points) and a
    line such as ``"95% interval +3.2 to +5.6 points · campaign WB1"``. None without a campaigns
    table, without a control group or before any campaign's outcome window has ended
    (:func:`clc_lib.campaigns.campaign_uplift`).
    """
    from clc_lib.campaigns import campaign_uplift, has_control_groups

    if run.campaigns is None or run.campaigns.empty or not has_control_groups(run.campaigns):
        return None
    uplift = campaign_uplift(run.campaigns, run.transactions, as_of=run.as_of)
    finished = uplift[(uplift["status"] == "complete") & uplift["uplift"].notna()]
    if finished.empty:
        return None
    latest = finished.sort_values("first_sent").iloc[-1]
    detail = _("95% interval {lower} to {upper} points · campaign {campaign}").format(
        lower=f"{100 * latest['uplift_lower']:+.1f}", upper=f"{100 * latest['uplift_upper']:+.1f}",
        campaign=latest["campaign_id"])
    return float(latest["uplift"]), detail


def _best_channel_ltv_cac(run: Any) -> str | None:
    """The paid channel with the highest LTV:CAC over the run's CLV horizon, as ``"paid_search, 3.2:1"``.

    The same computation as the acquisition report's LTV:CAC chart; None without spend, without
    channels matching the spend table, or without customers observed long enough for a value curve.
    """
    from clc_lib.acquisition import cac_by_channel, new_customers
    from clc_lib.periods import TIME_UNIT_DAYS
    from clc_lib.errors import ModelFitError
    from clc_lib.unit_economics import cumulative_revenue_per_customer, ltv_cac, ltv_from_revenue_curve

    if run.spend is None or run.spend.empty:
        return None
    try:
        monthly_new = new_customers(run.transactions, run.customers, period="M", as_of=run.as_of)
        cac = cac_by_channel(run.spend, monthly_new, by_period=False, require_matching_channels=True,
                             unpaid_channels=run.config.acquisition["unpaid_channels"])
        curve = cumulative_revenue_per_customer(run.transactions, run.customers, as_of=run.as_of,
                                                margin=run.config.margin, min_months=2)
    except ModelFitError:
        return None
    clv = run.config.clv
    ltv = ltv_from_revenue_curve(curve, horizon_weeks=clv.horizon * TIME_UNIT_DAYS[clv.time_unit] / 7)
    ratios = ltv_cac(ltv, cac)
    paid = set(cac.loc[cac["paid"], "channel"])
    ratios = ratios[ratios["channel"].isin(paid) & ratios["ltv_cac_ratio"].notna()]
    ratios = ratios[~ratios["channel"].isin(["all channels (blended)", "paid channels"])]
    if ratios.empty:
        return None
    best = ratios.sort_values("ltv_cac_ratio").iloc[-1]
    return f"{best['channel']}, {best['ltv_cac_ratio']:.1f}:1"


def _has_returns(run: Any) -> bool:
    """Whether the data hold any return or cancellation row (a data set without them has no returns figure)."""
    summary = run.summary()
    return bool((summary["return_amount"] != 0).any())


def _customer_summary(run: Any) -> pd.DataFrame:
    """``run.summary()`` restricted to customers (people with only returns are not customers)."""
    summary = run.summary()
    return summary[summary["purchase_days"] > 0]


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else math.nan


def segmentation_figures(run: Any) -> list[KeyFigure]:
    """Key figures of the segmentation report (01).

    Parameters
    ----------
    run
        A :class:`~clc_lib.run.RunData`.

    Returns
    -------
    list of KeyFigure
        Customers and prospects (counts, apart), repeat, loyal, at-risk and churned customers
        (shares of customers, 0-1, with their counts) and net revenue (run currency).
    """
    summary = run.summary()
    figures = _Figures(run, ["customer", "prospect", "repeat_customer", "loyal_customer", "at_risk_customer",
                             "churned_customer", "net_revenue"])
    figures.add("customer", len(members(run, "customer")), "count")
    figures.add("prospect", len(members(run, "prospect")), "count")
    figures.add_share(run, "repeat_customer")
    figures.add_share(run, "loyal_customer")
    figures.add_share(run, "at_risk_customer")
    figures.add_share(run, "churned_customer")
    figures.add("net_revenue", float(summary["net_revenue"].sum()), "currency")
    return figures.items


def acquisition_figures(run: Any, *, repeat_window_days: int = 90) -> list[KeyFigure]:
    """Key figures of the acquisition report (02).

    Parameters
    ----------
    run
        A :class:`~clc_lib.run.RunData`.
    repeat_window_days
        Window after the first purchase for the repeat rate, in days (the report parameter).

    Returns
    -------
    list of KeyFigure
        Customers acquired (count), first purchase in the data (date), repeat customers (share of
        customers), typical days between purchases (median over repeat customers of their mean gap,
        days) and the second purchase within ``repeat_window_days`` (share of acquired customers in
        complete cohorts, :func:`clc_lib.acquisition.acquisition_overview`).
    """
    from clc_lib.acquisition import acquisition_overview

    overview = acquisition_overview(run.transactions, run.customers, as_of=run.as_of,
                                    window_days=repeat_window_days)
    figures = _Figures(run, ["acquired_customer", "first_purchase_date", "repeat_customer",
                             "days_between_purchases", "repeat_within_window", "best_channel_ltv_cac"],
                       window_days=repeat_window_days)
    figures.add("acquired_customer", int(overview["customers_acquired"]), "count")
    # The card gives the day; the time of the earliest order is noise to a reader.
    first_purchase = overview["first_purchase"]
    figures.add("first_purchase_date", None if pd.isna(first_purchase) else pd.Timestamp(first_purchase).normalize(),
                "date")
    figures.add_share(run, "repeat_customer")
    figures.add("days_between_purchases", _median(_customer_summary(run)["mean_gap_days"]), "days")
    figures.add("repeat_within_window", overview["repeat_rate"], "percent")
    best_channel = _best_channel_ltv_cac(run)
    if best_channel is not None:
        figures.add("best_channel_ltv_cac", best_channel, "text")
    return figures.items


def monetisation_figures(run: Any, *, top_share: float = 0.2) -> list[KeyFigure]:
    """Key figures of the monetisation report (03).

    Parameters
    ----------
    run
        A :class:`~clc_lib.run.RunData`.
    top_share
        Share of customers counted as the top for the concentration figure (0-1).

    Returns
    -------
    list of KeyFigure
        Net revenue (run currency), orders (count), net revenue per customer (run currency),
        returns (positive, run currency; left out when the data hold no return or cancellation),
        the top ``top_share`` of customers' share of net revenue (customers with negative net
        revenue count as zero) and churned customers (share of customers, with their count).
    """
    from clc_lib.monetisation import top_share as share_of_top

    summary = run.summary()
    customers = _customer_summary(run)
    net_revenue = float(summary["net_revenue"].sum())
    figures = _Figures(run, ["net_revenue", "orders", "net_revenue_per_customer", "returns", "top_share",
                             "churned_customer"], top_share=top_share)
    figures.add("net_revenue", net_revenue, "currency")
    figures.add("orders", int(summary["orders"].sum()), "count")
    figures.add("net_revenue_per_customer", net_revenue / len(customers) if len(customers) else math.nan, "currency")
    if _has_returns(run):
        figures.add("returns", float(summary["return_amount"].sum()), "currency")
    figures.add("top_share", share_of_top(customers["net_revenue"], top_share, negative="clip")
                if len(customers) else math.nan, "percent")
    figures.add_share(run, "churned_customer")
    return figures.items


def retention_figures(run: Any) -> list[KeyFigure]:
    """Key figures of the retention report (04).

    Parameters
    ----------
    run
        A :class:`~clc_lib.run.RunData`.

    Returns
    -------
    list of KeyFigure
        Customers (count), repeat customers (share), median days since the last purchase (days),
        customers buying again one period after their first (pooled retention at age 1 of
        :func:`clc_lib.cohorts.retention_curve`, None before any cohort reaches it), at-risk and
        churned customers (shares of customers, with their counts) and the predicted value of the
        at-risk customers over the run's CLV horizon (run currency; None when the model cannot fit).
    """
    from clc_lib.cohorts import cohort_matrix, retention_curve

    customers = _customer_summary(run)
    retained_after_one = None
    if len(customers):
        curve = retention_curve(cohort_matrix(run.transactions, period=run.period, as_of=run.as_of))
        retained_after_one = curve.set_index("periods_since_first")["retention"].get(1)
    figures = _Figures(run, ["customer", "repeat_customer", "days_since_last_purchase", "retention_one_period",
                             "at_risk_customer", "churned_customer", "at_risk_value"])
    figures.add("customer", len(customers), "count")
    figures.add_share(run, "repeat_customer")
    figures.add("days_since_last_purchase", _median(customers["recency_days"]), "days")
    figures.add("retention_one_period", retained_after_one, "percent")
    figures.add_share(run, "at_risk_customer")
    figures.add_share(run, "churned_customer")
    figures.add("at_risk_value", _at_risk_value(run) if len(customers) else None, "currency")
    return figures.items


def recovery_figures(run: Any) -> list[KeyFigure]:
    """Key figures of the recovery report (05).

    Parameters
    ----------
    run
        A :class:`~clc_lib.run.RunData`.

    Returns
    -------
    list of KeyFigure
        Customers (count), lapsed or churned, at-risk and churned customers (shares of customers,
        with their counts), the predicted value of the at-risk customers over the run's CLV horizon
        (run currency; None when the model cannot fit) and the reactivation rate of the last full
        period (:func:`clc_lib.recovery.reactivation` with the stage rules' reactivation gap; None
        before a full period has passed); with a finished campaign that has a control group, its
        uplift in points, with its 95% interval and campaign as the card's detail line.
    """
    from clc_lib.recovery import reactivation

    customers = _customer_summary(run)
    gap_days = int(run.stage_rules().thresholds["reactivation_gap_days"])
    rates = reactivation(run.transactions, run.as_of, lapse_days=gap_days, period=run.period).rates
    figures = _Figures(run, ["customer", "lapsed_or_churned", "at_risk_customer", "churned_customer",
                             "at_risk_value", "reactivation_rate", "winback_uplift"])
    figures.add("customer", len(customers), "count")
    figures.add_share(run, "lapsed_or_churned")
    figures.add_share(run, "at_risk_customer")
    figures.add_share(run, "churned_customer")
    figures.add("at_risk_value", _at_risk_value(run) if len(customers) else None, "currency")
    figures.add("reactivation_rate", float(rates["reactivation_rate"].iloc[-1]) if len(rates) else None, "percent")
    winback = _winback_uplift(run)
    if winback is not None:
        figures.add("winback_uplift", winback[0], "points", detail=winback[1])
    return figures.items
