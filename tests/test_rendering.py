"""The HTML export of executed notebooks: the appendix of tagged cells and the data-quality line."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from clc_lib.display import quality_attention, quality_line
from clc_lib.errors import DataError
from clc_lib.handoff import RUN_DATA_MIME
from clc_lib.rendering import APPENDIX_TITLE, render_html


def quality_records(left_out: int = 0, flagged: int = 0, returns: int = 0) -> list[dict]:
    """A data-quality table as show_quality records it, with ``left_out`` duplicates dropped,
    ``flagged`` zero amounts kept and ``returns`` returns kept."""
    rows_in = 1000
    return [
        {"table": "transactions", "step": "rows in", "action": "", "rows": rows_in, "amount": 5000.0,
         "description": "tx.csv"},
        {"table": "transactions", "step": "zero_amount", "action": "keep", "rows": flagged, "amount": None,
         "description": "amount of exactly 0"},
        {"table": "transactions", "step": "returns", "action": "keep", "rows": returns, "amount": -50.0,
         "description": "returns"},
        {"table": "transactions", "step": "duplicate_rows", "action": "drop", "rows": left_out, "amount": None,
         "description": "duplicates"},
        {"table": "transactions", "step": "rows out", "action": "", "rows": rows_in - left_out, "amount": 4900.0,
         "description": ""},
    ]


def executed_notebook(path: Path, records: list[dict], *, tag_appendix: bool = True) -> Path:
    """An executed notebook: title, a chart section, a technical cell tagged appendix in the middle,
    a glossary, and the data-quality section tagged appendix at the end."""
    tags = {"tags": ["appendix"]} if tag_appendix else {}
    thresholds = new_code_cell("show_thresholds()", metadata=dict(tags))
    thresholds.outputs = [new_output("display_data", data={"text/html": "<p>THRESHOLD-TABLE</p>"})]
    chart = new_code_cell("plot()")
    chart.outputs = [new_output("display_data", data={"text/html": "<p>CHART-SECTION</p>"})]
    glossary = new_code_cell("glossary()")
    glossary.outputs = [new_output("display_data", data={"text/html": "<p>GLOSSARY-TABLE</p>"})]
    quality = new_code_cell("show_quality(run)", metadata=dict(tags))
    quality.outputs = [new_output("display_data", data={"text/html": "<p>QUALITY-TABLE</p>",
                                                        RUN_DATA_MIME: {"currency": "EUR", "quality": records}})]
    notebook = new_notebook(cells=[
        new_markdown_cell("# Test page\n\nWhat this page answers."),
        new_markdown_cell("## Stage distribution"),
        thresholds,
        chart,
        new_markdown_cell("## Glossary"),
        glossary,
        new_markdown_cell("## Data quality\n\nRows per rule.", metadata=dict(tags)),
        quality,
    ])
    nbformat.write(notebook, path)
    return path


def rendered(tmp_path: Path, records: list[dict], *, tag_appendix: bool = True) -> str:
    executed = executed_notebook(tmp_path / "executed.ipynb", records, tag_appendix=tag_appendix)
    page = tmp_path / "page.html"
    render_html(executed, page, title="Test page", error=None, run_label="test")
    return page.read_text(encoding="utf-8")


def test_tagged_cells_are_in_the_collapsed_appendix_at_the_end(tmp_path):
    page = rendered(tmp_path, quality_records())
    start, end = page.index('<details class="clc-appendix"'), page.index("</details>")
    appendix = page[start:end]
    for technical in ("THRESHOLD-TABLE", "QUALITY-TABLE", "Data quality"):
        assert page.count(technical) == 1 and technical in appendix
    # The reader's sections stay before the appendix, in their order; nothing of the page follows it.
    assert page.index("CHART-SECTION") < page.index("GLOSSARY-TABLE") < start
    assert "open" not in page[start:page.index(">", start)]
    assert f'<h2 class="clc-appendix-title">{APPENDIX_TITLE}</h2>' in appendix
    assert "<h3" in appendix and "<h2 id=\"Data-quality\"" not in page  # demoted below the appendix title
    assert "jp-Cell" not in page[end:]


def test_without_tags_nothing_moves_and_there_is_no_appendix(tmp_path):
    page = rendered(tmp_path, quality_records(left_out=3), tag_appendix=False)
    assert "<details" not in page
    assert page.index("THRESHOLD-TABLE") < page.index("CHART-SECTION") < page.index("QUALITY-TABLE")
    assert "3 rows were left out by the data-quality rules." in page  # no appendix to point to


def test_the_quality_line_shows_only_when_rows_were_left_out_or_flagged(tmp_path):
    clean = rendered(tmp_path, quality_records(returns=40))  # returns alone are ordinary trading
    assert "clc-quality-line" not in clean.split("</style>")[-1]
    page = rendered(tmp_path, quality_records(left_out=1234, flagged=1))
    line = "1,234 rows were left out and 1 row flagged by the data-quality rules; see the appendix."
    assert page.count(line) == 1
    # Near the top: after the page title, before the first section.
    assert page.index(">Test page<a") < page.index(line) < page.index("CHART-SECTION")


def test_quality_attention_counts_rows_by_action():
    frame = pd.DataFrame([
        *quality_records(left_out=7, flagged=2, returns=40),
        {"table": "spend", "step": "after_as_of", "action": "exclude", "rows": 5, "amount": None,
         "description": ""},
        {"table": "transactions", "step": "warning", "action": "warn", "rows": 993, "amount": None,
         "description": "as_of is long after the data"},
    ])
    assert quality_attention(frame) == {"left_out": 12, "flagged": 2, "warnings": 1}
    assert quality_line(frame, pointer=None) == ("12 rows were left out and 2 rows flagged by the data-quality "
                                                 "rules; 1 data-quality warning.")
    assert quality_line(pd.DataFrame(quality_records(flagged=1))) == (
        "1 row was flagged (and kept) by the data-quality rules; see the appendix.")
    assert quality_line(pd.DataFrame(quality_records(returns=40))) is None


def test_quality_attention_names_missing_columns():
    with pytest.raises(DataError, match="data-quality table") as info:
        quality_attention(pd.DataFrame({"step": ["rows in"], "rows": [3]}))
    assert "action" in str(info.value)


def test_index_summarises_data_quality_in_one_line():
    from clc_lib.index import quality_summary_line

    clean = quality_summary_line(pd.DataFrame(quality_records(returns=40)))
    assert clean == ("No rows were left out or flagged by the data-quality rules. "
                     "Rows used: transactions 1,000 of 1,000 rows used.")
    dropped = quality_summary_line(pd.DataFrame(quality_records(left_out=25)))
    assert dropped == ("25 rows were left out by the data-quality rules; see the table below. "
                       "Rows used: transactions 975 of 1,000 rows used.")


REPORT_NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("path", REPORT_NOTEBOOKS, ids=lambda path: path.stem)
def test_report_notebooks_put_data_quality_in_the_appendix_and_keep_the_glossary_visible(path):
    cells = nbformat.read(path, as_version=4).cells
    tagged = {cell.id for cell in cells if "appendix" in cell.metadata.get("tags", [])}
    quality = [cell for cell in cells if "clc.show_quality(run)" in cell.source]
    glossary = [cell for cell in cells if "glossary" in cell.id]
    assert len(quality) == 1 and quality[0].id in tagged
    assert glossary and not tagged & {cell.id for cell in glossary}
    assert not tagged & {cell.id for cell in cells[:4]}  # title, parameters, setup, summary stay on top


def test_every_chart_image_carries_its_description_as_alt_text(tmp_path):
    """A real kernel draws a line chart the way the report notebooks do; the page's image says what it shows."""
    from html.parser import HTMLParser

    from nbclient import NotebookClient

    notebook = new_notebook(cells=[
        new_markdown_cell("# Charts"),
        new_code_cell("%matplotlib inline\nimport clc_lib as clc\nimport matplotlib.pyplot as plt\n"
                      "clc.set_theme()\nclc.add_chart_alt_text()"),
        new_code_cell('figure, ax = plt.subplots()\nax.plot([1, 2, 3], [0.1, 0.2, 0.15], label="Churn")\n'
                      'ax.plot([1, 2, 3], [0.3, 0.2, 0.25], label="Drop-off <buyers>")\n'
                      'ax.legend()\nax.set_title("Churn & drop-off per month")\nax.set_xlabel("Month");'),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    page = tmp_path / "page.html"
    render_html(executed, page, title="Charts", error=None, run_label="test")

    class Images(HTMLParser):
        alts: list[str | None] = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.alts.append(dict(attrs).get("alt"))

    parser = Images()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.alts == [("Line chart: Churn & drop-off per month. Horizontal axis: Month. "
                            "2 series: Churn, Drop-off <buyers>.")]
    assert 'Drop-off &lt;buyers&gt;' in page.read_text(encoding="utf-8")  # escaped in the attribute


def test_chart_alt_text_tells_bars_heatmaps_and_panels_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clc_lib.alt_text import chart_alt_text

    figure, (bars, heat) = plt.subplots(1, 2)
    bars.bar(["new", "active", "churned"], [3, 5, 2])
    bars.set_title("Customers by stage")
    bars.set_ylabel("Customers")
    image = heat.imshow([[0.1, 0.2], [0.3, 0.4]])
    figure.colorbar(image, ax=heat)
    heat.set_title("Retention by cohort")
    figure.suptitle("Two views")
    try:
        assert chart_alt_text(figure) == (
            "Two views. 2 panels. Panel 1: Bar chart: Customers by stage. Vertical axis: Customers. 3 bars. "
            "Panel 2: Heatmap: Retention by cohort.")
    finally:
        plt.close(figure)


def _code_cell(*outputs):
    cell = new_code_cell("section()")
    cell.outputs = list(outputs)
    return cell


def _html(markup: str):
    return new_output("display_data", data={"text/html": markup})


def test_captions_of_skipped_sections_are_left_out_and_the_skip_stays_one_line(tmp_path):
    from clc_lib.display import missing_html, note_html, skipped_html

    caption = {"tags": ["caption"]}
    notebook = new_notebook(cells=[
        new_markdown_cell("# Page"),
        new_markdown_cell("## Funnel"),
        _code_cell(_html(missing_html("events", "the funnel"))),
        new_markdown_cell("FUNNEL-CAPTION", metadata=dict(caption)),
        _code_cell(),  # the funnel table: nothing to show either
        new_markdown_cell("FUNNEL-TABLE-CAPTION", metadata=dict(caption)),
        new_markdown_cell("## Payback"),
        _code_cell(_html(skipped_html("the payback curve", "the history is short")),
                   new_output("stream", name="stderr", text="model note\n")),
        new_markdown_cell("PAYBACK-CAPTION", metadata=dict(caption)),
        new_markdown_cell("## Revenue"),
        _code_cell(new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})),
        new_markdown_cell("REVENUE-CAPTION", metadata=dict(caption)),
        _code_cell(_html(note_html("Customer attributes used: country."))),
        new_markdown_cell("NOTE-CAPTION", metadata=dict(caption)),
        _code_cell(),
        new_markdown_cell("UNTAGGED-TEXT"),  # only tagged captions go
        _code_cell(new_output("error", ename="DataError", evalue="bad", traceback=[])),
        new_markdown_cell("ERROR-CAPTION", metadata=dict(caption)),
    ])
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    page_path = tmp_path / "page.html"
    render_html(executed, page_path, title="Page", error=None, run_label="test")
    page = page_path.read_text(encoding="utf-8")
    for gone in ("FUNNEL-CAPTION", "FUNNEL-TABLE-CAPTION", "PAYBACK-CAPTION"):
        assert gone not in page
    for kept in ("REVENUE-CAPTION", "NOTE-CAPTION", "UNTAGGED-TEXT", "ERROR-CAPTION"):
        assert kept in page
    assert "Not shown: the funnel. Add an events table" in page
    assert "Not shown: the payback curve. The history is short." in page
    # the executed notebook on disk keeps every cell for analysts
    assert len(nbformat.read(executed, as_version=4).cells) == len(notebook.cells)


