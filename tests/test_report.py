"""The report runner on tiny throwaway notebooks: publishing, failures, lock, pruning, latest links,
masked secrets, and the real ``clc report`` command killed, terminated, refused and repeated.

Notebooks that really run (papermill + a kernel) are kept to a few executions in module-scoped
fixtures; the other checks replace the execution step with a stand-in that copies the notebook.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from clc_lib import cli, display, publishing, report
from clc_lib.errors import ConfigError
from clc_lib.handoff import KEY_FIGURES_MIME, RUN_DATA_MIME
from clc_lib.publishing import ReportLockedError
from clc_lib.report import run_report
from clc_lib.settings import ReportSettings

# A 1x1 PNG: the good notebook shows it the way matplotlib's inline backend shows a chart.
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

# The good notebook shows its key figures and data quality the way clc_lib.display.show_key_figures and
# show_quality do (HTML with JSON for the runner in the same output), without importing the library,
# so kernels start quickly.
GOOD_CODE = f'''import os
from IPython.display import display, Markdown
code_marker_not_for_readers = int(as_of[-2:])  # customers = day of the month of as_of
figures = [{{"label": "Customers", "value": code_marker_not_for_readers, "kind": "count",
            "formatted": str(code_marker_not_for_readers), "currency": "EUR"}},
           {{"label": "Repeat rate", "value": 0.25, "kind": "percent", "formatted": "25.0%", "currency": "EUR"}}]
display({{"text/html": "<div>cards</div>", "{KEY_FIGURES_MIME}": {{"key_figures": figures}}}}, raw=True)
display({{"text/html": "<table></table>", "{RUN_DATA_MIME}": {{"currency": "EUR",
         "first_timestamp": "2023-01-01T00:00:00", "last_timestamp": as_of + "T00:00:00",
         "quality": [{{"table": "transactions", "step": "rows in", "action": "", "rows": 1200,
                      "amount": 5000.0, "description": "tx.csv"}}]}}}}, raw=True)
display({{"image/png": "{PNG_1X1}"}}, raw=True)
display(Markdown("Readable text for the reader."))
print("figures shown", flush=True)'''

# The failing notebook leaks a secret (from the environment, as the config's ${CLC_TEST_SECRET})
# into its output and its error message: the published run must show it masked.
FAILING_CODE = '''import os
print("output before the failure")
print("connecting with", os.environ["CLC_TEST_SECRET"])
raise ValueError("boom <b> at postgres://analyst:" + os.environ["CLC_TEST_SECRET"] + "@db.internal/shop")'''
TEST_SECRET = "s3cr3t-value-for-the-test"


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


def write_executed(task, figures: list[dict]) -> None:
    """The executed notebook as papermill leaves it: the source with a key-figures output appended."""
    notebook = nbformat.read(task.source, as_version=4)
    notebook.cells.append(new_code_cell("clc.show_key_figures(...)", outputs=[new_output(
        "display_data", data={"text/html": "<div>cards</div>", KEY_FIGURES_MIME: {"key_figures": figures}})]))
    nbformat.write(notebook, task.executed)


def fake_execute(task) -> tuple[bool, str | None]:
    """Stand-in for papermill: write the executed notebook with the figures the good notebook shows
    for as_of 2024-01-10 (10 customers, repeat rate 25%)."""
    write_executed(task, [
        {"label": "Customers", "value": 10, "kind": "count", "formatted": "10", "currency": "EUR"},
        {"label": "Repeat rate", "value": 0.25, "kind": "percent", "formatted": "25.0%", "currency": "EUR"},
    ])
    task.log.write_text("executed by the test stand-in\n")
    return True, None


def skip_input_check(config_path, as_of, cache, stage_rules=None):
    """Stand-in for the runner's data check (the configs here name no real data): no run cache, the
    as_of asked for (else 2024-01-31), no resolved stage rules."""
    return "input check replaced by the test", False, as_of or "2024-01-31", None


SALT = "test-salt-0123456789abcdef"


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """Run 1 (execution replaced, complete), then run 2: the good and the failing notebook really
    executed by papermill, in parallel (failed)."""
    root = tmp_path_factory.mktemp("report")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_good.ipynb", "Good report", GOOD_CODE)
    write_notebook(notebooks / "02_failing.ipynb", "Failing report", FAILING_CODE)
    config = write_config(root, extra="customers: {connection: 'postgres://analyst:${CLC_TEST_SECRET}@db.internal/"
                                      "shop', table: customers}\n")
    out = root / "reports"
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "_check_input", skip_input_check)
        patch.setenv("CLC_ID_SALT", SALT)
        patch.setenv("CLC_TEST_SECRET", TEST_SECRET)
        with pytest.MonkeyPatch.context() as execution:
            execution.setattr(report, "execute_notebook", fake_execute)
            first = run_report(config, out=out, as_of="2024-01-10", notebooks_dir=notebooks,
                               echo=lines.append)
        first_latest = (out / "latest").resolve()
        second = run_report(config, out=out, as_of="2024-01-12", jobs=2, notebooks_dir=notebooks,
                            echo=lines.append)
    return {"out": out, "first": first, "second": second, "first_latest": first_latest, "lines": lines}


@pytest.mark.slow
def test_complete_run_is_published_and_latest_points_to_it(real_runs):
    first, out = real_runs["first"], real_runs["out"]
    assert first.status == "complete" and first.exit_code == 0
    assert first.path == out / "shop" / first.run_id
    assert re.fullmatch(r"\d{8}-\d{6}_2024-01-10", first.run_id)
    assert real_runs["first_latest"] == first.path.resolve()
    for name in ("index.html", "01_good.html", "01_good.ipynb", "run.log", "run.json"):
        assert (first.path / name).is_file(), name
    assert not (first.path / "key_figures").exists()  # the figures travel in the executed notebook
    assert not list(out.glob(".tmp-*"))


@pytest.mark.slow
def test_good_report_has_no_code_embedded_images_and_no_cdn_scripts(real_runs):
    page = (real_runs["second"].path / "01_good.html").read_text(encoding="utf-8")
    assert "Readable text for the reader." in page
    assert "code_marker_not_for_readers" not in page  # code input hidden
    assert "data:image/png;base64," + PNG_1X1[:20] in page
    assert not re.search(r"<script[^>]*\bsrc=[\"']https?:", page)
    assert "import(\"https" not in page and "cdnjs" not in page.lower().split("<style")[0]
    assert "mathjax" not in page.lower()
    assert "clc-error-banner" not in page.split("<main>")[1]
    # The key figures' JSON for the runner stays in the executed notebook; the page shows their HTML.
    assert "<div>cards</div>" in page and "vnd.clc" not in page and '"key_figures"' not in page
    executed = (real_runs["second"].path / "01_good.ipynb").read_text(encoding="utf-8")
    assert KEY_FIGURES_MIME in executed and RUN_DATA_MIME in executed


@pytest.mark.slow
def test_failing_notebook_is_rendered_marked_and_fails_the_run(real_runs):
    second = real_runs["second"]
    assert second.status == "failed" and second.exit_code == 1
    by_name = {nb.name: nb for nb in second.notebooks}
    assert by_name["01_good"].ok
    assert not by_name["02_failing"].ok
    assert by_name["02_failing"].error == "ValueError: boom <b> at postgres://analyst:***@db.internal/shop"
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


@pytest.mark.slow
def test_secrets_tracebacks_and_local_paths_stay_out_of_the_published_run(real_runs):
    run = real_runs["second"].path
    for path in run.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert TEST_SECRET not in text, path.name
            if path.suffix in (".html", ".log", ".json"):
                assert str(report.project_root()) not in text and str(run.parents[2]) not in text, path.name
    assert not any(TEST_SECRET in line for line in real_runs["lines"])
    page = (run / "02_failing.html").read_text(encoding="utf-8")
    assert "connecting with ***" in page
    assert "Traceback" not in page and "Cell In[" not in page  # the traceback stays in the notebook
    assert page.count("ValueError: boom &lt;b&gt; at postgres://analyst:***@db.internal/shop") == 2  # banner, cell
    executed = nbformat.read(run / "02_failing.ipynb", as_version=4)
    errors = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs
              if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) > 1  # analysts keep the full traceback


@pytest.mark.slow
def test_partial_run_is_kept_but_latest_stays_on_the_complete_run(real_runs):
    out, first, second = real_runs["out"], real_runs["first"], real_runs["second"]
    assert second.path.is_dir()
    assert (out / "latest").resolve() == first.path.resolve()
    assert (out / "shop" / "latest").resolve() == first.path.resolve()
    assert (first.path / "01_good.html").is_file()


@pytest.mark.slow
def test_index_links_resolve_to_files(real_runs):
    for run in (real_runs["first"], real_runs["second"]):
        links = local_links(run.path / "index.html")
        assert "01_good.html" in links and "logs/01_good.log" in links
        if run is real_runs["second"]:
            assert f"../{real_runs['first'].run_id}/index.html" in links
        for href in links:
            assert (run.path / href).resolve().is_file(), href


@pytest.mark.slow
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
    assert display.format_change(kind, current, previous, "EUR") == expected


# --- checks with the execution step replaced ----------------------------------------------------

@pytest.fixture()
def quick(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "execute_notebook", fake_execute)
    monkeypatch.setattr(report, "_check_input", skip_input_check)
    monkeypatch.setenv("CLC_ID_SALT", SALT)
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
    with publishing.output_lock(quick["out"]):
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
    remaining = sorted(p.name for p in (quick["out"] / "shop").iterdir() if p.name not in ("latest", ".clc-config.json"))
    assert remaining == sorted(run.run_id for run in runs[-2:])
    assert (quick["out"] / "latest").resolve() == runs[-1].path.resolve()
    assert (quick["out"] / "shop" / "latest").is_symlink()
    # Runs in the same second get a suffix and still sort after the earlier one.
    assert all(re.fullmatch(r"\d{8}-\d{6}(-\d+)?_2024-01-1\d", run.run_id) for run in runs)


def test_no_notebooks_still_writes_an_index(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_check_input", skip_input_check)
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    empty = tmp_path / "notebooks"
    empty.mkdir()
    result = run_report(write_config(tmp_path), out=tmp_path / "out", notebooks_dir=empty, echo=None)
    assert result.ok and result.notebooks == []
    index = (result.path / "index.html").read_text(encoding="utf-8")
    assert "No notebooks were found" in index
    assert result.run_id.endswith("_2024-01-31")  # the as_of the input check resolved


def test_unknown_only_name_and_bad_options_are_config_errors(quick, tmp_path):
    with pytest.raises(ConfigError, match="--only nope: no such notebook.*01_good"):
        run_report(quick["config"], out=quick["out"], only=["nope"], notebooks_dir=quick["notebooks"])
    with pytest.raises(ConfigError, match="Unknown option 'kep'.*Did you mean 'keep'"):
        run_report(write_config(tmp_path, extra="report: {kep: 3}\n"), out=quick["out"],
                   notebooks_dir=quick["notebooks"])
    with pytest.raises(ConfigError, match="report.keep"):
        run_report(write_config(tmp_path, extra="report: {keep: 0}\n"), out=quick["out"],
                   notebooks_dir=quick["notebooks"])
    with pytest.raises(ConfigError, match="report.pseudonymise_ids"):
        ReportSettings.from_mapping({"pseudonymise_ids": "no"})
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        run_report(quick["config"], as_of="12/01/2024", notebooks_dir=quick["notebooks"])
    with pytest.raises(ConfigError, match="does not exist"):
        run_report(tmp_path / "missing.yaml", notebooks_dir=quick["notebooks"])


def test_kernels_get_the_privacy_switch_as_a_parameter(quick, monkeypatch):
    tasks = []

    def recording(task):
        tasks.append(task)
        return fake_execute(task)

    monkeypatch.setattr(report, "execute_notebook", recording)
    internal = write_config(quick["config"].parent, extra="report: {pseudonymise_ids: false}\n")
    result = run_report(internal, out=quick["out"], notebooks_dir=quick["notebooks"], echo=None)
    assert tasks[-1].pseudonymise_ids is False
    assert json.loads((result.path / "run.json").read_text())["privacy"] == {"pseudonymise_ids": False, "salt": None}
    assert "Internal run: customer ids are shown as they are" in (result.path / "index.html").read_text()
    result = run_report(write_config(quick["config"].parent), out=quick["out"], notebooks_dir=quick["notebooks"],
                        echo=None)
    assert tasks[-1].pseudonymise_ids is True
    assert json.loads((result.path / "run.json").read_text())["privacy"] == {"pseudonymise_ids": True,
                                                                           "salt": "CLC_ID_SALT"}
    assert "Customers are shown by pseudonym" in (result.path / "index.html").read_text()


def test_papermill_gets_the_declared_parameters_and_the_kernel_only_the_runners_environment(tmp_path, monkeypatch):
    import yaml

    launched = []

    class FinishedProcess:
        def __init__(self, command, **kwargs):
            launched.append((command, kwargs["env"]))

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(report.subprocess, "Popen", FinishedProcess)
    monkeypatch.setenv("CLC_TEST_SECRET", TEST_SECRET)
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    notebook = write_notebook(tmp_path / "01.ipynb", "Segments", "x = 1")
    declared = nbformat.read(notebook, as_version=4)
    declared.cells[1].source += ('\nperiod: str | None = None  # "M" or "W"; None = the config\'s period'
                                 '\npseudonymise_ids: bool = True  # pseudonyms\nrun_cache: str | None = None  # cache')
    nbformat.write(declared, notebook)
    config = write_config(tmp_path, "period: W\nclv: {horizon: 26}\n")
    task = report._Task(source=notebook, executed=tmp_path / "out.ipynb", log=tmp_path / "01.log",
                        config=config, as_of="2024-01-10", cwd=tmp_path, cell_timeout=None, start_timeout=60,
                        pseudonymise_ids=False, run_cache=tmp_path / "cache",
                        stage_rules={"churn_days": 200, "sources": {}})
    assert report.execute_notebook(task) == (True, None)
    command, env = launched[0]
    parameters = yaml.safe_load(command[command.index("-y") + 1])
    # Declared parameters get the run's values; horizon and stage_rules are not declared, so not passed.
    assert parameters == {"config": str(config), "as_of": "2024-01-10", "period": "W", "pseudonymise_ids": False,
                          "run_cache": str(tmp_path / "cache")}
    assert not any(TEST_SECRET in part for part in command)
    assert env["CLC_TEST_SECRET"] == TEST_SECRET  # secrets by environment only
    # The kernel's environment is the runner's: the runner adds nothing but unbuffered output.
    assert {name: value for name, value in env.items() if os.environ.get(name) != value} == {"PYTHONUNBUFFERED": "1"}


def test_report_notebooks_selects_by_number_stem_or_topic(tmp_path):
    for name in ("01_segmentation", "02_acquisition", "04_retention"):
        write_notebook(tmp_path / f"{name}.ipynb", name, "x = 1")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    assert [p.stem for p in report.report_notebooks(tmp_path)] == ["01_segmentation", "02_acquisition",
                                                                     "04_retention"]
    chosen = report.report_notebooks(tmp_path, ["retention", "01", "02_acquisition.ipynb"])
    assert [p.stem for p in chosen] == ["01_segmentation", "02_acquisition", "04_retention"]


# --- interrupted runs, a refused input, the same run twice: the real `clc report` command -----------

CLC = Path(sys.executable).with_name("clc")
TRANSACTIONS_CSV = """customer_id,order_id,timestamp,amount
c1,o1,2024-01-02 10:00:00,20.00
c1,o2,2024-01-05 11:00:00,35.50
c2,o3,2024-01-03 09:30:00,12.00
c3,o4,2024-01-08 16:45:00,80.00
"""
# The notebook sleeps (after showing its figures) when CLC_TEST_SLOW is set, so that a run can be
# stopped while a notebook is mid-way.
SLOW_CODE = GOOD_CODE + '''
if os.environ.get("CLC_TEST_SLOW"):
    import time
    time.sleep(300)'''


@pytest.fixture(scope="module")
def command_project(tmp_path_factory):
    """A project (CLC_PROJECT_ROOT) with one notebook, a config with real data and a first complete run."""
    root = tmp_path_factory.mktemp("project")
    (root / "notebooks").mkdir()
    write_notebook(root / "notebooks" / "01_good.ipynb", "Good report", SLOW_CODE)
    data = root / "data"
    data.mkdir()
    (data / "tx.csv").write_text(TRANSACTIONS_CSV, encoding="utf-8")
    config = data / "run.yaml"
    config.write_text("name: shop\ncurrency: EUR\ntransactions: {path: tx.csv}\n", encoding="utf-8")
    env = {**os.environ, "CLC_PROJECT_ROOT": str(root), "CLC_ID_SALT": SALT,
           "XDG_CACHE_HOME": str(root / "private")}  # the runs' private working folders
    env.pop("CLC_TEST_SLOW", None)
    out = root / "reports"
    args = [str(CLC), "report", "--config", str(config), "--out", str(out), "--as-of", "2024-01-10"]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    return {"root": root, "config": config, "out": out, "env": env, "args": args,
            "first": (out / "latest").resolve(), "private": root / "private" / "clc" / "runs"}


def _published(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "shop").iterdir())


def _start_and_stop_mid_run(project, stop_signal: int) -> tuple[subprocess.Popen, Path, str]:
    """Start a slow run; once its notebook is executing, send ``stop_signal``; return the process,
    its working folder (in its private folder, outside the reports folder) and its output."""
    process = subprocess.Popen(project["args"], env={**project["env"], "CLC_TEST_SLOW": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    work = None
    while time.monotonic() < deadline and process.poll() is None:
        work = next(iter(project["private"].glob("run-*/work")), None)
        log = None if work is None else work / "logs" / "01_good.log"
        if log is not None and log.is_file() and "figures shown" in log.read_text(errors="replace"):
            break  # the kernel runs the notebook and is now sleeping in its last cell
        time.sleep(0.2)
    assert process.poll() is None and work is not None, "the run did not reach its notebook"
    process.send_signal(stop_signal)
    output, _ = process.communicate(timeout=120)
    return process, work, output


def _papermill_processes(work: Path) -> list[int]:
    """Processes whose command line names the working folder (papermill writes its notebook there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if str(work) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(proc.name))
    return found


