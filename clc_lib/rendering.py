"""What readers get: notebooks rendered to HTML pages without code, and every file of a run folder
sanitised (credentials masked, local folders made relative, ids among error examples pseudonymised).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clc_lib.config import RunConfig
from clc_lib.handoff import CLC_MIME_TYPES, RUN_DATA_MIME
from clc_lib.i18n import N_, gettext
from clc_lib.paths import project_root
from clc_lib.privacy import (
    config_secret_values,
    example_values,
    id_salt,
    pseudonymise_examples,
    redact,
    scrub_local_paths,
)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
NOTEBOOK_HTML_TEMPLATE = "clc_report"
#: Cells with this tag are shown at the end of a rendered page, in a collapsed appendix.
APPENDIX_TAG = "appendix"
#: Its English title (translated where the page is rendered).
APPENDIX_TITLE = N_("Appendix: further detail, data quality, definitions and model details")
#: Where the data-quality line sends readers when the page has an appendix.
APPENDIX_POINTER = N_("see the appendix")
#: Markdown cells with this tag explain the chart or table of the code cell before them: the page
#: leaves them out when that cell shows nothing or only a skip line.
CAPTION_TAG = "caption"


# --- rendering -------------------------------------------------------------------------------

def display_path(path: Path) -> str:
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
               "css": (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8") + language_css(),
               "text": page_text()}
    if not executed.is_file():
        target.write_text(render_template("error_page.html.j2", page=context), encoding="utf-8")
        return
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata["title"] = title
    translate_markdown(notebook, notebook_stem(executed))
    # Warnings, log lines and tracebacks (code, local paths, values) are for analysts: they stay in
    # the executed notebook and the log. Stakeholders see the error line at the failing cell. The
    # JSON meant for the runner (key figures, data quality) stays in the executed notebook too.
    quality_records = run_quality_records(notebook)
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
    arrange_appendix(notebook, quality_records)
    exporter = HTMLExporter(
        template_name=NOTEBOOK_HTML_TEMPLATE,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"clc": context})
    target.write_text(with_html_language(body), encoding="utf-8")


def page_text() -> dict[str, str]:
    """The fixed text of a report page (navigation, error banner) in the active language."""
    return {
        "all_reports": gettext("All reports of this run"),
        "did_not_finish": gettext("This report did not finish."),
        "did_not_finish_detail": gettext(
            "The notebook stopped with the error below; the sections before it are shown, the error is "
            "at the failing cell further down, and the run log has the details."),
    }


def run_label(config_name: str, run_id: str) -> str:
    """The run a page belongs to, as its navigation line names it: "demo, run 20250101-120000_2024-12-31"."""
    return gettext("{config_name}, run {run_id}").format(config_name=config_name, run_id=run_id)


def notebook_stem(path: Path) -> str:
    """The name of the notebook a file was made from: ``01_segmentation`` for ``01_segmentation.ipynb``
    and for ``01_segmentation.zh-Hant.ipynb`` (the executed copy of another language)."""
    from clc_lib.i18n import LANGUAGES

    stem = Path(path).stem
    for tag in LANGUAGES:
        stem = stem.removesuffix(f".{tag}")
    return stem


def translate_markdown(notebook: Any, stem: str) -> int:
    """Put each markdown cell of ``notebook`` in the active language, in place; returns how many changed.

    A cell is looked up by its context ``"<stem>:<cell id>"`` and its whole source, the message
    that :func:`clc_lib.i18n_extract.extract_notebook` extracted. A cell without a translation
    (new or edited since the catalog was updated) stays in English.
    """
    from clc_lib.i18n import current_language, pgettext
    from clc_lib.i18n_extract import cell_context

    if current_language() == "en":
        return 0
    changed = 0
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or not cell.get("id") or not cell.source.strip():
            continue
        translated = pgettext(cell_context(stem, cell.id), cell.source)
        if translated != cell.source:
            cell.source = translated
            changed += 1
    return changed


_HTML_START = re.compile(r"<html(\s+lang=\"[^\"]*\")?", flags=re.IGNORECASE)


def with_html_language(page: str) -> str:
    """``page`` with its ``<html lang>`` set to the active language (``zh-Hans``, ...)."""
    from clc_lib.i18n import current_language

    return _HTML_START.sub(f'<html lang="{current_language()}"', page, count=1)


def language_css() -> str:
    """The CJK font stacks of the pages (``templates/languages.css``), chosen by the page's ``lang``."""
    return (TEMPLATES_DIR / "languages.css").read_text(encoding="utf-8")


