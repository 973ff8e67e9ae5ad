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
        The term's label with the report parameters filled in (what the report and index show).
    value
        The raw value: a number, share (0-1), timestamp or None/NaN when it cannot be computed.
    kind
        Display kind of :data:`clc_lib.display.FIGURE_KINDS` (``currency``, ``percent``, ``count``,
        ``days``, ``date``, ``number``, ``text``).
    definition
        The term's one-line description with this run's thresholds filled in.
    """

    key: str
    label: str
    value: Any
    kind: str
    definition: str = ""


class _Figures:
    """Collects figures whose labels and definitions come from the run's resolved terms."""

    def __init__(self, run: Any, keys: list[str], **parameters: Any) -> None:
        self.terms: dict[str, Term] = run_terms(run, keys, **parameters)
        self.items: list[KeyFigure] = []

    def add(self, key: str, value: Any, kind: str) -> None:
        resolved = self.terms[key]
        self.items.append(KeyFigure(key, resolved.label, value, kind, resolved.description))


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
        Customers acquired (count), repeat customers, loyal customers, lapsed or churned customers
        (shares of customers, 0-1), net revenue (run currency) and the last purchase date.
    """
    summary = run.summary()
    figures = _Figures(run, ["acquired_customer", "repeat_customer", "net_revenue", "loyal_customer",
                             "lapsed_or_churned", "last_purchase_date"])
    figures.add("acquired_customer", len(members(run, "acquired_customer")), "count")
    figures.add("repeat_customer", share_of_customers(run, "repeat_customer"), "percent")
    figures.add("net_revenue", float(summary["net_revenue"].sum()), "currency")
    figures.add("loyal_customer", share_of_customers(run, "loyal_customer"), "percent")
    figures.add("lapsed_or_churned", share_of_customers(run, "lapsed_or_churned"), "percent")
    figures.add("last_purchase_date", summary["last_purchase"].max(), "date")
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
                             "days_between_purchases", "repeat_within_window"], window_days=repeat_window_days)
    figures.add("acquired_customer", int(overview["customers_acquired"]), "count")
    figures.add("first_purchase_date", overview["first_purchase"], "date")
    figures.add("repeat_customer", share_of_customers(run, "repeat_customer"), "percent")
    figures.add("days_between_purchases", _median(_customer_summary(run)["mean_gap_days"]), "days")
    figures.add("repeat_within_window", overview["repeat_rate"], "percent")
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
        returns (positive, run currency) and the top ``top_share`` of customers' share of net revenue
        (customers with negative net revenue count as zero).
    """
    from clc_lib.monetisation import top_share as share_of_top

    summary = run.summary()
    customers = _customer_summary(run)
    net_revenue = float(summary["net_revenue"].sum())
    figures = _Figures(run, ["net_revenue", "orders", "net_revenue_per_customer", "returns", "top_share"],
                       top_share=top_share)
    figures.add("net_revenue", net_revenue, "currency")
    figures.add("orders", int(summary["orders"].sum()), "count")
    figures.add("net_revenue_per_customer", net_revenue / len(customers) if len(customers) else math.nan, "currency")
    figures.add("returns", float(summary["return_amount"].sum()), "currency")
    figures.add("top_share", share_of_top(customers["net_revenue"], top_share, negative="clip")
                if len(customers) else math.nan, "percent")
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
        :func:`clc_lib.cohorts.retention_curve`, None before any cohort reaches it) and churned
        customers (share of customers in the churned stage).
    """
    from clc_lib.cohorts import cohort_matrix, retention_curve

    customers = _customer_summary(run)
    retained_after_one = None
    if len(customers):
        curve = retention_curve(cohort_matrix(run.transactions, period=run.period, as_of=run.as_of))
        retained_after_one = curve.set_index("periods_since_first")["retention"].get(1)
    figures = _Figures(run, ["customer", "repeat_customer", "days_since_last_purchase", "retention_one_period",
                             "churned_customer"])
    figures.add("customer", len(customers), "count")
    figures.add("repeat_customer", share_of_customers(run, "repeat_customer"), "percent")
    figures.add("days_since_last_purchase", _median(customers["recency_days"]), "days")
    figures.add("retention_one_period", retained_after_one, "percent")
    figures.add("churned_customer", share_of_customers(run, "churned_customer"), "percent")
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
        Customers (count), median days since the last purchase (days), returns (run currency),
        lapsed or churned customers (share of customers) and the reactivation rate of the last full
        period (:func:`clc_lib.recovery.reactivation` with the stage rules' reactivation gap; None
        before a full period has passed).
    """
    from clc_lib.recovery import reactivation

    summary = run.summary()
    customers = _customer_summary(run)
    gap_days = int(run.stage_rules().thresholds["reactivation_gap_days"])
    rates = reactivation(run.transactions, run.as_of, lapse_days=gap_days, period=run.period).rates
    figures = _Figures(run, ["customer", "days_since_last_purchase", "returns", "lapsed_or_churned",
                             "reactivation_rate"])
    figures.add("customer", len(customers), "count")
    figures.add("days_since_last_purchase", _median(customers["recency_days"]), "days")
    figures.add("returns", float(summary["return_amount"].sum()), "currency")
    figures.add("lapsed_or_churned", share_of_customers(run, "lapsed_or_churned"), "percent")
    figures.add("reactivation_rate", float(rates["reactivation_rate"].iloc[-1]) if len(rates) else None, "percent")
    return figures.items
