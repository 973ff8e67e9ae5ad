"""Headlines, key-figure cards, tables, skip lines, quality lines and the glossary in English,
simplified and traditional Chinese."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import clc_lib as clc
from clc_lib import i18n
from clc_lib.definitions import glossary_frame, recency_rule
from clc_lib.display import (
    figure_change,
    format_change,
    format_currency,
    format_date,
    format_days,
    format_duration,
    format_points,
    key_figures_html,
    missing_html,
    quality_line,
    skipped_html,
)
from clc_lib.headlines import HEADLINES, headline_sentences
from clc_lib.i18n import language
from clc_lib.index import quality_summary_line, summary_figures
from clc_lib.keyfigures import KeyFigure
from clc_lib.tables import plain_interval, plain_p_value, table_html

LANGUAGES = ("en", "zh-Hans", "zh-Hant")
CUSTOMER_WORD = {"en": "customers", "zh-Hans": "位客户", "zh-Hant": "位顧客"}
REPORTS = ("segmentation", "acquisition", "monetisation", "retention", "recovery")


def _latin_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z][A-Za-z0-9_-]*", text))


def _visible_text(markup: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", markup, flags=re.S))


@pytest.fixture(scope="module")
def demo():
    return clc.load_run(clc.project_root() / "data" / "raw" / "demo" / "run.yaml")


@pytest.fixture(scope="module")
def demo_figures(demo):
    """The key figures of every report, computed in each language."""
    figures = {}
    for lang in LANGUAGES:
        with language(lang):
            figures[lang] = {report: getattr(clc, f"{report}_figures")(demo) for report in REPORTS}
    return figures


# --- headlines --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("report", REPORTS)
def test_demo_headlines_in_each_language_carry_the_key_figures(demo, demo_figures, lang, report):
    figures = demo_figures[lang][report]
    with language(lang):
        sentences = getattr(clc, f"{report}_headlines")(figures, currency=demo.currency)
    english = getattr(clc, f"{report}_headlines")(demo_figures["en"][report], currency=demo.currency)
    assert len(sentences) == len(english) == len(HEADLINES[report]), sentences
    text = "".join(sentences)
    for figure in figures:
        if figure.count is not None and figure.key in {"churned_customer", "at_risk_customer", "lapsed_or_churned"}:
            count, share = f"{figure.count:,}", f"{100 * figure.value:.1f}%"
            if lang == "en":
                assert f"{count} customers ({share})" in text
            else:
                assert f"{count}{CUSTOMER_WORD[lang]}（{share}）" in text, text
    if lang != "en":
        # Chinese sentences: Chinese words, full-width punctuation, and no English but the currency code
        assert _latin_words(text) <= {"EUR"}, text
        assert all(sentence.endswith("。") for sentence in sentences), sentences


def test_the_segmentation_headline_names_the_same_numbers_in_all_three_languages(demo, demo_figures):
    """The demo's churned customers: the same count and share, written each language's way."""
    churned = next(f for f in demo_figures["en"]["segmentation"] if f.key == "churned_customer")
    count, share = f"{churned.count:,}", f"{100 * churned.value:.1f}%"
    expected = {
        "en": f"{count} customers ({share}) have churned: no purchase for more than 292 days.",
        "zh-Hans": f"{count}位客户（{share}）已流失：超过292天未购买。",
        "zh-Hant": f"{count}位顧客（{share}）已流失：超過292天未購買。",
    }
    for lang in LANGUAGES:
        with language(lang):
            sentences = clc.segmentation_headlines(demo_figures[lang]["segmentation"], currency=demo.currency)
        assert expected[lang] in sentences, sentences
    # the same people as the stages say
    stages = demo.stages()["stage"].astype(str)
    assert churned.count == int((stages == "churned").sum())


def _churned(share: float, count: int) -> KeyFigure:
    return KeyFigure("churned_customer", "Churned customers", share, "percent", count=count,
                     thresholds=(("churn_days", 292.0),))


@pytest.mark.parametrize(("lang", "previous_share", "expected"), [
    ("en", 0.35, "400 customers (40.0%) have churned: no purchase for more than 292 days "
                 "(up 5.0 pp since 2024-11-30)."),
    ("zh-Hans", 0.35, "400位客户（40.0%）已流失：超过292天未购买（较2024年11月30日上升5.0个百分点）。"),
    ("zh-Hant", 0.425, "400位顧客（40.0%）已流失：超過292天未購買（較2024年11月30日下降2.5個百分點）。"),
    ("zh-Hans", 0.4, "400位客户（40.0%）已流失：超过292天未购买（自2024年11月30日以来持平）。"),
])
def test_change_clauses_in_each_language(lang, previous_share, expected):
    # the previous run is found by the English label, whatever the language of either run
    previous = {"as_of": "2024-11-30", "values": {"Churned customers": previous_share}}
    with language(lang):
        assert headline_sentences("monetisation", [_churned(0.4, 400)], previous) == [expected]


def test_money_and_counts_in_a_chinese_headline():
    figures = [KeyFigure("net_revenue", "Net revenue", 120_000.0, "currency"),
               KeyFigure("orders", "Orders", 1_100, "count")]
    previous = {"as_of": "2024-11-30", "values": {"Net revenue": 100_000.0, "Orders": 1_200}}
    with language("zh-Hans"):
        sentences = headline_sentences("monetisation", figures, previous, currency="EUR")
    assert sentences == ["净收入为EUR 120,000（较2024年11月30日上升EUR 20,000 (+20.0%)），"
                         "来自1,100笔订单（较2024年11月30日下降100 (-8.3%)）。"]


# --- key figures and cards --------------------------------------------------------------------------

def test_key_figures_keep_english_labels_and_carry_the_label_shown(demo_figures):
    english = demo_figures["en"]["recovery"]
    for lang in ("zh-Hans", "zh-Hant"):
        translated = demo_figures[lang]["recovery"]
        assert [f.label for f in translated] == [f.label for f in english]  # the index compares by these
        assert [f.value for f in translated] == [f.value for f in english]
        for figure in translated:
            assert figure.display_label and not _latin_words(figure.display_label) - {"LTV", "CAC"}, figure
            assert "(" not in figure.definition or "（" in figure.definition
    assert all(f.display_label == f.label for f in english)
    assert {f.key: f.display_label for f in demo_figures["zh-Hans"]["recovery"]}["churned_customer"] == "流失客户"
    assert {f.key: f.display_label for f in demo_figures["zh-Hant"]["recovery"]}["churned_customer"] == "流失顧客"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_demo_key_figure_cards_in_each_language(demo, demo_figures, lang):
    figures = demo_figures[lang]["recovery"]
    churned = next(f for f in figures if f.key == "churned_customer")
    previous = {"as_of": "2024-11-30", "values": {churned.label: churned.value - 0.01}}
    with language(lang):
        markup = key_figures_html(figures, currency=demo.currency, previous=previous)
    text = _visible_text(markup)
    count = f"{churned.count:,}"
    assert f"{100 * churned.value:.1f}%" in text
    expected = {
        "en": [f"{count} customers", "Churned customers", "+1.0 pp since 2024-11-30"],
        "zh-Hans": [f"{count}位客户", "流失客户", "较2024年11月30日 +1.0个百分点"],
        "zh-Hant": [f"{count}位顧客", "流失顧客", "較2024年11月30日 +1.0個百分點"],
    }[lang]
    for words in expected:
        assert words in text, (words, text)
    if lang != "en":
        # data values (the campaign id) and units (EUR, LTV, CAC) may stay as they are; nothing else
        campaign_ids = set(demo.campaigns["campaign_id"].astype(str)) if demo.campaigns is not None else set()
        assert _latin_words(text) <= {"EUR", "LTV", "CAC"} | campaign_ids, text


def test_a_one_customer_card_and_the_english_cards_are_unchanged():
    figure = KeyFigure("churned_customer", "Churned customers", 0.5, "percent", count=1)
    assert ">1 customer<" in key_figures_html([figure])
    assert ">1,234 customers<" in key_figures_html([KeyFigure("churned_customer", "Churned customers", 0.5,
                                                               "percent", count=1234)])
    with language("zh-Hant"):
        assert ">1位顧客<" in key_figures_html([figure])


# --- formatting on the page -------------------------------------------------------------------------

def test_page_formatters_follow_the_language_and_english_stays_as_before():
    stamp = pd.Timestamp("2024-12-31")
    assert (format_date(stamp), format_currency(1234.5, "EUR"), format_days(12.4), format_days(1.0),
            format_points(0.0441), format_duration(52, "W")) == (
        "2024-12-31", "1,234.50 EUR", "12 days", "1.0 day", "+4.4 points", "52 weeks")
    with language("zh-Hans"):
        assert (format_date(stamp), format_currency(1234.5, "EUR"), format_days(12.4), format_points(0.0441),
                format_duration(52, "W"), format_duration(12, "M")) == (
            "2024年12月31日", "EUR 1,234.50", "12天", "+4.4个百分点", "52周", "12个月")
        # an explicit English request is English even while Chinese is active
        assert i18n.format_date(stamp, lang="en") == "2024-12-31"
        assert i18n.format_currency(1234.5, "EUR", lang="en") == "1,234.50 EUR"
    with language("zh-Hant"):
        assert format_duration(52, "W") == "52週"


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ["+1.2 pp", "unchanged", "was paid_search, 3.1:1", "+150 (+4.8%)"]),
    ("zh-Hans", ["+1.2个百分点", "持平", "此前为paid_search, 3.1:1", "+150 (+4.8%)"]),
    ("zh-Hant", ["+1.2個百分點", "持平", "先前為paid_search, 3.1:1", "+150 (+4.8%)"]),
])
def test_change_texts(lang, expected):
    with language(lang):
        got = [format_change("percent", 0.512, 0.5, ""), format_change("count", 100, 100, ""),
               format_change("text", "email, 4.0:1", "paid_search, 3.1:1", ""),
               format_change("count", 3275, 3125, "")]
        since = figure_change("x", 0.512, "percent", {"values": {"x": 0.5}})
    assert got == expected
    assert since == {"en": "+1.2 pp since the previous run", "zh-Hans": "较上次运行 +1.2个百分点",
                     "zh-Hant": "較上次執行 +1.2個百分點"}[lang]


# --- tables -----------------------------------------------------------------------------------------

def test_table_headers_notes_and_plain_statistics_in_chinese():
    frame = pd.DataFrame({"stage": ["at_risk", "loyal", "new"], "customers": [10, 20, 30],
                          "revenue": [1.5, 2.5, 3.5], "net_revenue": [1.0, 2.0, 3.0], "returns": [0, 0, 0],
                          "is_complete": [True, False, True]})
    with language("zh-Hans"):
        markup = table_html(frame, money=["revenue"], currency="EUR", max_rows=2)
        p_text, interval = plain_p_value(0.0004), plain_interval(0.044, 0.032, 0.056)
    headers = re.findall(r'<th scope="col">([^<]*)</th>', markup)
    assert headers == ["阶段", "客户", "收入", "净收入", "周期"]
    assert "衰退期" in markup and "忠诚期" in markup
    assert ">是<" in markup and ">否<" in markup
    assert "仅显示前2行，共3行。" in markup
    assert "以下各列每行均为零，未显示：退货金额。" in markup
    assert p_text == "差异明显，p < 0.001"
    assert interval == "4.4个百分点，95%区间为3.2至5.6"
    with language("zh-Hant"):
        headers = re.findall(r'<th scope="col">([^<]*)</th>', table_html(frame, max_rows=None))
    assert headers == ["階段", "顧客", "營收", "淨營收", "期間"]
    # English is as before
    markup = table_html(frame, max_rows=2)
    assert re.findall(r'<th scope="col">([^<]*)</th>', markup) == ["Stage", "Customers", "Revenue", "Net revenue",
                                                                   "Period"]
    assert "Showing the first 2 of 3 rows." in markup and "Not shown, zero in every row: Returns." in markup
    assert plain_interval(0.044, 0.032, 0.056) == "4.4 points, 95% interval 3.2 to 5.6"


# --- skip lines, notes and data quality -------------------------------------------------------------

def test_skip_lines_in_each_language():
    assert "Not shown: the CAC chart. Add a spend table (marketing spend per channel and month) to the run " \
           "config to see it." in missing_html("spend", "the CAC chart")
    with language("zh-Hans"):
        line = missing_html("spend", "获客成本图")
        unknown = missing_html("loyalty", "积分")
        skipped = skipped_html("留出验证", "历史只有20天")
    assert ">未显示：获客成本图。在运行配置中加入投放花费表（各渠道每月的营销花费），即可显示此部分。<" in line
    assert "未显示：积分。在运行配置中加入 loyalty 表，即可显示此部分。" in unknown
    assert ">未显示：留出验证。历史只有20天。<" in skipped
    with language("zh-Hant"):
        line = missing_html("transactions.category", "交叉銷售廣度")
    assert "未顯示：交叉銷售廣度。在交易資料表中加入品類欄位，即可顯示此部分。" in line


QUALITY = pd.DataFrame({
    "table": ["transactions"] * 5,
    "step": ["rows in", "duplicates", "returns", "future dates", "rows out"],
    "action": ["", "drop", "keep", "keep", ""],
    "rows": [1000, 12, 40, 1, 988],
})


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "12 rows were left out and 1 row flagged by the data-quality rules; see the appendix."),
    ("zh-Hans", "数据质量规则剔除了12行，并标记了1行；详见附录。"),
    ("zh-Hant", "資料品質規則排除了12列，並標記了1列；詳見附錄。"),
])
def test_quality_line_in_each_language(lang, expected):
    with language(lang):
        assert quality_line(QUALITY) == expected
        summary = quality_summary_line(QUALITY)
    assert summary == {
        "en": "12 rows were left out and 1 row flagged by the data-quality rules; see the table below. "
              "Rows used: transactions 988 of 1,000 rows used.",
        "zh-Hans": "数据质量规则剔除了12行，并标记了1行；详见下表。使用的行数：transactions 读入1,000行，使用988行。",
        "zh-Hant": "資料品質規則排除了12列，並標記了1列；詳見下表。使用的列數：transactions 讀入1,000列，使用988列。",
    }[lang]


# --- glossary and the index summary -----------------------------------------------------------------

def test_glossary_in_chinese_with_the_runs_thresholds(demo, demo_figures):
    thresholds = demo.stage_rules().thresholds
    churn_days = f"{float(thresholds['churn_days']):g}"
    with language("zh-Hans"):
        glossary = glossary_frame(demo, demo_figures["zh-Hans"]["segmentation"] + ["lapsed_customer", "clv_horizon"])
        markup = table_html(glossary, max_rows=None)
        rule = recency_rule("churned_customer", thresholds)
    assert list(glossary.index[:3]) == ["客户", "潜在客户", "复购客户"]
    assert glossary.loc["流失客户", "definition"] == f"已流失的客户：超过{churn_days}天未购买（流失阈值）。"
    assert glossary.loc["流失客户", "unit"] == "占客户的比例（0–1）"
    assert glossary.loc["CLV 预测期", "definition"].startswith("客户终身价值按未来")
    assert re.findall(r'<th scope="col">([^<]*)</th>', markup) == ["术语", "定义", "单位"]
    text = " ".join(glossary.index) + " ".join(glossary["definition"]) + " ".join(glossary["unit"])
    # code names of settings (clv: horizon) may stay; no English sentence
    assert _latin_words(text) <= {"CLV", "clv", "horizon", "time_unit", "time", "unit", "EUR"}, text
    assert rule == f"流失客户：超过{churn_days}天未购买"
    with language("zh-Hant"):
        glossary = glossary_frame(demo, ["churned_customer", "at_risk_value"])
    assert glossary.loc["流失顧客", "definition"] == f"已流失的顧客：超過{churn_days}天未購買（流失門檻）。"
    assert "衰退期顧客未來12個月的預測價值" in glossary.index
    english = glossary_frame(demo, ["churned_customer"])
    assert english.loc["Churned customers", "definition"] == (
        f"Customers in the churned stage: no purchase for more than {churn_days} days (the churn threshold).")


def test_index_summary_shows_the_label_and_change_of_the_page_language():
    notebooks = [{"title": "05 Recovery", "html": "05_recovery.html", "key_figures": [
        {"key": "churned_customer", "label": "Churned customers", "display_label": "流失客户", "value": 0.4,
         "kind": "percent", "formatted": "40.0%", "count": 400, "previous": 0.35, "change": "+5.0 pp",
         "currency": "EUR"}]}]
    with language("zh-Hans"):
        shown = summary_figures(notebooks)
    assert shown[0]["label"] == "流失客户" and shown[0]["change"] == "+5.0个百分点"
    assert summary_figures(notebooks)[0]["change"] == "+5.0 pp"
