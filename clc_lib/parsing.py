"""Parsing a source's text into the contract's types: dates, numbers and identifiers.

Flow: config -> sources (:mod:`clc_lib.sources`) -> **parsing** -> quality rules
(:mod:`clc_lib.loading`) -> the run (:mod:`clc_lib.run`) -> analyses.

Date formats and the decimal separator are detected from the first values of each column unless
configured; the :class:`Parser` then builds typed columns with ``try_strptime`` / ``try_cast`` and a
flag per column for values that do not parse, so that failures can be counted and shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from clc_lib.contract import TableContract
from clc_lib.engines import engine_of
from clc_lib.sources import FIELDS_OK_COLUMN, FILE_COLUMN, ROW_COLUMN, Source, execute_query

__all__ = ["MISSING_TOKENS", "CURRENCY_SYMBOLS", "CURRENCY_CODES", "Parser", "unparseable_message"]

_ISO = "ISO 8601"
_ISO_OFFSET = "ISO 8601 with UTC offset"
_EPOCH_SECONDS = "Unix time in seconds"
_EPOCH_MILLISECONDS = "Unix time in milliseconds"
_DATE_FORMATS_YEAR_FIRST = ("%Y%m%d", "%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
                            "%Y.%m.%d")
_DATE_FORMATS_MONTH_FIRST = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y")
_DATE_FORMATS_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%y",
                           "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d-%m-%Y %H:%M:%S",
                           "%d-%m-%Y %H:%M", "%d-%m-%Y", "%d.%m.%y")

# Formats recognised by a pattern rather than strptime: format name -> pattern of a whole value.
# Unix times: 9-10 digits are seconds (1973-2286), 12-13 digits milliseconds; 8 digits stay %Y%m%d.
_PATTERN_FORMATS = {
    _ISO: re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"),
    _ISO_OFFSET: re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"),
    _EPOCH_SECONDS: re.compile(r"^\d{9,10}$"),
    _EPOCH_MILLISECONDS: re.compile(r"^\d{12,13}$"),
}
_UTC_OFFSET_SQL = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
_EPOCH_UNITS = {_EPOCH_SECONDS: "s", _EPOCH_MILLISECONDS: "ms"}

# Why values of a date column failed, by the format the column was parsed with (for the error hint).
_DATE_FORMAT_HINTS = {
    _ISO: "Values with a UTC offset (e.g. +01:00) are refused in a column whose other values have none: "
          "their time zones cannot be compared. ",
    _ISO_OFFSET: "Every value needs a UTC offset (Z, +01:00) when the column has them; a value without one has "
                 "an unknown time zone. ",
}


def _date_candidates(dayfirst: bool) -> tuple[str, ...]:
    first, second = ((_DATE_FORMATS_DAY_FIRST, _DATE_FORMATS_MONTH_FIRST) if dayfirst
                     else (_DATE_FORMATS_MONTH_FIRST, _DATE_FORMATS_DAY_FIRST))
    # Unix times come before the strptime formats: strptime also reads 1704448800 as %Y%m%d%H%M%S
    # (1704-04-04 08:08:00), taking one digit per field.
    return (_ISO, _ISO_OFFSET, _EPOCH_SECONDS, _EPOCH_MILLISECONDS, *_DATE_FORMATS_YEAR_FIRST, *first, *second)


def _parse_timestamp_text(text, fmt: str):
    """Timestamp (no time zone) from text in format ``fmt``; NULL where a value does not fit it.

    ISO values with a UTC offset are converted to UTC. In a column of values without offsets, a value
    with a non-zero offset is NULL (refused) rather than read as local time; in a column with offsets,
    a value without one is NULL. Unix times are seconds or milliseconds since 1970-01-01 UTC.
    """
    engine = engine_of(text)
    if engine.con.name != "duckdb":  # Spark and SQL databases parse each named format their own way
        return engine.parse_timestamp(text, fmt)
    if fmt in (_ISO, _ISO_OFFSET):
        as_utc = text.try_cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
        if fmt == _ISO_OFFSET:
            return ibis.ifelse(text.re_search(_UTC_OFFSET_SQL), as_utc, ibis.null(dt.Timestamp()))
        wall_clock = text.try_cast("timestamp")
        return ibis.ifelse(wall_clock == as_utc, wall_clock, ibis.null(dt.Timestamp()))
    if fmt in _EPOCH_UNITS:
        since_epoch = text.try_cast("int64").as_interval(_EPOCH_UNITS[fmt])
        return (ibis.timestamp("1970-01-01 00:00:00") + since_epoch).cast(dt.Timestamp())
    return engine.parse_timestamp(text, fmt)


def _matches_date_format(text: str, fmt: str) -> bool:
    """Whether ``text`` parses with ``fmt`` (Python's strptime accepts what DuckDB's does for these formats)."""
    if fmt in _PATTERN_FORMATS:
        return bool(_PATTERN_FORMATS[fmt].match(text))
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


_COMMA_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
_DOT_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)\.\d+$")
_COMMA_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")

#: Texts that mean "no value" in exports (pandas, R, SQL, Excel); compared ignoring case, after
#: stripping spaces, in identifier columns (in number columns only NaN is missing; the others do not parse).
MISSING_TOKENS: tuple[str, ...] = ("NAN", "NAT", "NULL", "NONE", "NA", "N/A", "#N/A")

#: Currency signs recognised before or after an amount: symbols and common ISO 4217 codes.
CURRENCY_SYMBOLS: tuple[str, ...] = ("$", "€", "£", "¥", "₹", "₩", "₺", "₽", "₪", "₫", "₱", "₦", "zł", "kr", "Fr.",
                                     "US$", "C$", "A$", "R$")
CURRENCY_CODES: tuple[str, ...] = ("EUR", "USD", "GBP", "CHF", "JPY", "CNY", "SEK", "NOK", "DKK", "PLN", "CZK",
                                   "HUF", "AUD", "CAD", "NZD", "INR", "BRL", "MXN", "ZAR", "TRY", "KRW", "SGD",
                                   "HKD")
_MARKERS = "|".join(re.escape(m) for m in sorted((*CURRENCY_SYMBOLS, *CURRENCY_CODES), key=len, reverse=True))
_CURRENCY_MARKER = re.compile(r"^[-+(]?\s*(?P<before>" + _MARKERS + r")?\s*[-+(]?[\d.,]+\)?-?\s*(?P<after>"
                              + _MARKERS + r")?$")

# Scientific notation in an identifier: a spreadsheet turned a long numeric id into 1.23457E+11.
_SCIENTIFIC_ID_SQL = r"^[0-9](\.[0-9]+)?[eE]\+[0-9]+$"


def _currency_marker(values: Sequence[str]) -> str | None:
    """The currency sign written next to most (more than half) of the amounts of a sample, or None."""
    found: dict[str, int] = {}
    for value in values:
        match = _CURRENCY_MARKER.match(value.strip())
        marker = match and (match.group("before") or match.group("after"))
        if marker:
            found[marker] = found.get(marker, 0) + 1
    if not found:
        return None
    marker = max(found, key=lambda m: (found[m], m))
    return marker if 2 * found[marker] > len(values) else None


def _normalize_number_text(value: str, marker: str | None) -> str:
    """Python twin of :meth:`Parser._number`'s text clean-up, for format detection on sample values."""
    text = value.strip()
    if marker:
        text = re.sub(r"^([-+(]?)\s*" + re.escape(marker) + r"\s*", r"\1", text)
        text = re.sub(r"\s*" + re.escape(marker) + r"$", "", text)
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]
    elif text.endswith("-") and len(text) > 1:
        text = "-" + text[:-1]
    return text