def _wait_until_gone(work: Path, seconds: float = 20) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _papermill_processes(work)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.slow
def test_killed_run_leaves_latest_intact_and_the_next_run_takes_over(command_project):
    out, first = command_project["out"], command_project["first"]
    before = _published(out)
    process, work, _ = _start_and_stop_mid_run(command_project, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    # The previous run and both latest links are intact and readable; nothing new was published.
    assert (out / "latest").resolve() == first and (out / "shop" / "latest").resolve() == first
    assert _published(out) == before
    assert "Good report" in (first / "index.html").read_text(encoding="utf-8")
    assert "Readable text for the reader." in (first / "01_good.html").read_text(encoding="utf-8")
    assert work.is_dir()  # a SIGKILL cannot clean up; the next run does
    assert not list(out.glob(".tmp-*")) and not list(out.glob(".cache-*"))  # working data stay private
    assert f"pid {process.pid}" in (out / ".clc-report.lock").read_text(encoding="utf-8")
    assert _wait_until_gone(work) == [], "papermill outlived the killed runner"

    again = subprocess.run(command_project["args"], env=command_project["env"], capture_output=True, text=True,
                           timeout=600, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"taking over the lock of an earlier run that did not finish (pid {process.pid}" in again.stdout
    assert f"removed {work.parent.name}, the working folder of an interrupted run (pid {process.pid})" in again.stdout
    assert not work.parent.exists() and not list(out.glob(".tmp-*"))
    assert list(command_project["private"].iterdir()) == []
    latest = (out / "latest").resolve()
    assert latest != first and latest.parent == first.parent
    assert (out / ".clc-report.lock").read_text(encoding="utf-8") == ""  # released in order
    # Same config and as_of: the same figures as the first run, shown as unchanged.
    figures = [json.loads((run / "run.json").read_text())["notebooks"][0]["key_figures"] for run in (first, latest)]
    assert [(f["label"], f["value"]) for f in figures[0]] == [(f["label"], f["value"]) for f in figures[1]]
    assert {f["change"] for f in figures[1]} == {"unchanged"}


@pytest.mark.slow
def test_terminated_run_stops_its_notebook_and_publishes_nothing(command_project):
    out = command_project["out"]
    latest, before = (out / "latest").resolve(), _published(out)
    process, work, output = _start_and_stop_mid_run(command_project, signal.SIGTERM)
    assert process.returncode == 143, output
    assert "stopped by SIGTERM" in output and "nothing was published" in output
    assert not work.exists()
    assert _wait_until_gone(work) == []
    assert (out / "latest").resolve() == latest and _published(out) == before
    assert (out / ".clc-report.lock").read_text(encoding="utf-8") == ""


@pytest.mark.slow
def test_refused_input_exits_2_and_publishes_nothing(command_project, tmp_path, monkeypatch, capsys):
    out = command_project["out"]
    latest, before = (out / "latest").resolve(), _published(out)
    bad = tmp_path / "tx.csv"
    bad.write_text(TRANSACTIONS_CSV.replace("35.50", "35.5O"), encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text("name: shop-refused\ntransactions: {path: tx.csv}\n", encoding="utf-8")
    monkeypatch.setenv("CLC_PROJECT_ROOT", str(command_project["root"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "private"))
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    started: list[str] = []
    monkeypatch.setattr(report, "execute_notebook", lambda task: started.append(task.source.name))
    code = cli.main(["report", "--config", str(config), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "amount" in err and "tx.csv" in err and "Traceback" not in err
    assert started == []  # refused before any notebook ran
    assert _published(out) == before and (out / "latest").resolve() == latest
    assert not list(out.glob(".tmp-*")) and not (out / "shop-refused").exists()
    assert list((tmp_path / "private" / "clc" / "runs").iterdir()) == []  # the run cache was removed


def test_only_runs_are_partial_keep_latest_and_never_prune_the_complete_run(quick):
    write_notebook(quick["notebooks"] / "02_other.ipynb", "Other report", "x = 2")
    config = write_config(quick["config"].parent, extra="report: {keep: 2}\n")
    complete = run_report(config, out=quick["out"], as_of="2024-01-10", notebooks_dir=quick["notebooks"], echo=None)
    partials = [run_report(config, out=quick["out"], as_of=f"2024-01-1{i}", only=["01"],
                           notebooks_dir=quick["notebooks"], echo=None) for i in (1, 2, 3)]
    assert complete.status == "complete"
    assert all(run.status == "partial" and run.exit_code == 0 for run in partials)
    assert (quick["out"] / "latest").resolve() == complete.path.resolve()
    assert complete.path.is_dir()  # keep: 2, but the newest complete run stays
    remaining = sorted(p.name for p in (quick["out"] / "shop").iterdir() if p.name not in ("latest", ".clc-config.json"))
    assert remaining == sorted([complete.run_id, partials[-2].run_id, partials[-1].run_id])
    last = json.loads((partials[-1].path / "run.json").read_text(encoding="utf-8"))
    assert last["notebooks"][0]["compared_with"] == partials[-2].run_id
    index = (partials[-1].path / "index.html").read_text(encoding="utf-8")
    assert "Partial run." in index and "holds only Good report" in index


@pytest.mark.parametrize(("first_log", "calls"), [
    ("zmq.error.ZMQError: Address already in use (addr='tcp://127.0.0.1:60983')\n"
     "RuntimeError: Kernel died before replying to kernel_info\n", 2),
    ("ModuleNotFoundError: No module named 'clc_lib'\n", 1),
])
def test_a_kernel_whose_port_was_taken_is_started_again_and_nothing_else_is(tmp_path, monkeypatch, first_log, calls):
    config = tmp_path / "run.yaml"
    config.write_text("name: shop\ntransactions: {path: t.csv}\n")
    task = report._Task(source=report.default_notebooks_dir() / "01_segmentation.ipynb",
                        executed=tmp_path / "x.ipynb", log=tmp_path / "x.log", config=config, as_of="2024-06-30",
                        cwd=tmp_path, cell_timeout=None, start_timeout=60, pseudonymise_ids=False,
                        run_cache=tmp_path / "cache")
    started = []

    class Child:
        def __init__(self, command, stdout, stderr, env):
            started.append(command)
            failing = len(started) == 1
            stdout.write(first_log if failing else "ran every cell\n")
            self.code = 1 if failing else 0

        def wait(self):
            return self.code

    monkeypatch.setattr(report.subprocess, "Popen", Child)
    ok, error = report.execute_notebook(task)
    assert len(started) == calls
    assert ok is (calls == 2)
    log = task.log.read_text(encoding="utf-8")
    if calls == 2:
        assert error is None and "starting it again (attempt 2)" in log and log.endswith("ran every cell\n")
    else:
        assert "No module named 'clc_lib'" in error
