"""Warnings of clc_lib analyses reach the page as notes under the cell that raised them.

One small notebook runs in a real kernel (as papermill runs the reports); the tests read its
outputs cell by cell and render it as ``clc report`` does.
"""

from __future__ import annotations

import html
import os
import textwrap
from pathlib import Path

import nbformat
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# gini([5, -1, 3, -2], negative="clip") counts the two negative values as 0 and warns.
CLIP_NOTE = "Note: 2 negative values counted as 0 (negative=&#x27;clip&#x27;)."
CLIP_LOG_LINE = "note: 2 negative values counted as 0 (negative='clip'). (in clc_lib.monetisation)"

CELLS = {
    "setup": """
        import types
        import warnings

        import clc_lib as clc

        clc.show_warnings_as_notes()
        clc.show_warnings_as_notes()  # a second call must not register the hooks twice
    """,
    "twice_in_one_cell": """
        first = clc.gini([5.0, -1.0, 3.0, -2.0], negative="clip")
        second = clc.gini([5.0, -1.0, 3.0, -2.0], negative="clip")
        print(round(first, 4))
    """,
    "again_in_a_later_cell": """
        clc.gini([5.0, -1.0, 3.0, -2.0], negative="clip")
    """,
    "warned_at_a_library_line": """
        # Python's "default" action shows a warning once per code location; this one's location is
        # inside clc_lib (stacklevel 1), the same in both cells.
        segmentation = {"__name__": "clc_lib.example_segmentation"}
        exec("import warnings\\ndef segment():\\n    warnings.warn('3 customers have no segment')\\n",
             segmentation)
        segmentation["segment"]()
    """,
    "same_library_line_again": """
        segmentation["segment"]()
    """,
    "clean_data": """
        clc.gini([5.0, 1.0, 3.0, 2.0], negative="clip")
    """,
    "third_party": """
        warnings.simplefilter("always")  # every warning reaches showwarning, so the test sees the choice
        vendor = types.ModuleType("vendorlib")
        exec("import warnings\\n"
             "def old():\\n"
             "    warnings.warn('vendorlib.old is deprecated', DeprecationWarning, stacklevel=2)\\n"
             "    warnings.warn('the default of vendorlib.old will change', FutureWarning, stacklevel=2)\\n"
             "    warnings.warn('vendorlib cannot draw this glyph', UserWarning, stacklevel=2)\\n",
             vendor.__dict__)
        analysis = {"__name__": "clc_lib.example_analysis", "vendor": vendor}
        exec("def analyse():\\n    vendor.old()\\n", analysis)
        analysis["analyse"]()  # third-party warnings while clc_lib code runs
        vendor.old()  # and the same outside clc_lib
    """,
    "shown_by_model_notes": """
        clc.show_model_notes(["2 negative values counted as 0 (negative='clip')."])
        clc.gini([5.0, -1.0, 3.0, -2.0], negative="clip")
    """,
    "run_or_skip": """
        clc.run_or_skip("the concentration", clc.gini, [5.0, -1.0, 3.0, -2.0], negative="clip")
    """,
    "fails_after_warning": """
        clc.gini([5.0, -1.0, 3.0, -2.0], negative="clip")
        raise ValueError("the section fails after the warning")
    """,
}


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    """The notebook of :data:`CELLS` executed in a ``python3`` kernel that imports this checkout."""
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(textwrap.dedent(source).strip(), id=name.replace("_", "-"))
                      for name, source in CELLS.items()]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), previous]))
    try:
        NotebookClient(notebook, kernel_name="python3", timeout=120, allow_errors=True,
                       resources={"metadata": {"path": str(PROJECT_ROOT)}}).execute()
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = previous
    return notebook


