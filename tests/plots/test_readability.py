"""Readable axes: date ticks at the data's period, distinct percent ticks, rates from zero, legends off the
data, log ticks over the whole range, capped weekly cohort triangles, bar labels that never collide."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from clc_lib.plots import theme
from clc_lib.plots.acquisition import plot_new_customers
from clc_lib.plots.cohorts import MAX_COHORT_ROWS, plot_churn_rate, plot_cohort_heatmap
from clc_lib.plots.monetisation import plot_revenue_over_time
from clc_lib.plots.recovery import plot_lapsed_counts
from clc_lib.plots.rfm import plot_rfm_heatmap, plot_segment_sizes
from clc_lib.plots.survival import plot_hazard_ratios, ratio_ticks

SERIES = {"monthly 3": ("2024-11-01", 3, "MS"), "monthly 36": ("2022-02-01", 36, "MS"),
          "monthly 120": ("2015-01-01", 120, "MS"), "weekly 157": ("2022-01-03", 157, "W-MON")}
MONTHS = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}


def _dates(name: str) -> pd.DatetimeIndex:
    start, periods, freq = SERIES[name]
    return pd.date_range(start, periods=periods, freq=freq)


def _tick_texts(ax: plt.Axes, axis: str = "x") -> list:
    ax.figure.canvas.draw()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [label for label in labels if label.get_text() and label.get_visible()]


def _periods_named(texts: list[str]) -> list[str]:
    """Each label with its year: a label without one belongs to the year last written before it."""
    named, year = [], None
    for text in texts:
        short, _, written = text.partition("\n")
        year = written or year
        named.append(f"{short} {year}")
    return named


def _assert_readable(ax: plt.Axes, axis: str = "x") -> list[str]:
    labels = _tick_texts(ax, axis)
    texts = [label.get_text() for label in labels]
    named = _periods_named(texts)
    assert len(named) == len(set(named)), texts
    assert len(texts) <= theme.MAX_PERIOD_TICKS
    renderer = ax.figure.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in labels]
    for i, first in enumerate(boxes):
        for second in boxes[i + 1:]:
            assert not first.overlaps(second), texts
    return texts


def _revenue(dates: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"period_start": dates, "net_revenue": np.linspace(100, 200, len(dates))})


def _new_customers(dates: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"period_start": np.repeat(dates, 2), "channel": ["web", "store"] * len(dates),
                         "new_customers": 5})


@pytest.mark.parametrize("name", list(SERIES))
@pytest.mark.parametrize("chart", ["line", "bars"])
def test_date_ticks_are_distinct_few_and_never_overlap(name, chart):
    dates = _dates(name)
    ax = plot_revenue_over_time(_revenue(dates)) if chart == "line" else plot_new_customers(_new_customers(dates))
    texts = _assert_readable(ax)
    first_lines = [t.split("\n")[0] for t in texts]
    if name.startswith("monthly"):
        assert set(first_lines) <= MONTHS
    else:
        assert all(line.startswith("W") and len(line) == 3 for line in first_lines)
    assert "\n" in texts[0]  # the year under the first tick
    assert len(texts) >= min(len(dates), 4)


def test_three_months_get_three_month_ticks_at_the_points():
    dates = _dates("monthly 3")
    ax = plot_revenue_over_time(_revenue(dates))
    assert _assert_readable(ax) == ["Nov\n2024", "Dec", "Jan\n2025"]
    assert [matplotlib.dates.num2date(t).strftime("%Y-%m-%d") for t in ax.get_xticks()] == [
        "2024-11-01", "2024-12-01", "2025-01-01"]


def test_long_monthly_series_ticks_fall_on_january_and_weekly_on_iso_quarter_weeks():
    positions, labels = theme.period_ticks(_dates("monthly 120"))
    assert labels == [f"Jan\n{year}" for year in range(2015, 2025)]
    positions, labels = theme.period_ticks(_dates("weekly 157"))
    weeks = [label.split("\n")[0] for label in labels]
    assert set(weeks) <= {"W01", "W14", "W27", "W40"}
    assert labels[0] == "W01\n2022" and "W01\n2023" in labels and "W01\n2024" in labels
    assert theme.period_ticks(pd.DatetimeIndex([]))[1] == []


def test_period_ends_get_month_ticks_like_period_starts():
    ends = pd.date_range("2023-01-31", periods=24, freq="ME")
    data = pd.DataFrame({"period_end": ends, "active": 10, "lapsed": 2, "churned": 1})
    texts = _assert_readable(plot_lapsed_counts(data))
    assert texts[0] == "Jan\n2023" and "Jan\n2024" in texts


def test_percent_ticks_of_a_narrow_range_differ():
    _, ax = plt.subplots()
    ax.plot([0, 1, 2, 3], [0.290, 0.295, 0.302, 0.305])
    theme.format_percent_axis(ax)
    texts = [t.get_text() for t in _tick_texts(ax, "y")]
    assert len(texts) >= 3 and len(set(texts)) == len(texts), texts
    assert "29.0%" in texts or "29.00%" in texts
    assert theme.ShareFormatter.decimals_for([0.29, 0.295, 0.30]) == 1
    assert theme.ShareFormatter.decimals_for([0.0, 0.25, 0.5]) == 0
    assert theme.ShareFormatter.decimals_for([0.29, 0.2925, 0.295]) == 2
    assert theme.ShareFormatter(decimals=1)(0.25) == "25.0%"


def test_rate_chart_between_29_and_30_5_percent_starts_at_zero_with_distinct_ticks():
    data = pd.DataFrame({"period_start": pd.date_range("2024-01-01", periods=6, freq="MS"),
                         "churn_rate": [0.29, 0.295, 0.305, 0.30, 0.292, 0.298]})
    ax = plot_churn_rate(data)
    assert ax.get_ylim()[0] == 0
    texts = [t.get_text() for t in _tick_texts(ax, "y")]
    assert len(set(texts)) == len(texts) and "0%" in texts


def test_percent_axis_writes_zero_without_a_sign():
    formatter = theme.ShareFormatter(decimals=1)
    assert formatter(-1e-17) == "0%" and formatter(0.0) == "0%"


def _axes_and_legend_boxes(ax: plt.Axes):
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    return ax.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)


def test_legends_sit_outside_the_plotting_area():
    dates = _dates("monthly 36")
    charts = [plot_new_customers(_new_customers(dates)),
              plot_lapsed_counts(pd.DataFrame({"period_end": dates, "active": 5, "lapsed": 2, "churned": 1}))]
    for ax in charts:
        axes_box, legend_box = _axes_and_legend_boxes(ax)
        assert legend_box.x0 >= axes_box.x1


def test_hazard_ratio_ticks_cover_the_whole_axis():
    table = pd.DataFrame({
        "covariate": ["channel", "tenure", "income"], "level": ["web", None, None],
        "reference": ["store", None, None], "hazard_ratio": [2.4, 0.8, 1.3], "lower": [1.6, 0.7, 1.1],
        "upper": [3.6, 0.95, 1.5],
    })
    ax = plot_hazard_ratios(table)
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) == len(ticks) >= 4
    assert max(ticks) > 2.4 and min(ticks) < 1.0 and 1.0 in ticks
    # no stretch of the log axis wider than a factor 2 without a labelled tick
    edges = np.log([low, *sorted(ticks), high])
    assert np.diff(edges).max() <= np.log(2.0)


def test_ratio_ticks_get_finer_for_narrow_ranges():
    assert ratio_ticks(0.3, 30) == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
    assert ratio_ticks(0.8, 2.2, min_ticks=3) == [1.0, 1.5, 2.0]
    assert ratio_ticks(0.8, 2.2) == [0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.7, 2.0]
    assert len(ratio_ticks(0.9, 1.35)) >= 4
    with pytest.raises(ValueError):
        ratio_ticks(0, 2)


def _cohort_matrix(n: int, freq: str) -> pd.DataFrame:
    cohorts = pd.date_range("2022-01-03", periods=n, freq=freq)
    values = np.full((n, n), np.nan)
    for row in range(n):
        values[row, : n - row] = 0.5 ** np.arange(n - row) if n - row else []
    matrix = pd.DataFrame(values, index=cohorts, columns=range(n))
    matrix.attrs.update(period="W" if freq.startswith("W") else "M", values="share")
    return matrix


def test_weekly_cohort_triangle_shows_the_latest_cohorts_and_says_so():
    ax = plot_cohort_heatmap(_cohort_matrix(157, "W-MON"))
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert len(rows) == MAX_COHORT_ROWS
    assert rows[-1] == "2024-12-30"  # the latest cohort is kept
    assert len(ax.get_xticks()) <= MAX_COHORT_ROWS
    assert f"latest {MAX_COHORT_ROWS} of 157 cohorts" in ax.get_title()
    short = plot_cohort_heatmap(_cohort_matrix(12, "MS"))
    assert len(short.get_yticklabels()) == 12 and "latest" not in short.get_title()


def test_rfm_grid_leaves_out_scores_without_customers():
    data = pd.DataFrame({"r_score": [1, 2, 3, 4, 5, 5], "f_score": [1, 1, 3, 4, 5, 5],
                         "segment": ["Lost", "Hibernating", "Need Attention", "Loyalists", "Champions", "Champions"],
                         "net_revenue": [10.0, 20, 30, 40, 50, 60]})
    ax = plot_rfm_heatmap(data)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "3", "4", "5"]
    assert "no customer has score 2" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["5", "4", "3", "2", "1"]


def test_bar_labels_never_overlap_and_go_inside_long_bars():
    _, ax = plt.subplots(figsize=(4, 3))
    bars = ax.bar(range(40), np.linspace(1, 40, 40))
    kept = theme.label_bars(ax, bars, [f"{v:,.0f} orders" for v in np.linspace(1, 40, 40)])
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in kept]
    assert 0 < len(kept) < 40
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    profiles = pd.DataFrame({"customers": [5000, 40], "customer_share": [0.99, 0.01], "revenue_share": [0.9, 0.1]},
                            index=pd.Index(["Champions", "Lost"], name="segment"))
    ax = plot_segment_sizes(profiles)
    inside = {t.get_text(): t.get_ha() for t in ax.texts}
    assert inside["99% of customers, 90% of revenue"] == "right"  # inside the long bar, right-aligned at its end
    assert inside["1% of customers, 10% of revenue"] == "left"  # beyond the short bar


def test_theme_renders_saved_charts_at_twice_the_pixels():
    theme.set_theme()
    try:
        assert plt.rcParams["figure.dpi"] == 100
        assert plt.rcParams["savefig.dpi"] == 100 * theme.PIXEL_DENSITY == 200
    finally:
        matplotlib.rcdefaults()
        matplotlib.use("Agg")


def test_rate_axis_leaves_room_above_the_highest_point():
    data = pd.DataFrame({"period_start": pd.date_range("2024-01-01", periods=4, freq="MS"),
                         "churn_rate": [0.74, 0.77, 0.75, 0.76]})
    bottom, top = plot_churn_rate(data).get_ylim()
    assert bottom == 0 and top >= 0.77 * 1.05


def test_long_titles_and_axis_labels_wrap():
    _, ax = plt.subplots()
    title = "Customers not yet churned (more than 292 days without a purchase) by acquisition_channel, 95% CI"
    ylabel = "Reactivation rate (% of customers without a purchase for more than 197 days)"
    theme.label_axes(ax, title + "\nlog-rank p < 1e-16", "Period", ylabel)
    assert all(len(line) <= theme.TITLE_WIDTH for line in ax.get_title().split("\n"))
    assert ax.get_title().split("\n")[-1] == "log-rank p < 1e-16"
    assert all(len(line) <= theme.AXIS_LABEL_WIDTH for line in ax.get_ylabel().split("\n"))
    assert " ".join(ax.get_ylabel().split()) == ylabel
    assert ax.get_xlabel() == "Period"