def run_quality_records(notebook: Any) -> list[dict[str, Any]] | None:
    """The data-quality table that :func:`clc_lib.display.show_quality` recorded in an executed
    notebook (one record per table and step), or None when the notebook did not show it."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            recorded = output.get("data", {}).get(RUN_DATA_MIME)
            if isinstance(recorded, dict) and isinstance(recorded.get("quality"), list):
                return recorded["quality"]
    return None


def quality_note(records: list[dict[str, Any]] | None, pointer: str | None) -> str | None:
    """The page's line on rows left out or flagged (:func:`clc_lib.display.quality_line`, ending in
    ``pointer``); None when the load was clean or no data-quality table was recorded."""
    if not records:
        return None
    import pandas as pd

    from clc_lib.display import quality_line

    return quality_line(pd.DataFrame.from_records(records), pointer=pointer)


_HEADING = re.compile(r"^(#{1,5})(\s)", flags=re.MULTILINE)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def shows_nothing_to_explain(cell: Any) -> bool:
    """Whether an executed code cell shows readers no chart or table: no output, or only one-line skips.

    Output to stderr and the JSON meant for the runner do not count; an error does (its banner is
    on the page). A skip line is what :func:`clc_lib.display.show_missing` and
    :func:`clc_lib.display.show_skipped` display (class :data:`clc_lib.display.SKIP_CLASS`).
    """
    from clc_lib.display import SKIP_CLASS

    shown = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            continue
        if output.get("output_type") == "error":
            return False
        data = {mime: value for mime, value in output.get("data", {}).items() if mime not in CLC_MIME_TYPES}
        if output.get("output_type") == "stream" and str(output.get("text", "")).strip():
            return False
        if data:
            shown.append(data)
    for data in shown:
        markup = "".join(data.get("text/html", ""))
        if set(data) - {"text/html", "text/plain"} or SKIP_CLASS not in markup:
            return False
    return True


def leave_out_captions_of_skipped(notebook: Any) -> None:
    """Drop, in place, the markdown cells tagged :data:`CAPTION_TAG` whose code cell before them shows
    nothing to explain (see :func:`shows_nothing_to_explain`): a skipped section keeps its one line."""
    kept, previous_code = [], None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            previous_code = cell
        elif (cell.cell_type == "markdown" and CAPTION_TAG in _tags(cell) and previous_code is not None
              and shows_nothing_to_explain(previous_code)):
            continue
        kept.append(cell)
    notebook.cells = kept


def arrange_appendix(notebook: Any, quality_records: list[dict[str, Any]] | None = None) -> None:
    """Prepare a notebook for the page: captions of skipped sections go, appendix cells move to the end.

    First the "how to read" cells of charts that are not there are left out
    (:func:`leave_out_captions_of_skipped`). Then cells tagged :data:`APPENDIX_TAG` move to the end:
    the template opens a collapsed ``<details>`` section titled :data:`APPENDIX_TITLE` (an h2)
    before the first moved cell and closes it after the last; their markdown headings go one level
    down, so the page's headings stay in order. From ``quality_records`` (see
    :func:`run_quality_records`) comes the line on rows left out or flagged, shown after the first
    cell (the page title) and pointing to the appendix when the page has one. Cell metadata and the
    moved markdown sources change in place; the executed notebook on disk keeps its order, so
    analysts see the cells where they ran.
    """
    leave_out_captions_of_skipped(notebook)
    body, appendix = [], []
    for cell in notebook.cells:
        (appendix if APPENDIX_TAG in _tags(cell) else body).append(cell)
    for cell in appendix:
        if cell.cell_type == "markdown":
            cell.source = _HEADING.sub(lambda match: f"#{match.group(1)}{match.group(2)}", cell.source)
    notebook.cells = body + appendix
    if appendix:
        appendix[0].metadata["clc_appendix_start"] = gettext(APPENDIX_TITLE)
        appendix[-1].metadata["clc_appendix_end"] = True
    quality_text = quality_note(quality_records, gettext(APPENDIX_POINTER) if appendix else None)
    if quality_text and notebook.cells:
        notebook.cells[0].metadata["clc_quality_line"] = quality_text


def _jinja_environment():
    import jinja2

    from clc_lib.i18n import LANGUAGE_NAMES, current_language, format_date, gettext, ngettext, sentence_space

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["page_language"] = current_language()
    environment.globals["language_names"] = LANGUAGE_NAMES
    environment.filters["locale_date"] = format_date
    environment.globals["sentence_space"] = sentence_space()
    return environment


def render_template(name: str, **context: Any) -> str:
    """Render one of the runner's page templates (``templates/``) with the report stylesheet."""
    environment = _jinja_environment()
    css = (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8") + language_css()
    return environment.get_template(name).render(css=css, **context)


# --- secrets, local paths, ids among examples -------------------------------------------------

SANITISED_SUFFIXES = (".html", ".ipynb", ".log", ".json")


def inside(folder: Path, root: Path) -> bool:
    """Whether ``folder`` is ``root`` or lies under it (both paths taken as given)."""
    try:
        folder.relative_to(root)
    except ValueError:
        return False
    return True


@dataclass
class Sanitiser:
    """Masks credentials, replaces absolute local folders and pseudonymises the ids among the examples
    of error messages in everything a run folder holds."""

    secrets: list[str]
    folders: dict[str, str]
    examples: Callable[[str], str] = lambda text: text

    @classmethod
    def for_run(cls, run_config: RunConfig, out_root: Path) -> Sanitiser:
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
                if not any(inside(form, root) for root in roots):  # inside: project-relative is clearer
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


def example_pseudonymiser(enabled: bool, cache: Path | None) -> Callable[[str], str]:
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
