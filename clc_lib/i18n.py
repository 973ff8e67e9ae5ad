"""The language of the reports: English, simplified Chinese and traditional Chinese.

One language is active in a Python process at a time (:func:`set_language`, :func:`language`);
``clc report`` passes the run's language to each notebook as the papermill parameter ``language``,
which :func:`clc_lib.handoff.apply_notebook_parameters` makes active in the kernel. Text a reader
sees is looked up in gettext catalogs (:func:`gettext`, :func:`pgettext`, :func:`ngettext`), kept
in ``clc_lib/locale/<catalog>/LC_MESSAGES/clc.po``; the English text is the message id, so English
needs no catalog. Numbers, percentages, money, dates and periods are written the way the language
does with Babel (:func:`format_number`, :func:`format_currency`, :func:`format_date`,
:func:`format_period`, ...); for English they are the formatters of :mod:`clc_lib.display`.

The compiled ``.mo`` files are not kept in git: a catalog is compiled when it is first used in a
process if its ``.mo`` is missing or older than its ``.po`` (written beside the ``.po`` when the
folder is writable, else kept in memory); ``make i18n-compile`` compiles them all. See
``docs/languages.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gettext as gettext_module
import io
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from clc_lib.errors import ConfigError

# The locale formatters (format_number, format_count, format_percent, format_currency, format_date)
# are left out: the package exports clc_lib.display's formatters under those names.
__all__ = [
    "LANGUAGES",
    "DEFAULT_LANGUAGE",
    "BABEL_LOCALES",
    "CATALOG_FOLDERS",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "DOMAIN",
    "N_",
    "RUN_STATUS_WORDS",
    "parse_language",
    "parse_languages",
    "set_language",
    "current_language",
    "language",
    "catalog",
    "compile_catalog",
    "gettext",
    "_",
    "pgettext",
    "ngettext",
    "page_suffix",
    "sentence_space",
    "format_period",
    "PERIOD_UNITS",
]

#: The languages a report can be written in (BCP 47 tags, as written in the run config).
LANGUAGES: tuple[str, ...] = ("en", "zh-Hans", "zh-Hant")
DEFAULT_LANGUAGE = "en"
#: The Babel locale that formats numbers, dates and money in each language.
BABEL_LOCALES: dict[str, str] = {"en": "en_US", "zh-Hans": "zh_Hans_CN", "zh-Hant": "zh_Hant_TW"}
#: The folder of each translated language's catalog under :data:`LOCALE_DIR` (English has none).
CATALOG_FOLDERS: dict[str, str] = {"zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant"}
#: Each language named in itself, for the links between the language versions of a page.
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh-Hans": "简体中文", "zh-Hant": "繁體中文"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "clc"

_active = DEFAULT_LANGUAGE


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark for translation only"
    """Mark ``message`` for extraction without translating it (for tables of labels looked up later)."""
    return message


#: The words of a run's status (``run.json``), translated where the index shows them.
RUN_STATUS_WORDS = (N_("complete"), N_("partial"), N_("failed"), N_("ok"))


# --- the active language --------------------------------------------------------------------------

def parse_language(value: Any, *, what: str = "language") -> str:
    """The language tag of :data:`LANGUAGES` named by ``value`` (case and ``_``/``-`` are free).

    Raises
    ------
    ConfigError
        For anything else; the message names ``what`` and the allowed languages.
    """
    if isinstance(value, str):
        wanted = value.strip().replace("_", "-").casefold()
        for tag in LANGUAGES:
            if tag.casefold() == wanted:
                return tag
    raise ConfigError(f"{what} is {value!r}; use one of {', '.join(LANGUAGES)} "
                      "(en: English, zh-Hans: simplified Chinese, zh-Hant: traditional Chinese).")


def parse_languages(value: Any, *, what: str = "language") -> tuple[str, ...]:
    """One language or a list of them (also ``"en,zh-Hant"``) as a tuple of distinct tags, in order.

    Raises
    ------
    ConfigError
        An unknown language, an empty list, or a value that is neither text nor a list.
    """
    if isinstance(value, str):
        items: list[Any] = [part for part in value.split(",") if part.strip()] or [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise ConfigError(f"{what} is an empty list; give at least one of {', '.join(LANGUAGES)}.")
    tags: list[str] = []
    for item in items:
        tag = parse_language(item, what=what)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def set_language(value: str) -> str:
    """Make ``value`` the language of this process (see :func:`parse_language`); returns its tag."""
    global _active
    _active = parse_language(value)
    return _active


def current_language() -> str:
    """The active language's tag (``"en"`` until :func:`set_language` is called)."""
    return _active


