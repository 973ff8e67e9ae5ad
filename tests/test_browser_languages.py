"""The reports in simplified and traditional Chinese: page text from the library, and whole runs in the browser.

The fast tests check the text the library puts on the pages (navigation, error banner, appendix title,
data-quality pointer, reader notes of the analyses) in both Chinese scripts, with English unchanged.

The slow tests run the whole demo once in ``zh-Hans`` and ``zh-Hant`` (one run, both languages side by
side) and CDNOW in ``zh-Hant``; every report must finish (5/5 in each language). Each page is opened in
headless Chromium (the helpers of tests/test_browser.py): its visible text, with the appendix opened,
must hold no English sentence outside data values, code names and units; axe-core must find no serious
or critical violation; the first screen (1400×900) of each page is saved to
``<artifacts>/browser/zh-Hans/`` and ``zh-Hant/`` (``<page>-first-screen.png``, with the page's visible
text in ``<page>.txt``); the English runs found are listed in ``browser/english-on-chinese-pages.txt``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from clc_lib import i18n
from clc_lib.i18n import language

REPORTS = ["01_segmentation", "02_acquisition", "03_monetisation", "04_retention", "05_recovery"]

# --- the English-sentence check -----------------------------------------------------------------

_WORD = r"[A-Za-z][A-Za-z'’\-]*"
#: Three or more words written in Latin letters with only spaces and punctuation between them (a tab
#: separates table cells and a line break blocks of the page: neither joins words into a sentence).
_WORD_RUN = re.compile(rf"{_WORD}(?:[ ,;:&()\-–—.·'\"’]+{_WORD}){{2,}}")
#: Code names and file names: identifiers with an underscore, dotted names, paths and formulas.
_CODE_NAME = re.compile(r"\S*[_/=]\S*|\S+\.(?:yaml|yml|csv|parquet|txt|ipynb|html|log|json|png)\b|`[^`]*`")
#: Units and abbreviations kept in Latin letters in Chinese text (all-capital words never count).
UNITS = frozenset({"pp", "p", "n", "vs", "e.g", "Gamma-Gamma", "Pareto", "NBD", "BG", "log-rank", "Log-rank",
                   "Gini", "Lorenz", "Kaplan-Meier", "Cox", "Mann-Whitney", "Welch", "chi-square"})


def english_sentences(text: str, data_values: set[str] = frozenset()) -> list[str]:
    """The runs of three or more English words in ``text``, after data values, code names and units.

    A word counts when it has a lower-case letter, two letters or more and is not in :data:`UNITS`:
    abbreviations (RFM, CLV, EUR) and single letters do not make a sentence. ``data_values`` (channel,
    product or campaign names from the data) are taken out first, the longest first.
    """
    values = [re.escape(value) for value in sorted(data_values, key=len, reverse=True) if value.strip()]
    if values:  # a data value ends a run of words: what is left on either side is judged apart
        text = re.sub(rf"(?<![A-Za-z])(?:{'|'.join(values)})(?![A-Za-z])", " | ", text)
    text = _CODE_NAME.sub(" | ", text)
    found = []
    for match in _WORD_RUN.finditer(text):
        words = [word for word in re.findall(_WORD, match.group(0))
                 if len(word) > 1 and any(char.islower() for char in word) and word not in UNITS]
        if len(words) >= 3:
            found.append(match.group(0))
    return found


def test_the_english_check_finds_sentences_and_spares_data_values_code_and_units():
    assert english_sentences("1,234 customers have churned since 2024年1月") == ["customers have churned since"]
    assert english_sentences("流失顾客：1,234 位 · Paid Search Big Spring Sale",
                             {"Paid Search", "Big Spring Sale"}) == []
    assert english_sentences("客单价 EUR 1,234.50，BG/NBD 与 Gamma-Gamma 模型（acquisition_channel, country）") == []
    assert english_sentences("见 `clc_lib.rfm.rfm_scores` 与 data/raw/demo/run.yaml") == []
    assert english_sentences("RFM CLV LTV:CAC 12.3 pp") == []
    assert english_sentences("transactions\trows in\t1,000\nreturns\tkeep") == []  # code names in table cells
    assert english_sentences("阶段\tShare of customers\t客户") == ["Share of customers"]
    # a sentence split by a data value is still caught where three English words remain together
    assert english_sentences("Customers from organic are worth more", {"organic"}) == ["are worth more"]


# --- the library's page text in each language -----------------------------------------------------

def test_page_navigation_error_banner_and_run_label_in_each_language():
    from clc_lib.rendering import page_text, run_label

    assert page_text()["all_reports"] == "All reports of this run"
    assert run_label("demo", "20250101-120000_2024-12-31") == "demo, run 20250101-120000_2024-12-31"
    with language("zh-Hans"):
        assert page_text() == {"all_reports": "本次运行的全部报告", "did_not_finish": "本报告未能运行完成。",
                               "did_not_finish_detail": page_text()["did_not_finish_detail"]}
        assert "出错的单元格" in page_text()["did_not_finish_detail"]
        assert run_label("demo", "20250101-120000_2024-12-31") == "demo，运行 20250101-120000_2024-12-31"
    with language("zh-Hant"):
        assert page_text()["all_reports"] == "本次執行的所有報告"
        assert run_label("demo", "X") == "demo，執行 X"


def test_the_error_page_for_a_notebook_that_never_started_is_in_the_language(tmp_path):
    from clc_lib.rendering import render_html

    for tag, expected in (("en", "This report could not be run."), ("zh-Hans", "本报告无法运行。"),
                          ("zh-Hant", "本報告無法執行。")):
        target = tmp_path / f"page.{tag}.html"
        with language(tag):
            render_html(tmp_path / "missing.ipynb", target, title="Retention", error="KernelDied: gone",
                        run_label="demo, run 1")
        page = target.read_text(encoding="utf-8")
        assert f'<html lang="{tag}">' in page
        assert expected in page and "KernelDied: gone" in page
        assert ("All reports of this run" in page) == (tag == "en")


def test_appendix_title_and_quality_pointer_follow_the_language():
    import nbformat

    from clc_lib.handoff import RUN_DATA_MIME
    from clc_lib.rendering import arrange_appendix

    def page(tag: str) -> tuple[str, str]:
        notebook = nbformat.v4.new_notebook()
        first = nbformat.v4.new_code_cell("x")
        first.outputs = [nbformat.v4.new_output("display_data", data={RUN_DATA_MIME: {"quality": [
            {"table": "transactions", "step": "negative amount", "action": "drop", "rows": 3}]}})]
        notebook.cells = [nbformat.v4.new_markdown_cell("# Title"), first,
                          nbformat.v4.new_markdown_cell("## Detail", metadata={"tags": ["appendix"]})]
        quality = [output["data"][RUN_DATA_MIME]["quality"] for output in first.outputs][0]
        with language(tag):
            arrange_appendix(notebook, quality)
        return notebook.cells[-1].metadata["clc_appendix_start"], notebook.cells[0].metadata.get("clc_quality_line", "")

    title, line = page("en")
    assert title == "Appendix: further detail, data quality, definitions and model details"
    assert line.endswith("; see the appendix.")
    title, line = page("zh-Hans")
    assert title.startswith("附录") and "Appendix" not in title
    assert "见附录" in line
    title, line = page("zh-Hant")
    assert title.startswith("附錄") and "見附錄" in line


def test_holdout_sentence_in_each_language():
    from clc_lib.clv.holdout import holdout_period

    period = holdout_period("2022-01-01", "2024-12-31", requested_days=182)
    assert period.describe() == ("Holdout: the last 182 days (26 weeks), 2024-07-03 to 2024-12-31; the models are "
                                 "fitted on the 913 days before it.")
    with language("zh-Hans"):
        assert period.describe() == "留出期：最近 182 天（26 周），2024年7月3日至2024年12月31日；模型以此前的 913 天数据拟合。"
    short = holdout_period("2024-09-15", "2024-12-31", requested_days=182)
    with language("zh-Hant"):
        text = short.describe()
    assert text.startswith("保留驗證期：最近 35 天（5 週），2024年11月27日至2024年12月31日")
    assert "由原先要求的 182 天縮短為" in text and "107 天" in text and " " not in text.split("。")[1][:1]


def test_customer_attribute_notes_in_each_language():
    from clc_lib.survival import customer_attributes

    ids = [str(i) for i in range(400)]
    frame = pd.DataFrame({"churned": [i % 3 == 0 for i in range(400)]}, index=pd.Index(ids))
    customers = pd.DataFrame({"customer_id": ids, "channel": ["paid", "organic", "referral", "email"] * 100,
                              "sparse": [None] * 300 + ["x"] * 100, "size": [3.0] * 400})
    english = customer_attributes(frame, customers, event_col="churned").notes
    assert english == ["channel: categorical, 4 levels.",
                       "sparse: left out, known for 25% of the customers (needs 50%).",
                       "size: left out, a single value."]
    with language("zh-Hans"):
        hans = customer_attributes(frame, customers, event_col="churned").notes
    assert "sparse：已排除，仅 25% 的客户有此值（至少需要 50%）。" in hans
    assert "channel：分类属性，4 个取值。" in hans and "size：已排除，只有一个取值。" in hans
    assert not [note for note in hans if english_sentences(note)]
    with language("zh-Hant"):
        hant = customer_attributes(frame, customers, event_col="churned").notes
    assert "channel：類別屬性，4 個類別。" in hant
    assert hant != hans


def test_margin_basis_in_each_language():
    from clc_lib.unit_economics import margin_basis

    options = {"by": "category", "rates": {"books": 0.3, "music": 0.5}, "rate": 0.4}
    assert margin_basis(options) == "gross margin by category (books 30%, music 50%; other category values 40%) of net revenue"
    assert margin_basis({"rate": 0.4}) == "gross margin at 40% of net revenue"
    with language("zh-Hans"):
        assert margin_basis(options) == "净收入的毛利，毛利率按 category 区分（books 30%、music 50%；其他 category 取值 40%）"
        assert margin_basis({"rate": 0.4}) == "净收入的毛利，毛利率 40%"
        assert margin_basis({}).startswith("净收入（未设置毛利率")
    with language("zh-Hant"):
        assert margin_basis({"rate": 0.4}) == "淨營收的毛利，毛利率 40%"


# --- whole runs in the browser ----------------------------------------------------------------------

@dataclass
class LanguagePage:
    """What one page showed in the browser, its appendix opened."""

    text: str
    axe_violations: list[dict] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    images: int = 0


def demo_data_values(config_file: Path) -> set[str]:
    """The text values of the demo's tables (channels, categories, products, campaigns, reasons) and
    their column names: what the pages show from the data, never translated."""
    import yaml

    config = yaml.safe_load(config_file.read_text())
    values: set[str] = set()
    for table in ("transactions", "customers", "spend", "events", "campaigns", "surveys"):
        path = config_file.parent / config[table]["path"]
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
        for column in frame.select_dtypes(include=["object", "string"]).columns:
            distinct = frame[column].dropna().astype(str).unique()
            if len(distinct) <= 300:
                values |= set(distinct)
    # Column names are not excused (an English word such as "channel" must not hide a sentence);
    # those with an underscore pass as code names.
    return {value for value in values if re.search("[A-Za-z]", value)}


def open_pages(run: Path, pages: list[str], screenshots: Path) -> dict[str, LanguagePage]:
    """Open each page at 1400×900: first screen saved, then its appendix opened and its text taken."""
    from test_browser import READER_VIEWPORT, axe_violations, open_browser

    screenshots.mkdir(parents=True, exist_ok=True)
    for old in screenshots.glob("*.png"):
        old.unlink()
    shown = {}
    with open_browser(READER_VIEWPORT) as browser:
        for name in pages:
            page = browser.context.new_page()
            errors: list[str] = []
            page.on("console", lambda message, errors=errors: errors.append(message.text)
                    if message.type == "error" else None)
            page.goto((run / name).resolve().as_uri(), wait_until="load")
            page.screenshot(path=str(screenshots / f"{name.split('.')[0]}-first-screen.png"))
            violations = axe_violations(page)
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            text = page.inner_text("body")
            (screenshots / f"{name.split('.')[0]}.txt").write_text(text, encoding="utf-8")
            shown[name] = LanguagePage(text=text, axe_violations=violations,
                                       console_errors=errors,
                                       images=page.evaluate("document.images.length"))
            page.close()
    return shown


@pytest.fixture(scope="module")
def chinese_demo_run(demo_config_file, tmp_path_factory):
    """The whole demo in simplified and traditional Chinese: one run, zh-Hans pages first."""
    import yaml

    from clc_lib.report import run_report

    config = yaml.safe_load(demo_config_file.read_text())
    for table in ("transactions", "customers", "spend", "events", "campaigns", "surveys"):
        config[table]["path"] = str(demo_config_file.parent / config[table]["path"])
    folder = tmp_path_factory.mktemp("demo-chinese")
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("demo-chinese-cache")))
        return run_report(path, out=folder / "reports", jobs=2, echo=None, language=["zh-Hans", "zh-Hant"])


@pytest.fixture(scope="module")
def chinese_demo_pages(chinese_demo_run) -> dict[str, dict[str, LanguagePage]]:
    from test_browser import artifacts_dir

    run = chinese_demo_run.path
    return {"zh-Hans": open_pages(run, ["index.html", *[f"{name}.html" for name in REPORTS]],
                                  artifacts_dir() / "zh-Hans"),
            "zh-Hant": open_pages(run, [f"{name}.zh-Hant.html" for name in REPORTS], artifacts_dir() / "zh-Hant")}


def finished_reports(run) -> dict[str, list[str]]:
    """The reports of a run that finished, per language."""
    done: dict[str, list[str]] = {}
    for first in run.notebooks:
        for result in (first, *first.other_languages):
            if result.status == "ok" and result.error is None:
                done.setdefault(result.language, []).append(result.name)
    return done


@pytest.mark.slow
def test_the_demo_renders_five_of_five_in_both_chinese_scripts(chinese_demo_run):
    assert chinese_demo_run.ok, [(n.name, n.error) for n in chinese_demo_run.notebooks if n.error]
    assert finished_reports(chinese_demo_run) == {"zh-Hans": REPORTS, "zh-Hant": REPORTS}
    for name in REPORTS:
        for suffix, tag in (("", "zh-Hans"), (".zh-Hant", "zh-Hant")):
            page = (chinese_demo_run.path / f"{name}{suffix}.html").read_text(encoding="utf-8")
            assert f'<html lang="{tag}">' in page, (name, tag)


@pytest.mark.slow
def test_chinese_pages_open_cleanly_with_first_screens_saved_and_no_serious_axe_violation(chinese_demo_pages):
    from test_browser import artifacts_dir

    found = []
    for tag, pages in chinese_demo_pages.items():
        for name, page in pages.items():
            assert page.console_errors == [], (tag, name, page.console_errors)
            if name != "index.html":
                assert page.images >= 5, (tag, name)
            shot = artifacts_dir() / tag / f"{name.split('.')[0]}-first-screen.png"
            assert shot.is_file() and shot.stat().st_size > 10_000, shot
            found += [f"{tag} {name}: {violation['id']} ({violation['impact']})" for violation in page.axe_violations
                      if violation.get("impact") in ("serious", "critical")]
    assert found == [], "\n".join(found)


@pytest.mark.slow
def test_no_english_sentence_on_the_chinese_pages(chinese_demo_pages, demo_config_file):
    """The visible text of every page, appendix opened: no run of three English words outside the
    demo's data values, code names and units."""
    data_values = demo_data_values(demo_config_file)
    english = {f"{tag} {name}": found for tag, pages in chinese_demo_pages.items() for name, page in pages.items()
               if (found := english_sentences(page.text, data_values))}
    from test_browser import artifacts_dir

    listing = "".join(f"== {page}\n" + "".join(f"{run}\n" for run in found) for page, found in english.items())
    (artifacts_dir() / "english-on-chinese-pages.txt").write_text(listing, encoding="utf-8")
    report = "\n".join(f"{page}: {len(found)} English runs, e.g. {found[:8]}" for page, found in english.items())
    assert english == {}, report + "\nEvery run: english-on-chinese-pages.txt among the test artifacts."