def _detect_number_format(values: Sequence[str]) -> tuple[str, str | None]:
    """(decimal, thousands) for a column from sample values: the separator used by more values wins."""
    values = [v.strip() for v in values]
    comma = sum(bool(_COMMA_DECIMAL.match(v)) for v in values)
    dot = sum(bool(_DOT_DECIMAL.match(v)) for v in values)
    if comma > dot:
        return ",", "."
    if any(_COMMA_THOUSANDS.match(v) for v in values):
        return ".", ","
    return ".", None


def _without_missing_tokens(text):
    """``text`` with the :data:`MISSING_TOKENS` (any case) turned into NULL."""
    return ibis.ifelse(text.upper().isin(list(MISSING_TOKENS)), ibis.null("string"), text)


@dataclass
class Parser:
    """Builds the typed contract columns (plus failure flags) from a raw source table."""

    source: Source
    mapping: dict[str, str]
    contract: TableContract
    date_formats: dict[str, str] = field(default_factory=dict)
    number_formats: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    currency_markers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def detect(self) -> None:
        """Choose date formats and decimal separators from the first non-empty values of each column."""
        raw = self.source.table
        options = self.source.csv_options
        text_columns = {
            name: column for name, column in self.mapping.items()
            if self.contract.column(name).dtype in ("timestamp", "float64") and raw[column].type().is_string()
        }
        if not text_columns:
            return
        sample = execute_query(raw.select(*set(text_columns.values())).limit(2000), self.source).astype("string")
        for name, column in text_columns.items():
            values = [v for v in sample[column].dropna().tolist() if v.strip() and v.strip().upper() != "NAN"][:500]
            if self.contract.column(name).dtype == "float64":
                marker = _currency_marker(values)
                if marker:
                    self.currency_markers[name] = marker
                    self.notes.append(f"{name}: currency sign {marker!r} removed from {column!r}")
                values = [_normalize_number_text(v, marker) for v in values]
                if options.get("decimal"):
                    decimal = str(options["decimal"])
                    thousands = options.get("thousands")
                    thousands = thousands if thousands is not None else ("." if decimal == "," else None)
                    self.number_formats[name] = (decimal, thousands)
                else:
                    self.number_formats[name] = _detect_number_format(values)
                    if self.number_formats[name][0] == ",":
                        self.notes.append(f"{name}: decimal comma detected in {column!r}")
            else:
                self.date_formats[name] = self._detect_date_format(name, column, values,
                                                                   options.get("date_format"),
                                                                   bool(options.get("dayfirst", False)))

    def _detect_date_format(self, name: str, column: str, values: list[str], configured, dayfirst: bool) -> str:
        if configured:
            return str(configured)
        if not values:
            return _ISO
        candidates = _date_candidates(dayfirst)
        parsed = [sum(_matches_date_format(v.strip(), fmt) for v in values) for fmt in candidates]
        best = max(range(len(candidates)), key=lambda i: (parsed[i], -i))
        chosen = candidates[best]
        if chosen != _ISO:
            self.notes.append(f"{name}: date format {chosen} detected in {column!r}")
        full = {fmt for fmt, n in zip(candidates, parsed) if n == len(values)}
        if chosen in full and any(f.startswith("%d") for f in full) and any(f.startswith("%m") for f in full):
            self.notes.append(f"{name}: day/month order is ambiguous in the sample; used {chosen} "
                              f"(set csv: {{dayfirst: {str(not dayfirst).lower()}}} or date_format if wrong)")
        return chosen

    def parse(self, raw) -> tuple[Any, list[str], list[str]]:
        """Return (table with contract columns and flags, bad-value flag names, missing-value flag names)."""
        columns: dict[str, Any] = {}
        bad_flags: dict[str, Any] = {}
        missing_flags: dict[str, Any] = {}
        # Blanks are stripped once, in a projection of their own: an engine computes an expression
        # again at every place it is used, and each text value is used by several checks below.
        text_columns = sorted({c for c in self.mapping.values() if raw[c].type().is_string()})
        source_text = {}
        if ROW_COLUMN in raw.columns:  # the error path: keep the source text of parsed columns for examples
            source_text = {f"__raw_{name}": raw[column].cast("string") for name, column in self.mapping.items()
                           if self.contract.column(name).dtype in ("timestamp", "float64")}
        raw = raw.mutate(**{column: _strip_blanks(raw[column]) for column in text_columns}, **source_text)
        for name, source_column in self.mapping.items():
            spec = self.contract.column(name)
            value = raw[source_column]
            parse = {"timestamp": self._timestamp, "float64": self._number}.get(spec.dtype)
            if spec.dtype == "string":
                columns[name] = _clean_text(value, missing_tokens=spec.is_id)
                if spec.is_id and value.type().is_string():
                    bad_flags[name] = columns[name].re_search(_SCIENTIFIC_ID_SQL)
            elif parse is not None:
                columns[name], bad, empty = parse(name, value)
                if bad is not None:
                    bad_flags[name] = bad
                if spec.required:
                    missing_flags[name] = empty
            else:
                columns[name] = value.cast(spec.dtype)
        for name, parts in self.contract.derivable_from.items():
            if name not in columns and all(p in columns for p in parts):
                product = columns[parts[0]]
                for part in parts[1:]:
                    product = product * columns[part]
                columns[name] = product
                if self.contract.column(name).required:
                    part_bad = [bad_flags[p] for p in parts if p in bad_flags]
                    missing = product.isnull()
                    for flag in part_bad:
                        missing = missing & ~flag
                    missing_flags[name] = missing
        extras = {}
        if self.contract.keep_extra_columns:
            used = set(self.mapping.values())
            extras = {c: raw[c] for c in self.source.columns if c not in used and c not in columns}
        internals = {c: raw[c] for c in (ROW_COLUMN, FILE_COLUMN, FIELDS_OK_COLUMN) if c in raw.columns}
        internals.update({name: raw[name] for name in source_text})
        flags = {f"__bad_{k}": v.fill_null(False) for k, v in bad_flags.items()}
        flags.update({f"__missing_{k}": v.fill_null(True) for k, v in missing_flags.items()})
        table = raw.select(**columns, **extras, **internals, **flags)
        return table, [f"__bad_{k}" for k in bad_flags], [f"__missing_{k}" for k in missing_flags]

    def _timestamp(self, name: str, value):
        value_type = value.type()
        if value_type.is_timestamp():
            parsed = value.cast(dt.Timestamp()) if value_type.timezone else value
            return parsed, None, parsed.isnull()
        if value_type.is_date():
            parsed = value.cast(dt.Timestamp())
            return parsed, None, parsed.isnull()
        text = value if value_type.is_string() else value.cast("string")  # strings come stripped
        parsed = _parse_timestamp_text(text, self.date_formats.get(name, _ISO))
        present = text.notnull() & (text != "")
        return parsed, present & parsed.isnull(), ~present

    def _number(self, name: str, value):
        value_type = value.type()
        if value_type.is_numeric() or value_type.is_boolean():
            parsed = value.cast("float64")
            if value_type.is_floating():
                # NaN is a missing value, not a number to add up; an infinite value is not a number at all.
                infinite = parsed.isinf().fill_null(False)
                parsed = ibis.ifelse(parsed.isnan() | infinite, ibis.null("float64"), parsed)
                return parsed, infinite, parsed.isnull() & ~infinite
            return parsed, None, parsed.isnull()
        text = value if value_type.is_string() else value.cast("string")  # strings come stripped
        # "NaN" is a missing value: engines would read it as a number that turns every sum into NaN.
        text = ibis.ifelse(text.upper() == "NAN", ibis.null("string"), text)
        decimal, thousands = self.number_formats.get(name, (".", None))
        cleaned = text
        marker = self.currency_markers.get(name)
        if marker:
            cleaned = cleaned.re_replace(r"^([-+(]?)\s*" + re.escape(marker) + r"\s*", r"\1")
            cleaned = cleaned.re_replace(r"\s*" + re.escape(marker) + "$", "")
        # Accounting negatives: (12.50) and the trailing minus of SAP-style exports, 12.50-.
        inner = cleaned.substr(1, cleaned.length() - 2)
        cleaned = ibis.ifelse(cleaned.startswith("(") & cleaned.endswith(")"), ibis.literal("-").concat(inner),
                              cleaned)
        cleaned = ibis.ifelse(cleaned.endswith("-") & (cleaned.length() > 1),
                              ibis.literal("-").concat(cleaned.substr(0, cleaned.length() - 1)), cleaned)
        if thousands:
            cleaned = cleaned.replace(thousands, "")
        if decimal != ".":
            cleaned = cleaned.replace(decimal, ".")
        parsed = engine_of(cleaned).parse_number(cleaned)
        # inf, Infinity and -nan parse on some engines; they are never amounts, counts or scores.
        parsed = ibis.ifelse(parsed.isnan() | parsed.isinf(), ibis.null("float64"), parsed)
        present = text.notnull() & (text != "")
        return parsed, present & parsed.isnull(), ~present


