"""Charts in the report's language: every public chart drawn in simplified and traditional Chinese
carries no English words besides units, data values and method names, draws every glyph, writes
periods and amounts the Chinese way, and its alternative text is Chinese too; English is unchanged."""

from __future__ import annotations

import re

import ibis
import matplotlib.pyplot as plt
import matplotlib.text as mtext
import numpy as np
import pandas as pd
import pytest
from test_stages import RULES, build_transactions

from clc_lib.alt_text import chart_alt_text
from clc_lib.clv import BetaGeoModel, frequency_recency_matrix
from clc_lib.definitions import TERMS, stage_label
from clc_lib.i18n import language
from clc_lib.plots import acquisition, clv, cohorts, monetisation, recovery, rfm, stages, survival, theme
from clc_lib.rfm import rfm_scores, rfm_segments, segment_profiles
from clc_lib.stage_history import (
    stage_backtest,
    stage_counts,
    stage_flows,
    stage_history,
    stage_metrics,
    transition_matrix,
)
from clc_lib.stages import classify_stages
from clc_lib.summary import customer_summary
from clc_lib.survival import kaplan_meier

CHINESE = ("zh-Hans", "zh-Hant")
MONTHS = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
#: Latin words a Chinese chart may show: data values of the frames below (channels, categories,
#: segments, campaign ids, covariates), currency codes, acronyms Chinese analysts use as they are,
#: and the names of statistical methods and model symbols.
ALLOWED_WORDS = {
    "web", "store", "search", "social", "music", "books", "wb1", "channel", "tenure", "a", "b",
    "Champions", "Loyalists", "Potential", "Loyalist", "First", "Time", "Buyers", "Promising", "Need",
    "Attention", "About", "To", "Sleep", "Can't", "Lose", "Slipping", "Regulars", "Hibernating", "Lost",
    "Other", "Them",
    "EUR", "RFM", "LTV", "CAC", "ARPU", "Kaplan", "Meier", "log", "rank", "p", "P", "T", "t_x", "x", "n",
}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_']*")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def frames():
    table = ibis.memtable(build_transactions())
    history = stage_history(table, rules=RULES, end="2024-12-31")
    summary = customer_summary(table, "2024-12-31")
    segments = rfm_segments(rfm_scores(summary), "rf_grid")
    new_customers = pd.DataFrame({"period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
                                  "new_customers": [3, 1, 4, 2, 5, 1], "is_complete": [True] * 4 + [False] * 2})
    new_customers.attrs["as_of"] = pd.Timestamp("2024-03-15")
    cohort_matrix = pd.DataFrame([[1.0, 0.25, 0.5], [1.0, 0.4, np.nan], [1.0, np.nan, np.nan]],
                                 index=pd.DatetimeIndex(MONTHS, name="cohort"),
                                 columns=pd.RangeIndex(0, 3, name="periods_since_first"))
    cohort_matrix.attrs.update(period="M", kind="on", values="share")
    churn = pd.DataFrame({"period_start": MONTHS, "churn_rate": [0.4, 0.3, 0.35]})
    churn.attrs["inactivity_days"] = 180
    tracking = pd.DataFrame({"period": [0.0, 1, 2, 3], "actual_cumulative": [0.0, 2, 5, 7],
                             "expected_cumulative": [0.0, 2.5, 4.5, 6.8], "actual": [0.0, 2, 3, 2],
                             "expected": [0.0, 2.5, 2.0, 2.3], "in_holdout": [False, False, True, True]})
    tracking.attrs["time_unit"] = "W"
    holdout = pd.DataFrame({"customers": [10, 5], "actual": [0.2, 1.1], "predicted": [0.25, 0.9]},
                           index=pd.Index(["0", "1+"], name="x_group"))
    holdout.attrs.update(duration_holdout=39, time_unit="W")
    values = pd.DataFrame({"clv": np.linspace(1.0, 900.0, 60)})
    values.attrs.update(horizon=52, time_unit="W")
    return {
        "counts": stage_counts(history), "matrix": transition_matrix(history), "flows": stage_flows(history),
        "metrics": stage_metrics(table, classify_stages(table, "2024-12-31", rules=RULES), history=history),
        "backtest": stage_backtest(table, "2024-09-30", window_days=60, rules=RULES),
        "segments": segments, "profiles": segment_profiles(summary.join(segments[["segment"]])),
        "new_customers": new_customers, "cohort_matrix": cohort_matrix, "churn": churn,
        "tracking": tracking, "holdout": holdout, "values": values,
    }


