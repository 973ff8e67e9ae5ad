"""The sentences each report opens with, generated from its key figures.

A report's headline answers its question in 3-5 sentences with this run's numbers, counts as well
as shares, and says what moved since the previous comparable run (the one the report index
compares with, handed to the notebook as ``previous_key_figures``). The sentences are templates
(:data:`HEADLINES`) filled from the key figures of :mod:`clc_lib.keyfigures`, whose labels and
thresholds come from :mod:`clc_lib.definitions`; nothing in a sentence is computed here, so a
sentence and a card can never disagree.

In a template, ``{key}`` is the formatted value of the figure whose term is ``key``,
``{key.count}`` the customers a share counts, ``{key.change}`` its change since the previous run
(`` (up 0.5 pp since 2024-11-30)``, empty without a previous run), ``{key.label_lower}`` its label
in lower case, and ``{at_risk_days}`` (any stage-rule threshold a figure depends on) the threshold
in days. Each headline line is a tuple of alternative templates: the first whose figures are all
present (not missing) is used, and a line with none is left out.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable, Mapping
from typing import Any

from clc_lib.display import CARD_CSS, format_change
from clc_lib.formatting import format_count, format_date, format_value, is_missing
from clc_lib.i18n import N_, gettext as _

__all__ = [
    "HEADLINES",
    "headline_sentences",
    "segmentation_headlines",
    "acquisition_headlines",
    "monetisation_headlines",
    "retention_headlines",
    "recovery_headlines",
    "headlines_html",
    "show_headlines",
]

# Each template is written out whole (not put together from parts) so that it is one message to
# translate; a translation keeps the names in braces and may reorder them.
_AT_RISK = N_("{at_risk_customer.count} customers ({at_risk_customer}) are at risk, with no purchase for more "
              "than {at_risk_days} days but not more than {dormant_days} days{at_risk_customer.change}.")
_CHURNED = N_("{churned_customer.count} customers ({churned_customer}) have churned: no purchase for more than "
              "{churn_days} days{churned_customer.change}.")
_AT_RISK_WITH_VALUE = (
    N_("{at_risk_customer.count} customers ({at_risk_customer}) are at risk, with no purchase for more "
       "than {at_risk_days} days but not more than {dormant_days} days{at_risk_customer.change}; the "
       "{at_risk_value.label_lower} is {at_risk_value}{at_risk_value.change}."),
    _AT_RISK,
)

#: Report -> its headline lines, in order; each line is a tuple of alternative templates (English,
#: translated when a sentence is made).
HEADLINES: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "segmentation": (
        (N_("{customer} customers have bought at least once{customer.change}; another {prospect} people are "
            "prospects who have not bought yet{prospect.change}."),
         N_("{customer} customers have bought at least once{customer.change}.")),
        (_AT_RISK,),
        (_CHURNED,),
        (N_("{loyal_customer.count} customers ({loyal_customer}) are loyal{loyal_customer.change}, and "
            "{repeat_customer.count} ({repeat_customer}) have bought more than once{repeat_customer.change}."),),
        (N_("Together they brought {net_revenue} of net revenue{net_revenue.change}."),),
    ),
    "acquisition": (
        (N_("{acquired_customer} customers have been acquired since {first_purchase_date}"
            "{acquired_customer.change}."),),
        (N_("{repeat_customer.count} of them ({repeat_customer}) have bought again{repeat_customer.change}."),),
        (N_("In the cohorts whose window has ended, {repeat_within_window} made a second purchase within "
            "{window_days} days of the first{repeat_within_window.change}."),),
        (N_("Repeat customers buy again every {days_between_purchases} (median)"
            "{days_between_purchases.change}."),),
    ),
    "monetisation": (
        (N_("Net revenue is {net_revenue}{net_revenue.change}, from {orders} orders{orders.change}."),),
        (N_("That is {net_revenue_per_customer} per customer{net_revenue_per_customer.change}."),),
        (N_("The top {top_percent} of customers bring {top_share} of net revenue{top_share.change}."),),
        (N_("Returns and cancellations took back {returns}{returns.change}."),),
        (_CHURNED,),
    ),
    "retention": (
        (N_("{repeat_customer.count} of {customer} customers ({repeat_customer}) have bought more than once"
            "{repeat_customer.change}."),),
        (N_("{retention_one_period} of customers buy again in the period after their first"
            "{retention_one_period.change}."),),
        _AT_RISK_WITH_VALUE,
        (_CHURNED,),
    ),
    "recovery": (
        (N_("{lapsed_or_churned.count} customers ({lapsed_or_churned}) have not bought for more than "
            "{at_risk_days} days{lapsed_or_churned.change}."),),
        _AT_RISK_WITH_VALUE,
        (_CHURNED,),
        (N_("{reactivation_rate} of the customers who had been away for more than {reactivation_gap_days} days "
            "came back in the last full period{reactivation_rate.change}."),),
    ),
}


def _field(figure: Any, name: str, default: Any = None) -> Any:
    return figure.get(name, default) if isinstance(figure, Mapping) else getattr(figure, name, default)


def _change_clause(change: str, as_of: str | None) -> str:
    """`` (up 0.5 pp since 2024-11-30)`` from the index's change text ``+0.5 pp``, in the active language."""
    if not change:
        return ""
    if as_of:
        clauses = (_(" (up {change} since {date})"), _(" (down {change} since {date})"), _(" ({change} since {date})"))
    else:
        clauses = (_(" (up {change} since the previous run)"), _(" (down {change} since the previous run)"),
                   _(" ({change} since the previous run)"))
    up, down, other = clauses
    date = format_date(as_of) if as_of else ""
    if change.startswith("+"):
        return up.format(change=change[1:], date=date)
    if change.startswith("-"):
        return down.format(change=change[1:], date=date)
    return other.format(change=change, date=date)