@ibis.udf.scalar.builtin(name="trim")
def _trim(text: str) -> str:
    """SQL ``TRIM(text)``: strips leading and trailing spaces (faster than a character-set trim)."""


def _strip_blanks(text):
    """``text`` without leading and trailing blanks: spaces, non-breaking spaces, tabs, line breaks.

    On DuckDB the plain ``TRIM`` removes every Unicode space; tabs and line breaks are control
    characters (code points below 32), rare at the edges of a value, so the slower character-set
    trim runs only for values that have one at either edge. Other engines get both trims on every
    value: PostgreSQL evaluates each reference to ``trimmed`` again, and with the conditional form
    did not finish parsing the CDNOW text columns in five minutes (two without it).
    """
    trimmed = _trim(text)
    if engine_of(text).con.name != "duckdb":
        return _trim(trimmed.strip())
    control_at_edge = (trimmed.ascii_str() < 32) | (trimmed.right(1).ascii_str() < 32)
    return ibis.ifelse(control_at_edge, _trim(trimmed.strip()), trimmed)


def _clean_text(value, *, missing_tokens: bool = False):
    """Identifiers and labels as text (strings come with their blanks stripped, see :meth:`Parser.parse`): numbers
    without a spurious '.0', '' -> NULL.

    With ``missing_tokens`` (identifier columns) the :data:`MISSING_TOKENS` such as ``NaN`` and ``NULL``
    are NULL too, so that they are never taken for a customer.
    """
    value_type = value.type()
    if value_type.is_floating():
        value = ibis.ifelse(value == value.floor(), value.cast("int64").cast("string"), value.cast("string"))
    elif not value_type.is_string():
        value = value.cast("string")
    text = value.nullif("")
    return _without_missing_tokens(text) if missing_tokens else text


