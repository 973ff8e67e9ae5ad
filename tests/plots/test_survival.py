"""Survival charts: Kaplan-Meier curves with the log-rank p, hazard ratios on a log scale."""

from __future__ import annotations

import pandas as pd

from clc_lib.plots.survival import plot_hazard_ratios, plot_survival_curves
from clc_lib.survival import kaplan_meier

from .axes_checks import assert_labelled


def test_survival_chart_shows_one_curve_per_group_and_logrank_p_in_title():
    curves = kaplan_meier([1, 2, 3, 4, 2, 5], [1, 1, 0, 1, 1, 0], ["a", "a", "a", "b", "b", "b"])
    ax = plot_survival_curves(curves, logrank_p=0.0123)
    assert_labelled(ax)
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
    assert_labelled(ax, y_label=False)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["channel: web vs store", "tenure (per unit)"]
    scaled = plot_hazard_ratios(table, units={"tenure": 100.0})
    assert [t.get_text() for t in scaled.get_yticklabels()][1] == "tenure (per 100)"
    assert ax.get_xscale() == "log"
