"""The report notebooks in the run's language: markdown cells in both Chinese catalogs, the text that
code cells show wrapped for translation, and the language parameter handed to the library."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from babel.messages.pofile import read_po

import clc_lib as clc
from clc_lib.i18n import CATALOG_FOLDERS, DOMAIN, LOCALE_DIR, language, pgettext
from clc_lib.i18n_extract import cell_context, extract_messages
from clc_lib.rendering import translate_markdown

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("0[1-5]_*.ipynb"))
CHINESE = ("zh-Hans", "zh-Hant")
HAN = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{\w+\}")

#: Keywords whose value a reader sees: table captions and chart titles and axis labels.
TEXT_KEYWORDS = ("caption", "title", "xlabel", "ylabel")
#: Calls whose positional arguments at these places are text for the reader (``show_missing``'s
#: first argument is the name of a table, which stays as it is).
TEXT_ARGUMENTS = {"show_missing": (1, 2), "show_skipped": (0, 1), "show_note": (0,), "run_or_skip": (0,),
                  "Markdown": (0,)}


def _markdown_cells(path: Path) -> list[tuple[str, str]]:
    notebook = nbformat.read(path, as_version=4)
    return [(cell.id, cell.source) for cell in notebook.cells
            if cell.cell_type == "markdown" and cell.source.strip()]


def _code_trees(path: Path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            runnable = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                 for line in cell.source.splitlines())
            yield cell.id, ast.parse(runnable)


def _bare_text(node: ast.AST) -> bool:
    """Whether ``node`` builds reader text from an English literal that no ``_()`` call wraps."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(re.search(r"[A-Za-z]{2}", node.value))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _bare_text(node.left) or _bare_text(node.right)
    if isinstance(node, ast.BoolOp):
        return any(_bare_text(value) for value in node.values)
    if isinstance(node, ast.IfExp):
        return _bare_text(node.body) or _bare_text(node.orelse)
    return False


def _function_name(call: ast.Call) -> str:
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def unwrapped_text(path: Path) -> list[str]:
    """Each place in ``path``'s code cells where an English literal reaches the reader unwrapped."""
    found = []
    for cell_id, tree in _code_trees(path):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _function_name(node)
            for keyword in node.keywords:
                if keyword.arg in TEXT_KEYWORDS and _bare_text(keyword.value):
                    found.append(f"{path.stem}:{cell_id} {name}({keyword.arg}=...)")
            for position in TEXT_ARGUMENTS.get(name, ()):
                if position < len(node.args) and _bare_text(node.args[position]):
                    found.append(f"{path.stem}:{cell_id} {name}(argument {position + 1})")
    return found


