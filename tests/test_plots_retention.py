"""Retention and recovery charts: return Axes, titles and labels with units, masked cells blank."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clc_lib.errors import DataError  # noqa: E402
from clc_lib.plots.retention import (  # noqa: E402
    plot_campaign_uplift,
    plot_churn_rate,
    plot_cohort_heatmap,
    plot_hazard_ratios,
    plot_lapsed_counts,
    plot_reactivation_rate,
    plot_retention_curve,
    plot_survey_scores,
    plot_survival_curves,
)
from clc_lib.survival import kaplan_meier  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _matrix() -> pd.DataFrame:
    matrix = pd.DataFrame(
        [[1.0, 0.25, 0.5], [1.0, 0.4, np.nan], [1.0, np.nan, np.nan]],
        index=pd.DatetimeIndex(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]), name="cohort"),
        columns=pd.RangeIndex(0, 3, name="periods_since_first"),
    )
    matrix.attrs.update(period="M", kind="on", values="share")
    return matrix


def _assert_labelled(ax: plt.Axes, *, y_label: bool = True) -> None:
    assert isinstance(ax, plt.Axes)
    assert ax.get_title()
    assert ax.get_xlabel()
    if y_label:
        assert ax.get_ylabel()


def test_cohort_heatmap_leaves_masked_cells_blank_and_prints_percentages():
    ax = plot_cohort_heatmap(_matrix())
    _assert_labelled(ax)
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["100%", "25%", "50%", "100%", "40%", "100%"])  # 6 observed cells, 3 masked
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2024-01", "2024-02", "2024-03"]
    assert "Months" in ax.get_xlabel()


def test_heatmap_draws_on_given_axes():
    _, given = plt.subplots()
    assert plot_cohort_heatmap(_matrix(), ax=given) is given


def test_retention_curve_and_churn_rate_charts():
    curve = pd.DataFrame({"periods_since_first": [0, 1, 2], "retention": [1.0, 0.3, 0.2]})
    curve.attrs["period"] = "W"
    ax = plot_retention_curve(curve)
    _assert_labelled(ax)
    assert "Weeks" in ax.get_xlabel() and "%" in ax.get_ylabel()
    with_cohorts = plot_retention_curve(curve, matrix=_matrix())
    assert len(with_cohorts.lines) == 3 + 1  # one grey line per cohort and the average
    churn = pd.DataFrame({"period_start": pd.to_datetime(["2024-02-01", "2024-03-01"]), "churn_rate": [0.4, 0.3]})
    churn.attrs["inactivity_days"] = 90
    ax = plot_churn_rate(churn)
    _assert_labelled(ax)
    assert "90 days" in ax.get_title()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.4, 0.3])


def test_survival_chart_shows_one_curve_per_group_and_logrank_p_in_title():
    curves = kaplan_meier([1, 2, 3, 4, 2, 5], [1, 1, 0, 1, 1, 0], ["a", "a", "a", "b", "b", "b"])
    ax = plot_survival_curves(curves, logrank_p=0.0123)
    _assert_labelled(ax)
    assert "p = 0.0123" in ax.get_title()
    assert "p = 1.0e-09" in plot_survival_curves(curves, logrank_p=1e-9).get_title()
    assert "p < 1e-16" in plot_survival_curves(curves, logrank_p=3e-77).get_title()
    assert len(ax.lines) == 2 and len(ax.collections) == 2  # step lines and confidence bands
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_hazard_ratio_forest_plot_labels_levels_against_reference():
    table = pd.DataFrame({
        "covariate": ["channel", "tenure"], "level": ["web", None], "reference": ["store", None],
        "hazard_ratio": [2.0, 0.9], "lower": [1.5, 0.8], "upper": [2.6, 1.0],
    })
    ax = plot_hazard_ratios(table)
    _assert_labelled(ax, y_label=False)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["channel: web vs store", "tenure (per unit)"]
    scaled = plot_hazard_ratios(table, units={"tenure": 100.0})
    assert [t.get_text() for t in scaled.get_yticklabels()][1] == "tenure (per 100)"
    assert ax.get_xscale() == "log"


def test_lapsed_counts_reactivation_and_uplift_charts():
    counts = pd.DataFrame({"period_end": pd.to_datetime(["2024-01-31", "2024-02-29"]), "active": [10, 8],
                           "lapsed": [2, 3], "churned": [0, 1]})
    _assert_labelled(plot_lapsed_counts(counts))
    rates = pd.DataFrame({"period_start": pd.to_datetime(["2024-02-01", "2024-03-01"]),
                          "reactivation_rate": [0.05, 0.07]})
    _assert_labelled(plot_reactivation_rate(rates))
    uplift = pd.DataFrame({
        "campaign_id": ["wb1"], "uplift": [0.1],
        "rate_treatment": [0.3], "rate_treatment_lower": [0.26], "rate_treatment_upper": [0.35],
        "rate_control": [0.2], "rate_control_lower": [0.15], "rate_control_upper": [0.26],
    })
    ax = plot_campaign_uplift(uplift)
    _assert_labelled(ax, y_label=False)
    assert "+10.0 pts" in ax.get_yticklabels()[0].get_text()


def test_survey_chart_shows_shares_per_status():
    responses = pd.DataFrame({"score": [10, 9, 0, 7, 7, 3], "status": ["churned"] * 3 + ["retained"] * 3})
    ax = plot_survey_scores(responses)
    _assert_labelled(ax)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches if p.get_height() > 0)
    assert heights == sorted([round(1 / 3, 6)] * 4 + [round(2 / 3, 6)])


def test_charts_explain_wrong_input():
    with pytest.raises(DataError, match="churn_rate"):
        plot_churn_rate(pd.DataFrame({"period_start": []}))