@pytest.mark.slow
def test_cdnow_renders_five_of_five_in_traditional_chinese(cdnow_dir, tmp_path_factory):
    from conftest import cdnow_report

    run = cdnow_report(cdnow_dir, tmp_path_factory, "cdnow-zh-Hant", language="zh-Hant")
    assert finished_reports(run) == {"zh-Hant": REPORTS}
    for name in REPORTS:
        page = (run.path / f"{name}.html").read_text(encoding="utf-8")
        assert '<html lang="zh-Hant">' in page and "本次執行的所有報告" in page, name
    assert i18n.current_language() == "en"  # the run leaves the test process in English


def test_data_quality_rule_descriptions_and_model_warnings_in_each_language():
    from clc_lib.quality import QUALITY_RULES, DataQualityReport, RuleResult, TableQuality

    returns = next(rule for rule in QUALITY_RULES if rule.name == "returns")
    report = DataQualityReport()
    report.add(TableQuality(table="transactions", source="transactions.csv", rows_in=10, rows_out=9,
                            rules=[RuleResult("returns", "keep", 2, -30.0, returns.description),
                                   RuleResult("missing_customer_id", "drop", 1, 5.0, "empty customer id")]))
    assert list(report.to_frame()["description"]) == [
        "transactions.csv", "returns and cancellations (kept with negative amount)", "empty customer id", ""]
    with language("zh-Hans"):
        assert list(report.to_frame()["description"])[1:] == ["退货与取消（以负金额保留）", "客户 ID 为空", ""]
    with language("zh-Hant"):
        assert list(report.to_frame()["description"])[1:3] == ["退貨與取消（以負金額保留）", "顧客 ID 為空"]
    assert report.to_frame()["description"][0] == "transactions.csv"  # where the rows came from is a data value



