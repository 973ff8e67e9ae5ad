"""What ``clc report`` and the notebooks it runs tell each other, and how.

There is one way in each direction, and nothing else travels between them.

**Runner to notebook: papermill parameters.** Every value a notebook takes from the runner is a
parameter in the notebook's cell tagged ``parameters``, with a typed default that works when an
analyst runs the notebook by hand. :data:`PARAMETERS` lists the names the runner fills in and
what they mean; :func:`parameters_for` picks the ones a notebook declares (a notebook that does
not declare one keeps its own default). Papermill writes the values into the executed notebook,
so a reader sees what the run used. Three of them steer the library rather than one analysis; the
notebook hands them on with :func:`apply_notebook_parameters` before it loads the data::

    clc.apply_notebook_parameters(pseudonymise_ids=pseudonymise_ids, run_cache=run_cache, language=language)
    run = clc.load_run(config, as_of=as_of, period=period, stage_rules=stage_rules)

**Notebook to runner: display outputs of the executed notebook.** :func:`clc_lib.display.show_key_figures`
shows its cards as ``text/html`` and, in the same output, the figures as JSON under
:data:`KEY_FIGURES_MIME`; :func:`clc_lib.display.show_quality` adds the data period, engine and
data-quality table under :data:`RUN_DATA_MIME`. Jupyter shows the HTML; the runner reads the JSON
back from the executed ``.ipynb`` (:func:`read_key_figures`, :func:`read_run_data`) and leaves it
out of the HTML pages. No file is written for the runner.

**The environment** carries no value of the runner. The kernels inherit the environment of
``clc report`` unchanged, and the library reads from it only:

* ``CLC_ID_SALT``, the secret of the customer-id pseudonyms (:mod:`clc_lib.privacy`). A secret
  is never a parameter: papermill writes parameters into the executed notebook.
* ``CLC_PROJECT_ROOT``, the project folder when it is not found from the working folder
  (:mod:`clc_lib.paths`), set by whoever starts ``clc report``.
* the variables a run config names as ``${NAME}`` (passwords of database connections).

The key figures JSON (:data:`KEY_FIGURES_MIME`) is one object ``{"key_figures": [figure, ...]}``,
each figure ``{"label", "value", "kind", "formatted", "currency"}`` with ``value`` as JSON (numbers,
ISO dates, null for missing); figures of :mod:`clc_lib.keyfigures` add ``key`` (the term) and
``count`` (the customers a share counts, else null), which older readers ignore. The run data JSON (:data:`RUN_DATA_MIME`) is one object with
``first_timestamp`` and ``last_timestamp`` (ISO), ``currency``, ``engine`` and ``quality`` (the
rows of the data-quality table).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clc_lib.errors import ConfigError
from clc_lib.i18n import parse_language, set_language

__all__ = [
    "PARAMETERS",
    "KEY_FIGURES_MIME",
    "RUN_DATA_MIME",
    "CLC_MIME_TYPES",
    "declared_parameters",
    "parameters_for",
    "apply_notebook_parameters",
    "pseudonymise_ids_setting",
    "run_cache_folder",
    "read_key_figures",
    "read_run_data",
]

#: The parameters ``clc report`` passes, by name, with their meaning (the notebook's defaults apply by hand).
PARAMETERS: dict[str, str] = {
    "config": "path of the run config (YAML)",
    "as_of": "the run's cut-off date YYYY-MM-DD, resolved once by the runner when it checks the input "
             "(--as-of, else the config's as_of, else the date of the last transaction)",
    "period": "the config's period, 'M' (month) or 'W' (week)",
    "horizon": "the config's clv.horizon, in clv.time_unit",
    "stage_rules": "the stage thresholds pinned by the config's first run (threshold -> days, and their "
                   "sources), or None when the run derives them from its data",
    "pseudonymise_ids": "whether tables show customer ids as pseudonyms (the config's report.pseudonymise_ids)",
    "run_cache": "folder of this run's cleaned tables, which load_run reads instead of the sources; "
                 "None when the run has no cache (Spark, databases)",
    "previous_key_figures": "the key figures of this report in the newest earlier run in which it ran OK (the run "
                            "the index compares with): {'run': run id, 'as_of': 'YYYY-MM-DD', 'values': {label: "
                            "value}, 'counts': {label: customers}}; None for a first run or a notebook run by hand",
    "language": "the language of this copy of the report, 'en', 'zh-Hans' or 'zh-Hant' (one of the config's "
                "report.language; see clc_lib.i18n)",
}

#: MIME type of the key figures a notebook shows (JSON, beside the ``text/html`` cards).
KEY_FIGURES_MIME = "application/vnd.clc.key-figures+json"
#: MIME type of the data period, engine and data-quality table a notebook shows (JSON).
RUN_DATA_MIME = "application/vnd.clc.run-data+json"
#: The MIME types meant for the runner only: left out of the HTML pages.
CLC_MIME_TYPES = (KEY_FIGURES_MIME, RUN_DATA_MIME)


def declared_parameters(notebook: str | Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters``, in order (none without such a cell)."""
    import nbformat

    for cell in nbformat.read(str(notebook), as_version=4).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            names = []
            for statement in ast.parse(cell.source).body:
                targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
                names += [target.id for target in targets if isinstance(target, ast.Name)]
            return names
    return []