def _cell(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    return notebook.cells[list(CELLS).index(name)]


def _html_outputs(cell: nbformat.NotebookNode) -> list[str]:
    return [output["data"]["text/html"] for output in cell.outputs
            if output["output_type"] == "display_data" and "text/html" in output.get("data", {})]


def _output_kinds(cell: nbformat.NotebookNode) -> list[str]:
    """Output types in order, a stream split into several messages by the kernel counted once."""
    kinds: list[str] = []
    for output in cell.outputs:
        kind = output["output_type"] + (f":{output['name']}" if output["output_type"] == "stream" else "")
        if not kinds or kinds[-1] != kind:
            kinds.append(kind)
    return kinds


def _stderr(cell: nbformat.NotebookNode) -> str:
    return "".join(output["text"] for output in cell.outputs
                   if output["output_type"] == "stream" and output["name"] == "stderr")


def test_a_warning_is_one_note_under_its_cell_and_one_log_line(executed):
    cell = _cell(executed, "twice_in_one_cell")
    assert _html_outputs(cell) == [f'<div class="clc-missing">{CLIP_NOTE}</div>']
    assert _stderr(cell).splitlines() == [CLIP_LOG_LINE]
    assert "UserWarning" not in _stderr(cell)
    # The note comes after the cell's own output. Gini of [0, 0, 3, 5] by hand: the Lorenz curve
    # passes (0.5, 0), (0.75, 3/8), (1, 1), the area under it is 0.21875, so 1 - 2 * 0.21875.
    assert _output_kinds(cell) == ["stream:stdout", "stream:stderr", "display_data"]
    assert cell.outputs[0]["text"] == "0.5625\n"


def test_the_same_warning_in_a_later_cell_is_shown_there_again(executed):
    cell = _cell(executed, "again_in_a_later_cell")
    assert _html_outputs(cell) == [f'<div class="clc-missing">{CLIP_NOTE}</div>']
    assert _stderr(cell).splitlines() == [CLIP_LOG_LINE]


def test_a_warning_from_the_same_library_line_is_shown_in_each_cell_that_raises_it(executed):
    for name in ("warned_at_a_library_line", "same_library_line_again"):
        assert _html_outputs(_cell(executed, name)) == [
            '<div class="clc-missing">Note: 3 customers have no segment</div>']


def test_a_cell_without_warnings_gets_no_note(executed):
    assert _cell(executed, "clean_data").outputs[-1]["output_type"] == "execute_result"
    assert _html_outputs(_cell(executed, "clean_data")) == []


def test_only_user_warnings_of_clc_lib_analyses_reach_the_page(executed):
    cell = _cell(executed, "third_party")
    stderr = _stderr(cell)
    # A library's UserWarning raised while a clc_lib analysis runs is about the data: a note.
    assert _html_outputs(cell) == ['<div class="clc-missing">Note: vendorlib cannot draw this glyph</div>']
    assert "note: vendorlib cannot draw this glyph (in clc_lib.example_analysis)" in stderr.splitlines()
    # Warnings for programmers stay in the log, from inside and outside clc_lib alike.
    assert stderr.count("DeprecationWarning: vendorlib.old is deprecated") == 2
    assert stderr.count("FutureWarning: the default of vendorlib.old will change") == 2
    # Outside clc_lib the UserWarning is left to Python's usual stderr output.
    assert stderr.count("UserWarning: vendorlib cannot draw this glyph") == 1


def test_a_note_already_shown_by_show_model_notes_is_not_repeated(executed):
    cell = _cell(executed, "shown_by_model_notes")
    assert _html_outputs(cell) == [f'<div class="clc-missing">{CLIP_NOTE}</div>']
    assert _stderr(cell).splitlines() == ["model note: 2 negative values counted as 0 (negative='clip')."]


def test_run_or_skip_notes_are_shown_once(executed):
    cell = _cell(executed, "run_or_skip")
    assert _html_outputs(cell) == [f'<div class="clc-missing">{CLIP_NOTE}</div>']
    assert "UserWarning" not in _stderr(cell)


def test_a_failing_cell_still_shows_its_notes(executed):
    cell = _cell(executed, "fails_after_warning")
    assert _output_kinds(cell) == ["error", "stream:stderr", "display_data"]
    assert _html_outputs(cell) == [f'<div class="clc-missing">{CLIP_NOTE}</div>']


def test_the_rendered_page_shows_the_notes_and_no_warning_text(executed, tmp_path):
    from clc_lib.rendering import render_html

    executed_path = tmp_path / "warnings.ipynb"
    nbformat.write(executed, executed_path)
    page = tmp_path / "warnings.html"
    render_html(executed_path, page, title="Warnings", error=None, run_label="test")
    body = page.read_text(encoding="utf-8")
    # twice_in_one_cell, again_in_a_later_cell, shown_by_model_notes, run_or_skip, fails_after_warning
    assert body.count(html.unescape(CLIP_NOTE)) == 5
    assert body.count("Note: vendorlib cannot draw this glyph") == 1
    for raw in ("UserWarning", "DeprecationWarning", "FutureWarning", "is deprecated", "will change",
                "(in clc_lib"):
        assert raw not in body


def test_outside_ipython_the_setup_call_changes_nothing():
    import warnings

    from clc_lib import display

    before = warnings.showwarning
    display.show_warnings_as_notes()
    assert warnings.showwarning is before
    assert display._cell_warnings is None
