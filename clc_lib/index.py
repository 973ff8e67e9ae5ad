"""What a run records about itself: ``run.json`` (data period, versions, the stage definitions used),
``index.html``, and each key figure's change since the previous run in which its report ran.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clc_lib.config import RunConfig
from clc_lib.display import NUMERIC_KINDS, format_change
from clc_lib.i18n import gettext
from clc_lib.pinning import (
    MODE_DERIVED,
    MODE_FIRST,
    MODE_PINNED,
    MODE_REDERIVED,
    DefinitionsPlan,
    PinnedDefinitions,
    compare_definitions,
)
from clc_lib.publishing import RUN_MANIFEST, read_recorded, run_folders
from clc_lib.rendering import render_template

if TYPE_CHECKING:
    from clc_lib.report import NotebookRun

VERSION_PACKAGES = {"clc": "clc", "pandas": "pandas", "ibis": "ibis-framework", "duckdb": "duckdb"}


# --- key figures and their change since the previous run ---------------------------------------

def previous_runs_by_report(config_folder: Path, names: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """For each report name, the newest published run (complete, partial or failed) in which it ran OK.

    Returns ``{name: (run id, that report's manifest entry)}``; names never run OK are left out.
    """
    wanted, found = set(names), {}
    for folder in reversed(run_folders(config_folder)):
        for entry in read_recorded(folder / RUN_MANIFEST).get("notebooks", []):
            name = entry.get("name")
            if name in wanted and name not in found and entry.get("status") == "ok":
                found[name] = (folder.name, entry)
        if len(found) == len(wanted):
            break
    return found


def previous_key_figures(config_folder: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """For each report name, the key figures of the newest run in which it ran OK, as the notebooks receive them.

    Returns ``{name: {"run": run id, "as_of": "YYYY-MM-DD" or None, "values": {label: value},
    "counts": {label: count}}}`` (the notebook parameter ``previous_key_figures``, see
    :data:`clc_lib.handoff.PARAMETERS`); names never run OK are left out. The comparison is the same
    as the index's (:func:`previous_runs_by_report`).
    """
    handed: dict[str, dict[str, Any]] = {}
    for name, (run_id, entry) in previous_runs_by_report(config_folder, names).items():
        data = read_recorded(config_folder / run_id / RUN_MANIFEST).get("data") or {}
        figures = [f for f in entry.get("key_figures", []) if isinstance(f, dict) and "label" in f]
        handed[name] = {"run": run_id, "as_of": data.get("as_of"),
                        "values": {f["label"]: f.get("value") for f in figures},
                        "counts": {f["label"]: f["count"] for f in figures if f.get("count") is not None}}
    return handed


def add_changes(notebooks: list[NotebookRun], previous: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Attach ``change`` (text) and ``previous`` (raw value) to each key figure.

    ``previous`` maps a report name to the run it is compared with and that report's manifest entry
    (see :func:`previous_runs_by_report`); each report records that run as ``compared_with``.
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
            figure["change"] = format_change(figure.get("kind", "text"), figure.get("value"),
                                              old.get("value"), figure.get("currency", ""))


#: Term keys of the index's summary, in order: the eight figures a director reads first.
SUMMARY_TERMS: tuple[str, ...] = (
    "customer", "net_revenue", "churned_customer", "at_risk_customer", "repeat_customer",
    "winback_uplift", "best_channel_ltv_cac", "top_share",
)
#: Figures shown on a summary card's detail line instead of a card of their own: what the
#: population of the card is worth.
SUMMARY_DETAILS: dict[str, str] = {"at_risk_customer": "at_risk_value"}


def summary_figures(notebooks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The index's summary: each term of :data:`SUMMARY_TERMS` once, from the first report that shows it.

    Parameters
    ----------
    notebooks
        The manifest's notebook entries (``name``, ``title``, ``html``, ``key_figures`` with ``key``,
        ``label``, ``value``, ``formatted``, ``count``, ``change``).

    Returns
    -------
    list of dict
        The key figure records with ``report`` (title) and ``html`` (page) added, in
        :data:`SUMMARY_TERMS` order, ready to show: ``label`` is the label the report page showed
        (its ``display_label``, in the page's language) and ``change`` is written in the active
        language. Figures without a value (a model that could not fit, no cohort old enough) are
        left out, and so is a term no report showed. A figure of :data:`SUMMARY_DETAILS` becomes
        the detail line of its card ("Predicted 12-month value of at-risk customers: 165,986 EUR").
    """
    first: dict[str, dict[str, Any]] = {}
    wanted = {*SUMMARY_TERMS, *SUMMARY_DETAILS.values()}
    for notebook in notebooks:
        for figure in notebook.get("key_figures", []):
            key = figure.get("key")
            if key in wanted and key not in first and figure.get("value") is not None:
                shown = {**figure, "report": notebook.get("title"), "html": notebook.get("html"),
                         "label": figure.get("display_label") or figure.get("label")}
                if figure.get("change"):
                    shown["change"] = format_change(figure.get("kind", "text"), figure.get("value"),
                                                    figure.get("previous"), figure.get("currency", ""))
                first[key] = shown
    for key, detail_key in SUMMARY_DETAILS.items():
        if key in first and detail_key in first and not first[key].get("detail"):
            detail = first[detail_key]
            first[key] = {**first[key], "detail": gettext("{label}: {value}").format(
                label=detail["label"], value=detail["formatted"])}
    return [first[key] for key in SUMMARY_TERMS if key in first]


# --- pinned stage definitions (see clc_lib.pinning) ------------------------------------------

def definitions_log_line(plan: DefinitionsPlan) -> str:
    """The run log's line on where this run's stage thresholds come from."""
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


def run_definitions(plan: DefinitionsPlan, resolved: tuple[Any, str] | None, run_id: str, config_name: str, *,
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


def mark_definition_changes(notebooks: list[NotebookRun], definitions: dict[str, Any] | None,
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
        previous = read_recorded(config_folder / run_id / RUN_MANIFEST).get("definitions")
        differences = compare_definitions(definitions["thresholds"], previous)
        if not differences:
            continue
        for notebook in compared:
            for figure in notebook.key_figures:
                if figure.get("change") and figure.get("kind") in NUMERIC_KINDS:
                    figure["definitions_changed"] = True
        flagged.append({"run": run_id, "reports": [n.title for n in compared], "changes": differences})
    return flagged


def write_definitions(path: Path, definitions: PinnedDefinitions | bytes) -> None:
    """Write ``definitions.json`` atomically: pinned definitions, or the bytes of an earlier version."""
    from clc_lib.files import atomic_write

    with atomic_write(path, mode=0o644) as temporary:
        if isinstance(definitions, bytes):
            temporary.write_bytes(definitions)
        else:
            temporary.write_text(json.dumps(definitions.to_json(), indent=1) + "\n", encoding="utf-8")


# --- run.json and index.html --------------------------------------------------------------------

def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages in :data:`VERSION_PACKAGES`, as the index shows them."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for label, distribution in VERSION_PACKAGES.items():
        try:
            versions[label] = version(distribution)
        except PackageNotFoundError:
            versions[label] = "not installed"
    return versions


def run_data(notebooks: list[NotebookRun], as_of: str | None, config: RunConfig) -> dict[str, Any]:
    """The run's ``as_of`` (resolved by the input check) with the data period, engine, currency and
    quality table of the first notebook that showed them."""
    data: dict[str, Any] = {}
    for notebook in notebooks:
        for key, value in notebook.data.items():
            data.setdefault(key, value)
    data["as_of"] = as_of
    data.setdefault("currency", config.currency)
    return data


def write_index(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``index.html`` of a run from its manifest (the content of ``run.json``)."""
    from clc_lib.i18n import format_date
    from clc_lib.tables import table_html

    data = manifest["data"]
    quality_html, quality_summary = "", ""
    if data.get("quality"):
        import pandas as pd
        from markupsafe import Markup

        frame = pd.DataFrame(data["quality"])
        money = [c for c in ("amount",) if c in frame.columns]
        counts = [c for c in ("rows",) if c in frame.columns]
        quality_html = Markup(table_html(frame, currency=data.get("currency") or "", money=money,
                                         counts=counts, max_rows=None))
        quality_summary = quality_summary_line(frame)
    period = ""
    if data.get("first_timestamp") and data.get("last_timestamp"):
        first, last = (format_date(_day(data[key])) for key in ("first_timestamp", "last_timestamp"))
        period = gettext("%(first)s to %(last)s") % {"first": first, "last": last}
    page = render_template("index.html.j2", manifest=manifest, quality_html=quality_html,
                           quality_summary=quality_summary, period=period,
                           summary=summary_figures(manifest.get("notebooks", [])))
    (folder / "index.html").write_text(page, encoding="utf-8")


def quality_summary_line(quality: Any) -> str:
    """The index's one line on data quality: the rows read and used of each table, and the rows the
    rules left out or flagged (:func:`clc_lib.display.quality_line`), or that none were.

    ``quality`` is the run's data-quality table (columns ``table``, ``step``, ``action``, ``rows``).
    The line is in the active language; table names are data and stay as they are.
    """
    from clc_lib.display import format_count, quality_line
    from clc_lib.i18n import N_, gettext

    ends = quality[quality["step"].isin(("rows in", "rows out"))]
    used = {table: dict(zip(rows["step"], rows["rows"])) for table, rows in ends.groupby("table", sort=False)}
    tables = gettext("; ").join(
        gettext("{table} {used} of {read} rows used").format(table=table, used=format_count(steps.get("rows out")),
                                                            read=format_count(steps.get("rows in")))
        for table, steps in used.items())
    attention = quality_line(quality, pointer=N_("see the table below"))
    verdict = attention or gettext("No rows were left out or flagged by the data-quality rules.")
    return gettext("{verdict} Rows used: {tables}.").format(verdict=verdict, tables=tables) if tables else verdict


def _day(value: Any) -> Any:
    """Midnight of the day of a timestamp (the index shows the data period in whole days)."""
    import pandas as pd

    return pd.Timestamp(value).normalize()
