"""The report runner: execute the notebooks for a run config and publish them as an HTML run folder.

``run_report`` (``clc report`` on the command line) does, in order:

1. checks the config's ``name:`` (:func:`run_folder_name`: no path, no reserved name) and takes a
   lock on the output folder (a second run on the same output is refused with a message; the
   lock of a run that was killed is taken over, with a message); refuses a folder of runs that
   another config owns (``.clc-config.json``); removes what dead runs left behind, and only that;
2. makes the run's private working folder (:func:`private_runs_root`, mode 700, outside the
   reports folder) and loads and validates the run's data once (the same
   :func:`clc_lib.run.load_run` the notebooks call) into the run cache there: a refused input
   stops the run before any notebook starts, and nothing is published;
3. executes each notebook of ``notebooks/`` with papermill in its own process, up to ``jobs`` at a
   time. Everything a notebook gets from the runner is a papermill parameter the notebook declares
   (:func:`notebook_parameters`, the contract is :mod:`clc_lib.handoff`): ``config``, the ``as_of``
   date resolved once in step 2, the config's ``period`` and ``clv.horizon``, the pinned
   ``stage_rules``, ``pseudonymise_ids`` (``report.pseudonymise_ids``) and ``run_cache``. The
   kernels inherit the runner's environment and nothing is added to it; from there the notebooks
   read only secrets (the id salt ``CLC_ID_SALT``, the config's ``${NAME}`` values) and the
   ``CLC_PROJECT_ROOT`` override. Each notebook writes its executed copy and log in the private
   folder; the examples of a failing data check are pseudonymised there before anything else reads
   them. The key figures, data period and data-quality table come back inside the executed
   notebook, as JSON outputs beside their HTML (:func:`clc_lib.handoff.read_key_figures`);
4. renders each executed notebook to a self-contained HTML page without code (charts embedded
   as images, no script or font loaded from the network, tracebacks reduced to the error line);
5. writes ``index.html`` (links, key figures and their change since the previous complete run of
   the same config, data period, data quality, versions, timings) and ``run.json``; every file of
   the run folder has credentials masked and absolute local folders replaced by relative ones;
6. assembles sanitised copies in ``<out>/.tmp-<started>-<pid>/``, publishes them by an atomic
   rename to ``<out>/<config name>/<YYYYmmdd-HHMMSS>_<as_of>/``, moves the ``latest`` links when
   every notebook of a full run succeeded, prunes the oldest runs beyond ``report.keep`` (never
   ``latest`` nor the newest complete run) and removes the private folder.

A failing notebook does not stop the others: its page shows the error at the top, the index
marks it, the run is published as ``failed`` and ``latest`` stays on the previous complete run.
An error in the runner itself (e.g. while rendering), Ctrl-C or SIGTERM stops the notebooks, removes
the temporary folders and leaves every published run untouched; a full or read-only folder is an
:class:`OutputFolderError` naming it (exit code 2). After a SIGKILL the notebooks stop with the
runner and the next run removes its leftovers. See ``docs/reports.md`` and ``docs/privacy.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from clc_lib.config import RunConfig, load_config, parse_as_of
from clc_lib.pinning import (
    DEFINITIONS_FILE,
    MODE_DERIVED,
    MODE_FIRST,
    MODE_PINNED,
    MODE_REDERIVED,
    DefinitionsPlan,
    PinnedDefinitions,
    compare_definitions,
    plan_definitions,
)
from clc_lib.errors import ClcError, ConfigError
from clc_lib.handoff import CLC_MIME_TYPES, parameters_for, read_key_figures, read_run_data
from clc_lib.paths import notebooks_dir as default_notebooks_dir
from clc_lib.paths import process_running, project_root, reports_dir
from clc_lib.privacy import (
    config_secret_values,
    example_values,
    id_salt,
    pseudonymise_examples,
    redact,
    scrub_local_paths,
)
from clc_lib.settings import ReportSettings

__all__ = [
    "NotebookRun",
    "OutputFolderError",
    "ReportLockedError",
    "ReportRun",
    "report_notebooks",
    "private_runs_root",
    "run_folder_name",
    "run_report",
]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
NOTEBOOK_HTML_TEMPLATE = "clc_report"
KERNEL_NAME = "python3"
LOCK_NAME = ".clc-report.lock"
LATEST_NAME = "latest"
TMP_PREFIX = ".tmp-"  # a run being assembled in the reports folder, renamed into place when complete
RUN_MANIFEST = "run.json"
#: Records which run config owns ``<out>/<name>/``: two configs never share a folder.
CONFIG_IDENTITY_FILE = ".clc-config.json"
#: Inside a ``.tmp-`` folder while it is assembled: ``pid N`` of the run that made it.
STAGING_MARKER = ".clc-staging"
#: Names of the folders and links the runner creates in the reports folder; the pid is the run's.
STAGING_PATTERN = re.compile(r"^\.tmp-\d{8}-\d{6}-(\d+)$")
TEMPORARY_LINK_PATTERN = re.compile(r"^\.latest\.tmp-(\d+)$")
#: The run cache of earlier versions of the runner, which kept it in the reports folder.
LEGACY_CACHE_PATTERN = re.compile(r"^\.cache-(\d+)$")
LEGACY_CACHE_ENTRY = re.compile(r"^\.?(key\.json|run\.pickle|transactions\.parquet|events\.parquet|results)"
                                r"(\..+\.tmp)?$")
#: A run's private working folder (run cache, executing notebooks, logs) under :func:`private_runs_root`.
PRIVATE_FOLDER_PATTERN = re.compile(r"^run-(\d+)-[A-Za-z0-9_]+$")
PRIVATE_OWNER_FILE = "owner.json"
RESERVED_NAMES = (LATEST_NAME,)  # compared case-insensitively
MAX_NAME_CHARS = 100
RUN_FOLDER_PATTERN = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?_")
NUMERIC_KINDS = ("currency", "percent", "count", "days", "number")
VERSION_PACKAGES = {"clc": "clc", "pandas": "pandas", "ibis": "ibis-framework", "duckdb": "duckdb"}

STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
STATUS_PARTIAL = "partial"  # an --only run: published, but "latest" stays on the last complete run


class ReportLockedError(ClcError):
    """Another report run holds the lock on the same output folder."""


class OutputFolderError(ClcError):
    """A folder the run writes to is full, read-only or not writable; nothing was published."""


@dataclass
class NotebookRun:
    """The outcome of one notebook in a report run (paths relative to the run folder)."""

    name: str
    title: str
    status: str = "pending"  # "ok" or "failed"
    seconds: float = 0.0  # execution wall time
    render_seconds: float = 0.0
    error: str | None = None  # "ErrorName: message" of the failing cell, or the runner's reason
    html: str = ""
    ipynb: str = ""
    log: str = ""
    key_figures: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    compared_with: str | None = None  # run whose key figures the changes are measured against

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ReportRun:
    """A published report run: where it is and how it went."""

    run_id: str
    config_name: str
    path: Path
    status: str
    notebooks: list[NotebookRun]
    previous_run: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != STATUS_FAILED and all(n.ok for n in self.notebooks)

    @property
    def exit_code(self) -> int:
        """0 when every notebook ran (complete or partial run), 1 otherwise (the run is still published)."""
        return 0 if self.ok else 1


def report_notebooks(folder: Path | str | None = None, only: Sequence[str] | None = None) -> list[Path]:
    """The notebooks a run executes, in name order.

    ``only`` selects by file name (``01_segmentation.ipynb``), stem (``01_segmentation``), number
    prefix (``01``) or topic (``segmentation``); an unknown name is a :class:`ConfigError`.
    """
    folder = Path(folder) if folder is not None else default_notebooks_dir()
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith((".", "_")))
    if not only:
        return found
    chosen: list[Path] = []
    for name in only:
        matches = [p for p in found if name in (p.name, p.stem, *p.stem.split("_", 1))]
        if not matches:
            available = ", ".join(p.stem for p in found) or "none"
            raise ConfigError(f"--only {name}: no such notebook in {folder}. Available: {available}.")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


def _notebook_title(path: Path) -> str:
    """The first markdown heading of a notebook, else its name."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        cells = []
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", ""))
            for line in source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem.replace("_", " ")


