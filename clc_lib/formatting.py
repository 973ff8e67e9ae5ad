"""How one value looks on a report page: money, shares, counts, days, dates and numbers.

The single place where the project decides how a figure is written (see the table in
:mod:`clc_lib.display`, which shows these formatters' results on cards and in tables). In Chinese
(:mod:`clc_lib.i18n`) dates, money and units follow the language; the ``english_*`` functions give
the English form whatever language is active.
"""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from clc_lib.i18n import N_, current_language, gettext as _, ngettext

__all__ = [
    "MISSING_TEXT",
    "WHOLE_UNITS_FROM",
    "FIGURE_KINDS",
    "is_missing",
    "format_number",
    "format_currency",
    "format_percent",
    "format_points",
    "format_count",
    "format_days",
    "format_date",
    "format_duration",
    "format_value",
    "infer_kind",
    "english_number",
    "english_currency",
    "english_percent",
    "english_count",
    "english_date",
]

MISSING_TEXT = "\u2013"
# Money at or above this magnitude is shown in whole units (cents add noise to large totals).
WHOLE_UNITS_FROM = 10_000


def is_missing(value: Any) -> bool:
    """Whether a figure's value is missing (None, NaT or NaN); such values show as :data:`MISSING_TEXT`."""
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_number(value: float | None, decimals: int = 2) -> str:
    """A number with thousands separators and ``decimals`` decimals: ``1234.567`` -> ``1,234.57``."""
    from clc_lib import i18n

    return i18n.format_number(value, decimals)


def english_number(value: float, decimals: int = 2) -> str:
    """:func:`format_number` as English writes it, whatever the active language."""
    if is_missing(value):
        return MISSING_TEXT
    return f"{float(value):,.{decimals}f}"


def format_currency(value: float | None, currency: str | None = "") -> str:
    """Money in the run currency: two decimals below 10,000, whole units from 10,000.

    ``format_currency(1234.5, "EUR") == "1,234.50 EUR"``,
    ``format_currency(-98765.4, "EUR") == "-98,765 EUR"``; an empty currency adds no suffix.
    Chinese writes the code first: ``EUR 1,234.50``.
    """
    from clc_lib import i18n

    return i18n.format_currency(value, currency)


def english_currency(value: float, currency: str | None = "") -> str:
    """:func:`format_currency` as English writes it, whatever the active language."""
    if is_missing(value):
        return MISSING_TEXT
    amount = float(value)
    decimals = 0 if abs(amount) >= WHOLE_UNITS_FROM else 2
    text = f"{amount:,.{decimals}f}"
    if text.startswith("-") and float(text.lstrip("-").replace(",", "")) == 0:
        text = text[1:]  # -0.00 rounds to zero: show it without the sign
    return f"{text} {currency}" if currency else text


def format_percent(share: float | None, decimals: int = 1) -> str:
    """A share as a percentage (1.0 = 100%): ``format_percent(0.1234) == "12.3%"``."""
    from clc_lib import i18n

    return i18n.format_percent(share, decimals)


def english_percent(share: float, decimals: int = 1) -> str:
    """:func:`format_percent` as English writes it, whatever the active language."""
    if is_missing(share):
        return MISSING_TEXT
    return f"{float(share) * 100:,.{decimals}f}%"


def format_points(difference: float | None) -> str:
    """A difference of two shares in percentage points, signed: ``0.0441`` -> ``+4.4 points``
    (``+4.4个百分点`` in Chinese)."""
    if is_missing(difference):
        return MISSING_TEXT
    return _("{points} points").format(points=f"{float(difference) * 100:+,.1f}")


def format_count(n: float | None) -> str:
    """A count with thousands separators, rounded to a whole number: ``1234567`` -> ``1,234,567``."""
    from clc_lib import i18n

    return i18n.format_count(n)


def english_count(n: float) -> str:
    """:func:`format_count` as English writes it, whatever the active language."""
    if is_missing(n):
        return MISSING_TEXT
    return f"{round(float(n)):,d}"


def format_days(days: float | None) -> str:
    """A duration in days: one decimal below 10 days, whole days from 10 (``12.4`` -> ``12 days``;
    ``12天`` in Chinese)."""
    if is_missing(days):
        return MISSING_TEXT
    value = float(days)
    text = f"{value:,.1f}" if abs(value) < 10 else f"{round(value):,d}"
    return ngettext("{days} day", "{days} days", 1 if text in ("1", "1.0") else 2).format(days=text)


def format_date(value: Any) -> str:
    """A date as ``YYYY-MM-DD`` (a time of day other than midnight is kept as ``HH:MM``); Chinese
    writes ``2024年6月30日``."""
    from clc_lib import i18n

    return i18n.format_date(value)


def english_date(value: Any) -> str:
    """:func:`format_date` as English writes it, whatever the active language."""
    if is_missing(value):
        return MISSING_TEXT
    stamp = pd.Timestamp(value)
    if stamp == stamp.normalize():
        return f"{stamp:%Y-%m-%d}"
    return f"{stamp:%Y-%m-%d %H:%M}"


_FORMATTERS: dict[str, Callable[[Any, str], str]] = {
    "currency": lambda value, currency: format_currency(value, currency),
    "percent": lambda value, _currency: format_percent(value),
    "points": lambda value, _currency: format_points(value),
    "count": lambda value, _currency: format_count(value),
    "days": lambda value, _currency: format_days(value),
    "date": lambda value, _currency: format_date(value),
    "number": lambda value, _currency: format_number(value),
    "text": lambda value, _currency: MISSING_TEXT if is_missing(value) else str(value),
}
FIGURE_KINDS: tuple[str, ...] = tuple(_FORMATTERS)


def format_duration(value: float, time_unit: str) -> str:
    """A length in model time units as words: ``52, "W"`` -> ``52 weeks``; ``1, "M"`` -> ``1 month``
    (``52周``, ``1个月`` in simplified Chinese).

    ``time_unit`` is the ``clv.time_unit`` of the run config (D, W or M), so captions follow it.
    """
    from clc_lib.periods import TimeUnit

    unit = TimeUnit.parse(time_unit)
    if current_language() == "en":
        return unit.words(value)
    return _(_DURATION_WORDS[unit.code]).format(value=f"{value:g}")


# Durations in words outside English (English keeps TimeUnit.words, with its singulars).
_DURATION_WORDS: Mapping[str, str] = {"D": N_("{value} days"), "W": N_("{value} weeks"), "M": N_("{value} months")}


def format_value(value: Any, kind: str, currency: str | None = "") -> str:
    """Format ``value`` as ``kind`` (one of :data:`FIGURE_KINDS`); the text is not HTML-escaped."""
    try:
        formatter = _FORMATTERS[kind]
    except KeyError:
        raise ValueError(f"Unknown figure kind {kind!r}; use one of {', '.join(FIGURE_KINDS)}.") from None
    return formatter(value, currency or "")


def infer_kind(value: Any) -> str:
    """The figure kind a value shows as when none is given: date, days, count, number or text."""
    if isinstance(value, (pd.Timestamp, dt.date, np.datetime64)):
        return "date"
    if isinstance(value, (pd.Timedelta, dt.timedelta)):
        return "days"
    if isinstance(value, (bool, np.bool_)):
        return "text"
    if isinstance(value, numbers.Integral):
        return "count"
    if isinstance(value, numbers.Real):
        return "number"
    return "text"
