"""The report runner: execute the notebooks for a run config and publish them as an HTML run folder.

``run_report`` (``clc report`` on the command line) does, in order:

1. checks the config's ``name:`` (:func:`clc_lib.publishing.run_folder_name`: no path, no reserved
   name) and takes a lock on the output folder (a second run on the same output is refused with a
   message; the lock of a run that was killed is taken over, with a message); refuses a folder of
   runs that another config owns (``.clc-config.json``); removes what dead runs left behind, and
   only that;
2. makes the run's private working folder (:func:`clc_lib.publishing.private_runs_root`, mode 700,
   outside the reports folder) and loads and validates the run's data once (the same
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
:class:`~clc_lib.publishing.OutputFolderError` naming it (exit code 2). After a SIGKILL the notebooks
stop with the runner and the next run removes its leftovers. See ``docs/reports.md`` and
``docs/privacy.md``.

This module runs the steps; the reports folder's rules (names, lock, ownership, leftovers, pruning)
are in :mod:`clc_lib.publishing`, what a run records (``run.json``, ``index.html``, changes of key
figures) in :mod:`clc_lib.index`, and the pages and their sanitising in :mod:`clc_lib.rendering`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from clc_lib import i18n
from clc_lib.config import RunConfig, load_config, parse_as_of
from clc_lib.errors import ConfigError
from clc_lib.handoff import parameters_for, read_key_figures, read_run_data
from clc_lib.i18n import page_suffix, parse_languages
from clc_lib.i18n_extract import cell_context
from clc_lib.index import (
    add_changes,
    definitions_log_line,
    mark_definition_changes,
    package_versions,
    previous_key_figures,
    previous_runs_by_report,
    run_data,
    run_definitions,
    write_definitions,
    write_index,
)
from clc_lib.paths import notebooks_dir as default_notebooks_dir
from clc_lib.paths import project_root, reports_dir
from clc_lib.pinning import DEFINITIONS_FILE, plan_definitions
from clc_lib.privacy import id_salt
from clc_lib.publishing import (
    LATEST_NAME,
    PRIVATE_SPACE_ADVICE,
    RUN_FOLDER_PATTERN,
    RUN_MANIFEST,
    STAGING_MARKER,
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_PARTIAL,
    TMP_PREFIX,
    check_config_folder,
    config_identity,
    is_engine_write_error,
    latest_run,
    output_lock,
    previous_complete_run,
    private_run_folder,
    prune_plan,
    record_config_identity,
    remove_leftovers,
    run_folder_name,
    run_folders,
    temporary_symlink,
    write_error,
    writes_to,
)
from clc_lib.printing import check_pdf_printing, print_pdfs
from clc_lib.rendering import Sanitiser, display_path, example_pseudonymiser, inside, render_html, run_label
from clc_lib.settings import ReportSettings

__all__ = [
    "NotebookRun",
    "ReportRun",
    "report_notebooks",
    "run_report",
]

KERNEL_NAME = "python3"


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
    language: str = "en"  # the language of this page (clc_lib.i18n.LANGUAGES)
    other_languages: list[NotebookRun] = field(default_factory=list)  # the same report in the run's other languages

    @property
    def ok(self) -> bool:
        return self.status == "ok" and all(other.ok for other in self.other_languages)


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


def _notebook_title(path: Path, language: str = "en") -> str:
    """The first markdown heading of a notebook in ``language`` (see :mod:`clc_lib.i18n`), else its name."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        cells = []
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", ""))
            if cell.get("id"):
                with i18n.language(language):
                    source = i18n.pgettext(cell_context(path.stem, cell["id"]), source)
            for line in source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem.replace("_", " ")


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
    previous_key_figures: dict[str, Any] | None = None  # this report's figures in the run it is compared with
    language: str = "en"  # the language of this copy of the report


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
                          run_cache=None if task.run_cache is None else str(task.run_cache),
                          previous_key_figures=task.previous_key_figures, language=task.language)


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
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        with open(task.log, "w" if attempt == 1 else "a", encoding="utf-8") as log:
            if attempt > 1:
                log.write(f"\nThe kernel could not bind its port; starting it again (attempt {attempt}).\n")
                log.flush()
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
        if returncode == 0 or not _kernel_port_was_taken(task):
            break
    if returncode == 0:
        return True, None
    return False, _notebook_error(task.executed) or (
        f"papermill exited with code {returncode} before running the notebook; "
        f"see {task.log.name}: {_log_tail(task.log)}")