def _charts(f: dict) -> dict:
    """Every public chart of clc_lib.plots, drawn from the small frames of :func:`frames`."""
    model = BetaGeoModel.from_params([0.25, 4.0, 0.8, 2.5])
    uplift = pd.DataFrame({"campaign_id": ["wb1"], "uplift": [0.1], "rate_treatment": [0.3],
                           "rate_treatment_lower": [0.26], "rate_treatment_upper": [0.35], "rate_control": [0.2],
                           "rate_control_lower": [0.15], "rate_control_upper": [0.26]})
    uplift.attrs["window_days"] = 30
    lapsed = pd.DataFrame({"period_end": pd.to_datetime(["2024-01-31", "2024-02-29"]), "active": [10, 8],
                           "lapsed": [2, 3], "churned": [0, 1]})
    reactivation = pd.DataFrame({"period_start": MONTHS[1:], "reactivation_rate": [0.05, 0.07]})
    reactivation.attrs["lapse_days"] = 120
    curve = pd.DataFrame({"channel": ["web"] * 3, "months_since_acquisition": [0, 1, 2],
                          "cumulative_revenue_per_customer": [20.0, 40.0, 55.0]})
    hazards = pd.DataFrame({"covariate": ["channel", "tenure"], "level": ["web", None], "reference": ["store", None],
                            "hazard_ratio": [2.0, 0.9], "lower": [1.5, 0.8], "upper": [2.6, 1.0]})
    revenue = pd.DataFrame({"period_start": MONTHS, "net_revenue": [12_000.0, 25_000.0, 31_000.0],
                            "is_complete": [True, True, False]})
    return {
        "stage counts": lambda: stages.plot_stage_counts(f["counts"]),
        "stage shares": lambda: stages.plot_stage_counts(f["counts"], share=True),
        "transitions": lambda: stages.plot_transition_matrix(f["matrix"]),
        "flows": lambda: stages.plot_stage_flows(f["flows"]),
        "stage metrics": lambda: stages.plot_stage_metrics(f["metrics"], "aov", currency="EUR"),
        "backtest": lambda: stages.plot_stage_backtest(f["backtest"]),
        "new customers": lambda: acquisition.plot_new_customers(f["new_customers"]),
        "funnel": lambda: acquisition.plot_funnel(pd.DataFrame({
            "channel": ["search", "social", "all channels"], "aware": [10, 20, 30], "engaged": [5, 8, 13],
            "converted": [2, 3, 5], "conversion_rate": [0.2, 0.15, 0.17]})),
        "cac bars": lambda: acquisition.plot_cac(pd.DataFrame({"channel": ["web", "paid channels"],
                                                               "cac": [75.0, 44.0], "new_customers": [2, 5]}),
                                                 currency="EUR"),
        "cac lines": lambda: acquisition.plot_cac(pd.DataFrame({
            "period_start": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
            "cac": [50.0, 30.0, 35.0, 20.0, 40.0, 25.0], "new_customers": [1] * 6}), currency="EUR"),
        "repeat rate": lambda: acquisition.plot_repeat_rate(pd.DataFrame({
            "cohort": np.repeat(MONTHS, 2), "channel": ["web", "store"] * 3,
            "repeat_rate": [0.3, 0.2, 0.25, 0.1, np.nan, np.nan]}), window_days=90),
        "no repeat window": lambda: acquisition.plot_repeat_rate(pd.DataFrame({
            "cohort": MONTHS, "channel": ["web"] * 3, "repeat_rate": [np.nan] * 3})),
        "ltv cac": lambda: acquisition.plot_ltv_cac(
            pd.DataFrame({"channel": ["web", "store"], "ltv": [150.0, 40.0], "cac": [75.0, 60.0],
                          "ltv_cac_ratio": [2.0, 0.67]}),
            payback=pd.DataFrame({"channel": ["web", "store"], "payback_months": [3.0, np.nan]}),
            currency="EUR", horizon="12 个月"),  # the caller words the horizon in the page's language
        "payback": lambda: acquisition.plot_payback_curve(curve, cac=pd.Series({"web": 50.0}), margin_rate=0.5,
                                                          currency="EUR"),
        "cohort triangle": lambda: cohorts.plot_cohort_heatmap(f["cohort_matrix"]),
        "retention": lambda: cohorts.plot_retention_curve(
            pd.DataFrame({"periods_since_first": [0, 1, 2] * 2, "retention": [1.0, 0.3, 0.2, 1.0, 0.4, 0.3],
                          "channel": ["web"] * 3 + ["store"] * 3}), hue="channel", period="M"),
        "churn rate": lambda: cohorts.plot_churn_rate(f["churn"]),
        "buyer drop-off": lambda: cohorts.plot_churn_rate(_without_attrs(f["churn"])),
        "revenue": lambda: monetisation.plot_revenue_over_time(revenue, currency="EUR"),
        "revenue by stage": lambda: monetisation.plot_revenue_by(pd.DataFrame({
            "stage": ["active", "new"], "net_revenue": [250.0, 20.0], "revenue_share": [0.93, 0.07],
            "customer_share": [0.4, 0.2]}), by="stage", currency="EUR"),
        "revenue by segment": lambda: monetisation.plot_revenue_by(pd.DataFrame({
            "segment": ["Champions", "Lost", "Other"], "net_revenue": [250.0, 20.0, 5.0],
            "revenue_share": [0.9, 0.07, 0.03], "customer_share": [0.3, 0.5, 0.2]}), by="segment", currency="EUR"),
        "lorenz": lambda: monetisation.plot_lorenz([1, 2, 3, 10, 40]),
        "cross-sell": lambda: monetisation.plot_cross_sell(pd.DataFrame(
            [[3, 1], [1, 2]], index=["music", "books"], columns=["music", "books"])),
        "categories": lambda: monetisation.plot_categories_per_customer(
            pd.DataFrame({"categories": [1, 2, 3], "share": [0.6, 0.3, 0.1]})),
        "aov by tenure": lambda: monetisation.plot_aov_by_tenure(pd.DataFrame({
            "tenure_band": ["0-89 days", "1-2 years", "2+ years"], "aov": [40.0, 55.0, 60.0],
            "orders": [1, 20, 31], "median_order_value": [35.0, 50.0, 52.0]}), currency="EUR"),
        "aov by order": lambda: monetisation.plot_aov_by_order_number(pd.DataFrame({
            "order_number": ["1", "2", "3+"], "aov": [40.0, 55.0, 60.0], "orders": [100, 40, 12]}), currency="EUR"),
        "lapsed": lambda: recovery.plot_lapsed_counts(lapsed),
        "reactivation": lambda: recovery.plot_reactivation_rate(reactivation),
        "uplift": lambda: recovery.plot_campaign_uplift(uplift),
        "survey": lambda: recovery.plot_survey_scores(pd.DataFrame({
            "score": [10, 9, 0, 7, 7, 3], "status": ["churned"] * 3 + ["retained"] * 3})),
        "rfm grid": lambda: rfm.plot_rfm_heatmap(f["segments"], currency="EUR"),
        "segment sizes": lambda: rfm.plot_segment_sizes(f["profiles"]),
        "survival": lambda: survival.plot_survival_curves(
            kaplan_meier([1, 2, 3, 4, 2, 5], [1, 1, 0, 1, 1, 0], ["a", "a", "a", "b", "b", "b"]), logrank_p=0.0123),
        "hazard ratios": lambda: survival.plot_hazard_ratios(hazards, units={"tenure": 100.0}),
        "clv tracking": lambda: clv.plot_clv_tracking(f["tracking"]),
        "clv holdout": lambda: clv.plot_clv_holdout_by_frequency(f["holdout"]),
        "clv matrix": lambda: clv.plot_clv_matrix(frequency_recency_matrix(model, T=30.0, t=10.0, max_x=5,
                                                                           n_recency=5)),
        "clv distribution": lambda: clv.plot_clv_distribution(f["values"], currency="EUR"),
    }


