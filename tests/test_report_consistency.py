"""One vocabulary, one number: the churned and at-risk customers agree across the pages of a demo run,
in the key figures and in the headlines, and the second run's headlines say what moved since the first."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import yaml

from clc_lib.handoff import read_key_figures
from clc_lib.paths import project_root
from clc_lib.report import run_report

DEMO_DIR = project_root() / "data" / "raw" / "demo"
PAGES = ["01", "03", "04", "05"]


def _text(page: Path) -> str:
    markup = re.sub(r"<style.*?</style>|<script.*?</script>", " ", page.read_text(), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def _headline(page: Path) -> str:
    lists = re.findall(r'<ul class="clc-headlines">(.*?)</ul>', page.read_text(), flags=re.S)
    assert len(lists) == 1, page.name
    return html.unescape(re.sub(r"<[^>]+>", " ", lists[0]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("consistency")
    config = yaml.safe_load((DEMO_DIR / "run.yaml").read_text())
    for table in ("transactions", "customers", "spend", "events", "campaigns", "surveys"):
        config[table]["path"] = str(DEMO_DIR / config[table]["path"])
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    first = run_report(path, out=folder / "reports", only=["01", "05"], as_of="2024-11-30", jobs=1, echo=None)
    second = run_report(path, out=folder / "reports", only=PAGES, jobs=2, echo=None)
    for run in (first, second):
        assert run.ok, [(n.name, n.error) for n in run.notebooks if n.status != "ok"]
    return first, second


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
    for label in ("Customers", "Net revenue", "Churned customers", "At-risk customers",
                  "Predicted 12-month value of at-risk customers"):
        assert summary.count(f"{label} ·") == 1, label
    assert "Returns" not in summary
    assert first.path != second.path


@pytest.mark.slow
def test_screenshots_of_the_first_screen(runs):
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM_ARGS, artifacts_dir, chromium_executable

    _, second = runs
    screenshots = artifacts_dir() / "first-screens"
    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for html_page in sorted(second.path.glob("*.html")):
            page.goto(html_page.as_uri())
            target = screenshots / f"{html_page.stem}.png"
            page.screenshot(path=str(target))
            assert target.stat().st_size > 10_000
        browser.close()
