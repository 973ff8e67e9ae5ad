"""The headline sentences: numbers equal to the key figures, the demo's truth, and the change clauses."""

from __future__ import annotations

import json
import re

import pytest

import clc_lib as clc
from clc_lib.display import format_count, format_percent
from clc_lib.headlines import HEADLINES, headline_sentences
from clc_lib.keyfigures import KeyFigure

DEMO_DIR = "data/raw/demo"


def _churned(share: float, count: int) -> KeyFigure:
    return KeyFigure("churned_customer", "Churned customers", share, "percent", count=count,
                     thresholds=(("churn_days", 292.0),))


def _sentence_about(sentences: list[str], words: str) -> str:
    found = [s for s in sentences if words in s]
    assert len(found) == 1, sentences
    return found[0]


@pytest.mark.parametrize(("previous", "expected"), [
    (None, "400 customers (40.0%) have churned: no purchase for more than 292 days."),
    ({"as_of": "2024-11-30", "values": {"Churned customers": 0.35}},
     "400 customers (40.0%) have churned: no purchase for more than 292 days (up 5.0 pp since 2024-11-30)."),
    ({"as_of": "2024-11-30", "values": {"Churned customers": 0.425}},
     "400 customers (40.0%) have churned: no purchase for more than 292 days (down 2.5 pp since 2024-11-30)."),
    ({"as_of": "2024-11-30", "values": {"Churned customers": 0.4}},
     "400 customers (40.0%) have churned: no purchase for more than 292 days (unchanged since 2024-11-30)."),
    ({"as_of": "2024-11-30", "values": {"Other figure": 0.1}},  # the previous run did not have it
     "400 customers (40.0%) have churned: no purchase for more than 292 days."),
])
def test_change_clause_no_previous_rose_fell_unchanged(previous, expected):
    assert headline_sentences("monetisation", [_churned(0.4, 400)], previous) == [expected]


def test_counts_and_money_changes_read_as_words():
    figures = [KeyFigure("net_revenue", "Net revenue", 120_000.0, "currency"),
               KeyFigure("orders", "Orders", 1_100, "count")]
    previous = {"as_of": "2024-11-30", "values": {"Net revenue": 100_000.0, "Orders": 1_200}}
    assert headline_sentences("monetisation", figures, previous, currency="EUR") == [
        "Net revenue is 120,000 EUR (up 20,000 EUR (+20.0%) since 2024-11-30), from 1,100 orders "
        "(down 100 (-8.3%) since 2024-11-30)."]


def test_a_line_falls_back_or_is_left_out_when_its_figures_are_missing():
    at_risk = KeyFigure("at_risk_customer", "At-risk customers", 0.1, "percent", count=10,
                        thresholds=(("at_risk_days", 90.0), ("dormant_days", 180.0)))
    missing_value = KeyFigure("at_risk_value", "Predicted 12-month value of at-risk customers", None, "currency")
    sentences = headline_sentences("retention", [at_risk, missing_value])
    assert sentences == ["10 customers (10.0%) are at risk, with no purchase for more than 90 days but not more "
                         "than 180 days."]
    with_value = KeyFigure("at_risk_value", "Predicted 12-month value of at-risk customers", 5_000.0, "currency")
    assert headline_sentences("retention", [at_risk, with_value], currency="EUR") == [
        "10 customers (10.0%) are at risk, with no purchase for more than 90 days but not more than 180 days; the "
        "predicted 12-month value of at-risk customers is 5,000.00 EUR."]
    assert headline_sentences("retention", []) == []


def test_json_records_give_the_same_sentences_as_key_figures():
    figure = _churned(0.4, 400)
    record = {"key": figure.key, "label": figure.label, "value": 0.4, "kind": "percent", "count": 400,
              "thresholds": [["churn_days", 292]]}
    assert headline_sentences("monetisation", [record]) == headline_sentences("monetisation", [figure])


def test_unknown_report_is_named():
    with pytest.raises(ValueError, match="reports: segmentation"):
        headline_sentences("pricing", [])


@pytest.fixture(scope="module")
def demo():
    return clc.load_run(clc.project_root() / DEMO_DIR / "run.yaml")


@pytest.fixture(scope="module")
def truth():
    return json.loads((clc.project_root() / DEMO_DIR / "truth.json").read_text())


REPORTS = {
    "segmentation": (clc.segmentation_figures, clc.segmentation_headlines, {}),
    "acquisition": (clc.acquisition_figures, clc.acquisition_headlines, {}),
    "monetisation": (clc.monetisation_figures, clc.monetisation_headlines, {}),
    "retention": (clc.retention_figures, clc.retention_headlines, {}),
    "recovery": (clc.recovery_figures, clc.recovery_headlines, {}),
}


@pytest.mark.parametrize("report", list(REPORTS))
def test_demo_headlines_say_the_key_figures(demo, report):
    figures_of, headlines_of, _ = REPORTS[report]
    figures = figures_of(demo)
    sentences = headlines_of(figures, currency=demo.currency)
    assert 3 <= len(sentences) <= 5, sentences
    assert len(sentences) == len(HEADLINES[report])  # every line has its figures on the demo
    text = " ".join(sentences)
    for figure in figures:
        if figure.count is not None and figure.key in {"churned_customer", "at_risk_customer", "lapsed_or_churned"}:
            assert f"{format_count(figure.count)} customers ({format_percent(figure.value)})" in text
    # every number in the sentences is a key figure's formatted value, count or a stage threshold
    allowed = {clc.format_value(f.value, f.kind, demo.currency).split(" ")[0] for f in figures}
    allowed |= {format_count(f.count) for f in figures if f.count is not None}
    allowed |= {f"{days:g}" for f in figures for _, days in f.thresholds}
    allowed |= {number for f in figures for number in re.findall(r"\d+", f.label)}  # "12-month" horizon
    allowed |= {f"{f.value:%Y-%m-%d}" for f in figures if f.kind == "date"}
    allowed |= {"90", "20%"}  # the report parameters: repeat window, top share
    for number in re.findall(r"\d{4}-\d\d-\d\d|\d[\d,.]*%?", text):
        number = number.rstrip(".,")
        assert number in allowed, (number, text)


def test_demo_headlines_match_the_generating_truth(demo, truth):
    sentences = clc.segmentation_headlines(clc.segmentation_figures(demo), currency=demo.currency)
    customers = truth["counts"]["customers"]
    assert sentences[0].startswith(f"{format_count(customers)} customers have bought at least once")
    stages = demo.stages()["stage"].astype(str)
    churned = int((stages == "churned").sum())
    assert f"{format_count(churned)} customers ({format_percent(churned / customers)}) have churned" in \
        _sentence_about(sentences, "have churned")


def test_demo_headlines_with_a_previous_run(demo):
    figures = clc.recovery_figures(demo)
    churned = next(f for f in figures if f.key == "churned_customer")
    previous = {"as_of": "2024-11-30", "run": "20241130-000000_2024-11-30",
                "values": {churned.label: churned.value - 0.01}}
    sentence = _sentence_about(clc.recovery_headlines(figures, previous, currency=demo.currency), "have churned")
    assert sentence.endswith("(up 1.0 pp since 2024-11-30).")