_NON_FINITE_TEXT = re.compile(r"^\s*[-+]?(inf|infinity|nan)\s*$", re.IGNORECASE)


def unparseable_message(parser: Parser, name: str, n_bad: int, examples: Sequence[tuple]) -> tuple[str, str]:
    """Message and hint for values of ``name`` that do not parse (a date, a number or an id)."""
    drop = "Or set quality: {unparseable_values: drop} to drop such rows (they are counted)."
    dtype = parser.contract.column(name).dtype
    if dtype == "string":  # an identifier in scientific notation
        return (f"{n_bad:,} values of {name!r} are numbers in scientific notation (e.g. 1.23457E+11): a "
                "spreadsheet rounded these ids, so they no longer identify anyone.",
                "Export the ids as text (format the column as Text before saving the CSV). " + drop)
    if dtype == "timestamp":
        fmt = parser.date_formats.get(name, _ISO)
        other = {_ISO: _ISO_OFFSET, _ISO_OFFSET: _ISO}.get(fmt)
        zones = other is not None and any(_PATTERN_FORMATS[other].match(str(v).strip()) for _, v in examples)
        return (f"{n_bad:,} values of {name!r} are not valid dates.",
                f"Parsed with format {fmt}; a column uses one date format throughout. "
                + (_DATE_FORMAT_HINTS[fmt] if zones else "")
                + "Set csv: {date_format: ...} if the format is wrong. " + drop)
    non_finite = [v for _, v in examples if _NON_FINITE_TEXT.match(str(v))]
    if non_finite:
        return (f"{n_bad:,} values of {name!r} are not finite numbers (e.g. {', '.join(map(str, non_finite[:3]))}): "
                "infinity and NaN are not amounts, counts or scores.",
                "Fix the export (a division by zero or an overflow upstream?). " + drop)
    decimal = (parser.number_formats.get(name) or (".",))[0]
    marker = parser.currency_markers.get(name)
    other_markers = {m for _, v in examples for m in [_currency_marker([str(v)])] if m and m != marker}
    if other_markers and marker:
        found = ", ".join(sorted(other_markers))
        return (f"{n_bad:,} values of {name!r} carry another currency ({found}) than the others ({marker}).",
                "Amounts in several currencies cannot be added up: convert them to the run currency first. "
                + drop)
    signs = ("A currency sign is removed only when more than half of the values carry the same one. "
             if other_markers else "")
    return (f"{n_bad:,} values of {name!r} are not valid numbers.",
            f"Parsed with decimal {decimal!r}" + (f" after removing the currency sign {marker!r}" if marker else "")
            + "; set csv: {decimal: ...} if that is wrong. " + signs + drop)
