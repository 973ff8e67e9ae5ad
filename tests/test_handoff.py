"""The channel between clc report and the notebooks: parameters in, JSON outputs of the executed notebook back."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from clc_lib import handoff, privacy
from clc_lib.errors import ConfigError
from clc_lib.handoff import (
    KEY_FIGURES_MIME,
    PARAMETERS,
    RUN_DATA_MIME,
    apply_notebook_parameters,
    parameters_for,
    read_key_figures,
    read_run_data,
)

VALUES = {"config": "/p/run.yaml", "as_of": "2024-06-30", "period": "W", "horizon": 12.0,
          "stage_rules": {"churn_days": 180, "sources": {"churn_days": "pinned on 2024-01-31"}},
          "pseudonymise_ids": False, "run_cache": "/private/run-1/cache",
          "previous_key_figures": {"run": "20240531-000000_2024-05-31", "as_of": "2024-05-31",
                                   "values": {"Customers": 120}, "counts": {}},
          "language": "zh-Hant"}


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch):
    """Each test starts from the defaults of a new kernel."""
    monkeypatch.setattr(handoff, "_settings", handoff._NotebookSettings())


def notebook_declaring(path, parameters_source: str, code: str = "x = 1"):
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [new_markdown_cell("# Report"), new_code_cell(parameters_source, metadata={"tags": ["parameters"]}),
                      new_code_cell(code)]
    nbformat.write(notebook, path)
    return path


def test_parameters_for_passes_only_what_the_notebook_declares(tmp_path):
    notebook = notebook_declaring(tmp_path / "01.ipynb",
                                  'as_of: str | None = None  # cut-off date\n'
                                  'run_cache: str | None = None  # set by clc report\n'
                                  'pseudonymise_ids: bool = True  # pseudonyms\n'
                                  'top_rows: int = 10  # the notebook\'s own parameter\n')
    assert parameters_for(notebook, **VALUES) == {"as_of": "2024-06-30", "run_cache": "/private/run-1/cache",
                                                  "pseudonymise_ids": False}
    everything = notebook_declaring(tmp_path / "02.ipynb", "\n".join(f"{name} = None" for name in PARAMETERS))
    assert parameters_for(everything, **VALUES) == VALUES
    assert parameters_for(notebook_declaring(tmp_path / "03.ipynb", "top_rows = 10"), **VALUES) == {}


def test_every_parameter_is_documented_and_parameters_for_takes_exactly_them():
    import inspect

    keywords = [p.name for p in inspect.signature(parameters_for).parameters.values() if p.kind == p.KEYWORD_ONLY]
    assert keywords == list(PARAMETERS)
    assert all(len(meaning) > 20 for meaning in PARAMETERS.values())


def test_apply_notebook_parameters_steers_pseudonyms_and_the_run_cache(tmp_path):
    assert privacy.pseudonymise_ids_enabled() is True and handoff.run_cache_folder() is None  # by hand
    apply_notebook_parameters(pseudonymise_ids=False, run_cache=str(tmp_path))
    assert privacy.pseudonymise_ids_enabled() is False and handoff.run_cache_folder() == tmp_path
    apply_notebook_parameters()
    assert privacy.pseudonymise_ids_enabled() is True and handoff.run_cache_folder() is None


def test_apply_notebook_parameters_refuses_bad_values_by_name(tmp_path):
    with pytest.raises(ConfigError, match=r"pseudonymise_ids is '0'; write True"):
        apply_notebook_parameters(pseudonymise_ids="0")
    with pytest.raises(ConfigError, match=r"run_cache is '.*missing', which is not a folder"):
        apply_notebook_parameters(run_cache=tmp_path / "missing")
    assert privacy.pseudonymise_ids_enabled() is True  # a refused call changes nothing


def test_read_back_merges_outputs_in_order_and_tolerates_a_missing_notebook(tmp_path):
    notebook = new_notebook()
    figure = {"label": "Customers", "value": 10, "kind": "count", "formatted": "10", "currency": "EUR"}
    share = {"label": "Repeat rate", "value": 0.25, "kind": "percent", "formatted": "25.0%", "currency": "EUR"}
    notebook.cells = [
        new_code_cell("a", outputs=[new_output("display_data", data={"text/html": "<b>cards</b>",
                                                                     KEY_FIGURES_MIME: {"key_figures": [figure, share]}}),
                                    new_output("stream", name="stdout", text="hello")]),
        new_code_cell("b", outputs=[new_output("display_data", data={
            "text/html": "<table/>", RUN_DATA_MIME: {"currency": "EUR", "engine": "DuckDB", "quality": []}})]),
        new_code_cell("c", outputs=[new_output("display_data", data={KEY_FIGURES_MIME: {"key_figures": [
            {**figure, "value": 12, "formatted": "12"}]}})]),
    ]
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    assert read_key_figures(path) == [{**figure, "value": 12, "formatted": "12"}, share]  # replaced in place
    assert read_run_data(path) == {"currency": "EUR", "engine": "DuckDB", "quality": []}
    assert read_key_figures(tmp_path / "never-started.ipynb") == [] and read_run_data(tmp_path / "x.ipynb") == {}


# Shows key figures and a data-quality table the way the report notebooks do (a stand-in for the run).
ROUND_TRIP_CODE = '''import pandas as pd
import clc_lib as clc


class Quality:
    def to_frame(self):
        return pd.DataFrame({"table": ["transactions"], "step": ["rows in"], "action": [""], "rows": [1200],
                             "amount": [5000.0], "description": ["tx.csv"]})


class Run:  # what show_quality reads of a loaded run
    quality = Quality()
    currency = "EUR"
    as_of = pd.Timestamp("2024-06-30")
    transactions = None


clc.show_key_figures([("Customers", 1500, "count"), ("Revenue", 98765.4, "currency"),
                      ("Repeat rate", 0.25, "percent"), ("Unknown", float("nan"), "number")], currency="EUR")
clc.show_quality(Run())'''


def test_key_figures_and_run_data_round_trip_through_an_executed_notebook(tmp_path):
    from nbclient import NotebookClient

    from clc_lib.rendering import render_html

    code = ROUND_TRIP_CODE
    source = notebook_declaring(tmp_path / "01.ipynb", "config = None  # run config", code)
    notebook = nbformat.read(source, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   ).execute()
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []

    figures = read_key_figures(executed)
    assert figures == [
        {"label": "Customers", "value": 1500, "kind": "count", "formatted": "1,500", "currency": "EUR"},
        {"label": "Revenue", "value": 98765.4, "kind": "currency", "formatted": "98,765 EUR", "currency": "EUR"},
        {"label": "Repeat rate", "value": 0.25, "kind": "percent", "formatted": "25.0%", "currency": "EUR"},
        {"label": "Unknown", "value": None, "kind": "number", "formatted": "\u2013", "currency": "EUR"},
    ]
    data = read_run_data(executed)
    assert data["currency"] == "EUR" and "as_of" not in data  # as_of is the runner's own
    assert data["quality"] == [{"table": "transactions", "step": "rows in", "action": "", "rows": 1200,
                                "amount": 5000.0, "description": "tx.csv"}]

    page = tmp_path / "01.html"
    render_html(executed, page, title="Report", error=None, run_label="test")
    text = page.read_text(encoding="utf-8")
    assert "98,765 EUR" in text and "1,500" in text  # the cards are on the page
    assert "vnd.clc" not in text and '"formatted"' not in text and "98765.4" not in text  # the JSON is not


def test_the_report_notebooks_hand_their_library_parameters_on_before_loading():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        declared = handoff.declared_parameters(path)
        assert {"config", "as_of", "pseudonymise_ids", "run_cache", "stage_rules"} <= set(declared), path.name
        load = cells[2].source
        assert load.index("clc.apply_notebook_parameters(pseudonymise_ids=pseudonymise_ids, run_cache=run_cache") \
            < load.index("clc.load_run(config, as_of=as_of"), path.name
        namespace: dict = {}
        exec(cells[1].source, namespace)  # the defaults work by hand
        assert namespace["pseudonymise_ids"] is True and namespace["run_cache"] is None



def test_a_notebook_given_the_runners_parameters_reads_the_run_cache(tmp_path, monkeypatch):
    """The runner resolves as_of once and keys the cache with it: a notebook loading with the parameters
    it was passed (no --as-of given) gets the cached tables, not the sources."""
    import pandas as pd

    import clc_lib.run as run_module
    from clc_lib import report

    pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
                  "timestamp": ["2024-01-02", "2024-02-03", "2024-03-05"],
                  "amount": ["10", "20", "7"]}).to_csv(tmp_path / "tx.csv", index=False)
    config = tmp_path / "run.yaml"
    config.write_text("name: shop\nperiod: W\ntransactions: {path: tx.csv}\n", encoding="utf-8")
    monkeypatch.setattr(run_module, "SHARED_RESULTS", {})
    checked = report._check_input(config, None, tmp_path / "cache")
    assert checked.cached and checked.as_of == "2024-03-05"  # the day of the last transaction

    def sources_must_not_be_read(*args, **kwargs):
        raise AssertionError("the notebook read the sources although the run cache matches")

    monkeypatch.setattr(run_module, "load_transactions", sources_must_not_be_read)
    apply_notebook_parameters(run_cache=str(tmp_path / "cache"))
    run = run_module.load_run(str(config), as_of=checked.as_of, period="W", stage_rules=None)
    assert run._results_folder == tmp_path / "cache" / "results" and f"{run.as_of:%Y-%m-%d}" == "2024-03-05"
