"""Tables for people: the formatted, escaped and pseudonymised HTML tables of the reports.

Column headings are words with their unit (:data:`COLUMN_LABELS`, else the label of a term of
:data:`clc_lib.definitions.TERMS`); whole numbers show no decimals, columns that are zero in every
row are left out with a note, and every table scrolls sideways inside the page instead of being
clipped. Identifiers are shown as pseudonyms and personal data are left out
(:mod:`clc_lib.privacy`).
"""

from __future__ import annotations

import datetime as dt
import html
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from clc_lib.display import CARD_CSS, display_html
from clc_lib.formatting import (
    MISSING_TEXT,
    format_count,
    format_date,
    format_days,
    format_number,
    format_value,
    is_missing,
)
from clc_lib.errors import DataError
from clc_lib.i18n import N_, gettext as _
from clc_lib.privacy import mask_personal_values, protect_frame

__all__ = [
    "COLUMN_LABELS",
    "STAGE_COLUMNS",
    "SEGMENT_COLUMNS",
    "CHANNEL_SUMMARY_ROWS",
    "plain_p_value",
    "plain_interval",
    "column_label",
    "table_html",
    "show_table",
]


def _check_columns(frame: pd.DataFrame, named: dict[str, Iterable[str]]) -> None:
    for option, columns in named.items():
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise DataError(
                f"show_table: {option}= names columns that are not in the table.",
                source="the table given to show_table", column=", ".join(map(str, unknown)),
                hint=f"The table's columns are: {', '.join(map(str, frame.columns))}.",
            )


def _cell_text(value: Any, column: Any, styles: Mapping[Any, str], currency: str | None) -> tuple[str, bool]:
    """Formatted text of one cell and whether it is numeric (right-aligned)."""
    kind = styles.get(column)
    if kind is not None:
        return format_value(value, kind, currency), True
    if is_missing(value):
        return MISSING_TEXT, False
    if isinstance(value, (pd.Timestamp, dt.datetime, np.datetime64)):
        return format_date(value), False
    if isinstance(value, (pd.Timedelta, dt.timedelta)):
        return format_days(pd.Timedelta(value) / pd.Timedelta(days=1)), True
    if isinstance(value, (bool, np.bool_)):
        return (_("yes") if value else _("no")), False
    if isinstance(value, numbers.Integral):
        return format_count(value), True
    if isinstance(value, numbers.Real):
        number = float(value)
        decimals = 0 if abs(number) >= 1000 else 2
        return format_number(number, decimals), True
    return mask_personal_values(str(value)), False


