"""RFM charts: the score grid and the segment sizes, each with a title and labelled axes."""

from __future__ import annotations

import ibis
import pytest
from test_stages import build_transactions

from clc_lib.plots import rfm as plots
from clc_lib.rfm import rfm_scores, rfm_segments, segment_profiles
from clc_lib.summary import customer_summary

from .axes_checks import assert_labelled


@pytest.fixture(scope="module")
def inputs():
    summary = customer_summary(ibis.memtable(build_transactions()), "2024-12-31")
    segments = rfm_segments(rfm_scores(summary), "rf_grid")
    return {"segments": segments, "profiles": segment_profiles(summary.join(segments[["segment"]]))}


def test_rfm_heatmap_and_segment_sizes(inputs):
    ax = plots.plot_rfm_heatmap(data=inputs["segments"], currency="EUR")
    assert_labelled(ax, "recency score", "frequency score")
    assert any("EUR" in a.get_ylabel() for a in ax.figure.axes)  # colour bar unit
    assert_labelled(plots.plot_segment_sizes(data=inputs["profiles"]), "customers")