def _without_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    copy = frame.copy()
    copy.attrs = {}
    return copy


def _drawn_texts(figure: plt.Figure) -> list[str]:
    """The visible text of every Text artist of ``figure`` (titles, labels, ticks, legends, annotations)."""
    figure.canvas.draw()  # tick labels get their text when drawn; a missing glyph fails here
    return [artist.get_text() for artist in figure.findobj(mtext.Text)
            if artist.get_visible() and artist.get_text().strip()]


def _english_words(texts: list[str]) -> set[str]:
    return {word for text in texts for word in LATIN_WORD.findall(text)} - ALLOWED_WORDS


CHART_NAMES = list(_charts({}).keys())


@pytest.mark.parametrize("tag", CHINESE)
@pytest.mark.parametrize("name", CHART_NAMES)
def test_every_chart_is_drawn_in_chinese(frames, name, tag):
    with language(tag):
        theme.use_chart_fonts()
        ax = _charts(frames)[name]()
        texts = _drawn_texts(ax.figure)
        alt = chart_alt_text(ax.figure)
    theme.use_chart_fonts("en")
    assert CJK.search(ax.get_title()), ax.get_title()
    assert CJK.search(ax.get_xlabel() or ax.get_ylabel())
    assert not _english_words(texts), (name, _english_words(texts), texts)
    assert alt.startswith(("热力图", "柱状图", "折线图", "散点图", "图表") if tag == "zh-Hans"
                          else ("熱度圖", "長條圖", "折線圖", "散佈圖", "圖表")), alt
    assert not _english_words([alt]), alt