def test_the_five_notebooks_are_checked():
    assert [path.stem for path in NOTEBOOKS] == ["01_segmentation", "02_acquisition", "03_monetisation",
                                                 "04_retention", "05_recovery"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
@pytest.mark.parametrize("tag", CHINESE)
def test_every_markdown_cell_has_a_chinese_translation_that_keeps_its_markdown(path, tag):
    untranslated, broken = [], []
    with language(tag):
        for cell_id, source in _markdown_cells(path):
            translated = pgettext(cell_context(path.stem, cell_id), source)
            if translated == source or not HAN.search(translated):
                untranslated.append(cell_id)
                continue
            heading, translated_heading = re.match(r"#*", source).group(), re.match(r"#*", translated).group()
            if (heading != translated_heading or source.count("`") != translated.count("`")
                    or source.count("**") != translated.count("**")
                    or source.count("\n\n") != translated.count("\n\n")):
                broken.append(cell_id)
    assert not untranslated, f"{path.stem}: markdown cells without a {tag} translation: {untranslated}"
    assert not broken, f"{path.stem}: {tag} translations that lose heading, code or paragraph marks: {broken}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_rendering_replaces_every_markdown_cell_in_chinese_and_none_in_english(path):
    cells = len(_markdown_cells(path))
    assert cells >= 10
    for tag, expected in (("en", 0), ("zh-Hans", cells), ("zh-Hant", cells)):
        notebook = nbformat.read(path, as_version=4)
        with language(tag):
            assert translate_markdown(notebook, path.stem) == expected, tag
    with language("zh-Hant"):
        notebook = nbformat.read(path, as_version=4)
        translate_markdown(notebook, path.stem)
    assert HAN.search(notebook.cells[0].source) and notebook.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_text_shown_by_code_cells_is_wrapped_for_translation(path):
    assert unwrapped_text(path) == []


def test_the_scan_finds_an_unwrapped_caption_title_or_note(tmp_path):
    cell = ('clc.show_table(frame, caption="Revenue by stage")\n'
            'clc.plots.plot_survival_curves(curves, title=f"Customers after {days} days")\n'
            'clc.show_missing("spend", "LTV:CAC and payback")\n'
            'clc.show_note("Attributes used: " + " ".join(notes))\n'
            'clc.show_table(frame, caption=clc._("Revenue by {stage}").format(stage=name))\n'
            'clc.show_missing("events", clc._("the pre-purchase funnel"))\n')
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell, id="x")])
    path = tmp_path / "99_probe.ipynb"
    nbformat.write(notebook, path)
    assert unwrapped_text(path) == ["99_probe:x show_table(caption=...)", "99_probe:x plot_survival_curves(title=...)",
                                    "99_probe:x show_missing(argument 2)", "99_probe:x show_note(argument 1)"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_declares_the_language_and_hands_it_to_the_library(path):
    notebook = nbformat.read(path, as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    assert re.search(r'^language: str = "en"  #', parameters.source, flags=re.MULTILINE)
    calls = [node for _cell_id, tree in _code_trees(path) for node in ast.walk(tree)
             if isinstance(node, ast.Call) and _function_name(node) == "apply_notebook_parameters"]
    assert len(calls) == 1
    assert {keyword.arg: ast.unparse(keyword.value) for keyword in calls[0].keywords}["language"] == "language"


def _catalog(tag: str):
    with open(LOCALE_DIR / CATALOG_FOLDERS[tag] / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as handle:
        return read_po(handle, domain=DOMAIN)


def _notebook_messages() -> list[tuple[str | None, str]]:
    return [key for key, where in extract_messages().items() if where.startswith("notebooks/")]


@pytest.mark.parametrize("tag", CHINESE)
def test_notebook_messages_keep_their_placeholders_and_pass_babels_checks(tag):
    catalog = _catalog(tag)
    messages = _notebook_messages()
    assert len(messages) > 150
    problems = []
    for context, msgid in messages:
        message = catalog.get(msgid, context=context)
        assert message is not None, (context, msgid[:60])
        translated = message.string if isinstance(message.string, str) else message.string[0]
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(translated)):
            problems.append(f"placeholders differ: {msgid[:60]}")
        problems += [f"{error}: {msgid[:60]}" for error in message.check(catalog)]
    assert problems == []


def test_code_cell_text_reads_the_same_in_english_and_is_chinese_in_both_scripts():
    as_of = pd.Timestamp("2024-12-31")

    def campaign_line() -> str:
        return clc._("No campaign was sent on or before {date}.").format(date=clc.i18n.format_date(as_of))

    def unpaid() -> str:
        return clc._("none configured (acquisition: unpaid_channels), so every channel in the spend table "
                     "counts as paid")

    def holdout_line() -> str:
        return clc._("To detect an uplift of {points} points over a response rate of {rate} in four tests out of "
                     "five, each group needs {per_group} customers (this send contacted {contacted}).").format(
            points="5", rate=clc.i18n.format_percent(0.1234), per_group=clc.i18n.format_count(1234.4),
            contacted=clc.i18n.format_count(12000))

    def one_time(n: int) -> str:
        return clc.ngettext(
            "{count} one-time buyer ({share} of customers) is left out of this chart: with a single purchase "
            "the BG/NBD model has no gap between purchases to judge it by and gives it 100%. The lifecycle "
            "stages judge them by the days since that purchase instead (the at-risk and churned counts above).",
            "{count} one-time buyers ({share} of customers) are left out of this chart: with a single purchase "
            "the BG/NBD model has no gap between purchases to judge them by and gives every one of them 100%. The "
            "lifecycle stages judge them by the days since that purchase instead (the at-risk and churned counts "
            "above).", n).format(count=clc.i18n.format_count(n), share=clc.i18n.format_percent(0.25))

    # English: what the f-strings wrote before the text was wrapped.
    assert campaign_line() == f"No campaign was sent on or before {as_of:%Y-%m-%d}."
    assert holdout_line() == ("To detect an uplift of 5 points over a response rate of 12.3% in four tests out of "
                              "five, each group needs 1,234 customers (this send contacted 12,000).")
    assert one_time(1520).startswith("1,520 one-time buyers (25.0% of customers) are left out of this chart")
    assert one_time(1).startswith("1 one-time buyer (25.0% of customers) is left out")
    with language("zh-Hans"):
        assert campaign_line() == "2024年12月31日（含）之前没有发送过营销活动。"
        assert unpaid().startswith("未配置（acquisition: unpaid_channels），因此花费表中的所有渠道都算作付费渠道")
        assert holdout_line() == ("要在响应率 12.3% 的基础上以五分之四的把握检测出 5 个百分点的提升，"
                                  "每组需要 1,234 位客户（本次发送联系了 12,000 位）。")
        assert one_time(1520).startswith("此图未包含 1,520 位仅购买一次的客户（占客户的 25.0%）")
    with language("zh-Hant"):
        assert campaign_line() == "2024年12月31日（含）之前沒有發送過行銷活動。"
        assert "通路" in unpaid() and "渠道" not in unpaid()
        assert holdout_line().startswith("要在回應率 12.3% 的基礎上")
        assert one_time(1).startswith("此圖未包含 1 位僅購買一次的顧客")


def test_traditional_text_is_written_for_taiwan_readers_not_converted_from_simplified():
    """Taiwan usage in the zh-Hant notebook text: 顧客, 通路, 資料, 營收 rather than 客户/客戶, 渠道, 數據庫, 收入."""
    hant = _catalog("zh-Hant")
    text = "".join(hant.get(msgid, context=context).string for context, msgid in _notebook_messages()
                   if isinstance(hant.get(msgid, context=context).string, str))
    for mainland, taiwan in (("客戶", "顧客"), ("渠道", "通路"), ("數據質量", "資料品質"), ("收入", "營收")):
        assert mainland not in text, mainland
        assert taiwan in text, taiwan
