"""Report languages: the active language, catalogs, locale formatting, the notebook extractor,
translated markdown cells, the ``report.language`` setting and ``--language``, and CJK glyphs in charts."""

from __future__ import annotations

import io
import json
import shutil
import warnings

import matplotlib
import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from clc_lib import cli, formatting, i18n, report
from clc_lib.definitions import stage_label
from clc_lib.errors import ConfigError
from clc_lib.handoff import apply_notebook_parameters, parameters_for
from clc_lib.i18n_extract import catalog_problems, extract_notebook
from clc_lib.paths import project_root
from clc_lib.rendering import notebook_stem, translate_markdown, with_html_language
from clc_lib.settings import ReportSettings

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    i18n.set_language("en")


def test_i18n_is_a_bottom_layer_module():
    """settings and handoff import it, so at import time it needs nothing but the errors."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(i18n.__file__).read_text(encoding="utf-8"))
    top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
                 and node.module.startswith("clc_lib")}
    assert top_level == {"clc_lib.errors"}


# --- the active language -------------------------------------------------------------------------

def test_default_language_is_english_and_set_language_changes_it():
    assert i18n.current_language() == "en"
    assert i18n.set_language("zh_hant") == "zh-Hant"
    assert i18n.current_language() == "zh-Hant"


def test_language_block_restores_the_previous_language_even_after_an_error():
    i18n.set_language("zh-Hans")
    with pytest.raises(RuntimeError), i18n.language("zh-Hant"):
        assert i18n.current_language() == "zh-Hant"
        raise RuntimeError("inside")
    assert i18n.current_language() == "zh-Hans"


@pytest.mark.parametrize("bad", ["fr", "zh", "", None, 3])
def test_unknown_language_names_the_allowed_ones(bad):
    with pytest.raises(ConfigError, match=r"use one of en, zh-Hans, zh-Hant"):
        i18n.set_language(bad)


def test_languages_list_or_commas_keep_order_without_repeats():
    assert i18n.parse_languages("en, zh-Hant") == ("en", "zh-Hant")
    assert i18n.parse_languages(["zh-Hant", "en", "zh-hant"]) == ("zh-Hant", "en")
    with pytest.raises(ConfigError, match="empty list"):
        i18n.parse_languages([])


# --- gettext -----------------------------------------------------------------------------------

def test_stage_labels_follow_the_active_language_with_taiwan_usage_for_traditional():
    assert stage_label("new") == "New" and stage_label("at_risk") == "At risk"
    with i18n.language("zh-Hans"):
        assert [stage_label(s) for s in ("new", "dormant", "churned")] == ["新客期", "沉默期", "流失"]
    with i18n.language("zh-Hant"):
        assert [stage_label(s) for s in ("new", "dormant", "churned")] == ["新顧客", "沉睡期", "流失顧客"]
        assert stage_label("some_custom_stage") == "Some custom stage"  # unknown codes stay readable


def test_a_message_without_translation_stays_english():
    with i18n.language("zh-Hans"):
        assert i18n.gettext("A sentence no catalog has") == "A sentence no catalog has"
        assert i18n.ngettext("one day", "%(n)s days", 3) == "%(n)s days"


def test_catalog_is_compiled_from_the_po_when_the_mo_is_missing(tmp_path):
    po = tmp_path / "clc.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgctxt "nb:c1"\nmsgid "Hello"\nmsgstr "你好"\n\n'
                  '#, fuzzy\nmsgid "Guess"\nmsgstr "猜的"\n', encoding="utf-8")
    mo = tmp_path / "clc.mo"
    import gettext

    translations = gettext.GNUTranslations(io.BytesIO(i18n.compile_catalog(po, mo)))
    assert mo.is_file()
    assert translations.pgettext("nb:c1", "Hello") == "你好"
    assert translations.gettext("Hello") == "Hello"  # the context is part of the key
    assert translations.gettext("Guess") == "Guess"  # fuzzy translations are left out


# --- formatting per locale -----------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ["1,234.57", "1,234,567", "12.3%", "1,234.50 EUR", "-98,765 EUR", "0.00 EUR", "2024-12-31",
            "2024-12-31 13:05"]),
    ("zh-Hans", ["1,234.57", "1,234,567", "12.3%", "EUR 1,234.50", "-EUR 98,765", "EUR 0.00", "2024年12月31日",
                 "2024年12月31日 13:05"]),
    ("zh-Hant", ["1,234.57", "1,234,567", "12.3%", "EUR 1,234.50", "-EUR 98,765", "EUR 0.00", "2024年12月31日",
                 "2024年12月31日 13:05"]),
])
def test_numbers_money_and_dates_per_language(lang, expected):
    got = [i18n.format_number(1234.567, lang=lang), i18n.format_count(1234567.4, lang=lang),
           i18n.format_percent(0.1234, lang=lang), i18n.format_currency(1234.5, "EUR", lang=lang),
           i18n.format_currency(-98765.4, "EUR", lang=lang), i18n.format_currency(-0.001, "EUR", lang=lang),
           i18n.format_date("2024-12-31", lang=lang), i18n.format_date("2024-12-31 13:05", lang=lang)]
    assert got == expected


def test_english_formatting_is_what_the_pages_show_today():
    from clc_lib import display

    for value in (0, 0.5, 1234.567, -1e6, 12345.678, float("nan"), None):
        assert i18n.format_number(value, lang="en") == display.format_number(value)
        assert i18n.format_currency(value, "USD", lang="en") == display.format_currency(value, "USD")
        assert i18n.format_percent(value, lang="en") == display.format_percent(value)
    assert i18n.format_currency(None, "EUR", lang="zh-Hans") == formatting.MISSING_TEXT


def test_formatting_follows_the_active_language():
    with i18n.language("zh-Hant"):
        assert i18n.format_date("2024-01-05") == "2024年1月5日"


@pytest.mark.parametrize(("lang", "unit", "start", "expected"), [
    ("en", "M", "2024-01-01", "2024-01"),
    ("en", "W", "2024-01-01", "2024-01-01"),
    ("en", "Q", "2024-04-01", "2024 Q2"),
    ("en", "Y", "2024-01-01", "2024"),
    ("zh-Hans", "M", "2024-01-01", "2024年1月"),
    ("zh-Hans", "month", "2024-11-01", "2024年11月"),
    ("zh-Hans", "Q", "2024-10-01", "2024年第4季度"),
    ("zh-Hant", "Q", "2024-10-01", "2024年第4季"),
    ("zh-Hans", "W", "2024-01-01", "2024年第1周"),
    # 30 December 2024 is a Monday in ISO week 1 of 2025
    ("zh-Hant", "W", "2024-12-30", "2025年第1週"),
    ("zh-Hans", "Y", "2024-01-01", "2024年"),
])
def test_period_labels(lang, unit, start, expected):
    assert i18n.format_period(start, unit, lang=lang) == expected


def test_period_accepts_the_config_period_and_refuses_unknown_units():
    from clc_lib.periods import Period

    assert i18n.format_period("2024-03-01", Period.parse("M"), lang="zh-Hans") == "2024年3月"
    with pytest.raises(ConfigError, match="'M' \\(month\\)"):
        i18n.format_period("2024-03-01", "fortnight")


# --- extraction and markdown translation ------------------------------------------------------------

def _tiny_notebook():
    notebook = new_notebook()
    notebook.cells = [new_markdown_cell("# Title\n\nSome *text*.", id="md-1"),
                      new_code_cell('%matplotlib inline\nimport clc_lib as clc\nlabel = clc._("Shown label")\n'
                                    'other = _("Plain call")', id="code-1"),
                      new_markdown_cell("   ", id="md-empty"),
                      new_markdown_cell("# Title\n\nSome *text*.", id="md-2")]
    return notebook


def test_extractor_keys_markdown_cells_by_notebook_and_cell_id():
    buffer = io.BytesIO(nbformat.writes(_tiny_notebook()).encode("utf-8"))
    buffer.name = "notebooks/07_tiny.ipynb"
    found = list(extract_notebook(buffer, {"_": None, "pgettext": ((1, "c"), 2)}, [], {}))
    markdown = [(number, messages) for number, funcname, messages, _comments in found if funcname == "pgettext"]
    assert markdown == [(1, ("07_tiny:md-1", "# Title\n\nSome *text*.")),
                        (4, ("07_tiny:md-2", "# Title\n\nSome *text*."))]
    code = sorted(messages for _number, funcname, messages, _comments in found if funcname == "_")
    assert code == ["Plain call", "Shown label"]


def test_markdown_cells_are_translated_by_context_and_untranslated_ones_stay(tmp_path):
    notebook = nbformat.read(project_root() / "notebooks" / "01_segmentation.ipynb", as_version=4)
    summary = next(cell for cell in notebook.cells if cell.get("id") == "01-03")
    english = summary.source
    notebook.cells.append(new_markdown_cell("A cell added after the catalog was updated.", id="new-cell"))
    with i18n.language("zh-Hans"):
        changed = translate_markdown(notebook, "01_segmentation")
    assert summary.source.startswith("## 执行摘要") and summary.source != english
    assert notebook.cells[-1].source == "A cell added after the catalog was updated."
    markdown = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
    assert changed == len(markdown) - 1
    # the same text under another notebook's context is not translated
    other = new_notebook(cells=[new_markdown_cell(english, id="01-03")])
    with i18n.language("zh-Hant"):
        assert translate_markdown(other, "02_acquisition") == 0
    with i18n.language("en"):
        assert translate_markdown(other, "01_segmentation") == 0


def test_page_language_and_notebook_stem():
    assert notebook_stem("work/01_segmentation.zh-Hant.ipynb") == "01_segmentation"
    assert notebook_stem("01_segmentation.ipynb") == "01_segmentation"
    with i18n.language("zh-Hant"):
        assert with_html_language('<!DOCTYPE html>\n<html lang="en">\n<head>').endswith('<html lang="zh-Hant">\n<head>')


def test_both_chinese_catalogs_are_complete_and_in_step_with_the_project():
    problems = catalog_problems(project_root())
    assert set(problems) == {"zh-Hans", "zh-Hant"}
    assert problems == {tag: {"missing": [], "untranslated": [], "fuzzy": [], "placeholders": []} for tag in problems}


def test_catalog_check_names_untranslated_fuzzy_missing_and_mismatched_messages(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(project_root() / "clc_lib", root / "clc_lib", ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shutil.copytree(project_root() / "notebooks", root / "notebooks")
    shutil.copy(project_root() / "babel.cfg", root / "babel.cfg")
    notebook = nbformat.read(project_root() / "notebooks" / "01_segmentation.ipynb", as_version=4)
    notebook.cells[0].source += "\n\nA sentence added later."
    nbformat.write(notebook, root / "notebooks" / "01_segmentation.ipynb")
    po = root / "clc_lib" / "locale" / "zh_Hant" / "LC_MESSAGES" / "clc.po"
    text = po.read_text(encoding="utf-8")
    text = text.replace('msgid "Run details"\nmsgstr "執行詳情"', 'msgid "Run details"\nmsgstr ""')
    text = text.replace('msgid "Run log"\n', '#, fuzzy\nmsgid "Run log"\n')
    text = text.replace('msgid "%(count)s customers"\nmsgstr "%(count)s 位顧客"', 'msgid "%(count)s customers"\nmsgstr "顧客"')
    po.write_text(text, encoding="utf-8")
    problems = catalog_problems(root)
    assert problems["zh-Hant"]["untranslated"] == ["Run details"]
    assert problems["zh-Hant"]["fuzzy"] == ["Run log"]
    assert problems["zh-Hant"]["placeholders"] == ["%(count)s customers"]
    assert problems["zh-Hans"]["placeholders"] == []
    assert problems["zh-Hant"]["missing"] == ["01_segmentation:01-00 | # Customer segmentation: lifecycle stages and RFM segments"]
    assert problems["zh-Hans"]["missing"] == problems["zh-Hant"]["missing"]
    assert problems["zh-Hans"]["untranslated"] == problems["zh-Hans"]["fuzzy"] == []


def test_placeholders_are_braces_and_named_percents_not_a_lone_percent():
    from clc_lib.i18n_extract import placeholders

    assert placeholders("{rate} (% of cohort), %(count)s customers, 95% interval {net.change}") == [
        "%(count)s", "{net.change}", "{rate}"]


# --- the setting, the notebook parameter and the command line --------------------------------------

def test_report_language_setting():
    assert ReportSettings().language == ("en",)
    assert ReportSettings.from_mapping({"language": "zh-Hans"}).language == ("zh-Hans",)
    assert ReportSettings.from_mapping({"language": ["en", "zh-Hant"]}).language == ("en", "zh-Hant")
    with pytest.raises(ConfigError, match=r"report.language is 'jp'; use one of en, zh-Hans, zh-Hant"):
        ReportSettings.from_mapping({"language": "jp"})


def test_language_parameter_reaches_the_notebook_and_sets_language_and_fonts(tmp_path):
    notebook = new_notebook(cells=[new_code_cell('config = ""\nlanguage = "en"', metadata={"tags": ["parameters"]})])
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    handed = parameters_for(tmp_path / "nb.ipynb", config="c.yaml", as_of="2024-01-31", period="M", horizon=None,
                            stage_rules=None, pseudonymise_ids=True, run_cache=None, language="zh-Hant")
    assert handed == {"config": "c.yaml", "language": "zh-Hant"}
    apply_notebook_parameters(language="zh-Hant")
    assert i18n.current_language() == "zh-Hant"
    assert matplotlib.rcParams["font.family"] == ["DejaVu Sans", "Noto Sans CJK TC"]
    with pytest.raises(ConfigError, match="notebook parameter language is 'klingon'"):
        apply_notebook_parameters(language="klingon")
    apply_notebook_parameters()


def test_language_option_parses_repeated_and_comma_separated():
    args = cli.build_parser().parse_args(["report", "--config", "r.yaml", "--language", "en,zh-Hans",
                                          "--language", "zh-Hant"])
    assert args.language == ["en,zh-Hans", "zh-Hant"]


def _stand_in_run(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    source = nbformat.read(project_root() / "notebooks" / "01_segmentation.ipynb", as_version=4)
    for cell in source.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nbformat.write(source, notebooks / "01_segmentation.ipynb")
    config = tmp_path / "run.yaml"
    config.write_text("name: langs\ntransactions: {path: tx.csv}\nreport: {language: zh-Hant}\n", encoding="utf-8")
    handed: list[str] = []

    def stand_in(task):
        handed.append(report.notebook_parameters(task)["language"])
        shutil.copy(task.source, task.executed)
        return True, None

    monkeypatch.setattr(report, "execute_notebook", stand_in)
    monkeypatch.setattr(report, "_check_input",
                        lambda config, as_of, cache, stage_rules=None: ("input check replaced by the test", False,
                                                                        "2024-01-31", None))
    monkeypatch.setenv("CLC_ID_SALT", "test-salt-0123456789abcdef")
    monkeypatch.setattr(report, "default_notebooks_dir", lambda: notebooks)
    return config, handed


def test_two_languages_render_side_by_side_and_the_index_links_both(tmp_path, monkeypatch, capsys):
    config, handed = _stand_in_run(tmp_path, monkeypatch)
    code = cli.main(["report", "--config", str(config), "--out", str(tmp_path / "out"), "--jobs", "1",
                     "--language", "en,zh-Hans"])
    assert code == 0, capsys.readouterr().err
    assert handed == ["en", "zh-Hans"]
    run = next((tmp_path / "out" / "langs").glob("2*"))
    english = (run / "01_segmentation.html").read_text(encoding="utf-8")
    chinese = (run / "01_segmentation.zh-Hans.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in english and "Customer segmentation" in english
    assert '<html lang="zh-Hans">' in chinese and "客户细分" in chinese and "执行摘要" in chinese
    assert "Customer segmentation: lifecycle stages" not in chinese
    assert '"Noto Sans CJK SC"' in chinese  # the CJK font stack
    index = (run / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in index and "Key figures by report" in index
    assert 'href="01_segmentation.zh-Hans.html"' in index and "简体中文" in index
    manifest = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert manifest["notebooks"][0]["other_languages"][0]["title"].startswith("客户细分")


def test_config_language_alone_keeps_the_usual_file_names_and_a_chinese_index(tmp_path, monkeypatch):
    config, handed = _stand_in_run(tmp_path, monkeypatch)
    assert cli.main(["report", "--config", str(config), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 0
    assert handed == ["zh-Hant"]
    run = next((tmp_path / "out" / "langs").glob("2*"))
    assert sorted(p.name for p in run.glob("*.html")) == ["01_segmentation.html", "index.html"]
    page = (run / "01_segmentation.html").read_text(encoding="utf-8")
    assert '<html lang="zh-Hant">' in page and "顧客分群" in page
    index = (run / "index.html").read_text(encoding="utf-8")
    assert '<html lang="zh-Hant">' in index and "顧客生命週期報告" in index and "各報告的關鍵數據" in index
    assert "Key figures by report" not in index


def test_unknown_language_option_is_a_bad_input_exit(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("name: x\ntransactions: {path: tx.csv}\n", encoding="utf-8")
    assert cli.main(["report", "--config", str(config), "--language", "fr"]) == 2
    assert "--language is 'fr'; use one of en, zh-Hans, zh-Hant" in capsys.readouterr().err


# --- CJK glyphs in charts ------------------------------------------------------------------------------

def _title_pixels(title: str, language: str) -> np.ndarray:
    import matplotlib.pyplot as plt

    from clc_lib.plots.theme import set_theme

    set_theme(language)
    figure, ax = plt.subplots(figsize=(4, 1.2), dpi=100)
    ax.set_axis_off()
    figure.text(0.02, 0.5, title, fontsize=20, va="center")
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].mean(axis=2)
    plt.close(figure)
    return pixels


@pytest.mark.parametrize(("language", "first", "second"), [
    ("zh-Hans", "客户生命周期", "流失客户挽回"),
    ("zh-Hant", "顧客生命週期", "流失顧客喚回"),
])
def test_chinese_titles_are_drawn_as_characters_not_boxes(language, first, second):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns "Glyph ... missing from font(s)"
        drawn = [_title_pixels(text, language) for text in (first, second)]
    inked = [(pixels < 128).sum() for pixels in drawn]
    assert min(inked) > 200  # something was drawn
    # Boxes of missing glyphs look alike; two different strings of real characters do not.
    assert (np.abs(drawn[0] - drawn[1]) > 64).sum() > 0.3 * max(inked)


def test_a_missing_glyph_fails_the_test_that_draws_it():
    """pyproject's filterwarnings turns matplotlib's missing-glyph warning into an error."""
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        figure, ax = plt.subplots()
        ax.set_title("客户")
        try:
            with pytest.raises(UserWarning, match="Glyph .* missing from font"):
                figure.canvas.draw()
        finally:
            plt.close(figure)


def test_a_failure_in_another_language_fails_the_run_and_is_marked_in_the_index(tmp_path, monkeypatch):
    config, _handed = _stand_in_run(tmp_path, monkeypatch)

    def fails_in_traditional(task):
        shutil.copy(task.source, task.executed)
        return (False, "ValueError: broken") if task.language == "zh-Hant" else (True, None)

    monkeypatch.setattr(report, "execute_notebook", fails_in_traditional)
    result = report.run_report(config, out=tmp_path / "out", jobs=1, echo=None, language=["en", "zh-Hant"])
    assert result.exit_code == 1 and result.status == "failed"
    index = (result.path / "index.html").read_text(encoding="utf-8")
    assert 'hreflang="zh-Hant">繁體中文</a> <span class="nb-failed">failed</span>' in index