# --- the lock --------------------------------------------------------------------------------

LOCK_RETRY_SECONDS = 10.0  # how long to wait for a lock whose owner process is gone



def _lock_holder(text: str) -> int | None:
    match = re.match(r"pid (\d+)", text.strip())
    return int(match.group(1)) if match else None


@contextlib.contextmanager
def _output_lock(out_root: Path, log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``out_root`` for the whole run.

    The lock is an ``flock`` on ``<out>/.clc-report.lock``, which the kernel releases when the
    holding process ends, even by SIGKILL. The file names the holder (``pid N, started ...``) and
    is emptied when a run ends normally, so a run that finds a name in it knows that the previous
    run was killed and says so (``log``). A lock still held although the named process is gone (a
    stray process that inherited it) is waited for up to :data:`LOCK_RETRY_SECONDS`.
    """
    import fcntl

    lock_path = out_root / LOCK_NAME
    handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                pid = _lock_holder(holder)
                if pid is None or process_running(pid) or time.monotonic() > deadline:
                    gone = pid is not None and not process_running(pid)
                    raise ReportLockedError(
                        f"Another report run is writing to {out_root} ({holder or 'another process'}"
                        + (", which has ended, but a process it started still holds the lock; find it "
                           f"with: fuser {lock_path}" if gone else "")
                        + "). Wait for it to finish, or give this run another folder with --out."
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        previous = handle.read().strip()
        previous_pid = _lock_holder(previous)
        if previous_pid is not None and previous_pid != os.getpid() and log is not None:
            log(f"taking over the lock of an earlier run that did not finish ({previous}; that process is "
                f"{'still running but no longer holds the lock' if process_running(previous_pid) else 'gone'})")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {dt.datetime.now():%Y-%m-%d %H:%M:%S}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # an empty lock file tells the next run that this one ended in order
    finally:
        handle.close()


# --- executing one notebook --------------------------------------------------------------------

@dataclass
class _Task:
    source: Path
    executed: Path
    log: Path
    config: Path
    as_of: str  # YYYY-MM-DD, resolved by the input check
    cwd: Path
    cell_timeout: float | None
    start_timeout: float
    pseudonymise_ids: bool = True  # report.pseudonymise_ids
    run_cache: Path | None = None  # the run's cleaned tables; None without a cache
    stage_rules: dict[str, Any] | None = None  # pinned stage thresholds (see clc_lib.pinning)


# Papermill runs through this launcher so that it stops when the runner dies, even by SIGKILL:
# Linux sends it SIGTERM when its parent goes (PR_SET_PDEATHSIG, kept across exec), and the kernel
# follows papermill (ipykernel polls its parent). Elsewhere the launcher just starts papermill.
_LAUNCHER = """import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(143)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""

_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def _stop_children(children: Sequence[subprocess.Popen] | None = None, grace_seconds: float = 5.0) -> None:
    """Terminate the given (default: every running) papermill process of this runner, then kill what is left."""
    with _children_lock:
        running = list(_children) if children is None else list(children)
    for child in running:
        with contextlib.suppress(OSError):
            child.terminate()
    for child in running:
        try:
            child.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                child.kill()


def notebook_parameters(task: _Task) -> dict[str, Any]:
    """The papermill parameters a report run passes to one notebook (see :mod:`clc_lib.handoff`).

    Of ``config``, ``as_of``, ``period`` (the config's ``period``), ``horizon`` (the config's
    ``clv.horizon``, in ``clv.time_unit``), ``stage_rules`` (the pinned stage thresholds, see
    :mod:`clc_lib.pinning`), ``pseudonymise_ids`` and ``run_cache``, those the notebook declares
    (:func:`clc_lib.handoff.parameters_for`), so that the executed notebook shows the values the
    run used.
    """
    run_config = load_config(task.config)
    horizon = run_config.clv.horizon
    return parameters_for(task.source, config=str(task.config), as_of=task.as_of, period=run_config.period.code,
                          horizon=horizon, stage_rules=task.stage_rules, pseudonymise_ids=task.pseudonymise_ids,
                          run_cache=None if task.run_cache is None else str(task.run_cache))


def execute_notebook(task: _Task) -> tuple[bool, str | None]:
    """Execute one notebook with papermill in a subprocess; return ``(ok, error)``.

    The parameters are those of :func:`notebook_parameters` (papermill writes them into the
    executed notebook); the kernel inherits the runner's environment, which holds the secrets, and
    nothing is added to it. The subprocess's output (papermill's log and the cells' output) goes to
    ``task.log``.
    """
    parameters = yaml.safe_dump(notebook_parameters(task))
    command = [sys.executable, "-c", _LAUNCHER, str(os.getpid()),
               "-m", "papermill", str(task.source), str(task.executed),
               "-y", parameters, "-k", KERNEL_NAME, "--cwd", str(task.cwd),
               "--no-progress-bar", "--log-output", "--start-timeout", str(int(task.start_timeout))]
    if task.cell_timeout is not None:
        command += ["--execution-timeout", str(int(task.cell_timeout))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(task.log, "w", encoding="utf-8") as log:
        with _children_lock:
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            _children.add(child)
        try:
            returncode = child.wait()
        except BaseException:  # Ctrl-C or SIGTERM while this thread waits: stop the notebook too
            _stop_children([child])
            raise
        finally:
            with _children_lock:
                _children.discard(child)
    if returncode == 0:
        return True, None
    return False, _notebook_error(task.executed) or (
        f"papermill exited with code {returncode} before running the notebook; "
        f"see {task.log.name}: {_log_tail(task.log)}")


def _notebook_error(executed: Path) -> str | None:
    """``"ErrorName: message"`` of the first error output in an executed notebook."""
    if not executed.is_file():
        return None
    try:
        cells = json.loads(executed.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "error":
                return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return None


def _log_tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# --- rendering ---------------------------------------------------------------------------------

def _display_path(path: Path) -> str:
    """A path as stakeholders may see it: relative to the project, never an absolute local path."""
    from clc_lib.paths import project_root

    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return Path(path).name


def render_html(executed: Path, target: Path, *, title: str, error: str | None, run_label: str) -> None:
    """Render an executed notebook to ``target`` without code; an error shows in a banner at the top.

    A notebook that never started (no executed file) gets a page with the error alone.
    """
    context = {"title": title, "error": error, "run_label": run_label, "index_href": "index.html",
               "css": (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")}
    if not executed.is_file():
        target.write_text(_render_template("error_page.html.j2", page=context), encoding="utf-8")
        return
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata["title"] = title
    # Warnings, log lines and tracebacks (code, local paths, values) are for analysts: they stay in
    # the executed notebook and the log. Stakeholders see the error line at the failing cell. The
    # JSON meant for the runner (key figures, data quality) stays in the executed notebook too.
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.get("outputs", [])
                            if not (output.get("output_type") == "stream" and output.get("name") == "stderr")]
            for output in cell.outputs:
                for mime in CLC_MIME_TYPES:
                    output.get("data", {}).pop(mime, None)
            cell.outputs = [output for output in cell.outputs
                            if "data" not in output or output["data"]]
            for output in cell.outputs:
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    exporter = HTMLExporter(
        template_name=NOTEBOOK_HTML_TEMPLATE,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"clc": context})
    target.write_text(body, encoding="utf-8")


def _jinja_environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def _render_template(name: str, **context: Any) -> str:
    environment = _jinja_environment()
    css = (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")
    return environment.get_template(name).render(css=css, **context)


# --- key figures and their change since the previous run ---------------------------------------

def _read_recorded(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def _format_change(kind: str, current: Any, previous: Any, currency: str) -> str:
    """The change of one figure: signed, in the figure's unit (percentage points for shares)."""
    from clc_lib.display import format_count, format_currency, format_days, format_number, format_value

    if kind not in NUMERIC_KINDS:
        if previous == current:
            return "unchanged"
        return f"was {format_value(previous, kind, currency)}" if previous is not None else ""
    if not isinstance(current, (int, float)) or not isinstance(previous, (int, float)):
        return ""
    delta = current - previous
    if delta == 0:
        return "unchanged"
    sign = "+" if delta > 0 else "-"
    magnitude = abs(delta)
    unit_text = {
        "currency": lambda: format_currency(magnitude, currency),
        "percent": lambda: f"{magnitude * 100:,.1f} pp",
        "count": lambda: format_count(magnitude),
        "days": lambda: format_days(magnitude),
        "number": lambda: format_number(magnitude),
    }[kind]()
    text = f"{sign}{unit_text}"
    if kind != "percent" and previous != 0:
        text += f" ({delta / abs(previous) * 100:+,.1f}%)"
    return text


def _run_folders(config_folder: Path) -> list[Path]:
    """Published run folders of one config, oldest first (``-2`` suffixes order runs in the same second)."""
    if not config_folder.is_dir():
        return []

    def order(path: Path) -> tuple[str, int]:
        match = RUN_FOLDER_PATTERN.match(path.name)
        return match.group(1), int(match.group(2) or 1)

    return sorted((p for p in config_folder.iterdir()
                   if p.is_dir() and not p.is_symlink() and RUN_FOLDER_PATTERN.match(p.name)), key=order)


def _previous_complete_run(config_folder: Path) -> tuple[str, dict[str, Any]] | None:
    """Run id and manifest of the newest complete run in ``config_folder``."""
    for folder in reversed(_run_folders(config_folder)):
        manifest = _read_recorded(folder / RUN_MANIFEST)
        if manifest.get("status") == STATUS_COMPLETE:
            return folder.name, manifest
    return None


def _previous_runs_by_report(config_folder: Path, names: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """For each report name, the newest published run (complete, partial or failed) in which it ran OK.

    Returns ``{name: (run id, that report's manifest entry)}``; names never run OK are left out.
    """
    wanted, found = set(names), {}
    for folder in reversed(_run_folders(config_folder)):
        for entry in _read_recorded(folder / RUN_MANIFEST).get("notebooks", []):
            name = entry.get("name")
            if name in wanted and name not in found and entry.get("status") == "ok":
                found[name] = (folder.name, entry)
        if len(found) == len(wanted):
            break
    return found


def _add_changes(notebooks: list[NotebookRun], previous: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Attach ``change`` (text) and ``previous`` (raw value) to each key figure.

    ``previous`` maps a report name to the run it is compared with and that report's manifest entry
    (see :func:`_previous_runs_by_report`); each report records that run as ``compared_with``.
    """
    before: dict[tuple[str, str], dict[str, Any]] = {}
    for name, (_run_id, entry) in previous.items():
        for figure in entry.get("key_figures", []):
            before[(name, figure.get("label"))] = figure
    for notebook in notebooks:
        notebook.compared_with = previous[notebook.name][0] if notebook.name in previous else None
        for figure in notebook.key_figures:
            old = before.get((notebook.name, figure.get("label")))
            if old is None or old.get("kind") != figure.get("kind"):
                figure["previous"], figure["change"] = None, ""
                continue
            figure["previous"] = old.get("value")
            figure["change"] = _format_change(figure.get("kind", "text"), figure.get("value"),
                                              old.get("value"), figure.get("currency", ""))


# --- pinned stage definitions (see clc_lib.pinning) ------------------------------------------

def _definitions_log_line(plan: DefinitionsPlan) -> str:
    if plan.mode == MODE_PINNED:
        kept = sorted(set(plan.stage_rules or {}) - {"sources"})
        text = (f"stage thresholds pinned since {plan.pinned.as_of} (run {plan.pinned.run_id}): "
                f"{', '.join(kept) or 'none derived from data'}")
        if plan.config_changed:
            text += "; the config's stages: section changed since, its fixed values win"
        return text
    return {MODE_FIRST: "stage thresholds derived from this run's data; pinned for the next runs if it publishes",
            MODE_REDERIVED: "stage thresholds derived anew from this run's data (--rederive-definitions)",
            MODE_DERIVED: "stage thresholds derived from this run's data (report.pin_definitions: false)"}[plan.mode]


def _plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _run_definitions(plan: DefinitionsPlan, resolved: tuple[Any, str] | None, run_id: str, config_name: str, *,
                     publishes_pin: bool) -> tuple[dict[str, Any] | None, PinnedDefinitions | None]:
    """The definitions this run used, as run.json records them, and the ``definitions.json`` to write
    (None: keep the file as it is).

    ``resolved`` is the run's :class:`~clc_lib.stages.StageRules` and as_of (None when they could not be
    resolved: nothing is recorded or pinned). ``publishes_pin``: the run may pin (it is not failed).
    """
    if resolved is None:
        return None, None
    rules, as_of = resolved
    pinned, changes = plan.definitions(rules.thresholds, rules.sources, as_of=as_of, run_id=run_id,
                                       config_name=config_name)
    kept = set(plan.stage_rules or {}) - {"sources"}
    write = publishes_pin and (plan.mode in (MODE_FIRST, MODE_REDERIVED)
                               or (plan.mode == MODE_PINNED and (plan.config_changed or bool(changes))))
    record = {
        "mode": plan.mode,
        "thresholds": {name: _plain_number(value) for name, value in rules.thresholds.items()},
        "origin": {name: "pinned" if name in kept else ("config" if name in plan.fixed else "data")
                   for name in rules.thresholds},
        "sources": dict(rules.sources),
        "pinned_since": ({"as_of": plan.pinned.as_of, "run_id": plan.pinned.run_id}
                         if plan.pinned is not None and kept else None),
        "config_changes": changes,
        "pinned_by_this_run": write and plan.mode in (MODE_FIRST, MODE_REDERIVED),
    }
    return record, (pinned if write else None)


def _mark_definition_changes(notebooks: list[NotebookRun], definitions: dict[str, Any] | None,
                             config_folder: Path) -> list[dict[str, Any]]:
    """Compare this run's definitions with those of each run the reports are compared with.

    Every numeric key figure whose change is measured against a run with other thresholds gets
    ``definitions_changed`` (texts such as the currency do not depend on them). Returns one entry
    per such run: ``run``, ``reports`` (titles) and ``changes`` (see
    :func:`clc_lib.pinning.compare_definitions`). Runs that did not record their definitions
    are not flagged.
    """
    if definitions is None:
        return []
    by_run: dict[str, list[NotebookRun]] = {}
    for notebook in notebooks:
        if notebook.compared_with:
            by_run.setdefault(notebook.compared_with, []).append(notebook)
    flagged = []
    for run_id, compared in by_run.items():
        previous = _read_recorded(config_folder / run_id / RUN_MANIFEST).get("definitions")
        differences = compare_definitions(definitions["thresholds"], previous)
        if not differences:
            continue
        for notebook in compared:
            for figure in notebook.key_figures:
                if figure.get("change") and figure.get("kind") in NUMERIC_KINDS:
                    figure["definitions_changed"] = True
        flagged.append({"run": run_id, "reports": [n.title for n in compared], "changes": differences})
    return flagged


def _write_definitions(path: Path, definitions: PinnedDefinitions | bytes) -> None:
    from clc_lib.files import atomic_write

    with atomic_write(path, mode=0o644) as temporary:
        if isinstance(definitions, bytes):
            temporary.write_bytes(definitions)
        else:
            temporary.write_text(json.dumps(definitions.to_json(), indent=1) + "\n", encoding="utf-8")


# --- publishing --------------------------------------------------------------------------------

def _temporary_symlink(link: Path, target: str) -> Path:
    """A new link to ``target`` beside ``link``, to be renamed over it (:func:`os.replace` is atomic)."""
    temporary = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(target)
    return temporary


def _prune_plan(config_folder: Path, keep: int, new_run: str, latest: str | None,
                new_run_complete: bool = True) -> list[str]:
    """The run folders to delete once ``new_run`` is published: the oldest beyond ``keep``.

    Never ``latest`` nor the newest complete run, so partial and failed runs cannot push
    every complete run out.
    """
    runs = [p.name for p in _run_folders(config_folder)] + [new_run]
    if len(runs) <= keep:
        return []
    newest_complete = new_run if new_run_complete else None
    if newest_complete is None:
        previous = _previous_complete_run(config_folder)
        newest_complete = previous[0] if previous else None
    protected = {latest, newest_complete}
    return [name for name in runs[:-keep] if name not in protected]


def _latest_run(config_folder: Path) -> str | None:
    link = config_folder / LATEST_NAME
    return os.readlink(link) if link.is_symlink() else None


# --- run folders, the private working folder, write errors -----------------------------------------

def run_folder_name(name: Any) -> str:
    """The folder of a config's runs under the reports folder, from its ``name:``.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``-``.

    Raises
    ------
    ConfigError
        The name would leave the reports folder or collide with the runner's own files: it holds
        ``/`` or ``\\`` or control characters, is ``.`` or ``..``, starts with ``.`` (the runner's
        ``.tmp-`` folders and lock), is ``latest`` (the link to the newest run), has no letter or
        digit, or is longer than :data:`MAX_NAME_CHARS` characters.
    """
    text = str(name)
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
    reason = None
    if "/" in text or "\\" in text:
        reason = "it holds a '/' or '\\', which would make it a path instead of one folder"
    elif any(ord(character) < 32 or ord(character) == 127 for character in text):
        reason = "it holds control characters"
    elif label in (".", ".."):
        reason = "it names the reports folder itself or its parent"
    elif label.startswith("."):
        reason = "names starting with '.' are kept for the runner's own files (.tmp-..., .clc-report.lock)"
    elif label.lower() in RESERVED_NAMES:
        reason = f"'{LATEST_NAME}' is the link to the newest complete run"
    elif not re.search(r"[A-Za-z0-9]", label):
        reason = "it has no letter or digit"
    elif len(label) > MAX_NAME_CHARS:
        reason = f"it is longer than {MAX_NAME_CHARS} characters"
    if reason is not None:
        raise ConfigError(f"name: {text!r} cannot name the folder of this config's runs: {reason}. Give the "
                          "run config a name of letters, digits, '-', '_' and '.', e.g. name: retail-eu.")
    return label


def _config_identity(run_config: RunConfig) -> dict[str, str]:
    """What identifies a run config: its file (resolved path, kept as a SHA-256 so that no local
    path reaches the reports folder), with its name and display path for messages."""
    path = Path(run_config.source).expanduser().resolve()
    return {"name": str(run_config.name), "config": _display_path(path),
            "config_sha256": hashlib.sha256(str(path).encode("utf-8")).hexdigest()}


def _check_config_folder(config_folder: Path, identity: dict[str, str]) -> bool:
    """Refuse a folder of runs that belongs to another run config; return whether it records its owner.

    Raises
    ------
    ConfigError
        The folder is a link or a file, or it records another config.
    """
    if config_folder.is_symlink() or (config_folder.exists() and not config_folder.is_dir()):
        raise ConfigError(f"{config_folder} is {'a link' if config_folder.is_symlink() else 'a file'}, not a folder "
                          "of report runs; give the run config another name: or use another --out.")
    recorded_file = config_folder / CONFIG_IDENTITY_FILE
    if not recorded_file.is_file():
        return False
    recorded = _read_recorded(recorded_file)
    if recorded.get("config_sha256") != identity["config_sha256"]:
        raise ConfigError(
            f"{config_folder} holds the runs of another run config ({recorded.get('config', 'unknown')}, "
            f"name: {recorded.get('name')!r}); this config ({identity['config']}, name: {identity['name']!r}) "
            "would share it: its index would compare the two and report.keep would delete the other's runs. "
            "Give this config a name: of its own, or another --out. If this config replaces the other one "
            f"(a moved or renamed file), delete {recorded_file} to hand the folder over.")
    return True


def _record_config_identity(config_folder: Path, identity: dict[str, str]) -> None:
    from clc_lib.files import atomic_write

    with atomic_write(config_folder / CONFIG_IDENTITY_FILE, mode=0o644) as temporary:
        temporary.write_text(json.dumps(identity, indent=1) + "\n", encoding="utf-8")


def _made_by_runner(folder: Path, pid: int) -> bool:
    """Whether a ``.tmp-`` or ``.cache-`` folder was made by this tool (a marker, or the layout of the
    folders of earlier versions, which had none)."""
    marker = folder / STAGING_MARKER
    if marker.is_file():
        return marker.read_text(encoding="utf-8", errors="replace").strip() == f"pid {pid}"
    if LEGACY_CACHE_PATTERN.match(folder.name):
        return all(LEGACY_CACHE_ENTRY.match(entry.name) for entry in folder.iterdir())
    return (folder / "logs").is_dir() and (folder / "key_figures").is_dir()


def _remove_leftovers(out_root: Path, log: Callable[[str], None]) -> None:
    """Remove what interrupted runs left in the reports folder, and nothing else.

    Only folders and links this tool makes (see :data:`STAGING_PATTERN`, :data:`TEMPORARY_LINK_PATTERN`,
    :data:`LEGACY_CACHE_PATTERN`) whose run is no longer alive are removed; the caller holds the lock.
    """
    for entry in sorted(out_root.iterdir()):
        link = TEMPORARY_LINK_PATTERN.match(entry.name)
        if link and entry.is_symlink():
            if not process_running(int(link.group(1))):
                entry.unlink()
            continue
        match = STAGING_PATTERN.match(entry.name) or LEGACY_CACHE_PATTERN.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir():
            continue
        pid = int(match.group(1))
        if not _made_by_runner(entry, pid):
            continue
        if pid == os.getpid() or process_running(pid):
            log(f"left {entry.name} alone: the process that made it (pid {pid}) is running")
            continue
        shutil.rmtree(entry)
        log(f"removed {entry.name}, the unfinished folder of an interrupted run (pid {pid})")


def private_runs_root() -> Path:
    """Where runs keep their working data: ``$XDG_CACHE_HOME/clc/runs``, by default ``~/.cache/clc/runs``.

    Each run works in its own folder there (mode 700): the run cache with the cleaned data (real
    customer ids), the executing notebooks and their logs. Only the published pages, notebooks and
    logs, pseudonymised and with local paths removed, reach the reports folder.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base).expanduser() if base and Path(base).expanduser().is_absolute() else Path.home() / ".cache"
    return root / "clc" / "runs"


def _private_run_folder(out_root: Path, log: Callable[[str], None]) -> Path:
    """A new private working folder for this run (mode 700); leftovers of dead runs are removed first.

    Raises
    ------
    ConfigError
        The private folder would be inside the reports folder, or others may write to it.
    """
    root = private_runs_root()
    if _inside(root.resolve(), out_root.resolve()):
        raise ConfigError(f"The working folder of report runs, {root}, is inside the reports folder {out_root}, "
                          "which may be served to readers; set XDG_CACHE_HOME to a folder outside it.")
    with _writes_to(root, "this run's private working folder", advice=PRIVATE_SPACE_ADVICE):
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        status = root.stat()
        if status.st_uid != os.getuid():
            raise ConfigError(f"{root} belongs to another user; set XDG_CACHE_HOME to a folder of your own.")
        if status.st_mode & 0o077:
            root.chmod(0o700)
        for entry in sorted(root.iterdir()):
            match = PRIVATE_FOLDER_PATTERN.match(entry.name)
            if not match or entry.is_symlink() or not entry.is_dir():
                continue
            owner = _read_recorded(entry / PRIVATE_OWNER_FILE)
            pid = int(match.group(1))
            if owner.get("pid") != pid or owner.get("host") != socket.gethostname() or process_running(pid):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            log(f"removed {entry.name}, the working folder of an interrupted run (pid {pid})")
        folder = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=root))
        descriptor = os.open(folder / PRIVATE_OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}"}, handle)
    return folder


#: What ran out, by the errno of a failed write.
WRITE_ERROR_REASONS: dict[int, str] = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "no permission to write there",
    errno.EPERM: "no permission to write there",
    errno.EMFILE: "too many open files",
}
_NO_SPACE_TEXT = ("no space left on device", "disk full", "not enough space")
PRIVATE_SPACE_ADVICE = ("Free some space, or set XDG_CACHE_HOME to a folder with room: the run cache takes about as "
                        "much as the transactions.")


def _is_engine_write_error(error: BaseException) -> bool:
    """DuckDB's IOException (e.g. the disk filled while it wrote Parquet) is not an OSError."""
    return type(error).__name__ == "IOException" and type(error).__module__.lstrip("_").startswith("duckdb")


@contextlib.contextmanager
def _writes_to(folder: Path, what: str, *, advice: str | None = None) -> Iterator[None]:
    """Turn a failed write (full or read-only disk, no permission) into an :class:`OutputFolderError`."""
    try:
        yield
    except OSError as error:
        raise _write_error(folder, what, error, advice) from error
    except Exception as error:
        if _is_engine_write_error(error):
            raise _write_error(folder, what, error, advice) from error
        raise


def _write_error(folder: Path, what: str, error: BaseException, advice: str | None) -> OutputFolderError:
    reason = WRITE_ERROR_REASONS.get(getattr(error, "errno", None) or 0)
    if reason is None:
        text = getattr(error, "strerror", None) or (str(error).strip().splitlines() or [type(error).__name__])[0]
        reason = WRITE_ERROR_REASONS[errno.ENOSPC] if any(t in text.lower() for t in _NO_SPACE_TEXT) else text
    return OutputFolderError(
        f"Cannot write {what} in {folder}: {reason}. Nothing was published: earlier runs and the 'latest' "
        "links are unchanged, and this run's temporary files were removed. "
        + (advice or "Free some space or fix the folder's permissions, or give the run another folder with --out."))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for label, distribution in VERSION_PACKAGES.items():
        try:
            versions[label] = version(distribution)
        except PackageNotFoundError:
            versions[label] = "not installed"
    return versions


def _safe_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def _run_data(notebooks: list[NotebookRun], as_of: str | None, config: RunConfig) -> dict[str, Any]:
    """The run's ``as_of`` (resolved by the input check) with the data period, engine, currency and
    quality table of the first notebook that showed them."""
    data: dict[str, Any] = {}
    for notebook in notebooks:
        for key, value in notebook.data.items():
            data.setdefault(key, value)
    data["as_of"] = as_of
    data.setdefault("currency", config.currency)
    return data


def _write_index(folder: Path, manifest: dict[str, Any]) -> None:
    from clc_lib.display import format_date, table_html

    data = manifest["data"]
    quality_html = ""
    if data.get("quality"):
        import pandas as pd
        from markupsafe import Markup

        frame = pd.DataFrame(data["quality"])
        money = [c for c in ("amount",) if c in frame.columns]
        counts = [c for c in ("rows",) if c in frame.columns]
        quality_html = Markup(table_html(frame, currency=data.get("currency") or "", money=money,
                                         counts=counts, max_rows=None))
    period = ""
    if data.get("first_timestamp") and data.get("last_timestamp"):
        first, last = (format_date(_day(data[key])) for key in ("first_timestamp", "last_timestamp"))
        period = f"{first} to {last}"
    page = _render_template("index.html.j2", manifest=manifest, quality_html=quality_html, period=period)
    (folder / "index.html").write_text(page, encoding="utf-8")


def _day(value: Any) -> Any:
    """Midnight of the day of a timestamp (the index shows the data period in whole days)."""
    import pandas as pd

    return pd.Timestamp(value).normalize()


# --- secrets, local paths, the input check ---------------------------------------------------------

SANITISED_SUFFIXES = (".html", ".ipynb", ".log", ".json")


def _inside(folder: Path, root: Path) -> bool:
    try:
        folder.relative_to(root)
    except ValueError:
        return False
    return True


@dataclass
class _Sanitiser:
    """Masks credentials, replaces absolute local folders and pseudonymises the ids among the examples
    of error messages in everything a run folder holds."""

    secrets: list[str]
    folders: dict[str, str]
    examples: Callable[[str], str] = lambda text: text

    @classmethod
    def for_run(cls, run_config: RunConfig, out_root: Path) -> _Sanitiser:
        """Secrets: the values of the ``${NAME}`` variables the config uses. Folders: the project
        (paths inside it become project-relative), and outside it the config folder, the table
        folders and the reports folder (made relative), the home folder (``~``) and Python's prefix."""
        roots = {Path(os.path.abspath(project_root())), project_root().resolve()}
        folders = {str(root): "" for root in roots}
        candidates = [(run_config.base_dir, ""), (out_root, ""), (Path.home(), "~"), (Path(sys.prefix), "python")]
        candidates += [(spec.resolved_path.parent, "") for spec in run_config.tables.values()
                       if spec.resolved_path is not None]
        for folder, replacement in candidates:
            for form in {Path(os.path.abspath(folder)), Path(folder).resolve()}:
                if not any(_inside(form, root) for root in roots):  # inside: project-relative is clearer
                    folders.setdefault(str(form), replacement)
        return cls(secrets=config_secret_values(run_config.source), folders=folders)

    def add_folder(self, folder: Path, replacement: str) -> None:
        """Also replace ``folder`` (both its absolute and resolved forms) by ``replacement``."""
        for form in {Path(os.path.abspath(folder)), Path(folder).resolve()}:
            self.folders[str(form)] = replacement

    def text(self, text: str) -> str:
        return self.examples(scrub_local_paths(redact(text, self.secrets), self.folders))

    def console(self, text: str) -> str:
        """What the person at the console sees: secrets masked, local paths kept."""
        return redact(text, self.secrets)

    def pseudonymise_file(self, path: Path) -> None:
        """Pseudonymise the examples of error messages in a working file in place (before it is rendered)."""
        if not path.is_file():
            return
        original = path.read_text(encoding="utf-8", errors="surrogateescape")
        cleaned = self.examples(original)
        if cleaned != original:
            path.write_text(cleaned, encoding="utf-8", errors="surrogateescape")

    def copy_folder(self, source: Path, target: Path) -> None:
        """Copy a run's working folder to ``target`` (which exists), every text file sanitised."""
        for path in sorted(source.rglob("*")):
            destination = target / path.relative_to(source)
            if path.is_symlink():
                continue
            if path.is_dir():
                destination.mkdir(exist_ok=True)
            elif path.suffix in SANITISED_SUFFIXES:
                original = path.read_text(encoding="utf-8", errors="surrogateescape")
                destination.write_text(self.text(original), encoding="utf-8", errors="surrogateescape")
            else:
                shutil.copyfile(path, destination)


def _example_pseudonymiser(enabled: bool, cache: Path | None) -> Callable[[str], str]:
    """Pseudonymise the customer and person ids among the examples of error messages (see
    :func:`clc_lib.privacy.pseudonymise_examples`).

    Which example values are ids is looked up in the run cache. Without a cache (Spark, databases)
    or when the lookup fails, the examples are withheld instead: hiding too much is the safe side.
    """
    if not enabled:
        return lambda text: text
    if cache is None:
        return lambda text: pseudonymise_examples(text, None)
    from clc_lib.run import run_cache_identifiers

    salt = id_salt()[0]
    known: dict[str, str | None] = {}
    lock = threading.Lock()

    def apply(text: str) -> str:
        values = example_values(text)
        if not values:
            return text
        with lock:
            unknown = values - known.keys()
            if unknown:
                try:
                    found = run_cache_identifiers(cache, unknown)
                except Exception:  # noqa: BLE001 - no lookup, no examples
                    return pseudonymise_examples(text, None)
                known.update({value: found.get(value) for value in unknown})
            identifiers = {value: known[value] for value in values if known[value]}
        return pseudonymise_examples(text, identifiers, salt=salt)

    return apply


class _InputCheck(NamedTuple):
    """What the runner learns from loading the run's data once (see :func:`_check_input`)."""

    summary: str  # one line for the run log
    cached: bool  # the cleaned tables are in the run cache (DuckDB runs only)
    as_of: str  # the run's as_of, YYYY-MM-DD: --as-of, else the config's, else the last transaction's day
    resolved_rules: tuple[Any, str] | None  # StageRules and as_of; None when they cannot be resolved


def _check_input(config_path: Path, as_of: str | None, cache: Path,
                 stage_rules: dict[str, Any] | None = None) -> _InputCheck:
    """Load and validate the run's data once; keep the cleaned tables in ``cache`` for the notebooks.

    ``as_of`` is the ``--as-of`` date or None; the run's as_of is resolved here once and is the one
    every notebook gets. ``stage_rules`` are the pinned thresholds passed to
    :func:`clc_lib.run.load_run` (as to the notebooks). With a cache, the results several notebooks
    share (:data:`clc_lib.run.SHARED_RESULTS`) are computed here once and kept in it too. The cache is keyed
    with the resolved as_of, which the notebooks pass to ``load_run``. ``resolved_rules`` is None
    when the stage rules cannot be resolved (the notebooks then show why).
    Raises the loader's :class:`~clc_lib.errors.DataError` or :class:`ConfigError` for a refused input.
    """
    from clc_lib.run import compute_shared_results, load_run, save_run_cache

    run = load_run(config_path, as_of=as_of, stage_rules=stage_rules)
    try:
        run_as_of = f"{run.as_of:%Y-%m-%d}"
        with _writes_to(cache.parent, "the run cache (this run's cleaned data)", advice=PRIVATE_SPACE_ADVICE):
            cached = save_run_cache(run, cache, config=config_path, as_of=run_as_of)
        summary = repr(run)
        if cached:
            summary += "; " + compute_shared_results(run)
        try:
            resolved = (run.stage_rules(), run_as_of)
        except Exception:  # noqa: BLE001 - the notebooks that use the stages fail with this error
            resolved = None
        return _InputCheck(summary, cached, run_as_of, resolved)
    finally:
        with contextlib.suppress(Exception):
            run.con.disconnect()


def _privacy_settings(options: ReportSettings) -> dict[str, Any]:
    """The privacy note of the index: ``pseudonymise_ids`` and where the salt came from.

    With pseudonymous ids the salt is resolved here, before notebooks start in parallel, so a
    per-installation salt is created once (and a too short ``CLC_ID_SALT`` stops the run early).
    """
    if not options.pseudonymise_ids:
        return {"pseudonymise_ids": False, "salt": None}
    _salt, source = id_salt()
    return {"pseudonymise_ids": True, "salt": source}


def _run_logger(path: Path, echo: Callable[[str], None], sanitiser: _Sanitiser) -> Callable[[str], None]:
    lock = threading.Lock()
    handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the caller via .close

    def log(message: str, *, quiet: bool = False) -> None:
        line = f"{dt.datetime.now():%H:%M:%S}  {message}"
        with lock:
            handle.write(sanitiser.text(line) + "\n")
            handle.flush()
            if not quiet:
                echo(sanitiser.console(line))

    log.close = handle.close  # type: ignore[attr-defined]
    return log


def run_report(
    config: str | Path,
    *,
    out: str | Path | None = None,
    only: Sequence[str] | None = None,
    as_of: str | None = None,
    jobs: int | None = None,
    notebooks_dir: str | Path | None = None,
    echo: Callable[[str], None] | None = print,
    rederive_definitions: bool = False,
) -> ReportRun:
    """Execute and publish the report notebooks for one run config.

    Parameters
    ----------
    config
        The run config (YAML). Its ``name`` names the folder of its runs; ``report:`` options
        (``keep``, ``cell_timeout``, ``start_timeout``, ``pseudonymise_ids``) are read from it.
    out
        The reports folder (default ``reports/`` of the project). Runs go to
        ``<out>/<config name>/<YYYYmmdd-HHMMSS>_<as_of>/``; working data stay in a private folder
        under :func:`private_runs_root`.
    only
        Notebook names to run (see :func:`report_notebooks`); default all. A run of fewer than
        all notebooks is published as ``partial`` and does not move ``latest``.
    as_of
        Cut-off date ``YYYY-MM-DD``; default the config's, else the day of the last transaction. Resolved
        once when the input is checked and passed to every notebook.
    jobs
        Notebooks executed at the same time; default the number of CPU cores.
    notebooks_dir
        Folder of the notebooks (default ``notebooks/`` of the project).
    echo
        Receives each progress line (default ``print``), with credentials masked; None for silence.
    rederive_definitions
        Derive the stage thresholds from this run's data and rewrite ``<out>/<config name>/definitions.json``
        (when the run publishes as complete or partial) instead of using the pinned ones. With
        ``report: {pin_definitions: false}`` every run derives them and nothing is pinned. See
        :mod:`clc_lib.pinning`.

    Returns
    -------
    ReportRun
        ``status`` is ``failed`` when a notebook failed, ``partial`` for an ``only`` run whose
        notebooks all ran, else ``complete``; only a complete run moves ``latest``.
        ``exit_code`` is 1 for a failed run, else 0.

    Raises
    ------
    ConfigError
        Missing or invalid run config, a reserved or unsafe ``name:``, a folder of runs owned by
        another config, unknown ``--only`` name or ``report:`` option, a ``CLC_ID_SALT`` that is
        too short, a damaged ``definitions.json`` (named in the message). Nothing is published.
    OutputFolderError
        The reports folder or the private working folder is full, read-only or not writable.
        Nothing is published and the run's temporary files are removed.
    DataError
        The data of the run break the data contract (checked once before any notebook runs).
        Nothing is published.
    ReportLockedError
        Another run is writing to the same output folder.
    """
    if as_of is not None:
        as_of = parse_as_of(as_of, what="--as-of").isoformat()
    run_config = RunConfig.from_yaml(config)
    config_path = run_config.source
    options = run_config.report
    source_dir = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    notebooks = report_notebooks(source_dir, only)
    partial = len(notebooks) < len(report_notebooks(source_dir))
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give 1 or more notebooks to run at a time.")
    workers = max(1, min(jobs or os.cpu_count() or 1, len(notebooks) or 1))

    out_root = Path(out).expanduser().resolve() if out is not None else reports_dir()
    config_name = run_folder_name(run_config.name)
    config_folder = out_root / config_name
    identity = _config_identity(run_config)
    sanitiser = _Sanitiser.for_run(run_config, out_root)
    say = echo or (lambda _line: None)
    early: list[str] = []  # messages from before the run log exists

    with _writes_to(out_root, "the report run"), contextlib.ExitStack() as stack:
        out_root.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_output_lock(out_root, log=early.append))
        _remove_leftovers(out_root, early.append)
        owner_recorded = _check_config_folder(config_folder, identity)
        definitions_file = config_folder / DEFINITIONS_FILE
        plan = plan_definitions(definitions_file, run_config.stages, pin=options.pin_definitions,
                                rederive=rederive_definitions)
        privacy = _privacy_settings(options)
        private = _private_run_folder(out_root, early.append)
        stack.callback(shutil.rmtree, private, ignore_errors=True)
        for message in early:
            say(sanitiser.console(f"{dt.datetime.now():%H:%M:%S}  {message}"))
        cache, work = private / "cache", private / "work"
        sanitiser.add_folder(private, "")
        sanitiser.add_folder(work, "")  # papermill records where it wrote the notebook
        if not _inside(source_dir.resolve(), project_root().resolve()):
            sanitiser.add_folder(source_dir, "notebooks")
        # A refused input raises here: nothing is published.
        checked, cached, run_as_of, resolved_rules = _check_input(config_path, as_of, cache, plan.stage_rules)
        sanitiser.examples = _example_pseudonymiser(privacy["pseudonymise_ids"], cache if cached else None)
        started = dt.datetime.now()
        stamp = started.strftime("%Y%m%d-%H%M%S")
        (work / "logs").mkdir(parents=True)
        log = _run_logger(work / "run.log", say, sanitiser)
        staging: Path | None = None
        links: list[tuple[Path, Path]] = []
        made_config_folder = False
        definitions_before: bytes | None = None  # definitions.json as it was, restored if publishing fails
        definitions_written = False
        # Where a failed write (full or read-only disk) happened: the private working folder, then the reports folder.
        writing = (private, "this run's working files", PRIVATE_SPACE_ADVICE)
        try:
            for message in early:
                log(message, quiet=True)  # already shown on the console
            log(f"report run of {config_path} into {config_folder} "
                f"({len(notebooks)} notebooks, {workers} at a time)")
            log(f"input checked: {checked}" + ("; the notebooks read the cleaned tables from the run cache"
                                                  if cached else ""))
            log("customer ids are shown as pseudonyms (salt from " + privacy["salt"] + ")"
                if privacy["pseudonymise_ids"] else "customer ids are shown as they are (report.pseudonymise_ids: false)")
            log(_definitions_log_line(plan))
            results = _execute_all(notebooks, work, config_path, run_as_of, source_dir, options, workers, log,
                                   sanitiser, stage_rules=plan.stage_rules, run_cache=cache if cached else None)
            data = _run_data(results, run_as_of, run_config)
            as_of_label = _safe_label(run_as_of)
            # Runs started within the same second (whatever their as_of) get -2, -3... so they keep their order.
            same_second = [int(match.group(2) or 1) for match in
                           (RUN_FOLDER_PATTERN.match(p.name) for p in _run_folders(config_folder))
                           if match.group(1) == stamp]
            suffix = max(same_second, default=0) + 1
            run_id = f"{stamp}_{as_of_label}" if suffix == 1 else f"{stamp}-{suffix}_{as_of_label}"
            target = config_folder / run_id
            for result in results:
                render_started = time.perf_counter()
                render_html(work / result.ipynb, work / result.html, title=result.title,
                            error=result.error, run_label=f"{run_config.name}, run {run_id}")
                result.render_seconds = round(time.perf_counter() - render_started, 1)
            if not all(r.ok for r in results):
                status = STATUS_FAILED
            elif partial:
                status = STATUS_PARTIAL
            else:
                status = STATUS_COMPLETE
            previous = _previous_complete_run(config_folder)
            _add_changes(results, _previous_runs_by_report(config_folder, [r.name for r in results]))
            definitions, new_definitions = _run_definitions(plan, resolved_rules, run_id, str(run_config.name),
                                                            publishes_pin=status != STATUS_FAILED)
            definition_changes = _mark_definition_changes(results, definitions, config_folder)
            finished = dt.datetime.now()
            manifest = {
                "run_id": run_id, "config_name": run_config.name, "config": _display_path(config_path),
                "status": status, "started": f"{started:%Y-%m-%d %H:%M:%S}",
                "finished": f"{finished:%Y-%m-%d %H:%M:%S}",
                "seconds": round((finished - started).total_seconds(), 1),
                "previous_run": previous[0] if previous else None,
                "data": data, "privacy": privacy, "versions": _versions(),
                "definitions": definitions, "definition_changes": definition_changes,
                "notebooks": [asdict(r) for r in results],
            }
            (work / RUN_MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
            _write_index(work, manifest)
            # What happens once the run is in place is logged now: a published run is never written to.
            log(f"run {status}: {sum(r.ok for r in results)}/{len(results)} notebooks ran; "
                f"published to {target}")
            latest = target.name if status == STATUS_COMPLETE else _latest_run(config_folder)
            pruned = _prune_plan(config_folder, options.keep, target.name, latest,
                                 new_run_complete=status == STATUS_COMPLETE)
            notes = []
            if status == STATUS_COMPLETE:
                notes.append(f"{out_root / LATEST_NAME} now points to this run")
            elif status == STATUS_PARTIAL:
                notes.append(f"partial run ({', '.join(r.name for r in results)} only); "
                             "'latest' still points to the last complete run")
            else:
                failed = ", ".join(r.name for r in results if not r.ok)
                notes.append(f"failed notebooks: {failed}; 'latest' still points to the previous complete run")
            if new_definitions is not None:
                notes.append(f"stage thresholds pinned in {definitions_file} for the next runs")
            notes += [f"removed old run {name} (report.keep = {options.keep})" for name in pruned]
            for note in notes:
                log(note, quiet=True)
            log.close()  # type: ignore[attr-defined]
            # Assembled in the reports folder from sanitised copies, then put in place with one rename.
            writing = (out_root, "the report run", None)
            staging = out_root / f"{TMP_PREFIX}{stamp}-{os.getpid()}"
            staging.mkdir()
            (staging / STAGING_MARKER).write_text(f"pid {os.getpid()}", encoding="utf-8")
            sanitiser.copy_folder(work, staging)
            if not config_folder.is_dir():
                config_folder.mkdir()
                made_config_folder = True
            if not owner_recorded:
                _record_config_identity(config_folder, identity)
            if new_definitions is not None:
                definitions_before = definitions_file.read_bytes() if definitions_file.is_file() else None
                definitions_written = True
                _write_definitions(definitions_file, new_definitions)
            if status == STATUS_COMPLETE:
                links = [(_temporary_symlink(config_folder / LATEST_NAME, target.name), config_folder / LATEST_NAME),
                         (_temporary_symlink(out_root / LATEST_NAME, f"{config_name}/{target.name}"),
                          out_root / LATEST_NAME)]
            (staging / STAGING_MARKER).unlink()
            os.rename(staging, target)
            staging = None
        except BaseException as exc:
            _stop_children()
            log.close()  # type: ignore[attr-defined]
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
                for temporary, _link in links:
                    with contextlib.suppress(OSError):
                        temporary.unlink()
                if definitions_written and not made_config_folder:
                    with contextlib.suppress(OSError):
                        if definitions_before is None:
                            definitions_file.unlink()
                        else:
                            _write_definitions(definitions_file, definitions_before)
                if made_config_folder:  # nothing else is in it yet
                    shutil.rmtree(config_folder, ignore_errors=True)
            say(sanitiser.console(f"{dt.datetime.now():%H:%M:%S}  run stopped ({type(exc).__name__}); nothing "
                                  "was published and earlier runs are untouched"))
            if isinstance(exc, OSError) or _is_engine_write_error(exc):
                folder, what, advice = writing
                raise _write_error(folder, what, exc, advice) from exc
            raise
        for temporary, link in links:
            os.replace(temporary, link)
        for note in notes:
            say(sanitiser.console(f"{dt.datetime.now():%H:%M:%S}  {note}"))
        for name in pruned:
            try:
                shutil.rmtree(config_folder / name)
            except OSError as error:
                say(f"could not remove old run {name}: {error}")
    return ReportRun(run_id=target.name, config_name=run_config.name, path=target, status=status,
                     notebooks=results, previous_run=manifest["previous_run"])


def _execute_all(notebooks: list[Path], work: Path, config_path: Path, as_of: str, cwd: Path,
                 options: ReportSettings, workers: int, log: Callable[[str], None], sanitiser: _Sanitiser,
                 stage_rules: dict[str, Any] | None = None, run_cache: Path | None = None) -> list[NotebookRun]:
    """Execute every notebook (``workers`` at a time); a failure does not stop the others.

    ``as_of`` (the resolved date), ``stage_rules`` (pinned thresholds), ``report.pseudonymise_ids``
    and ``run_cache`` go to the notebooks that declare those parameters (:func:`notebook_parameters`).
    Each notebook's key figures and run data are read from its executed copy.

    On Ctrl-C, SIGTERM or another error of the runner, the running notebooks are stopped first.
    """
    results = {path: NotebookRun(name=path.stem, title=_notebook_title(path), html=f"{path.stem}.html",
                                 ipynb=f"{path.stem}.ipynb", log=f"logs/{path.stem}.log")
               for path in notebooks}

    def run_one(path: Path) -> NotebookRun:
        result = results[path]
        task = _Task(source=path, executed=work / result.ipynb, log=work / result.log, config=config_path,
                     as_of=as_of, cwd=cwd, cell_timeout=options.cell_timeout,
                     start_timeout=options.start_timeout, pseudonymise_ids=options.pseudonymise_ids,
                     run_cache=run_cache, stage_rules=stage_rules)
        log(f"start   {result.name}")
        began = time.perf_counter()
        try:
            ok, error = execute_notebook(task)
        except Exception as exc:  # the runner's own failure to launch: report it on the page
            ok, error = False, f"{type(exc).__name__}: {exc}"
        result.seconds = round(time.perf_counter() - began, 1)
        result.status = "ok" if ok else "failed"
        for produced in (task.executed, task.log):  # before rendering: the page shows the error too
            sanitiser.pseudonymise_file(produced)
        error = sanitiser.examples(error) if error is not None else None
        result.error = sanitiser.text(error) if error is not None else None
        result.key_figures = read_key_figures(task.executed)
        result.data = read_run_data(task.executed)
        if ok:
            log(f"done    {result.name}  {result.seconds:.1f} s")
        else:
            log(f"FAILED  {result.name}  {result.seconds:.1f} s  {error}  (log: {result.log})")
        return result

    if workers == 1:
        for path in notebooks:
            run_one(path)
        return [results[path] for path in notebooks]
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for future in as_completed([pool.submit(run_one, path) for path in notebooks]):
            future.result()
    except BaseException:
        _stop_children()  # the worker threads return once their papermill process has stopped
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[path] for path in notebooks]
