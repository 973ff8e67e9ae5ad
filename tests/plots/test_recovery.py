"""Recovery charts: lapsed customers, reactivation, campaign uplift and survey scores."""

from __future__ import annotations

import pandas as pd

from clc_lib.plots.recovery import (
    plot_campaign_uplift,
    plot_lapsed_counts,
    plot_reactivation_rate,
    plot_survey_scores,
)

from .axes_checks import assert_labelled


def test_lapsed_counts_reactivation_and_uplift_charts():
    counts = pd.DataFrame({"period_end": pd.to_datetime(["2024-01-31", "2024-02-29"]), "active": [10, 8],
                           "lapsed": [2, 3], "churned": [0, 1]})
    assert_labelled(plot_lapsed_counts(counts))
    rates = pd.DataFrame({"period_start": pd.to_datetime(["2024-02-01", "2024-03-01"]),
                          "reactivation_rate": [0.05, 0.07]})
    assert_labelled(plot_reactivation_rate(rates))
    uplift = pd.DataFrame({
        "campaign_id": ["wb1"], "uplift": [0.1],
        "rate_treatment": [0.3], "rate_treatment_lower": [0.26], "rate_treatment_upper": [0.35],
        "rate_control": [0.2], "rate_control_lower": [0.15], "rate_control_upper": [0.26],
    })
    ax = plot_campaign_uplift(uplift)
    assert_labelled(ax, y_label=False)
    assert "+10.0 pts" in ax.get_yticklabels()[0].get_text()


def test_survey_chart_shows_shares_per_status():
    responses = pd.DataFrame({"score": [10, 9, 0, 7, 7, 3], "status": ["churned"] * 3 + ["retained"] * 3})
    ax = plot_survey_scores(responses)
    assert_labelled(ax)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches if p.get_height() > 0)
    assert heights == sorted([round(1 / 3, 6)] * 4 + [round(2 / 3, 6)])
