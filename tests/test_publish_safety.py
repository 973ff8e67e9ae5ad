"""Publishing under hostile configs: run folder names, config identity, clean-up of leftovers, the
private run cache, pseudonymised error examples, and full or read-only folders.

Every refused case goes through ``clc_lib.cli.main`` and must exit 2 with a message and no
traceback. Most runs replace the notebook execution by a stand-in; the error-example check runs a
real notebook in a real kernel on real (tiny) data.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from clc_lib import cli, publishing, rendering, report
from clc_lib.privacy import pseudonymise_id
from clc_lib.report import run_report

SALT = "test-salt-for-publishing-0123456789"
# Customer ids that must never reach the reports folder, distinctive enough to search every file for.
SECRET_IDS = ("cust-7731", "cust-8842")
TRANSACTIONS_CSV = """customer_id,order_id,timestamp,amount
cust-7731,o1,2024-01-02 10:00:00,20.00
cust-7731,o2,2024-01-05 11:00:00,35.50
cust-8842,o3,2024-01-03 09:30:00,12.00
cust-9953,o4,2024-01-08 16:45:00,80.00
"""


def write_notebook(path: Path, code: str) -> Path:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        new_markdown_cell("# A report\n\nWhat it answers."),
        new_code_cell('config: str = "run.yaml"\nas_of: str | None = None', metadata={"tags": ["parameters"]}),
        new_code_cell(code),
    ]
    nbformat.write(notebook, path)
    return path


def write_config(folder: Path, name: str, extra: str = "") -> Path:
    """A run config named ``name`` in ``folder``, reading the tiny transactions beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tx.csv").write_text(TRANSACTIONS_CSV, encoding="utf-8")
    config = folder / "run.yaml"
    config.write_text(f"name: {json.dumps(name)}\ncurrency: EUR\ntransactions: {{path: tx.csv}}\n{extra}",
                      encoding="utf-8")
    return config


def copy_notebook(task) -> tuple[bool, str | None]:
    """Stand-in for papermill: the executed notebook is the notebook itself."""
    task.executed.write_text(task.source.read_text(encoding="utf-8"), encoding="utf-8")
    task.log.write_text("executed by the test stand-in\n", encoding="utf-8")
    return True, None


def dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def published_files(out: Path) -> dict[str, str]:
    """Every file under the reports folder (following no link), as text."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(out))] = path.read_text(encoding="utf-8", errors="replace")
    return found


def leaks(out: Path, forbidden: list[str]) -> list[tuple[str, str]]:
    return [(name, word) for name, text in published_files(out).items() for word in forbidden if word in text]


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A notebook folder, a reports folder, a private working root, the salt; notebook execution replaced."""
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "private"))
    monkeypatch.setattr(report, "execute_notebook", copy_notebook)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_good.ipynb", "x = 1")
    monkeypatch.setattr(report, "default_notebooks_dir", lambda: notebooks)
    return {"root": tmp_path, "notebooks": notebooks, "out": tmp_path / "reports",
            "private": tmp_path / "private" / "clc" / "runs"}


def clc_report(config: Path, out: Path, capsys, *extra: str) -> tuple[int, str]:
    code = cli.main(["report", "--config", str(config), "--out", str(out), "--jobs", "1", *extra])
    return code, capsys.readouterr().err


# --- run folder names ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "why"), [
    ("latest", "link to the newest complete run"),
    ("LATEST", "link to the newest complete run"),
    ("..", "itself or its parent"),
    (".", "itself or its parent"),
    (".tmp-keep", "starting with '.'"),
    (".cache-1234", "starting with '.'"),
    ("-.hidden", "starting with '.'"),
    ("shop/A", "'/'"),
    ("../../etc", "'/'"),
    ("a\\b", "'/' or '\\'"),
    ("tab\there", "control characters"),
    ("---", "no letter or digit"),
    ("x" * 101, "longer than 100"),
])
def test_reserved_and_unsafe_names_are_refused_with_the_reason(project, capsys, name, why):
    config = write_config(project["root"] / "cfg", name)
    code, err = clc_report(config, project["out"], capsys)
    assert code == 2
    assert why in err and "cannot name the folder of this config's runs" in err
    assert "Traceback" not in err
    assert not project["out"].exists()  # refused before anything was written
    assert sorted(p.name for p in project["root"].iterdir()) == ["cfg", "notebooks"]  # nothing beside --out


