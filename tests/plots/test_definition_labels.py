"""Charts that show a defined term take its label from clc_lib.definitions, so a page and its charts agree."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from clc_lib import definitions
from clc_lib.definitions import TERMS
from clc_lib.plots.acquisition import plot_repeat_rate
from clc_lib.plots.cohorts import plot_churn_rate
from clc_lib.plots.monetisation import plot_revenue_by, plot_revenue_over_time
from clc_lib.plots.recovery import plot_lapsed_counts, plot_reactivation_rate

from .axes_checks import assert_labelled

PERIODS = pd.to_datetime(["2024-02-01", "2024-03-01"])


def _rates(inactivity_days: int | None) -> pd.DataFrame:
    frame = pd.DataFrame({"period_start": PERIODS, "churn_rate": [0.05, 0.06]})
    frame.attrs["inactivity_days"] = inactivity_days
    return frame


def _relabelled(monkeypatch, key: str, label: str) -> None:
    monkeypatch.setitem(definitions.TERMS, key, dataclasses.replace(TERMS[key], label=label))


def test_the_churn_rate_chart_is_labelled_with_the_defined_churn_rate(monkeypatch):
    ax = plot_churn_rate(_rates(292))
    assert_labelled(ax, "292 days")
    assert ax.get_ylabel().startswith(TERMS["churn_rate"].label + " (")
    assert "not yet churned" in ax.get_ylabel()
    _relabelled(monkeypatch, "churn_rate", "Attrition")
    assert plot_churn_rate(_rates(292)).get_ylabel().startswith("Attrition (")  # read when drawn, not copied


def test_period_churn_is_the_buyer_drop_off_rate_and_cannot_be_taken_for_the_churn_rate():
    period = plot_churn_rate(_rates(None))
    inactivity = plot_churn_rate(_rates(292))
    assert period.get_ylabel().startswith(TERMS["buyer_dropoff_rate"].label + " (")
    assert TERMS["churn_rate"].label not in period.get_title() + period.get_ylabel()
    assert period.get_title() != inactivity.get_title() and period.get_ylabel() != inactivity.get_ylabel()


def test_recency_bands_are_the_defined_active_lapsed_and_churned_customers(monkeypatch):
    counts = pd.DataFrame({"period_end": PERIODS, "active": [10, 8], "lapsed": [2, 3], "churned": [0, 1]})
    counts.attrs.update(lapse_days=117, churn_days=292)
    ax = plot_lapsed_counts(counts)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    # listed top-down as the bands are stacked: churned on top
    assert legend == [TERMS[k].label for k in ("churned_customer", "lapsed_customer", "active_customer")]
    assert ax.get_ylabel() == TERMS["customer"].label
    _relabelled(monkeypatch, "lapsed_customer", "Quiet customers")
    legend = [text.get_text() for text in plot_lapsed_counts(counts).get_legend().get_texts()]
    assert legend[1] == "Quiet customers"


def test_the_reactivation_chart_does_not_call_its_base_lapsed():
    rates = pd.DataFrame({"period_start": PERIODS, "reactivation_rate": [0.05, 0.07]})
    rates.attrs["lapse_days"] = 200
    ax = plot_reactivation_rate(rates)
    text = (ax.get_title() + ax.get_ylabel()).lower()
    assert "lapsed" not in text and "more than 200 days" in text


def test_revenue_and_repeat_rate_axes_use_the_term_labels():
    revenue = pd.DataFrame({"channel": ["web", "store"], "net_revenue": [250.0, 20.0], "revenue_share": [0.93, 0.07],
                            "customer_share": [0.6, 0.4]})
    ax = plot_revenue_by(revenue, by="channel", currency="EUR")
    assert ax.get_xlabel() == f"{TERMS['net_revenue'].label} (EUR)"
    repeat = pd.DataFrame({"cohort": PERIODS, "channel": ["web", "web"], "repeat_rate": [0.3, np.nan]})
    ax = plot_repeat_rate(repeat, window_days=90)
    # long axis labels wrap onto a second line; the words are the term's
    assert " ".join(ax.get_ylabel().split()) == (TERMS["repeat_within_window"].label.format(window_days=90)
                                                 + " (% of cohort)")


def test_customers_buying_in_a_period_are_not_called_active_customers():
    per_period = pd.DataFrame({"period_start": PERIODS, "active_customers": [3, 2], "net_revenue": [110.0, 52.0]})
    ax = plot_revenue_over_time(per_period, metric="active_customers")
    assert TERMS["active_customer"].label.lower() not in (ax.get_title() + ax.get_ylabel()).lower()
    ax = plot_revenue_over_time(per_period, metric="net_revenue", currency="EUR")
    assert ax.get_ylabel() == f"{TERMS['net_revenue'].label} (EUR)"