#: How often a notebook's kernel is started when it dies before running a cell because another
#: process took the port it was given (jupyter_client picks free ports, the kernel binds them later).
KERNEL_START_ATTEMPTS = 3


def _kernel_port_was_taken(task: _Task) -> bool:
    """Whether the notebook failed before any cell ran because its kernel's port was taken."""
    if _notebook_error(task.executed) is not None:
        return False
    try:
        log = task.log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "Address already in use" in log and "Kernel died before replying to kernel_info" in log


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


def _safe_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


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
        with writes_to(cache.parent, "the run cache (this run's cleaned data)", advice=PRIVATE_SPACE_ADVICE):
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


def _run_logger(path: Path, echo: Callable[[str], None], sanitiser: Sanitiser) -> Callable[[str], None]:
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
    language: str | Sequence[str] | None = None,
) -> ReportRun:
    """Execute and publish the report notebooks for one run config.

    Parameters
    ----------
    config
        The run config (YAML). Its ``name`` names the folder of its runs; ``report:`` options
        (``keep``, ``cell_timeout``, ``start_timeout``, ``pseudonymise_ids``, ``pdf``) are read from it.
    out
        The reports folder (default ``reports/`` of the project). Runs go to
        ``<out>/<config name>/<YYYYmmdd-HHMMSS>_<as_of>/``; working data stay in a private folder
        under :func:`clc_lib.publishing.private_runs_root`.
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
    language
        The language or languages of the reports (``--language``; see :mod:`clc_lib.i18n`); default
        the config's ``report.language``. The first keeps the usual file names
        (``01_segmentation.html``), each other one is run and rendered beside it
        (``01_segmentation.zh-Hant.html``), and the index links them all.

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
        too short, a damaged ``definitions.json`` (named in the message), ``report: {pdf: true}`` without
        Chromium or Playwright (checked before any notebook runs). Nothing is published.
    OutputFolderError
        The reports folder or the private working folder is full, read-only or not writable.
        Nothing is published and the run's temporary files are removed.
    DataError
        The data of the run break the data contract (checked once before any notebook runs).
        Nothing is published.
    ReportLockedError
        Another run is writing to the same output folder.
    PdfPrintError
        Chromium could not print a page to PDF (``report: {pdf: true}``). Nothing is published.
    """
    if as_of is not None:
        as_of = parse_as_of(as_of, what="--as-of").isoformat()
    run_config = RunConfig.from_yaml(config)
    config_path = run_config.source
    options = run_config.report
    # A run asked for PDFs stops here, before any notebook runs, when Chromium or Playwright is missing.
    pdf_browser = check_pdf_printing() if options.pdf else None
    languages = options.language if language is None else parse_languages(language, what="--language")
    source_dir = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    notebooks = report_notebooks(source_dir, only)
    partial = len(notebooks) < len(report_notebooks(source_dir))
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give 1 or more notebooks to run at a time.")
    workers = max(1, min(jobs or os.cpu_count() or 1, len(notebooks) or 1))

    out_root = Path(out).expanduser().resolve() if out is not None else reports_dir()
    config_name = run_folder_name(run_config.name)
    config_folder = out_root / config_name
    identity = config_identity(run_config)
    sanitiser = Sanitiser.for_run(run_config, out_root)
    say = echo or (lambda _line: None)
    early: list[str] = []  # messages from before the run log exists

    with writes_to(out_root, "the report run"), contextlib.ExitStack() as stack:
        out_root.mkdir(parents=True, exist_ok=True)
        stack.enter_context(output_lock(out_root, log=early.append))
        remove_leftovers(out_root, early.append)
        owner_recorded = check_config_folder(config_folder, identity)
        definitions_file = config_folder / DEFINITIONS_FILE
        plan = plan_definitions(definitions_file, run_config.stages, pin=options.pin_definitions,
                                rederive=rederive_definitions)
        privacy = _privacy_settings(options)
        private = private_run_folder(out_root, early.append)
        stack.callback(shutil.rmtree, private, ignore_errors=True)
        for message in early:
            say(sanitiser.console(f"{dt.datetime.now():%H:%M:%S}  {message}"))
        cache, work = private / "cache", private / "work"
        sanitiser.add_folder(private, "")
        sanitiser.add_folder(work, "")  # papermill records where it wrote the notebook
        if not inside(source_dir.resolve(), project_root().resolve()):
            sanitiser.add_folder(source_dir, "notebooks")
        # A refused input raises here: nothing is published.
        checked, cached, run_as_of, resolved_rules = _check_input(config_path, as_of, cache, plan.stage_rules)
        sanitiser.examples = example_pseudonymiser(privacy["pseudonymise_ids"], cache if cached else None)
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
            log(definitions_log_line(plan))
            previous_figures = previous_key_figures(config_folder, [path.stem for path in notebooks])
            results = _execute_all(notebooks, work, config_path, run_as_of, source_dir, options, workers, log,
                                   sanitiser, stage_rules=plan.stage_rules, run_cache=cache if cached else None,
                                   previous=previous_figures, language=languages[0])
            for other in languages[1:]:
                log(f"reports in {other}")
                translated = _execute_all(notebooks, work, config_path, run_as_of, source_dir, options, workers, log,
                                          sanitiser, stage_rules=plan.stage_rules,
                                          run_cache=cache if cached else None, previous=previous_figures,
                                          language=other, suffix=page_suffix(other, languages[0]))
                for result, copy in zip(results, translated, strict=True):
                    result.other_languages.append(copy)
            data = run_data(results, run_as_of, run_config)
            as_of_label = _safe_label(run_as_of)
            # Runs started within the same second (whatever their as_of) get -2, -3... so they keep their order.
            same_second = [int(match.group(2) or 1) for match in
                           (RUN_FOLDER_PATTERN.match(p.name) for p in run_folders(config_folder))
                           if match.group(1) == stamp]
            suffix = max(same_second, default=0) + 1
            run_id = f"{stamp}_{as_of_label}" if suffix == 1 else f"{stamp}-{suffix}_{as_of_label}"
            target = config_folder / run_id
            for result in [page for first in results for page in (first, *first.other_languages)]:
                render_started = time.perf_counter()
                with i18n.language(result.language):
                    render_html(work / result.ipynb, work / result.html, title=result.title,
                                error=result.error, run_label=run_label(str(run_config.name), run_id))
                result.render_seconds = round(time.perf_counter() - render_started, 1)
            if not all(r.ok for r in results):
                status = STATUS_FAILED
            elif partial:
                status = STATUS_PARTIAL
            else:
                status = STATUS_COMPLETE
            previous = previous_complete_run(config_folder)
            add_changes(results, previous_runs_by_report(config_folder, [r.name for r in results]))
            definitions, new_definitions = run_definitions(plan, resolved_rules, run_id, str(run_config.name),
                                                           publishes_pin=status != STATUS_FAILED)
            definition_changes = mark_definition_changes(results, definitions, config_folder)
            finished = dt.datetime.now()
            manifest = {
                "run_id": run_id, "config_name": run_config.name, "config": display_path(config_path),
                "status": status, "started": f"{started:%Y-%m-%d %H:%M:%S}",
                "finished": f"{finished:%Y-%m-%d %H:%M:%S}",
                "seconds": round((finished - started).total_seconds(), 1),
                "previous_run": previous[0] if previous else None,
                "data": data, "privacy": privacy, "versions": package_versions(),
                "definitions": definitions, "definition_changes": definition_changes,
                "notebooks": [asdict(r) for r in results],
            }
            (work / RUN_MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
            with i18n.language(languages[0]):
                write_index(work, manifest)
            # What happens once the run is in place is logged now: a published run is never written to.
            log(f"run {status}: {sum(r.ok for r in results)}/{len(results)} notebooks ran; "
                f"published to {target}")
            latest = target.name if status == STATUS_COMPLETE else latest_run(config_folder)
            pruned = prune_plan(config_folder, options.keep, target.name, latest,
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
            if pdf_browser is not None:
                notes.append("the index and each report page printed to PDF beside its HTML (report.pdf)")
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
            if pdf_browser is not None:  # printed from the sanitised pages, published with them
                printed = [staging / "index.html", *(staging / r.html for r in results if (staging / r.html).is_file())]
                print_pdfs(printed, sanitiser.text(f"{run_config.name}, run {run_id}, data as of {run_as_of}"),
                           pdf_browser)
            if not config_folder.is_dir():
                config_folder.mkdir()
                made_config_folder = True
            if not owner_recorded:
                record_config_identity(config_folder, identity)
            if new_definitions is not None:
                definitions_before = definitions_file.read_bytes() if definitions_file.is_file() else None
                definitions_written = True
                write_definitions(definitions_file, new_definitions)
            if status == STATUS_COMPLETE:
                links = [(temporary_symlink(config_folder / LATEST_NAME, target.name), config_folder / LATEST_NAME),
                         (temporary_symlink(out_root / LATEST_NAME, f"{config_name}/{target.name}"),
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
                            write_definitions(definitions_file, definitions_before)
                if made_config_folder:  # nothing else is in it yet
                    shutil.rmtree(config_folder, ignore_errors=True)
            say(sanitiser.console(f"{dt.datetime.now():%H:%M:%S}  run stopped ({type(exc).__name__}); nothing "
                                  "was published and earlier runs are untouched"))
            if isinstance(exc, OSError) or is_engine_write_error(exc):
                folder, what, advice = writing
                raise write_error(folder, what, exc, advice) from exc
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
                 options: ReportSettings, workers: int, log: Callable[[str], None], sanitiser: Sanitiser,
                 stage_rules: dict[str, Any] | None = None, run_cache: Path | None = None,
                 previous: dict[str, dict[str, Any]] | None = None, language: str = "en",
                 suffix: str = "") -> list[NotebookRun]:
    """Execute every notebook (``workers`` at a time); a failure does not stop the others.

    ``as_of`` (the resolved date), ``stage_rules`` (pinned thresholds), ``report.pseudonymise_ids``
    and ``run_cache`` go to the notebooks that declare those parameters (:func:`notebook_parameters`).
    Each notebook's key figures and run data are read from its executed copy. ``language`` is
    passed to the notebooks; ``suffix`` goes into the names of their files (``".zh-Hant"``).

    On Ctrl-C, SIGTERM or another error of the runner, the running notebooks are stopped first.
    """
    results = {path: NotebookRun(name=path.stem, title=_notebook_title(path, language),
                                 html=f"{path.stem}{suffix}.html", ipynb=f"{path.stem}{suffix}.ipynb",
                                 log=f"logs/{path.stem}{suffix}.log", language=language)
               for path in notebooks}

    def run_one(path: Path) -> NotebookRun:
        result = results[path]
        task = _Task(source=path, executed=work / result.ipynb, log=work / result.log, config=config_path,
                     as_of=as_of, cwd=cwd, cell_timeout=options.cell_timeout,
                     start_timeout=options.start_timeout, pseudonymise_ids=options.pseudonymise_ids,
                     run_cache=run_cache, stage_rules=stage_rules,
                     previous_key_figures=(previous or {}).get(path.stem), language=language)
        log(f"start   {result.name}{suffix}")
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
            log(f"done    {result.name}{suffix}  {result.seconds:.1f} s")
        else:
            log(f"FAILED  {result.name}{suffix}  {result.seconds:.1f} s  {error}  (log: {result.log})")
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