def table_html(
    df: pd.DataFrame,
    *,
    currency: str | None = None,
    percent: Iterable[str] = (),
    money: Iterable[str] = (),
    counts: Iterable[str] = (),
    caption: str | None = None,
    max_rows: int | None = 50,
    pseudonymise: bool | None = None,
) -> str:
    """The HTML of :func:`show_table` (all strings escaped, identifiers pseudonymised, personal data left out)."""
    if isinstance(df, pd.Series):
        df = df.to_frame()
    percent, money, counts = list(percent), list(money), list(counts)
    _check_columns(df, {"percent": percent, "money": money, "counts": counts})
    total_rows = len(df)
    # Only the rows shown are pseudonymised (hashing a million ids for 50 rows would be wasted time).
    df = _with_stage_labels(protect_frame(df if max_rows is None else df.head(max_rows), pseudonymise=pseudonymise))
    styles: dict[Any, str] = {**{c: "percent" for c in percent if c in df.columns},
                              **{c: "currency" for c in money if c in df.columns},
                              **{c: "count" for c in counts if c in df.columns}}
    zero_columns = _all_zero_columns(df)
    df = df.drop(columns=zero_columns)
    styles.update({c: "count" for c in _whole_number_columns(df) if c not in styles})
    show_index = not isinstance(df.index, pd.RangeIndex)
    parts = ['<div class="clc-table-scroll"><table class="clc-table">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    index_names = [name if name is not None else "" for name in df.index.names] if show_index else []
    header = [*index_names, *df.columns]
    parts.append("<thead><tr>" + "".join(f'<th scope="col">{html.escape(column_label(h))}</th>' for h in header)
                 + "</tr></thead>")
    parts.append("<tbody>")
    for index_value, row in zip(df.index, df.itertuples(index=False, name=None)):
        cells = []
        if show_index:
            index_values = index_value if isinstance(index_value, tuple) else (index_value,)
            for value in index_values:
                text, _numeric = _cell_text(value, None, {}, currency)
                cells.append(f'<th scope="row">{html.escape(text)}</th>')
        for column, value in zip(df.columns, row):
            text, numeric = _cell_text(value, column, styles, currency)
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    if max_rows is not None and total_rows > max_rows:
        note = _("Showing the first {shown} of {total} rows.").format(shown=format_count(max_rows),
                                                                      total=format_count(total_rows))
        parts.append(f'<div class="clc-note">{html.escape(note)}</div>')
    if zero_columns:
        note = _("Not shown, zero in every row: {columns}.").format(
            columns=_(", ").join(column_label(c) for c in zero_columns))
        parts.append(f'<div class="clc-note">{html.escape(note)}</div>')
    return CARD_CSS + "".join(parts)


#: How tables name the columns that no term of :data:`clc_lib.definitions.TERMS` names; the unit is
#: in the label where the values do not carry it (money cells carry their currency). English; tables
#: show them in the report's language (:func:`column_label`).
COLUMN_LABELS: Mapping[str, str] = {
    "customer_id": N_("Customer"),
    "person_id": N_("Person"),
    "stage": N_("Stage"),
    "segment": N_("Segment"),
    "channel": N_("Channel"),
    "customers": N_("Customers"),
    "revenue": N_("Revenue"),
    "aov": N_("Average order value"),
    "arpu": N_("Revenue per buying customer"),
    "clv": N_("Predicted customer value"),
    "cac": N_("Acquisition cost (CAC)"),
    "rmst_days": N_("Restricted mean time (days)"),
    "median_days": N_("Median (days)"),
    "p_alive": N_("Chance still buying"),
    "expected_purchases": N_("Expected purchases"),
    "cumulative_share": N_("Cumulative share of value"),
    "customer_share": N_("Share of customers"),
    "revenue_share": N_("Share of revenue"),
    "new_customers": N_("New customers"),
    "spend": N_("Spend"),
    "rank": N_("Rank"),
    "events": N_("Events"),
    "p_value": N_("p-value"),
    "n_treatment": N_("Treated customers"),
    "n_control": N_("Control customers"),
    "new_window_days": N_("New-customer window (days)"),
    "payback_months": N_("Payback (months)"),
    "mean_recency_days": N_("Mean days since last purchase"),
    "median_monetary": N_("Median revenue per customer"),
    "value_share": N_("Share of value"),
    "top_customers": N_("Top customers"),
    "rows": N_("Rows"),
    "amount": N_("Amount"),
    "table": N_("Table"),
    "step": N_("Step"),
    "action": N_("Action"),
    "description": N_("Description"),
    "group": N_("Group"),
    "is_complete": N_("Period"),
    "next_period_purchase_rate": N_("Bought in the next period"),
    "next_stage_conversion": N_("Moved on to the next stage"),
    "median_periods_in_stage": N_("Median periods in the stage"),
    "median_recency_days": N_("Median days since last purchase"),
    "median_frequency": N_("Median repeat purchases"),
    "historic_ltv": N_("Historic LTV"),
    "predicted_clv_per_customer": N_("Predicted value per customer"),
    "predicted_clv_total": N_("Predicted value, all customers"),
    "net_revenue_per_customer": N_("Net revenue per customer"),
    "customers_without_prediction": N_("Customers without a prediction"),
    "median_lower": N_("Median, lower 95% bound"),
    "median_upper": N_("Median, upper 95% bound"),
    "campaign_id": N_("Campaign"),
    "rate_treatment": N_("Bought, treated"),
    "rate_control": N_("Bought, control"),
    "uplift_lower": N_("Uplift, lower 95% bound"),
    "uplift_upper": N_("Uplift, upper 95% bound"),
    "incremental_customers": N_("Extra buying customers"),
    "incremental_revenue": N_("Extra revenue"),
    "n_churned": N_("Respondents who churned"),
    "n_retained": N_("Respondents retained"),
    "nps": N_("Net promoter score (points)"),
    "stage_at_send": N_("Band at send"),
    "n_contacted": N_("Contacted customers"),
    "n_uncontacted": N_("Uncontacted customers"),
    "rate_contacted": N_("Bought, contacted"),
    "rate_uncontacted": N_("Bought, uncontacted"),
    "holdout_per_group": N_("Control group needed per group"),
    "mde": N_("Smallest detectable uplift"),
    "mean_first_order_value": N_("Mean first order"),
    "median_first_order_value": N_("Median first order"),
    "total_first_order_value": N_("All first orders"),
    "margin_at_last_month": N_("Value at the last month"),
    "uplift_in_words": N_("Uplift, with its 95% interval"),
    "evidence": N_("Evidence of a difference"),
    "engaged_to_converted": N_("Engaged to converted"),
    "before": N_("Before"),
    "after": N_("After"),
    "revenue_per_customer": N_("Revenue per customer"),
    "purchases_per_year": N_("Purchases per year"),
    "customers_without_orders": N_("Customers without orders"),
    "term": N_("Term"),
    "definition": N_("Definition"),
    "unit": N_("Unit"),
}
#: Columns and index levels that hold lifecycle-stage codes: their values read as the stages' labels
#: (:func:`clc_lib.definitions.stage_label`, ``at_risk`` -> "At risk").
STAGE_COLUMNS = frozenset({"stage", "previous_stage", "from_stage", "to_stage"})
#: Columns and index levels that hold RFM segment names: shown in the page's language
#: (:func:`clc_lib.definitions.segment_label`).
SEGMENT_COLUMNS = frozenset({"segment", "previous_segment", "from_segment", "to_segment", "before", "after"})
#: The rows the analyses add to a channel table (totals and averages), shown in the page's language;
#: the channels of the data are shown as they are.
CHANNEL_SUMMARY_ROWS = (N_("all channels"), N_("all channels (blended)"), N_("paid channels"))


def _value_labeller(column: Any) -> Any:
    """How the values of a column or index level are shown: stage labels, segment labels, the channel
    tables' summary rows in the page's language; None for a column shown as it is."""
    from clc_lib.definitions import segment_label, stage_label

    name = str(column)
    if name in STAGE_COLUMNS:
        return stage_label
    if name in SEGMENT_COLUMNS:
        return segment_label
    if name in ("channel", "group"):
        return lambda value: _(value) if value in CHANNEL_SUMMARY_ROWS else value
    return None


def _with_stage_labels(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the codes and names of stage, segment and channel columns and index levels as readers
    see them (:func:`_value_labeller`)."""

    def labelled(values: Iterable[Any], labeller: Any) -> list[Any]:
        return [labeller(value) if isinstance(value, str) else value for value in values]

    columns = {c: labeller for c in df.columns if (labeller := _value_labeller(c)) is not None}
    levels = {i: labeller for i, name in enumerate(df.index.names) if (labeller := _value_labeller(name)) is not None}
    if not columns and not levels:
        return df
    df = df.copy()
    for column, labeller in columns.items():
        df[column] = labelled(df[column], labeller)
    if levels:
        if isinstance(df.index, pd.MultiIndex):
            df.index = pd.MultiIndex.from_arrays(
                [labelled(df.index.get_level_values(i), levels[i]) if i in levels else df.index.get_level_values(i)
                 for i in range(df.index.nlevels)], names=df.index.names)
        else:
            df.index = pd.Index(labelled(df.index, levels[0]), name=df.index.name)
    return df


def column_label(name: Any) -> str:
    """How a table heads a column: :data:`COLUMN_LABELS`, else the term's label of
    :data:`clc_lib.definitions.TERMS` (when it needs no run value), else the name as words with a
    capital: ``"rmst_days"`` -> ``"Restricted mean time (days)"``, ``"net_revenue"`` ->
    ``"Net revenue"``, ``"first_seen"`` -> ``"First seen"``. Labels are in the active language
    (``"净收入"`` in simplified Chinese); the words made from a name are translated when the
    catalogs hold them (``net_revenue`` reads as its term's label), else they stay as they are."""
    from clc_lib.definitions import TERMS

    text = "" if name is None else str(name)
    if text in COLUMN_LABELS:
        return _(COLUMN_LABELS[text])
    if text in TERMS and not TERMS[text].placeholders():
        return _(TERMS[text].label)
    words = text.replace("_", " ").strip()
    return _(words[:1].upper() + words[1:])


def _numeric_columns(df: pd.DataFrame) -> list[Any]:
    return [c for c in df.columns
            if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]


def _all_zero_columns(df: pd.DataFrame) -> list[Any]:
    """Numeric columns that are zero in every row (none for a table without rows)."""
    if df.empty:
        return []
    return [c for c in _numeric_columns(df) if df[c].notna().all() and (df[c] == 0).all()]


def _whole_number_columns(df: pd.DataFrame) -> list[Any]:
    """Float columns whose values are all whole numbers (e.g. 347.0 days): shown without decimals."""
    whole = []
    for column in _numeric_columns(df):
        values = df[column].dropna()
        if pd.api.types.is_float_dtype(values) and len(values) and bool(np.isfinite(values).all()) \
                and bool((values == values.round()).all()):
            whole.append(column)
    return whole


def show_table(
    df: pd.DataFrame,
    *,
    currency: str | None = None,
    percent: Iterable[str] = (),
    money: Iterable[str] = (),
    counts: Iterable[str] = (),
    caption: str | None = None,
    max_rows: int | None = 50,
    pseudonymise: bool | None = None,
) -> None:
    """Show a table formatted for people, safe for stakeholder reports.

    Every string is HTML-escaped. ``customer_id`` / ``person_id`` columns and index levels are shown
    as pseudonyms (``C-3f9a2b7c1d4e``; see :mod:`clc_lib.privacy` and ``docs/privacy.md``), columns
    that look like names, e-mail addresses, phone numbers or postal addresses are left out, and
    e-mail addresses and phone numbers inside other text are replaced by a placeholder.

    Parameters
    ----------
    df
        The table; a non-default index (e.g. ``customer_id`` or stage) is shown as the first columns.
    currency
        The run currency appended to the ``money`` columns.
    percent, money, counts
        Columns holding shares (1 = 100%), amounts in ``currency``, and counts. Other columns are
        formatted by type: integers with thousands separators, other numbers with two decimals
        (none from 1,000), dates as ``YYYY-MM-DD``, timedeltas in days.
        Lifecycle-stage codes in a ``stage`` column or index level read as the stages' labels
        (:data:`STAGE_COLUMNS`).
    caption
        A title shown above the table.
    max_rows
        Rows shown (the first ``max_rows``; a note gives the total). None shows all.
    pseudonymise
        Show identifiers as pseudonyms; default the notebook parameter ``pseudonymise_ids`` (see
        :func:`clc_lib.handoff.apply_notebook_parameters`; on unless set to False; the report runner
        passes ``report.pseudonymise_ids`` of the run config).
    """
    display_html(table_html(df, currency=currency, percent=percent, money=money, counts=counts,
                             caption=caption, max_rows=max_rows, pseudonymise=pseudonymise))


# --- statistics in words ------------------------------------------------------------------------

def plain_p_value(p_value: float | None) -> str:
    """A test's p-value in words first, for readers: ``0.0004`` -> ``"a clear difference, p < 0.001"``.

    Below 0.01 "a clear difference", below 0.05 "some evidence of a difference", otherwise "no
    clear difference"; the p-value follows with three decimals (``p < 0.001`` below that). A
    missing value reads "not tested". In the active language.
    """
    if is_missing(p_value):
        return _("not tested")
    p = float(p_value)
    shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    if p < 0.01:
        return _("a clear difference, {p}").format(p=shown)
    if p < 0.05:
        return _("some evidence of a difference, {p}").format(p=shown)
    return _("no clear difference, {p}").format(p=shown)


def plain_interval(estimate: float | None, lower: float | None, upper: float | None, *,
                   kind: str = "points") -> str:
    """An estimate with its 95% interval in words: ``(0.044, 0.032, 0.056)`` -> ``"4.4 points, 95%
    interval 3.2 to 5.6"``.

    ``kind`` is ``"points"`` (shares given as fractions, shown as percentage points with one
    decimal) or ``"number"`` (shown with two decimals). A missing bound leaves the interval out.
    In the active language.
    """
    if is_missing(estimate):
        return MISSING_TEXT
    if kind == "points":
        def shown(value: float) -> str:
            return f"{100 * float(value):.1f}"
        with_unit = _("{points} points")
    elif kind == "number":
        def shown(value: float) -> str:
            return format_number(value, 2)
        with_unit = "{points}"
    else:
        raise ValueError(f"plain_interval: kind must be 'points' or 'number', not {kind!r}")
    text = with_unit.format(points=shown(estimate))
    if is_missing(lower) or is_missing(upper):
        return text
    return _("{estimate}, 95% interval {lower} to {upper}").format(estimate=text, lower=shown(lower),
                                                                   upper=shown(upper))