def test_the_spend_model_warning_is_in_the_language():
    import warnings

    import numpy as np

    from clc_lib.clv.value import CustomerValueModel

    rng = np.random.default_rng(1)
    purchases = rng.poisson(2, 300).astype(float)
    age = rng.uniform(20, 50, 300)
    summary = pd.DataFrame({"x": purchases, "t_x": np.where(purchases > 0, age * rng.uniform(0.2, 1, 300), 0.0),
                            "T": age, "zbar": np.where(purchases > 0, rng.gamma(5, 10, 300), 0.0)})
    summary.loc[summary.index[summary.x > 0][0], "zbar"] = 0.0
    shown = {}
    for tag in ("en", "zh-Hans", "zh-Hant"):
        with language(tag), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            CustomerValueModel().fit(summary)
        shown[tag] = [str(warning.message) for warning in caught if not str(warning.message).startswith("BG/NBD")]
    assert shown["en"] == ["1 repeat buyer has a mean repeat value of zero or less; the spend model leaves it out "
                           "and gives it the population mean spend."]
    assert shown["zh-Hans"] == ["1 位复购客户的平均复购金额为零或负数；消费金额模型将其排除，并按全体平均消费金额计。"]
    assert shown["zh-Hant"] == ["1 位回購顧客的平均回購金額為零或負數；消費金額模型將其排除，並以全體平均消費金額計。"]
