"""Presentation helpers for the notebooks: key-figure cards, formatted tables, skip notes, data quality.

Every helper renders HTML in the notebook (and therefore in the HTML report) and escapes every
string it shows, so a customer id such as ``<script>`` appears as text. Tables show
``customer_id`` and ``person_id`` as pseudonyms and leave personal-data columns out
(:mod:`clc_lib.privacy`). The pure ``*_html`` functions return the markup without displaying it;
the ``format_*`` functions (kept in :mod:`clc_lib.formatting`, shown here) format one value and
are the single place where the project decides how money, shares and counts look:

==========  ===========================  ==================================================
kind        formatter                    example
==========  ===========================  ==================================================
currency    :func:`format_currency`      ``1234.5, "EUR"`` -> ``1,234.50 EUR``;
                                         ``12345.6`` -> ``12,346 EUR`` (whole units from 10,000)
percent     :func:`format_percent`       ``0.1234`` -> ``12.3%`` (values are shares, 1 = 100%)
count       :func:`format_count`         ``1234567`` -> ``1,234,567``
days        :func:`format_days`          ``12.4`` -> ``12 days``; ``3.25`` -> ``3.2 days``
date        :func:`format_date`          ``2024-06-30 00:00`` -> ``2024-06-30``
number      :func:`format_number`        ``1234.567`` -> ``1,234.57``
==========  ===========================  ==================================================

Missing values (None, NaN, NaT) format as an en dash. The examples are English; in Chinese
(:mod:`clc_lib.i18n`) the same functions write dates ``2024年6月30日``, money with the currency code
first (``EUR 1,234.50``) and units in Chinese (``12天``, ``+4.4个百分点``).

:func:`show_key_figures` shows its cards as HTML and, in the same output, the figures as JSON
under :data:`clc_lib.handoff.KEY_FIGURES_MIME`; :func:`show_quality` adds the run's data period,
engine and data-quality table under :data:`clc_lib.handoff.RUN_DATA_MIME`. Jupyter shows the HTML;
``clc report`` reads the JSON from the executed notebook for the report index, which shows the
figures and compares them with the previous run (see :mod:`clc_lib.handoff` for the JSON).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import numbers
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from clc_lib.errors import DataError, ModelFitError
from clc_lib.handoff import KEY_FIGURES_MIME, RUN_DATA_MIME
from clc_lib.formatting import (
    FIGURE_KINDS,
    format_count,
    format_currency,
    format_date,
    format_days,
    format_duration,
    format_number,
    format_percent,
    format_points,
    format_value,
    infer_kind,
    is_missing,
)
from clc_lib.i18n import N_, gettext as _, ngettext, sentence_space
from clc_lib.privacy import mask_personal_values

__all__ = [
    "FIGURE_KINDS",
    "format_currency",
    "format_percent",
    "format_points",
    "format_count",
    "format_days",
    "format_date",
    "format_number",
    "format_value",
    "format_duration",
    "key_figures_html",
    "figure_change",
    "format_change",
    "SKIP_CLASS",
    "SWITCH_ON",
    "missing_html",
    "note_html",
    "skipped_html",
    "show_key_figures",
    "show_missing",
    "show_note",
    "show_skipped",
    "run_or_skip",
    "show_model_notes",
    "show_warnings_as_notes",
    "add_chart_alt_text",
    "show_quality",
    "quality_attention",
    "quality_line",
]

def _normalise_figures(figures: Mapping[str, Any] | Iterable[Any]) -> list[tuple[str, Any, str]]:
    """Return ``(label, value, kind)`` triples from a mapping or a list of key figures, pairs or triples."""
    from clc_lib.keyfigures import KeyFigure

    items: list[tuple[str, Any, str]] = []
    pairs = figures.items() if isinstance(figures, Mapping) else figures
    for entry in pairs:
        if isinstance(entry, KeyFigure):
            label, value, kind = entry.label, entry.value, entry.kind
        elif isinstance(figures, Mapping):
            label, value = entry
            kind = None
            if isinstance(value, tuple) and len(value) == 2 and value[1] in FIGURE_KINDS:
                value, kind = value
        else:
            if len(entry) not in (2, 3):
                raise ValueError(f"A key figure is (label, value) or (label, value, kind); got {entry!r}.")
            label, value, kind = (*entry, None) if len(entry) == 2 else entry
        if isinstance(value, (pd.Timedelta, dt.timedelta)):
            value = pd.Timedelta(value) / pd.Timedelta(days=1)
            kind = kind or "days"
        kind = kind or infer_kind(value)
        if kind not in FIGURE_KINDS:
            raise ValueError(f"Unknown figure kind {kind!r} for {label!r}; use one of {', '.join(FIGURE_KINDS)}.")
        items.append((str(label), value, kind))
    return items


def _json_value(value: Any) -> Any:
    """A JSON-safe raw value: numbers as float/int, dates as ISO text, missing as null."""
    if is_missing(value):
        return None
    if isinstance(value, (pd.Timestamp, dt.date, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    return str(value)


#: The style of the key-figure cards and headlines, put once before each block of them.
CARD_CSS = """<style>
.clc-cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px 0}
.clc-card{flex:1 1 160px;max-width:260px;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;background:#f8fafc}
.clc-card-value{font-size:1.6em;font-weight:600;color:#0b3d6e;line-height:1.2}
.clc-card-label{font-size:.9em;color:#4a5560;margin-top:4px}
.clc-card-count{font-size:.95em;color:#1f2328;font-weight:600}
.clc-card-detail{font-size:.85em;color:#4a5560;margin-top:2px}
.clc-card-change{font-size:.85em;color:#4a5560;margin-top:4px}
.clc-headlines{font-size:1.08em;line-height:1.5;margin:8px 0 14px 0;padding-left:1.2em}
.clc-headlines li{margin:3px 0}
table.clc-table{border-collapse:collapse;font-size:.92em;margin:6px 0 14px 0}
table.clc-table caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0}
table.clc-table th,table.clc-table td{padding:4px 10px;border-bottom:1px solid #e3e7eb}
table.clc-table th{background:#f1f4f7;text-align:left}
table.clc-table td{text-align:left}
table.clc-table td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.clc-table-scroll{overflow-x:auto;max-width:100%}
.clc-note{color:#4a5560;font-size:.9em}
.clc-missing{color:#4a5560;font-style:italic;margin:4px 0 12px 0}
</style>"""


def _figure_extras(figures: Mapping[str, Any] | Iterable[Any]) -> list[tuple[str | None, int | None, str, str]]:
    """``(term key, count, detail, label shown)`` of each figure: set for key figures, None/"" for
    labels and tuples (whose label is shown as given)."""
    from clc_lib.keyfigures import KeyFigure

    if isinstance(figures, Mapping):
        return [(None, None, "", "")] * len(figures)
    return [(entry.key, entry.count, entry.detail, entry.display_label) if isinstance(entry, KeyFigure)
            else (None, None, "", "") for entry in figures]


def _check_previous(previous: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The previous run's figures as the ``previous_key_figures`` parameter holds them, checked."""
    if previous is None:
        return None
    if not isinstance(previous, Mapping) or not isinstance(previous.get("values"), Mapping):
        raise ValueError("previous_key_figures is {'as_of': 'YYYY-MM-DD', 'run': run id, 'values': {label: value}, "
                         f"'counts': {{label: count}}}} or None; got {previous!r}.")
    return previous


#: Kinds of key figure whose change is a difference (other kinds change by being different).
NUMERIC_KINDS = ("currency", "percent", "points", "count", "days", "number")


def format_change(kind: str, current: Any, previous: Any, currency: str) -> str:
    """The change of one figure: signed, in the figure's unit (percentage points for shares).

    ``+1.2 pp`` for shares, ``+150 (+4.8%)`` for counts, ``unchanged``; empty when either value is
    missing. In the active language (``+1.2个百分点``, ``持平`` in simplified Chinese).
    """
    if kind not in NUMERIC_KINDS:
        if previous == current:
            return _("unchanged")
        if previous is None:
            return ""
        return _("was {value}").format(value=format_value(previous, kind, currency))
    if not isinstance(current, (int, float)) or not isinstance(previous, (int, float)):
        return ""
    delta = current - previous
    if delta == 0:
        return _("unchanged")
    sign = "+" if delta > 0 else "-"
    magnitude = abs(delta)
    unit_text = {
        "currency": lambda: format_currency(magnitude, currency),
        "percent": lambda: _("{points} pp").format(points=f"{magnitude * 100:,.1f}"),
        "points": lambda: _("{points} points").format(points=f"{magnitude * 100:,.1f}"),
        "count": lambda: format_count(magnitude),
        "days": lambda: format_days(magnitude),
        "number": lambda: format_number(magnitude),
    }[kind]()
    text = f"{sign}{unit_text}"
    if kind not in ("percent", "points") and previous != 0:
        text += f" ({delta / abs(previous) * 100:+,.1f}%)"
    return text


def figure_change(label: str, value: Any, kind: str, previous: Mapping[str, Any] | None, *,
                  currency: str | None = "") -> str:
    """The change of one figure since the previous run, as a card shows it (``+1.2 pp since 2024-11-30``).

    Empty when there is no previous run or the previous run did not have the figure.
    """
    if previous is None or label not in previous["values"]:
        return ""
    change = format_change(kind, value, previous["values"][label], currency or "")
    if not change:
        return ""
    as_of = previous.get("as_of")
    if not as_of:
        return _("{change} since the previous run").format(change=change)
    return _("{change} since {date}").format(change=change, date=format_date(as_of))


def key_figures_html(figures: Mapping[str, Any] | Iterable[Any], *, currency: str | None = "",
                     previous: Mapping[str, Any] | None = None) -> str:
    """The HTML card row of :func:`show_key_figures` (every label and value escaped)."""
    figures = figures if isinstance(figures, Mapping) else list(figures)
    previous = _check_previous(previous)
    cards = []
    for (label, value, kind), (_key, count, detail, shown_label) in zip(_normalise_figures(figures),
                                                                       _figure_extras(figures)):
        text = mask_personal_values(format_value(value, kind, currency))
        parts = [f'<div class="clc-card-value">{html.escape(text)}</div>']
        if count is not None:
            customers = ngettext("{count} customer", "{count} customers", count).format(count=format_count(count))
            parts.append(f'<div class="clc-card-count">{html.escape(customers)}</div>')
        if detail:
            parts.append(f'<div class="clc-card-detail">{html.escape(mask_personal_values(detail))}</div>')
        parts.append(f'<div class="clc-card-label">{html.escape(shown_label or label)}</div>')
        change = figure_change(label, value, kind, previous, currency=currency)
        if change:
            parts.append(f'<div class="clc-card-change">{html.escape(change)}</div>')
        cards.append(f'<div class="clc-card">{"".join(parts)}</div>')
    return f'{CARD_CSS}<div class="clc-cards">{"".join(cards)}</div>'


def display_html(markup: str) -> None:
    """Show ``markup`` as HTML in the notebook (the output the report pages render)."""
    from IPython.display import HTML, display

    display(HTML(markup))


def _record(markup: str, mime: str, payload: Mapping[str, Any]) -> None:
    """Show ``markup`` and, in the same output, ``payload`` as JSON under ``mime`` for ``clc report``.

    ``mime`` is one of :data:`clc_lib.handoff.CLC_MIME_TYPES`: Jupyter and the HTML pages show the
    markup, the runner reads the JSON from the executed notebook.
    """
    from IPython.display import display

    # Plain JSON only (no NaN, no numpy scalars): what the runner reads is what was meant.
    plain = json.loads(json.dumps(payload, allow_nan=False))
    display({"text/html": markup, mime: plain}, raw=True)


def show_key_figures(figures: Mapping[str, Any] | Iterable[Any], *, currency: str | None = "",
                     previous: Mapping[str, Any] | None = None) -> None:
    """Show the executive-summary figures as a row of cards, and record them for the report index.

    Parameters
    ----------
    figures
        A list of :class:`~clc_lib.keyfigures.KeyFigure` (what ``clc.segmentation_figures(run)``
        and the other report functions return), a mapping ``{label: value}`` (a value may be a
        ``(value, kind)`` pair) or a list of ``(label, value)`` / ``(label, value, kind)`` tuples,
        in display order; key figures and tuples may be mixed. ``kind`` is one of
        ``currency``, ``percent`` (a share, 1 = 100%), ``count``, ``days``, ``date``, ``number``,
        ``text``; without it, dates show as ``date``, integers as ``count``, timedeltas as ``days``
        and other numbers as ``number``. A key figure with a ``count`` shows it under its share.
    currency
        The run currency (``run.currency``) appended to ``currency`` figures.
    previous
        The previous comparable run's figures, as ``clc report`` passes them in the notebook
        parameter ``previous_key_figures`` (:data:`clc_lib.handoff.PARAMETERS`): ``as_of``, ``run``
        and ``values`` (label -> raw value). Each card then shows its change since that as-of date.
        None (a notebook run by hand, or a first run) shows no change.

    Notes
    -----
    Beside the cards, the output holds each figure as JSON for ``clc report``
    (:data:`clc_lib.handoff.KEY_FIGURES_MIME`): ``label``, raw ``value`` (numbers, ISO dates, null
    for missing), ``kind``, ``formatted`` and ``currency``, and for key figures also ``key`` (the
    term), ``count`` (customers counted by a share, else null), ``detail`` (a line under the
    value, e.g. a difference's interval, else "") and ``display_label`` (the label as the page
    shows it, in the report's language; ``label`` stays English, so runs in different languages
    compare their figures).
    """
    figures = figures if isinstance(figures, Mapping) else list(figures)
    items = _normalise_figures(figures)
    extras = _figure_extras(figures)
    records = []
    for (label, value, kind), (key, count, detail, shown_label) in zip(items, extras):
        record = {"label": label, "value": _json_value(value), "kind": kind,
                  "formatted": format_value(value, kind, currency), "currency": currency or ""}
        if key is not None:
            record.update(key=key, count=count, detail=detail, display_label=shown_label or label)
        records.append(record)
    _record(key_figures_html(figures, currency=currency, previous=previous), KEY_FIGURES_MIME,
            {"key_figures": records})


#: The class of the skip lines: the page drops the captions of a cell that shows only these.
SKIP_CLASS = "clc-skipped"

#: Optional table (or ``table.column``) -> what a skip line says to add ("Add <this> to see it.").
SWITCH_ON: Mapping[str, str] = {
    "events": N_("an events table (web or app events with a channel) to the run config"),
    "spend": N_("a spend table (marketing spend per channel and month) to the run config"),
    "campaigns": N_("a campaigns table (who was sent which campaign, best with a control group) to the run config"),
    "surveys": N_("a surveys table (a score per respondent and date) to the run config"),
    "customers": N_("a customers table with attributes such as country or age band to the run config"),
    "transactions.category": N_("a category column to the transactions table"),
}


def _skip_line(text: str) -> str:
    return f'<div class="clc-missing {SKIP_CLASS}">{html.escape(_one_line(text))}</div>'


def missing_html(table: str, what: str, needs: str | None = None) -> str:
    """The HTML line of :func:`show_missing` (in the active language; ``what`` and ``needs`` are shown
    as given)."""
    if needs is None:
        if table in SWITCH_ON:
            data = _(SWITCH_ON[table])
        else:
            data = _("the {table} table to the run config").format(table=table)
        needs = _("Add {data} to see it.").format(data=data)
    return _skip_line(_not_shown(what, needs))


def _not_shown(what: str, reason: str) -> str:
    """"Not shown: <what>. <Reason>." in the active language."""
    return _("Not shown: {what}.").format(what=_one_line(what).rstrip(".。")) + sentence_space() + _sentence(reason)


def show_missing(table: str, what: str, needs: str | None = None) -> None:
    """One line: ``what`` is not shown, and which data would switch it on (the sentence ``needs``,
    else :data:`SWITCH_ON` of the optional ``table`` or ``table.column``). E.g. "Not shown:
    cross-sell breadth. Add a category column to the transactions table to see it." The page
    leaves out the section's "how to read" cells (tagged ``caption``; see
    :func:`clc_lib.rendering.arrange_appendix`)."""
    display_html(missing_html(table, what, needs))


def note_html(text: str) -> str:
    """The HTML line of :func:`show_note`."""
    return f'<div class="clc-missing">{html.escape(text)}</div>'


def show_note(text: str) -> None:
    """Show one line of explanation on the page, e.g. how a section chose one of its settings."""
    display_html(note_html(text))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _sentence(text: str) -> str:
    """``text`` on one line, starting with a capital and ending with a full stop (``。`` in Chinese)."""
    line = _one_line(text)
    line = line[:1].upper() + line[1:]
    return line if not line or line[-1] in ".!?。！？" else line + _(".")


def skipped_html(what: str, reason: str) -> str:
    """The HTML line of :func:`show_skipped`."""
    return _skip_line(_not_shown(what, reason))


def show_skipped(what: str, reason: str) -> None:
    """Show one line saying that ``what`` could not be computed for this run, and why: e.g. "Not
    shown: the holdout validation. The history is 20 days long." Like :func:`show_missing`, it
    marks its section as skipped, so the page leaves out the section's captions.
    """
    display_html(skipped_html(what, reason))


def run_or_skip(what: str, compute: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``compute(*args, **kwargs)``, or None with one skip line when the data cannot support it.

    A :class:`~clc_lib.errors.ModelFitError` (a model the data do not identify, a history too short
    for the section) is shown as "Not shown: <what>. <Reason>." and the rest of the page goes on;
    every other error propagates. Warnings raised while computing are shown as notes under the
    section (see :func:`show_model_notes`) and written to stderr, which goes to the notebook log.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = compute(*args, **kwargs)
        except ModelFitError as error:
            show_skipped(what, str(error))
            result = None
    notes = [str(warning.message) for warning in caught if issubclass(warning.category, UserWarning)]
    if isinstance(result, pd.DataFrame | pd.Series):
        notes += list(result.attrs.get("notes", []))  # a result computed earlier in the run keeps its notes
    show_model_notes(notes)
    return result


def show_model_notes(notes: Iterable[str] | Any) -> None:
    """Show each model note (e.g. a fit that is the limit of its model) as a line, once.

    ``notes`` is a list of texts or a result whose ``attrs["notes"]`` holds them (as the frames of
    :func:`clc_lib.clv.predict_run_value` do). The notes also go to stderr, that is to the notebook
    log of a report run, and never to the runner's console. After :func:`show_warnings_as_notes`,
    a warning with the same text in the same cell is not shown a second time.
    """
    if isinstance(notes, pd.DataFrame | pd.Series):
        notes = notes.attrs.get("notes", [])
    shown: list[str] = []
    for note in notes or []:
        text = _one_line(note)
        if text and text not in shown:
            shown.append(text)
    for text in shown:
        print(f"model note: {text}", file=sys.stderr)
    if shown:
        display_html("".join(note_html(_("Note: {text}").format(text=text)) for text in shown))
    if _cell_warnings is not None:
        _cell_warnings.shown_in_cell.update(shown)


def _clc_module_on_stack(frame: Any) -> str | None:
    """The innermost clc_lib module among ``frame`` and its callers, or None when no clc_lib code runs."""
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name == "clc_lib" or name.startswith("clc_lib."):
            return name
        frame = frame.f_back
    return None


class _CellWarnings:
    """The clc_lib warnings of the running notebook cell, shown as notes under the cell when it ends.

    It takes the place of :func:`warnings.showwarning`: a :class:`UserWarning` raised while clc_lib
    code runs is kept for the end of the cell; every other warning goes on to the previous
    ``showwarning`` (stderr, that is the notebook log only).
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.previous_showwarning = warnings.showwarning
        self.pending: list[tuple[str, str]] = []  # (one-line text, clc_lib module that was running)
        self.shown_in_cell: set[str] = set()  # texts already on the page for this cell (show_model_notes)

    def showwarning(self, message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: Any = None, line: str | None = None) -> None:
        module = _clc_module_on_stack(sys._getframe(1)) if issubclass(category, UserWarning) else None
        if module is None:
            self.previous_showwarning(message, category, filename, lineno, file, line)
        else:
            self.pending.append((_one_line(str(message)), module))

    def start_cell(self, _info: Any = None) -> None:
        self.pending.clear()
        self.shown_in_cell.clear()
        # Python shows a warning once per code location ("default" action) until a filter changes;
        # adding one forgets those locations, so a warning that arises again in a later section is
        # shown there too. The appended filter is the default action itself and changes nothing else.
        warnings.filterwarnings("default", category=UserWarning, append=True)

    def end_cell(self, _result: Any = None) -> None:
        notes: dict[str, str] = {}
        for text, module in self.pending:
            if text and text not in self.shown_in_cell:
                notes.setdefault(text, module)
        self.pending.clear()
        if not notes:
            return
        self.shown_in_cell.update(notes)
        sys.stderr.write("".join(f"note: {text} (in {module})\n" for text, module in notes.items()))
        display_html("".join(note_html(_("Note: {text}").format(text=text)) for text in notes))

    def start(self) -> None:
        warnings.showwarning = self.showwarning
        self.shell.events.register("pre_run_cell", self.start_cell)
        self.shell.events.register("post_run_cell", self.end_cell)

    def stop(self) -> None:
        """Undo :meth:`start`: warnings go to the previous ``showwarning`` again, cells end without notes."""
        if warnings.showwarning == self.showwarning:
            warnings.showwarning = self.previous_showwarning
        self.shell.events.unregister("pre_run_cell", self.start_cell)
        self.shell.events.unregister("post_run_cell", self.end_cell)


_cell_warnings: _CellWarnings | None = None


def show_warnings_as_notes() -> None:
    """From now on, show the warnings of clc_lib analyses on the page, under the cell that raised them.

    Call it once in the first code cell of a notebook (the report notebooks do). Afterwards every
    :class:`UserWarning` raised while a clc_lib function runs (e.g. "3 negative values counted as
    0") is shown after the cell's other output as a line "Note: <message>", once per cell, and
    written to stderr as "note: <message> (in <module>)", which a report run keeps in the
    notebook log. A note that :func:`show_model_notes` already showed in the same cell is not
    repeated. The warnings of other code, and warnings meant for programmers (DeprecationWarning,
    FutureWarning, RuntimeWarning from numpy, ...), go to stderr as before and not on the page.
    The warnings filters still decide which warnings are raised at all.

    Outside IPython (a script, a test) this does nothing; calling it again in the same kernel
    changes nothing.
    """
    global _cell_warnings
    shell = _ipython_shell()
    if shell is None:
        return
    if _cell_warnings is not None:
        if _cell_warnings.shell is shell:
            if warnings.showwarning != _cell_warnings.showwarning:
                warnings.showwarning = _cell_warnings.showwarning
            return
        _cell_warnings.stop()
    _cell_warnings = _CellWarnings(shell)
    _cell_warnings.start()


def _ipython_shell() -> Any:
    """The running IPython shell (a notebook kernel), or None in a script or a test."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def add_chart_alt_text() -> None:
    """From now on, give every chart shown inline a description for readers who cannot see it.

    The PNG of each matplotlib figure gets ``alt`` in its output metadata
    (``metadata["image/png"]["alt"]``, from :func:`clc_lib.alt_text.chart_alt_text`: chart kind,
    title, axis labels, series or bars); the report pages use it as the image's ``alt`` text.
    Call it after :func:`clc_lib.plots.set_theme`, which chooses the image format; calling it
    again changes nothing. Outside IPython it does nothing.
    """
    shell = _ipython_shell()
    if shell is None:
        return
    from matplotlib.figure import Figure

    from clc_lib.alt_text import chart_alt_text

    formatter = shell.display_formatter.formatters["image/png"]
    try:
        draw_png = formatter.lookup_by_type(Figure)
    except KeyError:
        return  # inline PNGs are off: no image to describe
    if getattr(draw_png, "adds_alt_text", False):
        return

    def png_with_alt_text(figure: Figure) -> Any:
        drawn = draw_png(figure)
        data, metadata = drawn if isinstance(drawn, tuple) else (drawn, None)
        if data is None:
            return None
        return data, {**(metadata or {}), "alt": chart_alt_text(figure)}

    png_with_alt_text.adds_alt_text = True  # type: ignore[attr-defined]
    formatter.for_type(Figure, png_with_alt_text)


def _data_period(run: Any) -> dict[str, Any]:
    """First and last transaction timestamp of the run (one small aggregate query)."""
    try:
        timestamps = run.transactions.timestamp
        result = run.transactions.aggregate(first=timestamps.min(), last=timestamps.max()).to_pandas()
        return {"first_timestamp": _json_value(result["first"].iloc[0]),
                "last_timestamp": _json_value(result["last"].iloc[0])}
    except Exception:  # the period is a nicety of the index; never fail the quality section for it
        return {}


def show_quality(run: Any) -> None:
    """Show the run's data-quality summary: per table, rows in, each rule's rows and amount, rows out.

    ``run`` is what :func:`clc_lib.run.load_run` returns; its ``quality`` report is read only through
    ``quality.to_frame()``. The amount column is in the run currency. The output also holds the
    table, the run currency, the engine and the data period as JSON for the report index
    (:data:`clc_lib.handoff.RUN_DATA_MIME`).
    """
    quality = getattr(run, "quality", None)
    currency = getattr(run, "currency", "") or ""
    frame = quality.to_frame() if quality is not None and hasattr(quality, "to_frame") else None
    if frame is None or len(frame) == 0:
        no_report = _("No data-quality report is available for this run.")
        markup = f'<div class="clc-missing">{html.escape(no_report)}</div>'
        quality_records: list[dict[str, Any]] = []
    else:
        money = [c for c in ("amount",) if c in frame.columns]
        counts = [c for c in ("rows",) if c in frame.columns]
        from clc_lib.tables import table_html

        markup = table_html(frame, currency=currency, money=money, counts=counts,
                            caption=_("Data quality: rows per table and rule"), max_rows=None)
        quality_records = [{str(k): _json_value(v) for k, v in record.items()}
                           for record in frame.to_dict(orient="records")]
    engine = _engine_line(run)
    if engine:
        computed_on = _("Computed on {engine}.").format(engine=engine)
        markup += f'<p class="clc-engine">{html.escape(computed_on)}</p>'
    _record(markup, RUN_DATA_MIME, {"currency": currency, "quality": quality_records, "engine": engine,
                                    **_data_period(run)})


#: Rules whose kept rows are part of ordinary trading, not a data problem: returns alone do not put
#: the data-quality line on a page.
ORDINARY_KEPT_RULES: tuple[str, ...] = ("returns",)
_QUALITY_BOOKKEEPING_STEPS = ("rows in", "rows out", "warning")


def quality_attention(quality: pd.DataFrame) -> dict[str, int]:
    """The rows of a data-quality table that a reader should know about.

    Parameters
    ----------
    quality
        The table of :meth:`clc_lib.quality.DataQualityReport.to_frame` (or the records
        :func:`show_quality` hands to the runner): columns ``step``, ``action`` and ``rows``.

    Returns
    -------
    dict
        ``left_out``: rows removed by a rule (action ``drop`` or ``exclude``); ``flagged``: rows a
        rule matched and kept (action ``keep``), returns aside (:data:`ORDINARY_KEPT_RULES`);
        ``warnings``: the number of warning lines. All counts are whole numbers of rows (lines).
    """
    from clc_lib.quality import REMOVING_ACTIONS

    missing = [column for column in ("step", "action", "rows") if column not in quality.columns]
    if missing:
        raise DataError("The data-quality table lacks columns it needs.", source="the data-quality table",
                        column=", ".join(missing),
                        hint=f"It has: {', '.join(map(str, quality.columns))}; use DataQualityReport.to_frame().")
    rules = quality[~quality["step"].isin(_QUALITY_BOOKKEEPING_STEPS)]
    rows = pd.to_numeric(rules["rows"], errors="coerce").fillna(0)
    left_out = rows[rules["action"].isin(REMOVING_ACTIONS)].sum()
    flagged = rows[(rules["action"] == "keep") & ~rules["step"].isin(ORDINARY_KEPT_RULES)].sum()
    return {"left_out": int(left_out), "flagged": int(flagged),
            "warnings": int((quality["step"] == "warning").sum())}


def quality_line(quality: pd.DataFrame, *, pointer: str | None = N_("see the appendix")) -> str | None:
    """One sentence on the rows the data-quality rules left out or flagged, or None for a clean load.

    ``quality_line(frame)`` reads e.g. "1,234 rows were left out and 56 rows flagged by the
    data-quality rules; see the appendix." ``pointer`` ends the sentence (None: nothing after it;
    it is looked up in the catalogs, so a pointer marked with ``N_`` is translated). Warnings are
    counted too ("1 data-quality warning"). The sentence is in the active language.
    """
    attention = quality_attention(quality)
    left_out, flagged, warning_count = attention["left_out"], attention["flagged"], attention["warnings"]
    parts = []
    left_out_text = ngettext("{count} row was left out", "{count} rows were left out", left_out)
    if left_out and flagged:
        parts.append(_("{left_out} and {flagged} flagged by the data-quality rules").format(
            left_out=left_out_text.format(count=format_count(left_out)),
            flagged=ngettext("{count} row", "{count} rows", flagged).format(count=format_count(flagged))))
    elif left_out:
        parts.append(_("{left_out} by the data-quality rules").format(
            left_out=left_out_text.format(count=format_count(left_out))))
    elif flagged:
        parts.append(ngettext("{count} row was flagged (and kept) by the data-quality rules",
                              "{count} rows were flagged (and kept) by the data-quality rules",
                              flagged).format(count=format_count(flagged)))
    if warning_count:
        parts.append(ngettext("{count} data-quality warning", "{count} data-quality warnings",
                              warning_count).format(count=format_count(warning_count)))
    if not parts:
        return None
    text = _("; ").join(parts)
    text = text[0].upper() + text[1:]
    if pointer:
        return _("{text}; {pointer}.").format(text=text, pointer=_(pointer))
    return _("{text}.").format(text=text)


def _engine_line(run: Any) -> str | None:
    """The engine that ran the transaction-level steps (e.g. "DuckDB 2.0.0 (embedded)"), if known."""
    con = getattr(run, "con", None)
    if con is None:
        return None
    from clc_lib.engines import engine_description

    try:
        return engine_description(con)
    except Exception:  # an engine clc does not know: the report still renders
        return type(con).__module__.split(".")[-1]
