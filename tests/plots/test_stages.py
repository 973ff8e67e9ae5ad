"""Stage charts: each returns Axes with a title and labelled axes."""

from __future__ import annotations

import ibis
import matplotlib.pyplot as plt
import pytest
from test_stages import RULES, build_transactions

from clc_lib.definitions import stage_label
from clc_lib.plots import stages as plots
from clc_lib.stage_history import (
    stage_backtest,
    stage_counts,
    stage_flows,
    stage_history,
    stage_metrics,
    transition_matrix,
)
from clc_lib.stages import classify_stages

from .axes_checks import assert_labelled


@pytest.fixture(scope="module")
def inputs():
    table = ibis.memtable(build_transactions())
    history = stage_history(table, rules=RULES, end="2024-12-31")
    stages = classify_stages(table, "2024-12-31", rules=RULES)
    return {
        "counts": stage_counts(history),
        "matrix": transition_matrix(history),
        "flows": stage_flows(history),
        "metrics": stage_metrics(table, stages, history=history),
        "backtest": stage_backtest(table, "2024-09-30", window_days=60, rules=RULES),
    }


def test_stage_counts_chart(inputs):
    ax = plots.plot_stage_counts(data=inputs["counts"])
    assert_labelled(ax, "customers")
    assert {t.get_text() for t in ax.get_legend().get_texts()} <= set(inputs["counts"]["stage"].astype(str).map(stage_label))
    assert_labelled(plots.plot_stage_counts(data=inputs["counts"], share=True), "share")


def test_transition_heatmap(inputs):
    assert_labelled(plots.plot_transition_matrix(data=inputs["matrix"]), "stage")


def test_flows_chart_draws_on_given_axes(inputs):
    _, ax = plt.subplots()
    assert plots.plot_stage_flows(data=inputs["flows"], ax=ax) is ax
    assert_labelled(ax, "customers")


def test_stage_metrics_chart_names_currency(inputs):
    assert_labelled(plots.plot_stage_metrics(data=inputs["metrics"], metric="aov", currency="EUR"), "EUR")
    assert_labelled(plots.plot_stage_metrics(data=inputs["metrics"], metric="revenue_share"), "share")


def test_backtest_chart(inputs):
    assert_labelled(plots.plot_stage_backtest(data=inputs["backtest"]), "60 days")


def test_backtest_chart_with_stages_whose_buy_rate_is_unknown():
    import pandas as pd

    data = pd.DataFrame({"customers": [3, 0], "buyers": [0, 0], "buy_rate": [float("nan"), float("nan")],
                         "revenue_per_customer": [0.0, float("nan")]},
                        index=pd.Index(["active", "churned"], name="stage"))
    ax = plots.plot_stage_backtest(data=data)
    assert ax.get_ylim() == pytest.approx((0, 0.0112))
    assert "nan" not in " ".join(text.get_text() for text in ax.texts)