class _Said:
    """One key figure as a template sees it: formatted value, count, change and label."""

    def __init__(self, figure: Any, previous: Mapping[str, Any] | None, currency: str) -> None:
        self.label = str(_field(figure, "label"))  # English: the key of the previous run's values
        shown = str(_field(figure, "display_label") or self.label)
        self.label_lower = shown[:1].lower() + shown[1:]
        self.raw = _field(figure, "value")
        kind = _field(figure, "kind", "number")
        if kind == "date":  # a sentence names the day
            import pandas as pd

            self.raw = pd.Timestamp(self.raw).normalize()
        self.text = format_value(self.raw, kind, currency)
        count = _field(figure, "count")
        self.count = format_count(count) if count is not None else ""
        self.change = ""
        if previous is not None and self.label in (previous.get("values") or {}):
            before = previous["values"][self.label]
            if kind == "date":
                return
            self.change = _change_clause(format_change(kind, self.raw, before, currency), previous.get("as_of"))

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)


def _template_names(template: str) -> set[str]:
    return {name.split(".")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def headline_sentences(report: str, figures: Iterable[Any], previous: Mapping[str, Any] | None = None, *,
                       currency: str | None = "", **parameters: Any) -> list[str]:
    """The headline sentences of one report.

    Parameters
    ----------
    report
        A key of :data:`HEADLINES` (``segmentation``, ``acquisition``, ``monetisation``,
        ``retention``, ``recovery``).
    figures
        The report's key figures: :class:`~clc_lib.keyfigures.KeyFigure` values, or their JSON
        records (``key``, ``label``, ``value``, ``kind``, ``count``).
    previous
        The previous comparable run's figures (the notebook parameter ``previous_key_figures``:
        ``as_of`` and ``values``, label -> raw value); None for no change clauses.
    currency
        The run currency, appended to money.
    **parameters
        Report parameters a template names (``window_days``, ``top_percent``).

    Returns
    -------
    list of str
        One sentence per headline line whose figures are all present, in order, in the active
        language (:mod:`clc_lib.i18n`).
    """
    if report not in HEADLINES:
        raise ValueError(f"No headlines are defined for {report!r}; reports: {', '.join(HEADLINES)}.")
    names: dict[str, Any] = {}
    for figure in figures:
        key = _field(figure, "key")
        if key is None:
            continue
        if not is_missing(_field(figure, "value")):
            names[key] = _Said(figure, previous, currency or "")
        for threshold, days in _field(figure, "thresholds", ()) or ():
            names.setdefault(threshold, f"{float(days):g}")
    names.update({name: value for name, value in parameters.items() if value is not None})
    sentences = []
    for alternatives in HEADLINES[report]:
        for template in alternatives:
            if _template_names(template) <= set(names):
                text = _(template).format_map(names)
                sentences.append(text[:1].upper() + text[1:])
                break
    return sentences


def segmentation_headlines(figures: Iterable[Any], previous: Mapping[str, Any] | None = None, *,
                           currency: str | None = "") -> list[str]:
    """Headline of the segmentation report (01): customers and prospects, at-risk, churned, loyal and repeat
    customers with their counts, and net revenue (:func:`clc_lib.keyfigures.segmentation_figures`)."""
    return headline_sentences("segmentation", figures, previous, currency=currency)


def acquisition_headlines(figures: Iterable[Any], previous: Mapping[str, Any] | None = None, *,
                          currency: str | None = "", repeat_window_days: int = 90) -> list[str]:
    """Headline of the acquisition report (02): customers acquired, repeat customers, second purchases
    within ``repeat_window_days`` days and the typical gap (:func:`clc_lib.keyfigures.acquisition_figures`)."""
    return headline_sentences("acquisition", figures, previous, currency=currency, window_days=repeat_window_days)


def monetisation_headlines(figures: Iterable[Any], previous: Mapping[str, Any] | None = None, *,
                           currency: str | None = "", top_share: float = 0.2) -> list[str]:
    """Headline of the monetisation report (03): net revenue and orders, revenue per customer, the top
    ``top_share`` of customers' revenue share, returns and churned customers
    (:func:`clc_lib.keyfigures.monetisation_figures`)."""
    return headline_sentences("monetisation", figures, previous, currency=currency, top_percent=f"{top_share:.0%}")


def retention_headlines(figures: Iterable[Any], previous: Mapping[str, Any] | None = None, *,
                        currency: str | None = "") -> list[str]:
    """Headline of the retention report (04): repeat customers, second-period retention, at-risk customers
    and their predicted value, churned customers (:func:`clc_lib.keyfigures.retention_figures`)."""
    return headline_sentences("retention", figures, previous, currency=currency)


def recovery_headlines(figures: Iterable[Any], previous: Mapping[str, Any] | None = None, *,
                       currency: str | None = "") -> list[str]:
    """Headline of the recovery report (05): lapsed or churned, at-risk (with predicted value) and churned
    customers, and the reactivation rate (:func:`clc_lib.keyfigures.recovery_figures`)."""
    return headline_sentences("recovery", figures, previous, currency=currency)


def headlines_html(sentences: Iterable[str]) -> str:
    """The headline as an HTML list (each sentence escaped)."""

    items = "".join(f"<li>{html.escape(sentence)}</li>" for sentence in sentences)
    return f'{CARD_CSS}<ul class="clc-headlines">{items}</ul>'


def show_headlines(sentences: Iterable[str]) -> None:
    """Show the headline sentences at the top of a report."""
    from IPython.display import HTML, display

    display(HTML(headlines_html(sentences)))