@contextlib.contextmanager
def language(value: str) -> Iterator[str]:
    """Within the ``with`` block, ``value`` is the active language; the previous one is restored after."""
    global _active
    previous = _active
    set_language(value)
    try:
        yield _active
    finally:
        _active = previous


def sentence_space(tag: str | None = None) -> str:
    """What separates two sentences or clauses put together from messages: a space in English,
    nothing in Chinese (whose full-width punctuation carries its own space)."""
    tag = current_language() if tag is None else parse_language(tag)
    return "" if tag.startswith("zh") else " "


def page_suffix(tag: str, first: str) -> str:
    """The part of a page's file name that names its language: none for the run's first language,
    else ``".zh-Hant"`` (``01_segmentation.zh-Hant.html``)."""
    return "" if tag == first else f".{tag}"


# --- catalogs ---------------------------------------------------------------------------------------

def _po_path(tag: str) -> Path:
    return LOCALE_DIR / CATALOG_FOLDERS[tag] / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(po_path: Path, mo_path: Path | None = None) -> bytes:
    """Compile a ``.po`` catalog to ``.mo`` bytes (fuzzy messages left out); write them to ``mo_path`` if given."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po_path, "rb") as handle:
        messages = read_po(handle, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, messages, use_fuzzy=False)
    compiled = buffer.getvalue()
    if mo_path is not None:
        mo_path.write_bytes(compiled)
    return compiled


@lru_cache(maxsize=None)
def _load_catalog(tag: str, po_mtime: float) -> gettext_module.NullTranslations:
    po_path = _po_path(tag)
    mo_path = po_path.with_suffix(".mo")
    if mo_path.is_file() and mo_path.stat().st_mtime >= po_mtime:
        with open(mo_path, "rb") as handle:
            return gettext_module.GNUTranslations(handle)
    try:
        compiled = compile_catalog(po_path, mo_path)
    except OSError:  # a read-only installation: keep the compiled catalog in memory only
        compiled = compile_catalog(po_path)
    return gettext_module.GNUTranslations(io.BytesIO(compiled))


def catalog(tag: str | None = None) -> gettext_module.NullTranslations:
    """The translations of ``tag`` (default the active language); English returns the message ids.

    Raises
    ------
    ConfigError
        The language is unknown, or its catalog file is missing from the installation.
    """
    tag = current_language() if tag is None else parse_language(tag)
    if tag not in CATALOG_FOLDERS:
        return gettext_module.NullTranslations()
    po_path = _po_path(tag)
    if not po_path.is_file():
        raise ConfigError(f"The {tag} catalog {po_path} is missing; reinstall clc or run `make i18n-update`.")
    return _load_catalog(tag, po_path.stat().st_mtime)


def gettext(message: str) -> str:
    """``message`` in the active language (the English text when it has no translation)."""
    return catalog().gettext(message)


_ = gettext


def pgettext(context: str, message: str) -> str:
    """``message`` in the active language, the translation meant for ``context`` (e.g. a notebook cell)."""
    return catalog().pgettext(context, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural message for ``n``, in the active language."""
    return catalog().ngettext(singular, plural, n)


# --- formatting per locale ---------------------------------------------------------------------------

def _locale(tag: str | None) -> tuple[str, str]:
    tag = current_language() if tag is None else parse_language(tag)
    return tag, BABEL_LOCALES[tag]


def _missing(value: Any) -> bool:
    from clc_lib.formatting import is_missing

    return is_missing(value)


def format_number(value: float | None, decimals: int = 2, *, lang: str | None = None) -> str:
    """A number with grouped thousands and ``decimals`` decimals in the language's way
    (``1234.567`` -> ``1,234.57`` in all three languages); missing values show as a dash."""
    from clc_lib import formatting
    from babel.numbers import format_decimal

    tag, locale = _locale(lang)
    if tag == "en" or _missing(value):
        return formatting.english_number(value, decimals)
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(float(value), format=pattern, locale=locale, decimal_quantization=True)


def format_count(n: float | None, *, lang: str | None = None) -> str:
    """A count rounded to a whole number with grouped thousands (``1234567`` -> ``1,234,567``)."""
    from clc_lib import formatting

    tag, _locale_name = _locale(lang)
    if tag == "en" or _missing(n):
        return formatting.english_count(n)
    return format_number(round(float(n)), 0, lang=tag)