@pytest.mark.parametrize("path", REPORT_NOTEBOOKS, ids=lambda path: path.stem)
def test_captions_of_report_notebooks_follow_a_code_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    for before, cell in zip(cells, cells[1:]):
        if "caption" in cell.metadata.get("tags", []):
            assert cell.cell_type == "markdown", cell.id
            assert before.cell_type == "code" or "caption" in before.metadata.get("tags", []), cell.id


@pytest.mark.parametrize("path", REPORT_NOTEBOOKS, ids=lambda path: path.stem)
def test_report_bodies_stay_short_and_ranked_lists_show_ten_rows(path):
    """What stays above the appendix: at most five charts and six tables (with the glossary and
    alternatives of one section), and lists of customers capped at ten rows."""
    import re

    cells = nbformat.read(path, as_version=4).cells
    body = [cell for cell in cells if cell.cell_type == "code" and "appendix" not in cell.metadata.get("tags", [])]
    charts = sum(len(re.findall(r"clc\.plots\.plot_\w+\(", cell.source)) for cell in body)
    tables = sum(len(re.findall(r"clc\.show_table\(", cell.source)) for cell in body)
    assert 1 <= charts <= 5 and 1 <= tables <= 6, (charts, tables)
    for cell in body:
        if re.search(r"show_table\((at_risk|candidates)\b", cell.source):
            assert "max_rows=10" in cell.source, cell.id
    # a report without an appendix would keep its detail in the body
    assert sum("appendix" in cell.metadata.get("tags", []) for cell in cells) >= 6