def test_the_two_scripts_are_written_for_their_readers(frames):
    drawn = {}
    for tag in CHINESE:
        with language(tag):
            ax = _charts(frames)["lapsed"]()
            drawn[tag] = (ax.get_ylabel(), [t.get_text() for t in ax.get_legend().get_texts()])
    assert drawn["zh-Hans"] == ("客户", ["流失客户", "衰退及沉默客户", "活跃客户"])
    assert drawn["zh-Hant"] == ("顧客", ["流失顧客", "衰退及沉睡顧客", "活躍顧客"])


def test_stage_names_come_from_the_definitions_in_each_language(frames):
    with language("zh-Hant"):
        ax = stages.plot_stage_counts(frames["counts"])
        legend = {t.get_text() for t in ax.get_legend().get_texts()}
        drawn = {stage_label(s) for s in frames["counts"]["stage"].astype(str) if s not in ("aware", "engaged")}
        assert (stage_label("at_risk"), stage_label("dormant")) == ("衰退期", "沉睡期")
    assert legend and legend <= drawn


@pytest.mark.parametrize(("tag", "months", "weeks"), [
    ("en", ["Dec\n2023", "Jan\n2024", "Feb"], ["W52\n2023", "W01\n2024", "W02"]),
    ("zh-Hans", ["12月\n2023年", "1月\n2024年", "2月"], ["第52周\n2023年", "第1周\n2024年", "第2周"]),
    ("zh-Hant", ["12月\n2023年", "1月\n2024年", "2月"], ["第52週\n2023年", "第1週\n2024年", "第2週"]),
])
def test_period_ticks_name_months_and_weeks_the_languages_way(tag, months, weeks):
    with language(tag):
        assert theme.period_ticks(pd.date_range("2023-12-01", periods=3, freq="MS"))[1] == months
        assert theme.period_ticks(pd.date_range("2023-12-25", periods=3, freq="7D"))[1] == weeks
        irregular = theme.period_ticks(pd.to_datetime(["2024-01-08", "2024-01-19", "2024-03-02"]))[1]
    assert irregular[0] == {"en": "08 Jan 2024", "zh-Hans": "2024年1月8日", "zh-Hant": "2024年1月8日"}[tag]


@pytest.mark.parametrize("tag", CHINESE)
@pytest.mark.parametrize(("start", "periods", "freq"), [("2022-01-01", 36, "MS"), ("2022-01-03", 157, "W-MON")])
def test_chinese_period_ticks_never_overlap(tag, start, periods, freq):
    dates = pd.date_range(start, periods=periods, freq=freq)
    with language(tag):
        theme.use_chart_fonts()
        ax = monetisation.plot_revenue_over_time(pd.DataFrame({"period_start": dates, "net_revenue": 100.0}))
        ax.figure.canvas.draw()
    theme.use_chart_fonts("en")
    labels = [label for label in ax.get_xticklabels() if label.get_text()]
    boxes = [label.get_window_extent() for label in labels]
    assert len(labels) >= 3
    assert not any(first.overlaps(second) for i, first in enumerate(boxes) for second in boxes[i + 1:]), \
        [label.get_text() for label in labels]


