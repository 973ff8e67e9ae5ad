"""Cohort charts: return Axes, titles and labels with units, masked cells blank."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from clc_lib.errors import DataError
from clc_lib.plots.cohorts import plot_churn_rate, plot_cohort_heatmap, plot_retention_curve

from .axes_checks import assert_labelled


def _matrix() -> pd.DataFrame:
    matrix = pd.DataFrame(
        [[1.0, 0.25, 0.5], [1.0, 0.4, np.nan], [1.0, np.nan, np.nan]],
        index=pd.DatetimeIndex(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]), name="cohort"),
        columns=pd.RangeIndex(0, 3, name="periods_since_first"),
    )
    matrix.attrs.update(period="M", kind="on", values="share")
    return matrix


def test_cohort_heatmap_leaves_masked_cells_blank_and_prints_percentages():
    ax = plot_cohort_heatmap(_matrix())
    assert_labelled(ax)
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
    assert_labelled(ax)
    assert "Weeks" in ax.get_xlabel() and "%" in ax.get_ylabel()
    with_cohorts = plot_retention_curve(curve, matrix=_matrix())
    assert len(with_cohorts.lines) == 3 + 1  # one grey line per cohort and the average
    churn = pd.DataFrame({"period_start": pd.to_datetime(["2024-02-01", "2024-03-01"]), "churn_rate": [0.4, 0.3]})
    churn.attrs["inactivity_days"] = 90
    ax = plot_churn_rate(churn)
    assert_labelled(ax)
    assert "90 days" in ax.get_title()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.4, 0.3])


def test_charts_explain_wrong_input():
    with pytest.raises(DataError, match="churn_rate"):
        plot_churn_rate(pd.DataFrame({"period_start": []}))