def test_name_latest_does_not_write_into_another_configs_run(project, capsys):
    first = run_report(write_config(project["root"] / "a", "shop"), out=project["out"], echo=None)
    before = published_files(project["out"])
    code, err = clc_report(write_config(project["root"] / "b", "latest"), project["out"], capsys)
    assert code == 2 and "'latest' is the link to the newest complete run" in err
    assert (project["out"] / "latest").resolve() == first.path.resolve()
    assert published_files(project["out"]) == before


def test_safe_names_are_cleaned_into_one_folder_name():
    assert publishing.run_folder_name("shop A") == "shop-A"
    assert publishing.run_folder_name("retail.eu_2") == "retail.eu_2"
    assert publishing.run_folder_name("latest-eu") == "latest-eu"


# --- one config per folder ------------------------------------------------------------------------

@pytest.mark.slow
def test_two_configs_never_share_a_folder(project, capsys):
    first = run_report(write_config(project["root"] / "a", "shop A", "report: {keep: 1}\n"),
                       out=project["out"], echo=None)
    recorded = json.loads((project["out"] / "shop-A" / ".clc-config.json").read_text(encoding="utf-8"))
    assert recorded["name"] == "shop A" and str(project["root"]) not in json.dumps(recorded)
    before = published_files(project["out"])
    other = write_config(project["root"] / "b", "shop-A", "report: {keep: 1}\n")
    code, err = clc_report(other, project["out"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "holds the runs of another run config" in err and "name: 'shop A'" in err
    assert "delete" in err and ".clc-config.json" in err  # how to hand the folder over
    assert published_files(project["out"]) == before  # the first config's run is neither compared nor pruned
    assert first.path.is_dir()
    # The same config again is welcome.
    assert run_report(project["root"] / "a" / "run.yaml", out=project["out"], echo=None).ok


def test_folder_of_an_earlier_version_is_adopted_by_its_first_config(project):
    legacy = project["out"] / "shop" / "20240101-060000_2024-01-01"
    legacy.mkdir(parents=True)
    (legacy / "run.json").write_text(json.dumps({"status": "complete", "notebooks": []}), encoding="utf-8")
    result = run_report(write_config(project["root"] / "a", "shop"), out=project["out"], echo=None)
    assert result.previous_run == legacy.name
    assert (project["out"] / "shop" / ".clc-config.json").is_file()


def test_a_link_in_place_of_the_config_folder_is_refused(project, capsys):
    elsewhere = project["root"] / "elsewhere"
    elsewhere.mkdir()
    project["out"].mkdir()
    (project["out"] / "shop").symlink_to(elsewhere)
    code, err = clc_report(write_config(project["root"] / "a", "shop"), project["out"], capsys)
    assert code == 2 and "is a link, not a folder of report runs" in err
    assert list(elsewhere.iterdir()) == []


# --- clean-up touches only leftovers of dead runs ----------------------------------------------------

@pytest.mark.slow
def test_cleanup_removes_only_folders_of_dead_runs_made_by_the_runner(project, capsys):
    out = project["out"]
    out.mkdir()
    gone = dead_pid()
    user_folder = out / ".tmp-keep"  # someone's own folder with a similar name
    user_folder.mkdir()
    (user_folder / "notes.txt").write_text("mine", encoding="utf-8")
    unmarked = out / f".tmp-20240101-000000-{gone}"  # the runner's pattern, but not made by it
    unmarked.mkdir()
    (unmarked / "notes.txt").write_text("mine too", encoding="utf-8")
    interrupted = out / f".tmp-20240102-000000-{gone}"
    interrupted.mkdir()
    (interrupted / ".clc-staging").write_text(f"pid {gone}", encoding="utf-8")
    alive = out / f".tmp-20240103-000000-{os.getppid()}"  # marked, but its process is running
    alive.mkdir()
    (alive / ".clc-staging").write_text(f"pid {os.getppid()}", encoding="utf-8")
    legacy_cache = out / f".cache-{gone}"  # the run cache of an earlier version, with real ids
    legacy_cache.mkdir()
    (legacy_cache / "transactions.parquet").write_bytes(b"real ids")
    (legacy_cache / ".run.pickle.x1y2.tmp").write_bytes(b"real ids")
    not_a_cache = out / f".cache-{gone + 100000}"  # the pattern, but someone else's files
    not_a_cache.mkdir()
    (not_a_cache / "notes.txt").write_text("mine", encoding="utf-8")
    stale_link = out / f".latest.tmp-{gone}"
    stale_link.symlink_to("shop/nowhere")

    code = cli.main(["report", "--config", str(write_config(project["root"] / "a", "shop")), "--out", str(out)])
    output = capsys.readouterr().out
    assert code == 0
    assert user_folder.is_dir() and unmarked.is_dir() and alive.is_dir() and not_a_cache.is_dir()
    assert not interrupted.exists() and not legacy_cache.exists() and not stale_link.is_symlink()
    assert f"removed {interrupted.name}, the unfinished folder of an interrupted run (pid {gone})" in output
    assert f"left {alive.name} alone" in output


def test_private_leftovers_of_dead_runs_are_removed_at_the_next_start(project):
    private = project["private"]
    private.mkdir(parents=True)
    host, gone = socket.gethostname(), dead_pid()

    def leftover(name: str, owner: dict | None) -> Path:
        folder = private / name
        (folder / "cache").mkdir(parents=True)
        (folder / "cache" / "run.pickle").write_bytes(b"real ids")
        if owner is not None:
            (folder / "owner.json").write_text(json.dumps(owner), encoding="utf-8")
        return folder

    dead = leftover(f"run-{gone}-abc", {"pid": gone, "host": host})
    running = leftover(f"run-{os.getppid()}-def", {"pid": os.getppid(), "host": host})
    other_host = leftover(f"run-{gone}-ghi", {"pid": gone, "host": host + "-elsewhere"})
    unowned = leftover(f"run-{gone}-jkl", None)
    lines: list[str] = []
    run_report(write_config(project["root"] / "a", "shop"), out=project["out"], echo=lines.append)
    assert not dead.exists()
    assert running.is_dir() and other_host.is_dir() and unowned.is_dir()
    assert any(f"removed {dead.name}, the working folder of an interrupted run (pid {gone})" in line for line in lines)
    assert sorted(p.name for p in private.iterdir()) == sorted([running.name, other_host.name, unowned.name])


# --- the private run cache ---------------------------------------------------------------------------

def test_run_cache_is_private_and_outside_the_reports_folder(project, monkeypatch):
    seen = {}

    def inspecting(task):
        cache = task.run_cache
        seen["cache"] = cache
        seen["modes"] = {str(p.relative_to(cache)): stat.S_IMODE(p.stat().st_mode) for p in cache.rglob("*")}
        seen["folder_mode"] = stat.S_IMODE(cache.stat().st_mode)
        seen["private_mode"] = stat.S_IMODE(cache.parent.stat().st_mode)
        seen["reports_folder"] = sorted(str(p.relative_to(project["out"])) for p in project["out"].rglob("*"))
        seen["leaks"] = leaks(project["out"], [*SECRET_IDS, str(project["root"])])
        return copy_notebook(task)

    monkeypatch.setattr(report, "execute_notebook", inspecting)
    result = run_report(write_config(project["root"] / "a", "shop"), out=project["out"], echo=None)
    assert result.ok
    cache = seen["cache"]
    assert cache.is_relative_to(project["private"]) and not cache.is_relative_to(project["out"])
    assert seen["folder_mode"] == 0o700 and seen["private_mode"] == 0o700
    assert {"transactions.parquet", "run.pickle", "key.json", "results/stages.pickle"} <= set(seen["modes"])
    assert {mode for name, mode in seen["modes"].items() if name != "results"} == {0o600}, seen["modes"]
    assert seen["modes"]["results"] == 0o700
    assert seen["reports_folder"] == [".clc-report.lock"]  # while notebooks run, only the lock is there
    assert seen["leaks"] == []
    assert not cache.exists() and list(project["private"].iterdir()) == []  # removed when the run ends
    assert leaks(project["out"], [*SECRET_IDS, str(project["root"])]) == []


def test_a_run_cache_others_can_write_to_is_not_read(project, tmp_path, monkeypatch):
    from clc_lib import handoff
    from clc_lib.run import load_run, save_run_cache

    config = write_config(project["root"] / "a", "shop")
    cache = tmp_path / "shared-cache"
    assert save_run_cache(load_run(config), cache, config=config)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    monkeypatch.setattr(handoff, "_settings", handoff._NotebookSettings())
    handoff.apply_notebook_parameters(run_cache=cache)
    assert load_run(config)._results_folder == cache / "results"  # private: used
    cache.chmod(0o777)
    assert load_run(config)._results_folder is None  # writable by others: loaded from the sources


# --- error examples are pseudonymised before they are published ---------------------------------------

# The check finds its examples in the data, as the library's checks do: the ids are in no code.
FAILING_CHECK = '''import os
import pandas as pd
from clc_lib.errors import DataError
print("checking the campaigns")
first, second = sorted(pd.read_csv(os.path.join(os.path.dirname(config), "tx.csv"))["customer_id"].unique())[:2]
raise DataError("Some campaign rows name customers without purchases.", source="campaigns.csv",
                column="customer_id", n_rows=3,
                examples=[(2, first), (second, 12.5), (4, f"spring/{first}"), (5, "not-an-id")])'''


@pytest.fixture(scope="module")
def failed_check_run(tmp_path_factory):
    """A real run: one notebook ok, one failing on a data check whose examples are real customer ids.
    The reports folder is searched while the run is assembled in it, just before it is renamed."""
    root = tmp_path_factory.mktemp("examples")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_good.ipynb", "print('fine')")
    write_notebook(notebooks / "02_check.ipynb", FAILING_CHECK)
    config = write_config(root / "data", "shop")
    out = root / "reports"
    forbidden = [*SECRET_IDS, str(root)]
    snapshots = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLC_ID_SALT", SALT)
        patch.setenv("XDG_CACHE_HOME", str(root / "private"))
        copy_folder = rendering.Sanitiser.copy_folder

        def copy_and_search(self, source, target):
            copy_folder(self, source, target)
            snapshots.append((len(published_files(out)), leaks(out, forbidden)))

        patch.setattr(rendering.Sanitiser, "copy_folder", copy_and_search)
        lines: list[str] = []
        result = run_report(config, out=out, jobs=1, notebooks_dir=notebooks, echo=lines.append)
    return {"result": result, "out": out, "snapshots": snapshots, "forbidden": forbidden, "lines": lines,
            "private": root / "private" / "clc" / "runs"}


def pseudonym(customer_id: str) -> str:
    return pseudonymise_id(customer_id, salt=SALT.encode("utf-8"))


@pytest.mark.slow
def test_data_check_examples_reach_no_published_file_as_real_ids(failed_check_run):
    result, out = failed_check_run["result"], failed_check_run["out"]
    assert result.status == "failed" and [nb.status for nb in result.notebooks] == ["ok", "failed"]
    assert leaks(out, failed_check_run["forbidden"]) == []
    assert not any(word in line for line in failed_check_run["lines"] for word in SECRET_IDS)
    files_seen, found = failed_check_run["snapshots"][0]
    assert files_seen > 5 and found == []  # also while the run was assembled in the reports folder


@pytest.mark.slow
def test_data_check_examples_are_shown_by_pseudonym_everywhere(failed_check_run):
    run = failed_check_run["result"].path
    first, second = pseudonym("cust-7731"), pseudonym("cust-8842")
    expected_line = f"row 2: '{first}', row {second}: 12.5, row 4: 'spring/{first}', row 5: 'not-an-id'"
    error = failed_check_run["result"].notebooks[1].error
    assert error.startswith("DataError: Some campaign rows") and expected_line in error
    manifest = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert expected_line in manifest["notebooks"][1]["error"]
    for name in ("run.log", "logs/02_check.log", "02_check.ipynb"):
        assert first in (run / name).read_text(encoding="utf-8"), name
    assert f"row 2: &#39;{first}&#39;" in (run / "index.html").read_text(encoding="utf-8")
    page = (run / "02_check.html").read_text(encoding="utf-8")
    assert page.count(f"row 2: '{first}', row {second}: 12.5") == 2  # the banner and the failing cell
    executed = nbformat.read(run / "02_check.ipynb", as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs
               if o.output_type == "error"]
    assert expected_line in outputs[0].evalue and any(first in line for line in outputs[0].traceback)


def test_examples_are_withheld_when_ids_cannot_be_looked_up():
    withhold = rendering.example_pseudonymiser(True, None)
    text = "DataError: bad\n  e.g.     row 2: 'cust-7731'"
    assert withhold(text) == "DataError: bad\n  e.g.     [examples withheld from the published run: they may hold " \
                             "customer ids]"
    assert rendering.example_pseudonymiser(False, None)(text) == text  # internal runs show real ids


# --- full or read-only folders -----------------------------------------------------------------------

def refuse_writes(monkeypatch, folder: Path, error_number: int, *, only: str = "") -> None:
    """Make every write below ``folder`` (whose path contains ``only``) fail with ``error_number``, the
    way a full or read-only disk does; this works for root too, whom file modes do not stop."""
    folder = str(folder)

    def refused(path) -> bool:
        text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""
        return text.startswith(folder) and only in text

    def failing(name: str):
        raise OSError(error_number, os.strerror(error_number), name)

    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if refused(file) and any(flag in mode for flag in "wax+"):
            failing(os.fsdecode(file))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if refused(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            failing(os.fsdecode(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    for name in ("mkdir", "symlink", "link"):
        real = getattr(os, name)

        def guarded(path, *args, _real=real, **kwargs):
            for candidate in (path, *args[:1]):
                if refused(candidate):
                    failing(os.fsdecode(candidate))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, guarded)
    for name in ("rename", "replace"):
        real = getattr(os, name)

        def guarded_move(source, target, *args, _real=real, **kwargs):
            if refused(target):
                failing(os.fsdecode(target))
            return _real(source, target, *args, **kwargs)

        monkeypatch.setattr(os, name, guarded_move)


def assert_nothing_published_or_left(project, before: dict[str, str], latest: Path | None) -> None:
    out = project["out"]
    assert published_files(out) == before
    assert not list(out.glob(".tmp-*")) and not list(out.glob(".latest.tmp-*")) and not list(out.glob("*/.latest.tmp-*"))
    assert not list(out.rglob("*.tmp"))
    if latest is not None:
        assert (out / "latest").resolve() == latest
    assert list(project["private"].iterdir()) == []  # the private working folder was removed


@pytest.mark.slow
def test_read_only_reports_folder_exits_2_naming_it(project, capsys, monkeypatch):
    config = write_config(project["root"] / "a", "shop")
    first = run_report(config, out=project["out"], echo=None)
    before = published_files(project["out"])
    if os.geteuid() == 0:  # file modes do not stop root
        refuse_writes(monkeypatch, project["out"], errno.EROFS)
        reason = "the file system is read-only"
    else:
        project["out"].chmod(0o555)
        (project["out"] / "shop").chmod(0o555)
        reason = "no permission to write there"
    try:
        code, err = clc_report(config, project["out"], capsys)
    finally:
        monkeypatch.undo()
        project["out"].chmod(0o755)
        (project["out"] / "shop").chmod(0o755)
    assert code == 2, err
    assert f"in {project['out']}" in err and reason in err and "Nothing was published" in err
    assert "Traceback" not in err
    assert_nothing_published_or_left(project, before, first.path.resolve())


@pytest.mark.slow
@pytest.mark.parametrize("step", ["staging", "latest link"])
def test_full_reports_folder_while_publishing_exits_2_and_publishes_nothing(project, capsys, monkeypatch, step):
    config = write_config(project["root"] / "a", "shop")
    first = run_report(config, out=project["out"], echo=None)
    before = published_files(project["out"])
    refuse_writes(monkeypatch, project["out"], errno.ENOSPC, only="run.json" if step == "staging" else "latest")
    code, err = clc_report(config, project["out"], capsys)
    monkeypatch.undo()
    assert code == 2, err
    assert f"Cannot write the report run in {project['out']}: the disk is full" in err
    assert "Traceback" not in err
    assert_nothing_published_or_left(project, before, first.path.resolve())


def test_full_disk_while_the_run_cache_is_written_exits_2(project, capsys, monkeypatch):
    import duckdb
    import ibis.expr.types

    def disk_full(self, path, *args, **kwargs):
        raise duckdb.IOException(f'IO Error: Could not write file "{path}": No space left on device')

    monkeypatch.setattr(ibis.expr.types.Table, "to_parquet", disk_full)
    code, err = clc_report(write_config(project["root"] / "a", "shop"), project["out"], capsys)
    assert code == 2, err
    assert "Cannot write the run cache (this run's cleaned data)" in err and str(project["private"]) in err
    assert "the disk is full" in err and "XDG_CACHE_HOME" in err and "Traceback" not in err
    assert_nothing_published_or_left(project, {".clc-report.lock": ""}, None)


def test_full_disk_while_the_run_cache_pickle_is_written_exits_2(project, capsys, monkeypatch):
    refuse_writes(monkeypatch, project["private"], errno.ENOSPC, only="run.pickle")
    code, err = clc_report(write_config(project["root"] / "a", "shop"), project["out"], capsys)
    monkeypatch.undo()
    assert code == 2, err
    assert "Cannot write the run cache" in err and "the disk is full" in err and "Traceback" not in err
    assert_nothing_published_or_left(project, {".clc-report.lock": ""}, None)


def test_unwritable_private_folder_exits_2_naming_it(project, capsys, monkeypatch):
    refuse_writes(monkeypatch, project["private"].parent, errno.EDQUOT)
    code, err = clc_report(write_config(project["root"] / "a", "shop"), project["out"], capsys)
    monkeypatch.undo()
    assert code == 2, err
    assert "this run's private working folder" in err and "the disk quota is used up" in err
    assert "Traceback" not in err


def test_other_read_or_write_failures_exit_2_without_traceback(project, capsys, monkeypatch):
    def failing(*_args, **_kwargs):
        raise OSError(errno.EIO, "Input/output error", "/some/file")

    monkeypatch.setattr(report, "run_report", failing)
    code = cli.main(["report", "--config", "x.yaml"])
    err = capsys.readouterr().err
    assert code == 2 and "Cannot read or write /some/file: Input/output error" in err and "Traceback" not in err
    with pytest.raises(OSError):
        cli.main(["--debug", "report", "--config", "x.yaml"])


def test_a_private_folder_inside_the_reports_folder_is_refused(project, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(project["out"] / "cache"))
    code, err = clc_report(write_config(project["root"] / "a", "shop"), project["out"], capsys)
    assert code == 2 and "is inside the reports folder" in err and "Traceback" not in err
    assert not (project["out"] / "cache").exists()



def test_full_reports_folder_on_a_first_run_leaves_no_folder_behind(project, capsys, monkeypatch):
    refuse_writes(monkeypatch, project["out"], errno.ENOSPC, only="latest")
    code, err = clc_report(write_config(project["root"] / "a", "shop"), project["out"], capsys)
    monkeypatch.undo()
    assert code == 2 and "the disk is full" in err and "Traceback" not in err
    assert sorted(p.name for p in project["out"].iterdir()) == [".clc-report.lock"]
    assert list(project["private"].iterdir()) == []