def test_chinese_money_ticks_count_in_ten_thousands_with_the_code_first():
    _, ax = plt.subplots()
    ax.set_ylim(0, 40_000)
    with language("zh-Hans"):
        theme.format_currency_axis(ax, "EUR")
    formatter = ax.yaxis.get_major_formatter()
    assert [formatter(v, 0) for v in (25_000, 300_000_000, 120, 12.5)] == [
        "EUR 2.5万", "EUR 3亿", "EUR 120", "EUR 12.50"]
    with language("zh-Hant"):
        theme.format_currency_axis(ax)
    assert ax.yaxis.get_major_formatter()(20_000, 0) == "2萬"
    theme.format_currency_axis(ax, "EUR")  # English as before
    assert ax.yaxis.get_major_formatter()(25_000, 0) == "25k EUR"


def test_long_chinese_titles_wrap_by_their_width():
    title = "各获客渠道的十二个月客户价值（LTV）与获客成本（CAC），按渠道与月份统计的完整对比结果"
    assert len(title) < theme.TITLE_WIDTH  # short in characters, but each character is two wide
    lines = theme._wrap(title, theme.TITLE_WIDTH).split("\n")
    assert len(lines) == 2 and "".join(lines) == title
    assert all(theme._display_width(line) <= theme.TITLE_WIDTH for line in lines)
    assert "LTV" in lines[0] or "LTV" in lines[1]  # Latin words are kept whole


def test_chart_term_labels_are_the_definitions_labels():
    with language("zh-Hans"):
        assert theme.term_label("repeat_within_window", window_days=90) == "90天内二次购买率（观察期已满的同期群）"
    english = theme.term_label("repeat_within_window", window_days=90)
    assert english == "Second purchase within 90 days (complete cohorts)"


def test_english_chart_text_is_unchanged(frames):
    ax = stages.plot_stage_backtest(frames["backtest"])
    assert ax.get_ylabel() == "Bought in the window (share of stage)"
    ax = acquisition.plot_new_customers(frames["new_customers"])
    assert ax.get_title() == "New customers per period by acquisition channel"
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "incomplete period (data to 15 Mar 2024)"
    ax = cohorts.plot_churn_rate(frames["churn"])
    assert ax.get_title() == f"{TERMS['churn_rate'].label} per period: customers passing 180 days without a purchase"
    assert chart_alt_text(ax.figure).startswith("Line chart: Churn rate per period")
    ax = monetisation.plot_revenue_by(pd.DataFrame({"stage": ["active"], "net_revenue": [25.0], "revenue_share": [1.0],
                                                    "customer_share": [1.0]}), by="stage", currency="EUR")
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Net revenue by stage", "Net revenue (EUR)", "Stage")


def test_chinese_alt_text_names_kind_axes_and_series():
    figure, ax = plt.subplots()
    ax.plot([1, 2, 3], [4, 5, 6], label="web")
    ax.plot([1, 2, 3], [6, 5, 4], label="store")
    with language("zh-Hans"):
        ax.set_title("每周期流失率")
        ax.set_xlabel("周期")
        ax.set_ylabel("流失率")
        ax.legend()
        assert chart_alt_text(figure) == "折线图：每周期流失率。横轴：周期；纵轴：流失率。共 2 个系列：web、store。"
    with language("zh-Hant"):
        assert chart_alt_text(figure).startswith("折線圖：每周期流失率。橫軸：")


def test_chinese_charts_are_saved_for_review(frames, tmp_path):
    """A few charts saved as PNGs (``artifacts/charts-zh`` when that folder exists) with Chinese ink in them."""
    from pathlib import Path

    folder = Path("artifacts/charts-zh")
    folder = folder if folder.is_dir() else tmp_path
    for tag, name in (("zh-Hans", "new customers"), ("zh-Hant", "stage counts"), ("zh-Hans", "rfm grid"),
                      ("zh-Hant", "ltv cac")):
        with language(tag):
            theme.set_theme()
            ax = _charts(frames)[name]()
            path = folder / f"{name.replace(' ', '_')}.{tag}.png"
            ax.figure.savefig(path)
        image = plt.imread(path)
        assert image.shape[0] > 400 and (image[..., :3].mean(axis=2) < 0.5).mean() > 0.001
    theme.set_theme("en")
