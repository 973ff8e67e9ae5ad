"""Stage and RFM charts: each returns Axes with a title and labelled axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ibis  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from clc_lib.plots import stages as plots  # noqa: E402
from clc_lib.rfm import rfm_scores, rfm_segments, segment_profiles  # noqa: E402
from clc_lib.stages import (  # noqa: E402
    classify_stages,
    stage_backtest,
    stage_counts,
    stage_flows,
    stage_history,
    stage_metrics,
    transition_matrix,
)
from clc_lib.summary import customer_summary  # noqa: E402
from test_stages import RULES, build_transactions  # noqa: E402


@pytest.fixture(scope="module")
def inputs():
    table = ibis.memtable(build_transactions())
    history = stage_history(table, rules=RULES, end="2024-12-31")
    stages = classify_stages(table, "2024-12-31", rules=RULES)
    segments = rfm_segments(rfm_scores(customer_summary(table, "2024-12-31")), "rf_grid")
    return {
        "counts": stage_counts(history),
        "matrix": transition_matrix(history),
        "flows": stage_flows(history),
        "metrics": stage_metrics(table, stages, history=history),
        "backtest": stage_backtest(table, "2024-09-30", window_days=60, rules=RULES),
        "segments": segments,
        "profiles": segment_profiles(customer_summary(table, "2024-12-31").join(segments[["segment"]])),
    }


def check_axes(ax, *words):
    assert isinstance(ax, plt.Axes)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    text = " ".join([ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]).lower()
    for word in words:
        assert word.lower() in text
    plt.close(ax.figure)


def test_stage_counts_chart(inputs):
    ax = plots.plot_stage_counts(data=inputs["counts"])
    check_axes(ax, "customers")
    assert {t.get_text() for t in ax.get_legend().get_texts()} <= set(inputs["counts"]["stage"].astype(str))
    check_axes(plots.plot_stage_counts(data=inputs["counts"], share=True), "share")


def test_transition_heatmap(inputs):
    check_axes(plots.plot_transition_matrix(data=inputs["matrix"]), "stage")


def test_flows_chart_draws_on_given_axes(inputs):
    _, ax = plt.subplots()
    assert plots.plot_stage_flows(data=inputs["flows"], ax=ax) is ax
    check_axes(ax, "customers")


def test_stage_metrics_chart_names_currency(inputs):
    check_axes(plots.plot_stage_metrics(data=inputs["metrics"], metric="aov", currency="EUR"), "EUR")
    check_axes(plots.plot_stage_metrics(data=inputs["metrics"], metric="revenue_share"), "share")


def test_backtest_chart(inputs):
    check_axes(plots.plot_stage_backtest(data=inputs["backtest"]), "60 days")


def test_rfm_heatmap_and_segment_sizes(inputs):
    ax = plots.plot_rfm_heatmap(data=inputs["segments"], currency="EUR")
    check_axes(ax, "recency score", "frequency score")
    assert any("EUR" in a.get_ylabel() for a in ax.figure.axes)  # colour bar unit
    check_axes(plots.plot_segment_sizes(data=inputs["profiles"]), "customers")