def parameters_for(notebook: str | Path, *, config: str, as_of: str, period: str | None, horizon: float | None,
                   stage_rules: Mapping[str, Any] | None, pseudonymise_ids: bool,
                   run_cache: str | None, previous_key_figures: Mapping[str, Any] | None = None,
                   language: str = "en") -> dict[str, Any]:
    """The papermill parameters of one notebook: of the runner's values, those the notebook declares.

    Every keyword is one of :data:`PARAMETERS`; a notebook that does not declare a parameter does
    not need it and keeps its own code free of it.
    """
    values = {"config": config, "as_of": as_of, "period": period, "horizon": horizon,
              "stage_rules": None if stage_rules is None else dict(stage_rules),
              "pseudonymise_ids": pseudonymise_ids, "run_cache": run_cache,
              "previous_key_figures": None if previous_key_figures is None else dict(previous_key_figures),
              "language": language}
    declared = declared_parameters(notebook)
    return {name: value for name, value in values.items() if name in declared}


@dataclass
class _NotebookSettings:
    """What :func:`apply_notebook_parameters` set in this Python process."""

    pseudonymise_ids: bool = True
    run_cache: Path | None = None


_settings = _NotebookSettings()


def apply_notebook_parameters(*, pseudonymise_ids: bool = True, run_cache: str | Path | None = None,
                              language: str = "en") -> None:
    """Hand the notebook's library-wide parameters to the library, for the rest of this kernel.

    Parameters
    ----------
    pseudonymise_ids
        Tables show ``customer_id`` and ``person_id`` as pseudonyms (:mod:`clc_lib.privacy`); False
        only for internal readers.
    run_cache
        Folder of the run's cleaned tables, written by ``clc report``; :func:`clc_lib.run.load_run`
        reads them from there when it is asked for the same config, period, stage thresholds and
        as_of. None loads the data from the sources.
    language
        The language of the charts' and tables' text from here on (:func:`clc_lib.i18n.set_language`):
        ``"en"``, ``"zh-Hans"`` or ``"zh-Hant"``.

    Raises
    ------
    ConfigError
        ``pseudonymise_ids`` is not True or False, ``run_cache`` names no folder, or ``language``
        is not one of :data:`clc_lib.i18n.LANGUAGES`.
    """
    if not isinstance(pseudonymise_ids, bool):
        raise ConfigError(f"The notebook parameter pseudonymise_ids is {pseudonymise_ids!r}; write True "
                          "(customer ids shown as pseudonyms) or False (internal readers only).")
    folder = None
    if run_cache is not None:
        folder = Path(run_cache).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"The notebook parameter run_cache is {str(run_cache)!r}, which is not a folder; "
                              "set run_cache = None to load the data from the sources.")
    tag = parse_language(language, what="The notebook parameter language")
    _settings.pseudonymise_ids = pseudonymise_ids
    _settings.run_cache = folder
    set_language(tag)
    from clc_lib.plots.theme import use_chart_fonts

    use_chart_fonts(tag)  # the theme may have been set before the language was known


def pseudonymise_ids_setting() -> bool:
    """Whether tables show pseudonyms: as set by :func:`apply_notebook_parameters`, by default yes."""
    return _settings.pseudonymise_ids


def run_cache_folder() -> Path | None:
    """The run cache set by :func:`apply_notebook_parameters`, or None."""
    return _settings.run_cache


def _outputs_of(executed: str | Path, mime: str) -> list[Any]:
    """The ``mime`` payloads of the display outputs of an executed notebook, in order (none when unreadable)."""
    try:
        cells = json.loads(Path(executed).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return []
    payloads = []
    for cell in cells:
        for output in cell.get("outputs", []) or []:
            data = output.get("data") if isinstance(output, dict) else None
            if isinstance(data, dict) and mime in data:
                payloads.append(data[mime])
    return payloads


def read_key_figures(executed: str | Path) -> list[dict[str, Any]]:
    """The key figures an executed notebook showed, in the order first shown.

    A label shown again replaces its earlier figure in place. Returns an empty list for a notebook
    that showed none or cannot be read (e.g. it never started).
    """
    by_label: dict[str, dict[str, Any]] = {}
    for payload in _outputs_of(executed, KEY_FIGURES_MIME):
        figures = payload.get("key_figures", []) if isinstance(payload, dict) else []
        for figure in figures:
            if isinstance(figure, dict) and "label" in figure:
                by_label[figure["label"]] = figure
    return list(by_label.values())


def read_run_data(executed: str | Path) -> dict[str, Any]:
    """The data period, currency, engine and data-quality table an executed notebook showed (later wins)."""
    data: dict[str, Any] = {}
    for payload in _outputs_of(executed, RUN_DATA_MIME):
        if isinstance(payload, dict):
            data.update(payload)
    return data
