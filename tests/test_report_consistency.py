"""One vocabulary, one number: the churned and at-risk customers agree across the pages of a demo run,
in the key figures and in the headlines, and the second run's headlines say what moved since the first."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from clc_lib.handoff import read_key_figures

PAGES = ["01", "03", "04", "05"]


def _text(page: Path) -> str:
    markup = re.sub(r"<style.*?</style>|<script.*?</script>", " ", page.read_text(), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def _headline(page: Path) -> str:
    lists = re.findall(r'<ul class="clc-headlines">(.*?)</ul>', page.read_text(), flags=re.S)
    assert len(lists) == 1, page.name
    return html.unescape(re.sub(r"<[^>]+>", " ", lists[0]))


@pytest.fixture(scope="module")
def runs(demo_report_runs):
    return demo_report_runs


@pytest.mark.slow
def test_churned_and_at_risk_agree_across_pages_figures_and_headlines(runs):
    _, second = runs
    by_page = {n.name: {f["key"]: f for f in read_key_figures(second.path / n.ipynb) if "key" in f}
               for n in second.notebooks}
    for key, pages in {"churned_customer": PAGES, "at_risk_customer": ["01", "04", "05"],
                       "customer": ["01", "04", "05"]}.items():
        shown = {(figures[key]["value"], figures[key].get("count")) for name, figures in by_page.items()
                 if name[:2] in pages}
        assert len(shown) == 1, (key, shown)
    churned = next(iter(by_page.values()))["churned_customer"]
    sentence = f"{churned['count']:,} customers ({churned['formatted']}) have churned"
    for notebook in second.notebooks:
        if notebook.name[:2] in PAGES:
            assert sentence in _headline(second.path / notebook.html), notebook.name
    at_risk = by_page["04_retention"]["at_risk_customer"]
    for name in ("01_segmentation", "04_retention", "05_recovery"):
        assert f"{at_risk['count']:,} customers ({at_risk['formatted']}) are at risk" in _headline(
            second.path / f"{name}.html")
    # the value held by the at-risk customers is one number on both pages that show it
    values = {by_page[name]["at_risk_value"]["formatted"] for name in ("04_retention", "05_recovery")}
    assert len(values) == 1


@pytest.mark.slow
def test_second_run_says_what_moved_since_the_first(runs):
    first, second = runs
    recovery = _headline(second.path / "05_recovery.html")
    assert "since 2024-11-30" in recovery
    segmentation_page = _text(second.path / "01_segmentation.html")
    assert "since 2024-11-30" in segmentation_page
    # 03 and 04 had no earlier run: no change is claimed
    assert "since" not in _headline(second.path / "04_retention.html")
    index = _text(second.path / "index.html")
    summary = index.split("Summary", 1)[1].split("Reports", 1)[0]
    for label in ("Customers", "Net revenue", "Churned customers", "At-risk customers", "Repeat customers",
                  "Win-back uplift against control (latest finished campaign)",
                  "Best paid channel by 12-month LTV:CAC", "Revenue share of the top 20% of customers"):
        assert summary.count(f"{label} ·") == 1, label
    # the eight figures a director needs, none repeated: no card of its own for the rest
    assert "Reactivation rate, last full period ·" not in summary
    assert "Predicted 12-month value of at-risk customers ·" not in summary
    # what the at-risk customers are worth rides on their card
    assert summary.count("Predicted 12-month value of at-risk customers: ") == 1
    assert "Returns" not in summary
    assert first.path != second.path
