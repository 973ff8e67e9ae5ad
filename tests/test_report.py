"""The report runner on tiny throwaway notebooks: publishing, failures, lock, pruning, latest links.

Notebooks that really run (papermill + a kernel) are kept to three executions in one module-scoped
fixture; the other checks replace the execution step with a stand-in that copies the notebook.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from clc_lib import report
from clc_lib.errors import ConfigError
from clc_lib.report import ReportLockedError, run_report

# A 1x1 PNG: the good notebook shows it the way matplotlib's inline backend shows a chart.
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

# The good notebook records its key figures the way clc_lib.display.show_key_figures does (a JSON
# file named by CLC_KEY_FIGURES_FILE), without importing the library, so kernels start quickly.
GOOD_CODE = f'''import json, os
from IPython.display import display, Markdown
code_marker_not_for_readers = int(as_of[-2:])  # customers = day of the month of as_of
figures = [{{"label": "Customers", "value": code_marker_not_for_readers, "kind": "count",
            "formatted": str(code_marker_not_for_readers), "currency": "EUR"}},
           {{"label": "Repeat rate", "value": 0.25, "kind": "percent", "formatted": "25.0%", "currency": "EUR"}}]
with open(os.environ["CLC_KEY_FIGURES_FILE"], "w") as handle:
    json.dump({{"key_figures": figures, "data": {{"as_of": as_of, "currency": "EUR",
               "first_timestamp": "2023-01-01T00:00:00", "last_timestamp": as_of + "T00:00:00",
               "quality": [{{"table": "transactions", "step": "rows in", "action": "", "rows": 1200,
                            "amount": 5000.0, "description": "tx.csv"}}]}}}}, handle)
display({{"image/png": "{PNG_1X1}"}}, raw=True)
display(Markdown("Readable text for the reader."))'''

FAILING_CODE = '''print("output before the failure")
raise ValueError("boom <b>")'''


def write_notebook(path: Path, title: str, code: str) -> Path:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        new_markdown_cell(f"# {title}\n\nWhat this report answers."),
        new_code_cell('config: str = "run.yaml"  # run config\nas_of: str | None = None  # cut-off date',
                      metadata={"tags": ["parameters"]}),
        new_code_cell(code),
    ]
    nbformat.write(notebook, path)
    return path


def write_config(folder: Path, extra: str = "") -> Path:
    config = folder / "run.yaml"
    config.write_text(f"name: shop\ncurrency: EUR\ntransactions: {{path: tx.csv}}\n{extra}", encoding="utf-8")
    return config


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def local_links(index: Path) -> list[str]:
    parser = _Links()
    parser.feed(index.read_text(encoding="utf-8"))
    return [h for h in parser.hrefs if not h.startswith(("http:", "https:", "#"))]


def fake_execute(task) -> tuple[bool, str | None]:
    """Stand-in for papermill: copy the notebook and record the figures the good notebook records
    for as_of 2024-01-10 (10 customers, repeat rate 25%)."""
    shutil.copy(task.source, task.executed)
    task.log.write_text("executed by the test stand-in\n")
    task.key_figures_file.write_text(json.dumps({"key_figures": [
        {"label": "Customers", "value": 10, "kind": "count", "formatted": "10", "currency": "EUR"},
        {"label": "Repeat rate", "value": 0.25, "kind": "percent", "formatted": "25.0%", "currency": "EUR"},
    ]}))
    return True, None


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """Run 1 (execution replaced, complete), then run 2: the good and the failing notebook really
    executed by papermill, in parallel (failed)."""
    root = tmp_path_factory.mktemp("report")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_good.ipynb", "Good report", GOOD_CODE)
    write_notebook(notebooks / "02_failing.ipynb", "Failing report", FAILING_CODE)
    config = write_config(root)
    out = root / "reports"
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "execute_notebook", fake_execute)
        first = run_report(config, out=out, as_of="2024-01-10", only=["01"], notebooks_dir=notebooks,
                           echo=lines.append)
    first_latest = (out / "latest").resolve()
    second = run_report(config, out=out, as_of="2024-01-12", jobs=2, notebooks_dir=notebooks,
                        echo=lines.append)
    return {"out": out, "first": first, "second": second, "first_latest": first_latest, "lines": lines}


def test_complete_run_is_published_and_latest_points_to_it(real_runs):
    first, out = real_runs["first"], real_runs["out"]
    assert first.status == "complete" and first.exit_code == 0
    assert first.path == out / "shop" / first.run_id
    assert re.fullmatch(r"\d{8}-\d{6}_2024-01-10", first.run_id)
    assert real_runs["first_latest"] == first.path.resolve()
    for name in ("index.html", "01_good.html", "01_good.ipynb", "run.log", "run.json"):
        assert (first.path / name).is_file(), name
    assert not list(out.glob(".tmp-*"))


def test_good_report_has_no_code_embedded_images_and_no_cdn_scripts(real_runs):
    page = (real_runs["second"].path / "01_good.html").read_text(encoding="utf-8")
    assert "Readable text for the reader." in page
    assert "code_marker_not_for_readers" not in page  # code input hidden
    assert "data:image/png;base64," + PNG_1X1[:20] in page
    assert not re.search(r"<script[^>]*\bsrc=[\"']https?:", page)
    assert "import(\"https" not in page and "cdnjs" not in page.lower().split("<style")[0]
    assert "mathjax" not in page.lower()
    assert "clc-error-banner" not in page.split("<main>")[1]


def test_failing_notebook_is_rendered_marked_and_fails_the_run(real_runs):
    second = real_runs["second"]
    assert second.status == "failed" and second.exit_code == 1
    by_name = {nb.name: nb for nb in second.notebooks}
    assert by_name["01_good"].ok
    assert not by_name["02_failing"].ok
    assert by_name["02_failing"].error == "ValueError: boom <b>"
    page = (second.path / "02_failing.html").read_text(encoding="utf-8")
    body = page.split("<main>")[1]
    banner = body.index("clc-error-banner")
    assert "ValueError: boom &lt;b&gt;" in body[banner:banner + 2000]
    assert banner < body.index("output before the failure")  # the error is shown before the content
    index = (second.path / "index.html").read_text(encoding="utf-8")
    assert "nb-failed" in index and "ValueError: boom &lt;b&gt;" in index
    manifest = json.loads((second.path / "run.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"
    assert [nb["status"] for nb in manifest["notebooks"]] == ["ok", "failed"]
    assert any("FAILED  02_failing" in line for line in real_runs["lines"])


def test_partial_run_is_kept_but_latest_stays_on_the_complete_run(real_runs):
    out, first, second = real_runs["out"], real_runs["first"], real_runs["second"]
    assert second.path.is_dir()
    assert (out / "latest").resolve() == first.path.resolve()
    assert (out / "shop" / "latest").resolve() == first.path.resolve()
    assert (first.path / "01_good.html").is_file()


def test_index_links_resolve_to_files(real_runs):
    for run in (real_runs["first"], real_runs["second"]):
        links = local_links(run.path / "index.html")
        assert "01_good.html" in links and "logs/01_good.log" in links
        if run is real_runs["second"]:
            assert f"../{real_runs['first'].run_id}/index.html" in links
        for href in links:
            assert (run.path / href).resolve().is_file(), href


def test_key_figures_show_change_since_previous_complete_run(real_runs):
    second = real_runs["second"]
    assert second.previous_run == real_runs["first"].run_id
    figures = {f["label"]: f for f in second.notebooks[0].key_figures}
    # as_of 2024-01-12 gives 12 customers, the previous run (2024-01-10) gave 10: +2, +20%.
    assert figures["Customers"]["previous"] == 10
    assert figures["Customers"]["change"] == "+2 (+20.0%)"
    assert figures["Repeat rate"]["change"] == "unchanged"
    index = (second.path / "index.html").read_text(encoding="utf-8")
    assert "+2 (+20.0%)" in index
    assert "2023-01-01 to 2024-01-12" in index  # data period recorded by the notebook
    assert "1,200" in index and "5,000 EUR" not in index and "5,000.00 EUR" in index  # quality table
    for component in ("python", "pandas", "ibis", "duckdb", "clc"):
        assert f"<td>{component}</td>" in index


@pytest.mark.parametrize(
    ("kind", "current", "previous", "expected"),
    [
        ("currency", 12_500.0, 10_000.0, "+2,500.00 EUR (+25.0%)"),
        ("currency", 900.0, 1_000.0, "-100.00 EUR (-10.0%)"),
        ("percent", 0.30, 0.25, "+5.0 pp"),
        ("count", 1_000, 0, "+1,000"),
        ("days", 30.0, 45.0, "-15 days (-33.3%)"),
        ("date", "2024-01-12T00:00:00", "2024-01-10T00:00:00", "was 2024-01-10"),
        ("count", 7, 7, "unchanged"),
    ],
)
def test_format_change(kind, current, previous, expected):
    assert report._format_change(kind, current, previous, "EUR") == expected


# --- checks with the execution step replaced ----------------------------------------------------

@pytest.fixture()
def quick(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "execute_notebook", fake_execute)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_good.ipynb", "Good report", "x = 1")
    return {"notebooks": notebooks, "out": tmp_path / "reports", "config": write_config(tmp_path)}


def test_failure_while_rendering_leaves_previous_run_intact(quick, monkeypatch):
    first = run_report(quick["config"], out=quick["out"], as_of="2024-01-10",
                       notebooks_dir=quick["notebooks"], echo=None)
    before = sorted(p.relative_to(quick["out"]) for p in quick["out"].rglob("*"))

    def broken_render(*_args, **_kwargs):
        raise RuntimeError("disk full while rendering")

    monkeypatch.setattr(report, "render_html", broken_render)
    with pytest.raises(RuntimeError, match="disk full"):
        run_report(quick["config"], out=quick["out"], as_of="2024-01-11",
                   notebooks_dir=quick["notebooks"], echo=None)
    after = sorted(p.relative_to(quick["out"]) for p in quick["out"].rglob("*"))
    assert after == before  # no half-written run, no temporary folder
    assert (quick["out"] / "latest").resolve() == first.path.resolve()
    assert (first.path / "01_good.html").is_file()


def test_second_run_on_same_output_is_refused(quick):
    quick["out"].mkdir()
    with report._output_lock(quick["out"]):
        with pytest.raises(ReportLockedError, match="Another report run is writing to") as info:
            run_report(quick["config"], out=quick["out"], notebooks_dir=quick["notebooks"], echo=None)
    assert f"pid {__import__('os').getpid()}" in str(info.value)
    assert not (quick["out"] / "shop").exists()
    # Once the lock is released, a run goes through.
    assert run_report(quick["config"], out=quick["out"], notebooks_dir=quick["notebooks"], echo=None).ok


def test_keep_prunes_oldest_runs_but_keeps_latest(quick):
    config = write_config(quick["config"].parent, extra="report: {keep: 2}\n")
    runs = [run_report(config, out=quick["out"], as_of=f"2024-01-1{i}", notebooks_dir=quick["notebooks"],
                       echo=None) for i in range(4)]
    remaining = sorted(p.name for p in (quick["out"] / "shop").iterdir() if p.name != "latest")
    assert remaining == sorted(run.run_id for run in runs[-2:])
    assert (quick["out"] / "latest").resolve() == runs[-1].path.resolve()
    assert (quick["out"] / "shop" / "latest").is_symlink()
    # Runs in the same second get a suffix and still sort after the earlier one.
    assert all(re.fullmatch(r"\d{8}-\d{6}(-\d+)?_2024-01-1\d", run.run_id) for run in runs)


def test_no_notebooks_still_writes_an_index(tmp_path):
    empty = tmp_path / "notebooks"
    empty.mkdir()
    result = run_report(write_config(tmp_path), out=tmp_path / "out", notebooks_dir=empty, echo=None)
    assert result.ok and result.notebooks == []
    index = (result.path / "index.html").read_text(encoding="utf-8")
    assert "No notebooks were found" in index
    assert result.run_id.endswith("_data-end")


def test_unknown_only_name_and_bad_options_are_config_errors(quick, tmp_path):
    with pytest.raises(ConfigError, match="--only nope: no such notebook.*01_good"):
        run_report(quick["config"], out=quick["out"], only=["nope"], notebooks_dir=quick["notebooks"])
    with pytest.raises(ConfigError, match="Unknown option 'kep'.*Did you mean 'keep'"):
        run_report(write_config(tmp_path, extra="report: {kep: 3}\n"), out=quick["out"],
                   notebooks_dir=quick["notebooks"])
    with pytest.raises(ConfigError, match="report.keep"):
        report.report_options({"keep": 0})
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        run_report(quick["config"], as_of="12/01/2024", notebooks_dir=quick["notebooks"])
    with pytest.raises(ConfigError, match="does not exist"):
        run_report(tmp_path / "missing.yaml", notebooks_dir=quick["notebooks"])


def test_report_notebooks_selects_by_number_stem_or_topic(tmp_path):
    for name in ("01_segmentation", "02_acquisition", "04_retention"):
        write_notebook(tmp_path / f"{name}.ipynb", name, "x = 1")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    assert [p.stem for p in report.report_notebooks(tmp_path)] == ["01_segmentation", "02_acquisition",
                                                                     "04_retention"]
    chosen = report.report_notebooks(tmp_path, ["retention", "01", "02_acquisition.ipynb"])
    assert [p.stem for p in chosen] == ["01_segmentation", "02_acquisition", "04_retention"]