def format_percent(share: float | None, decimals: int = 1, *, lang: str | None = None) -> str:
    """A share as a percentage, 1.0 = 100% (``0.1234`` -> ``12.3%``)."""
    from clc_lib import formatting
    from babel.numbers import format_percent as babel_percent

    tag, locale = _locale(lang)
    if tag == "en" or _missing(share):
        return formatting.english_percent(share, decimals)
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "") + "%"
    return babel_percent(float(share), format=pattern, locale=locale, decimal_quantization=True)


def format_currency(value: float | None, currency: str | None = "", *, lang: str | None = None) -> str:
    """Money with its ISO currency code: two decimals below 10,000, whole units from 10,000.

    English keeps the code after the amount (``1,234.50 EUR``, :func:`clc_lib.display.format_currency`);
    Chinese writes it before, as CLDR places the currency sign there (``EUR 1,234.50``). An empty
    currency gives the amount alone.
    """
    from clc_lib import formatting
    from babel.numbers import format_currency as babel_currency

    tag, locale = _locale(lang)
    if tag == "en" or _missing(value):
        return formatting.english_currency(value, currency)
    amount = float(value)
    decimals = 0 if abs(amount) >= formatting.WHOLE_UNITS_FROM else 2
    amount_pattern = "#,##0" + (".00" if decimals else "")
    if round(amount, decimals) == 0:
        amount = 0.0  # -0.00 rounds to zero: show it without the sign
    if not currency:
        return format_number(amount, decimals, lang=tag)
    return babel_currency(amount, currency, format=f"¤¤ {amount_pattern}", locale=locale,
                          currency_digits=False, decimal_quantization=True)


def format_date(value: Any, *, lang: str | None = None) -> str:
    """A date the language's way: ``2024-12-31`` (English) or ``2024年12月31日``; a time of day
    other than midnight is added as ``HH:MM``."""
    import pandas as pd
    from babel.dates import format_date as babel_date

    from clc_lib import formatting

    tag, locale = _locale(lang)
    if tag == "en" or _missing(value):
        return formatting.english_date(value)
    stamp = pd.Timestamp(value)
    text = babel_date(stamp.date(), format="long", locale=locale)
    return text if stamp == stamp.normalize() else f"{text} {stamp:%H:%M}"


#: The units :func:`format_period` labels, by their one-letter code.
PERIOD_UNITS: dict[str, str] = {"M": "month", "Q": "quarter", "W": "week", "Y": "year"}
_ISO_WEEK_PATTERNS = {"zh-Hans": "{year}年第{week}周", "zh-Hant": "{year}年第{week}週"}


def _period_unit(unit: Any) -> str:
    text = str(getattr(unit, "code", unit)).strip()
    for code, word in PERIOD_UNITS.items():
        if text.upper() == code or text.lower() in (word, word + "s"):
            return code
    raise ConfigError(f"Period unit {unit!r} is not known; use one of "
                      + ", ".join(f"'{code}' ({word})" for code, word in PERIOD_UNITS.items()) + ".")


def format_period(period_start: Any, unit: Any, *, lang: str | None = None) -> str:
    """The label of the period that starts on ``period_start``.

    ``unit`` is ``"M"``, ``"Q"``, ``"W"`` or ``"Y"`` (or its word, or a :class:`clc_lib.periods.Period`).
    English labels as the charts do: ``2024-01`` (month), ``2024-01-01`` (the week's Monday),
    ``2024 Q1``, ``2024``. Chinese: ``2024年1月``, ``2024年第1季度`` / ``2024年第1季``,
    ``2024年第1周`` / ``2024年第1週`` (ISO week number and year) and ``2024年``.
    """
    import pandas as pd
    from babel.dates import format_skeleton

    code = _period_unit(unit)
    tag, locale = _locale(lang)
    if _missing(period_start):
        from clc_lib.formatting import MISSING_TEXT

        return MISSING_TEXT
    start = pd.Timestamp(period_start)
    if tag == "en":
        quarter = (start.month - 1) // 3 + 1
        return {"M": f"{start:%Y-%m}", "W": f"{start:%Y-%m-%d}", "Q": f"{start.year} Q{quarter}",
                "Y": f"{start.year}"}[code]
    if code == "W":
        iso = start.isocalendar()
        return _ISO_WEEK_PATTERNS[tag].format(year=iso.year, week=iso.week)
    skeleton = {"M": "yMMM", "Q": "yQQQ", "Y": "y"}[code]
    return format_skeleton(skeleton, dt.date(start.year, start.month, start.day), locale=locale)
